"""How many examples does a random Qwen2-VL vision tower need to read a button's word?

The grounding checks train the tower only through the decoder, and there a
small model points at *a* button, not at the one whose word it was asked
for (``scripts/pointing_check.py --look button-pair``; benchmarks/README.md,
MiniWoB++ "Run 9"). This check takes the decoder away: the vision tower of
a random model (the pointing check's shape, white at zero, ``--shape``
overrides) and a linear head over its merged tokens are trained on the
word itself, with cross-entropy, on the pointing check's ``button-pair``
screens (two 40 x 20 buttons with different words among 10; the asked
one's word is the label). Each example is a crop of ``--crop`` W x H pixels
(multiples of 28, at least the button's size) around the button at a
random offset; ``--crop 0`` gives the whole screen, the head reading the
three merged tokens around the button's centre (``--head token``: each
token scored on its own, the best one counting, so that one token must
hold the whole word; ``--head embedding``: the same, with the decoder's own
input embedding of each word's token as the map, kept fixed, so that the
tower learns to write a word where the decoder's embedding of that word
points, and a question's word can find it by a like-for-like match; it
needs ``--words tokens``, words that are one token each). Held-out accuracy (chance
0.1) every ``--eval-every`` steps, in ``check.json``, says how fast the
tower can learn to read at all.

    python scripts/reading_check.py --out runs/reading-check --steps 300 --batch 256 --lr 2e-3
    python scripts/reading_check.py --out runs/reading-check-screens --crop 0 --steps 400 --batch 32
    python scripts/reading_check.py --out runs/reading-check-900 --steps 900 --save-model runs/reading-tower
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package: its siblings by path
import pointing_check as check  # noqa: E402  (the toy's screens, shape and random model)

# --head embedding scores cosines times this: scores against the raw rows (norm about 0.2) drove the tower's
# tokens to a norm of 93 (a random tower's: 1.1), which drowned the position code and cost the toy its pointing
COSINE_SCALE = 10.0
MERGED = 28  # pixels per merged image token side (14-px patches, merged 2 x 2)
BUTTON_W, BUTTON_H = check.LOOKS["button"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for screens, the model and check.json")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    parser.add_argument("--batch", type=int, default=256, help="examples per step (default 256)")
    parser.add_argument("--lr", type=float, default=2e-3, help="AdamW rate, constant (default 2e-3)")
    parser.add_argument("--crop", default="84x56", help="crop W x H around the button, or 0 for whole screens")
    parser.add_argument("--copies", type=int, default=4, help="crops per training screen (default 4)")
    parser.add_argument("--screens", type=int, default=3000, help="training screens (default 3000)")
    parser.add_argument("--heldout", type=int, default=500, help="held-out screens (default 500)")
    parser.add_argument("--eval-every", type=int, default=50, help="steps between held-out scores (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="model, crops and batches (default 0)")
    parser.add_argument(
        "--shape", action="append", default=[], metavar="FIELD=VALUE", help="TinyConfig override of the model"
    )
    parser.add_argument(
        "--words",
        choices=tuple(check.WORDS),
        default="mixed",
        help="the buttons' words, as pointing_check.py --words (default mixed)",
    )
    parser.add_argument(
        "--head",
        choices=("concat", "token", "embedding"),
        default="concat",
        help="concat (default): one linear map of all the read tokens side by side; token: the same map on "
        "each token and the best token's scores, so that the word must be whole in one token, where a "
        "decoder's attention can match it; embedding: as token, the map being the decoder's own (fixed) input "
        "embedding of each word's token (with --words tokens)",
    )
    parser.add_argument(
        "--save-model",
        type=Path,
        metavar="DIR",
        help="write the whole model, its tower trained to read, here (for pointing_check.py --init)",
    )
    args = parser.parse_args(argv)
    crop = parse_crop(parser, args.crop)
    if args.head == "embedding" and args.words != "tokens":
        parser.error("--head embedding: the words must be one token each (--words tokens)")

    import torch

    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = {"placement": "anywhere", "look": "button-pair", "words": args.words}
    train = check.draw(args.out / "train", args.screens, seed=0, **pairs)
    heldout = check.draw(args.out / "heldout", args.heldout, seed=1, **pairs)
    shape = {**check.SHAPE, "absolute_position_code": 8, **check.shape_overrides(args.shape)}
    white_at_zero = {"image_mean": [1.0] * 3, "image_std": [0.27] * 3}
    from aguvis.model.checkpoint import save_checkpoint_hf
    from aguvis.model.load import load_model

    loaded = load_model(check.random_model(args.out, shape, white_at_zero, seed=args.seed))
    tower = loaded.model.model.visual.train()
    rng = random.Random(args.seed)
    words = check.WORDS[args.words]
    train_set = encode(examples(train, crop, args.copies, rng, words), loaded.image_processor)
    test_set = encode(examples(heldout, crop, 1, rng, words), loaded.image_processor)
    # the merger's output width is the decoder's (vision_config.hidden_size in Qwen2-VL)
    read = train_set["features"] if args.head == "concat" else 1  # tokens side by side in the head's input
    width = read * loaded.model.config.vision_config.hidden_size
    head = torch.nn.Linear(width, len(words), bias=args.head != "embedding")
    if args.head == "embedding":  # the decoder's input embedding of " word", fixed
        ids = [loaded.tokenizer(" " + w, add_special_tokens=False)["input_ids"] for w in words]
        rows = loaded.model.get_input_embeddings().weight[[i for (i,) in ids]]
        head.requires_grad_(False).weight.copy_(rows.detach())
    optimizer = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=args.lr, weight_decay=0.01)
    results = {
        "crop": list(crop) if crop else "screen",
        "head": args.head,
        "words": args.words,
        "shape": shape,
        "lr": args.lr,
        "batch": args.batch,
    }
    history, start = [], time.monotonic()
    for step in range(1, args.steps + 1):
        chosen = torch.randint(0, len(train_set["labels"]), (args.batch,))
        predicted = logits(tower, head, train_set, chosen, args.head)
        loss = torch.nn.functional.cross_entropy(predicted, train_set["labels"][chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            scores = {
                "step": step,
                "loss": round(loss.item(), 4),
                "heldout_accuracy": accuracy(tower, head, test_set, args.head),
            }
            history.append({**scores, "seconds": round(time.monotonic() - start, 1)})
            results["history"] = history
            (args.out / "check.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
            print(json.dumps(history[-1]), flush=True)
    if args.save_model:
        save_checkpoint_hf(loaded.model, loaded.tokenizer, loaded.image_processor, args.save_model)
    return 0


def parse_crop(parser: argparse.ArgumentParser, text: str) -> tuple[int, int] | None:
    """``"84x56"`` -> (84, 56); ``"0"`` -> None (whole screens)."""
    if text == "0":
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        parser.error(f"--crop {text!r}: expected W x H such as 84x56, or 0")
    if width % MERGED or height % MERGED or width < BUTTON_W or height < BUTTON_H:
        parser.error(f"--crop {text!r}: W and H must be multiples of {MERGED} holding a {BUTTON_W} x {BUTTON_H} button")
    return width, height


def examples(records: Path, crop: tuple[int, int] | None, copies: int, rng: random.Random, words) -> list[dict]:
    """Per screen of ``records``: ``copies`` crops around the asked button (or the screen once), each with
    the word's index and the merged-token cell of the button's centre in the image."""
    from PIL import Image

    out = []
    for line in records.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        screen = Image.open(records.parent / record["image"]).convert("RGB")
        label = words.index(record["conversations"][0]["value"].split()[2])  # "<image>Click the Cut button"
        centre_x, centre_y = (round(c * screen.width) for c in record["centre"])
        if crop is None:
            out.append({"image": screen, "label": label, "cell": (centre_y // MERGED, centre_x // MERGED)})
            continue
        width, height = crop
        for _ in range(copies):  # the button's box at a random place inside the crop
            left = centre_x - BUTTON_W // 2 - rng.randrange(width - BUTTON_W + 1)
            top = centre_y - BUTTON_H // 2 - rng.randrange(height - BUTTON_H + 1)
            image = screen.crop((left, top, left + width, top + height))  # outside the screen: black
            out.append({"image": image, "label": label, "cell": None, "button": (centre_x - left, centre_y - top)})
    return out


def encode(items: list[dict], image_processor) -> dict:
    """The items' patches and grids as the tower takes them, their labels, and which merged tokens the head reads."""
    import torch

    batch = image_processor(images=[item["image"] for item in items], return_tensors="pt")
    grid = batch["image_grid_thw"]
    rows, cols = int(grid[0, 1]) // 2, int(grid[0, 2]) // 2
    if items[0]["cell"] is not None:  # whole screens: the button's token and its left and right neighbours
        cells = [item["cell"] for item in items]
        picks = [[r * cols + min(max(c + d, 0), cols - 1) for d in (-1, 0, 1)] for r, c in cells]
    else:  # crops: every merged token
        picks = [list(range(rows * cols))] * len(items)
    return {
        "patches": batch["pixel_values"].view(len(items), -1, batch["pixel_values"].shape[-1]),
        "grid": grid,
        "labels": torch.tensor([item["label"] for item in items]),
        "picks": torch.tensor(picks),
        "features": len(picks[0]),
    }


