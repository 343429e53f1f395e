"""Does a small decoder from random weights learn associative recall, and how does the layout decide it?

The MiniWoB++ click-one-word tasks need it: find the entry whose word is the goal's and answer with
what goes with it. Here it is in its barest form, plain tokens, no screen, no tokenizer: ``K`` keys
(distinct words), each followed by its value, then the question (one of the keys), then the answer
(that key's value). Two gaps are the layout's knobs: filler tokens between a key and its value
(``--kv-gap``; in ``word at (x=0.1339, ...)`` the decisive digit is six tokens after the word) and
between the asked word and the answer (``--query-gap``; in an Aguvis reply the goal's word and the
click's first decimal are about fifteen tokens apart; ``--template`` makes those distinct tokens in a
fixed order, as a chat template's are, instead of one repeated filler). ``--ask-vocab`` asks with ids
of its own, as a goal's text is not the screen's pixels; ``--mix-copy`` mixes in questions answered by
the asked word itself, as typing the goal's text is. Fresh samples every step, so memorising is
no way out; loss on the answer token only. Whether the gap is bridged depends on the batch more than
on the steps (benchmarks/README.md, run 11's section). The decoder is Qwen2's, the text half of
Qwen2-VL (on text alone M-RoPE is RoPE).

    python scripts/recall_check.py --steps 2000 --kv-gap 1 --lr 3e-4 --out runs/recall/kv1.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BOS, ASK, KV_FILL, QUERY_FILL = range(4)  # the first token ids; words, then values, follow


@dataclass(frozen=True)
class Layout:
    keys: int = 2
    words: int = 10
    values: int = 10
    kv_gap: int = 0
    query_gap: int = 0
    query_first: bool = False  # the question before the list (so each key can be compared as it is read)
    template: bool = False  # the query gap as distinct tokens in a fixed order, as a chat template's are
    ask_vocab: bool = False  # the question's word from its own ids, as a goal's text is not the screen's pixels
    copy_task: bool = False  # a second question, COPY w, answered by the key word w itself (its id: the last)

    @property
    def vocab_size(self) -> int:
        return self._after_template + (self.words if self.ask_vocab else 0) + self.copy_task

    @property
    def _after_template(self) -> int:
        """The first id past words, values and template tokens: the own ask ids start here."""
        return self.template_token(self.query_gap if self.template else 0)

    @property
    def copy_token(self) -> int:
        if not self.copy_task:
            raise ValueError("this layout has no copy task")
        return self.vocab_size - 1

    def word(self, i: int) -> int:
        return 4 + i

    def value(self, i: int) -> int:
        return 4 + self.words + i

    def template_token(self, i: int) -> int:
        return 4 + self.words + self.values + i

    def asked_word(self, i: int) -> int:
        """The question's token for key word ``i``: its own id with ``ask_vocab``, else the key's."""
        if not self.ask_vocab:
            return self.word(i)
        return self._after_template + i


@dataclass(frozen=True)
class Sample:
    ids: list[int]  # the last one is the answer
    values: list[int]  # each key's value token, in list order
    asked: int  # which key the question names


def sample(layout: Layout, rng: random.Random, adjacent: bool = False, copy: bool = False) -> Sample:
    """One sequence: ``BOS [ASK w] k1 fill* v1 ... kK fill* vK [ASK w] fill* answer``; ``adjacent``:
    without the query gap, and as many more ``BOS`` in front, so that every sample has one length;
    ``copy``: ``COPY w`` instead of ``ASK w``, answered by the key word ``w``, which carries the
    word across the gap without the recall (as typing the goal's text does in MiniWoB++)."""
    gap = 0 if adjacent else layout.query_gap
    fill = [layout.template_token(i) for i in range(gap)] if layout.template else [QUERY_FILL] * gap
    words = rng.sample(range(layout.words), layout.keys)
    values = [layout.value(v) for v in rng.sample(range(layout.values), layout.keys)]
    asked = rng.randrange(layout.keys)
    question = [layout.copy_token if copy else ASK, layout.asked_word(words[asked])]
    ids = [BOS] * (1 + layout.query_gap - gap) + (question if layout.query_first else [])
    for word, value in zip(words, values):
        ids += [layout.word(word)] + [KV_FILL] * layout.kv_gap + [value]
    ids += ([] if layout.query_first else question) + fill + [layout.word(words[asked]) if copy else values[asked]]
    return Sample(ids, values, asked)


def batch(samples: list[Sample], device: str = "cpu"):
    """Input ids and labels: every sample has the same length; only the answer is labelled."""
    import torch

    ids = torch.tensor([s.ids for s in samples], device=device)
    labels = torch.full_like(ids, -100)
    labels[:, -1] = ids[:, -1]
    return ids, labels


def build_model(layout: Layout, hidden: int, layers: int, heads: int, seed: int):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=layout.vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(config)


def evaluate(model, layout: Layout, n: int, seed: int, device: str = "cpu") -> dict:
    """Greedy answers on ``n`` fresh samples: the share naming the asked key's value and another key's;
    with a copy task, also the share of copy questions answered with the word."""
    import torch

    def answers(samples: list[Sample]) -> list[int]:
        ids, _ = batch(samples, device)
        with torch.inference_mode():
            return model(input_ids=ids[:, :-1]).logits[:, -1].argmax(-1).tolist()

    rng = random.Random(seed)
    samples = [sample(layout, rng) for _ in range(n)]
    predicted = answers(samples)
    asked = sum(p == s.values[s.asked] for p, s in zip(predicted, samples))
    other = sum(p in s.values and p != s.values[s.asked] for p, s in zip(predicted, samples))
    shares = {"asked": round(asked / n, 3), "other": round(other / n, 3)}
    if layout.copy_task:
        copies = [sample(layout, rng, copy=True) for _ in range(n)]
        shares["copied"] = round(sum(p == s.ids[-1] for p, s in zip(answers(copies), copies)) / n, 3)
    return shares


def train(
    layout: Layout,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    warmup: int = 100,
    hidden: int = 128,
    layers: int = 3,
    heads: int = 2,
    seed: int = 0,
    eval_every: int = 250,
    eval_n: int = 500,
    progress: bool = False,
    device: str = "cpu",
    on_eval=None,
    mix_adjacent: float = 0.0,
    mix_copy: float = 0.0,
) -> dict:
    """Train from random weights with AdamW (constant rate after a linear warm-up); the held-out
    shares (on the layout itself) every ``eval_every`` steps and at the end, each also given to
    ``on_eval`` with the result so far (so that a run cut short still leaves its curve).
    ``mix_adjacent``: this share of the training samples without the query gap, a curriculum;
    ``mix_copy``: this share of them copy questions (the layout needs ``copy_task``)."""
    import torch
    from tqdm import tqdm

    model = build_model(layout, hidden, layers, heads, seed).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng = random.Random(seed)
    result = {
        "layout": asdict(layout),
        "steps": steps,
        "batch": batch_size,
        "lr": lr,
        "shape": {"hidden": hidden, "layers": layers, "heads": heads},
        "seed": seed,
        "mix_adjacent": mix_adjacent,
        "mix_copy": mix_copy,
        "device": device,
        "chance": round(1 / layout.keys, 3),
        "curve": [],
    }

    def draw() -> Sample:
        if mix_copy > 0 and rng.random() < mix_copy:
            return sample(layout, rng, copy=True)
        return sample(layout, rng, mix_adjacent > 0 and rng.random() < mix_adjacent)

    started = time.time()
    for step in tqdm(range(1, steps + 1), desc="train", unit="step", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, step / warmup)
        samples = [draw() for _ in range(batch_size)]
        ids, labels = batch(samples, device)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % eval_every == 0 or step == steps:
            point = {"step": step, "loss": round(loss.item(), 4), **evaluate(model, layout, eval_n, seed + 1, device)}
            result["curve"].append(point)
            result.update(final=point, train_s=round(time.time() - started, 1))
            if progress:
                tqdm.write(json.dumps(point))
            if on_eval is not None:
                on_eval(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=2, help="entries in the list (default 2)")
    parser.add_argument("--words", type=int, default=10, help="distinct key words (default 10)")
    parser.add_argument("--values", type=int, default=10, help="distinct values (default 10)")
    parser.add_argument("--kv-gap", type=int, default=0, help="filler tokens between a key and its value")
    parser.add_argument("--query-gap", type=int, default=0, help="filler tokens between the asked word and the answer")
    parser.add_argument("--query-first", action="store_true", help="the question before the list")
    parser.add_argument("--template", action="store_true", help="the query gap as distinct tokens in a fixed order")
    parser.add_argument(
        "--ask-vocab", action="store_true", help="the asked word from its own ids (as a goal's text is not pixels)"
    )
    parser.add_argument(
        "--mix-adjacent", type=float, default=0.0, help="share of training samples without the query gap (a curriculum)"
    )
    parser.add_argument(
        "--mix-copy", type=float, default=0.0, help="share of training samples that ask to copy the word instead"
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32, help="samples per step (default 32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="rate after the 100-step warm-up (default 1e-3)")
    parser.add_argument("--hidden", type=int, default=128, help="decoder width (default 128, the toy's)")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu: the toy is small)")
    parser.add_argument("--out", type=Path, help="write the result here as JSON")
    args = parser.parse_args(argv)
    if args.keys > min(args.words, args.values):
        parser.error(f"--keys {args.keys} needs at least as many --words and --values")
    layout = Layout(
        args.keys, args.words, args.values, args.kv_gap, args.query_gap, args.query_first, args.template, args.ask_vocab,
        args.mix_copy > 0,
    )

    def save(result: dict) -> None:
        if args.out:
            from aguvis.eval.report import write_atomic

            write_atomic(args.out, json.dumps(result, indent=1) + "\n")

    result = train(
        layout, args.steps, args.batch, args.lr, hidden=args.hidden, layers=args.layers, heads=args.heads,
        seed=args.seed, eval_every=args.eval_every, progress=True, device=args.device, on_eval=save,
        mix_adjacent=args.mix_adjacent, mix_copy=args.mix_copy,
    )  # fmt: skip
    print(json.dumps(result["final"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