def logits(tower, head, data: dict, chosen, kind: str = "concat"):
    """The head's scores for the examples ``chosen`` (indices into ``data``): of the picked tokens side by
    side (``concat``), or the best of each token's own (``token``; ``embedding``: cosines with the rows)."""
    import torch

    patches = data["patches"][chosen]
    merged = tower(patches.reshape(-1, patches.shape[-1]), grid_thw=data["grid"][chosen]).pooler_output
    merged = merged.view(len(chosen), -1, merged.shape[-1])
    picked = merged.gather(1, data["picks"][chosen][:, :, None].expand(-1, -1, merged.shape[-1]))
    if kind == "embedding":  # cosine, so that the tower need not outgrow the small embedding rows' scale
        weight = torch.nn.functional.normalize(head.weight, dim=-1)
        return (torch.nn.functional.normalize(picked, dim=-1) @ weight.T * COSINE_SCALE).amax(1)
    return head(picked.flatten(1)) if kind == "concat" else head(picked).amax(1)


def accuracy(tower, head, data: dict, kind: str = "concat", chunk: int = 256) -> float:
    import torch

    right = 0
    with torch.no_grad():
        for start in range(0, len(data["labels"]), chunk):
            chosen = torch.arange(start, min(start + chunk, len(data["labels"])))
            right += int((logits(tower, head, data, chosen, kind).argmax(-1) == data["labels"][chosen]).sum())
    return round(right / len(data["labels"]), 4)


if __name__ == "__main__":
    sys.exit(main())
