"""Can a small random Qwen2-VL learn to point, and does ``aguvis train`` teach it as a plain loop does?

The screens hold one black square in one of 8 x 8 cells of a white 224 x 224
image; the answer to "Click the square" is the click at its centre. A model
that reads no position off the image ends at the no-information loss, the
entropy of the cell (ln 64 nats) spread over the answer's label tokens.
Two trainings start from the same random model and see the same screens:

- ``reference``: the model's own Hugging Face forward, batches of whole
  samples, AdamW at a constant rate after a warm-up;
- ``packed``: ``aguvis train`` with ``configs/miniwob/stage1.yaml`` (packing,
  preloading, mixed precision on a GPU), the same rate, steps and batch size;
  ``--packed NAME:KEY=VALUE,...`` adds more such trainings with config
  overrides (e.g. ``fp32:precision=fp32``, ``sdpa:data.packing.attention=sdpa``),
  to find which part of the training path a difference comes from.

Both are scored by the reference forward on held-out screens: the loss per
answer token, against the no-information loss, and the share of screens
whose cell the teacher-forced first decimals of x and y name (each of the 8
cell centres has its own first decimal).

    python scripts/pointing_check.py --out runs/pointing-check --steps 700 --shape absolute_position_grid=16 \\
        --packed fp32:precision=fp32 --packed no-preload:data.preload=false
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

import yaml

SIDE, CELLS = 224, 8
SHAPE = {"hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 2, "num_key_value_heads": 2,
         "intermediate_size": 256, "mrope_section": [8, 12, 12], "vision_depth": 3, "vision_embed_dim": 64,
         "vision_num_heads": 2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for screens, models and check.json")
    parser.add_argument("--steps", type=int, default=700, help="optimizer steps of each training (default 700)")
    parser.add_argument("--batch", type=int, default=32, help="screens per step (default 32)")
    parser.add_argument("--lr", type=float, default=2e-3, help="learning rate after the warm-up (default 2e-3)")
    parser.add_argument("--screens", type=int, default=3000, help="training screens (default 3000)")
    parser.add_argument("--shape", action="append", default=[], metavar="FIELD=VALUE",
                        help="TinyConfig override of the model, e.g. absolute_position_grid=16")
    parser.add_argument("--packed", dest="variants", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="one more packed training, with these config overrides")
    parser.add_argument("--only", choices=("reference", "packed"), help="run only the reference or the packed ones")
    args = parser.parse_args(argv)
    trainings: dict[str, list[str]] = {}
    if args.only != "packed":
        trainings["reference"] = []
    if args.only != "reference":
        trainings["packed"] = []
        for variant in args.variants:
            name, _, overrides = variant.partition(":")
            if not name or name in trainings or not all("=" in o for o in overrides.split(",") if o):
                parser.error(f"--packed {variant!r}: expected a new NAME:KEY=VALUE,KEY=VALUE")
            trainings[name] = [o for o in overrides.split(",") if o]
    args.out.mkdir(parents=True, exist_ok=True)
    shape = {**SHAPE, **{k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.shape)}}
    train = draw(args.out / "train", args.screens, seed=0)
    heldout = draw(args.out / "heldout", 500, seed=1)
    spec = args.out / "model.yaml"
    spec.write_text(yaml.safe_dump({"seed": 0, "shape": shape}), encoding="utf-8")
    subprocess.run([sys.executable, "scripts/miniwob_init_model.py", "--config", str(spec),
                    "--output", str(args.out / "init")], check=True)
    results: dict = {"shape": shape, "steps": args.steps, "batch": args.batch, "lr": args.lr}
    for name, overrides in trainings.items():
        start = time.monotonic()
        model_dir = train_reference(args, train) if name == "reference" else train_packed(args, train, name, overrides)
        results[name] = {"train_s": round(time.monotonic() - start, 1), **score(model_dir, heldout)}
        (args.out / "check.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(json.dumps({name: results[name]}), flush=True)
    return 0


def draw(folder: Path, n: int, seed: int) -> Path:
    """``n`` screens and ``records.jsonl`` in ``folder`` (kept when already there)."""
    from PIL import Image, ImageDraw

    records = folder / "records.jsonl"
    if records.is_file():
        return records
    folder.mkdir(parents=True, exist_ok=True)
    rng, lines, cell = random.Random(seed), [], SIDE // CELLS
    for k in range(n):
        row, col = rng.randrange(CELLS), rng.randrange(CELLS)
        image = Image.new("RGB", (SIDE, SIDE), "white")
        left, top = col * cell + 4, row * cell + 4
        ImageDraw.Draw(image).rectangle([left, top, left + 19, top + 19], fill="black")
        image.save(folder / f"{k}.png")
        x, y = (col + 0.5) / CELLS, (row + 0.5) / CELLS
        lines.append(json.dumps({"image": f"{k}.png", "conversations": [
            {"from": "human", "value": "<image>Click the square"},
            {"from": "gpt", "value": f"pyautogui.click(x={x:.4f}, y={y:.4f})", "recipient": "os", "end_turn": True}],
            "cell": [row, col]}))
    records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tokenised(loaded, records: Path, limit: int | None = None) -> list:
    """``(Tokenised, Record)`` of the first ``limit`` (default: all) records."""
    import itertools

    from aguvis.chat.tokenize import RecordTokenizer
    from aguvis.data.records import read_records

    tokens = RecordTokenizer(loaded.tokenizer, loaded.image_processor, max_length=512)
    return [(tokens(r, records.parent), r) for r in itertools.islice(read_records(records), limit)]


def _batch(model, items: list, device) -> dict:
    import torch

    ids = torch.stack([t.input_ids for t in items]).to(device)
    return {"input_ids": ids, "labels": torch.stack([t.labels for t in items]).to(device),
            "mm_token_type_ids": (ids == model.config.image_token_id).int(),
            "pixel_values": torch.cat([t.pixel_values for t in items]).to(device),
            "image_grid_thw": torch.cat([t.image_grid_thw for t in items]).to(device)}


def train_reference(args, records: Path) -> Path:
    import torch

    from aguvis.model.load import load_model

    device = _device()
    loaded = load_model(args.out / "init", dtype=torch.float32, device=device)
    model = loaded.model.train()
    items = [t for t, _ in _tokenised(loaded, records)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, round(0.07 * args.steps))
    rng = random.Random(1)
    for step in range(1, args.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = args.lr * min(1.0, step / warmup)
        model(**_batch(model, rng.sample(items, args.batch), device)).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    out = args.out / "reference"
    model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return out


def train_packed(args, records: Path, name: str, extra: list[str]) -> Path:
    mixture = args.out / "mixture.yaml"
    mixture.write_text(yaml.safe_dump({"datasets": [
        {"json_path": str(records.resolve()), "images_folder": str(records.parent.resolve()),
         "sampling_strategy": "all"}]}), encoding="utf-8")
    from aguvis.model.load import load_model

    # every screen's sample has the same length, so this budget packs --batch screens per step
    tokens_per_screen = len(_tokenised(load_model(args.out / "init"), records, limit=1)[0][0].input_ids)
    overrides = {"model.path": args.out / "init", "data.mixture": mixture, "data.augment": "null",
                 "data.packing.token_budget": tokens_per_screen * args.batch, "data.num_workers": 2,
                 "optim.lr": args.lr, "schedule.min_lr_ratio": 1.0, "schedule.warmup_ratio": 0.07,
                 "run.max_steps": args.steps, "run.log_every": 50, "run.resume": "none",
                 "run.output_dir": args.out / name}
    command = [sys.executable, "-m", "aguvis.cli", "train", "--config", "configs/miniwob/stage1.yaml"]
    for override in [f"{key}={value}" for key, value in overrides.items()] + extra:
        command += ["--set", override]
    subprocess.run(command, check=True)
    return args.out / name / "model"


def score(model_dir: Path, records: Path) -> dict:
    """Held-out answer-token loss, the no-information loss, and the share of cells named."""
    import torch

    from aguvis.model.load import load_model

    device = _device()
    loaded = load_model(model_dir, dtype=torch.float32, device=device)
    model = loaded.model.eval()
    items = _tokenised(loaded, records)
    total, tokens, named = 0.0, 0, 0
    with torch.inference_mode():
        for k in range(0, len(items), 50):
            chunk = items[k:k + 50]
            batch = _batch(model, [t for t, _ in chunk], device)
            logits = model(**{n: v for n, v in batch.items() if n != "labels"}).logits[:, :-1].float()
            labels = batch["labels"][:, 1:]
            mask = labels != -100
            total += torch.nn.functional.cross_entropy(logits[mask], labels[mask], reduction="sum").item()
            tokens += int(mask.sum())
            predicted = logits.argmax(-1)
            for i, (_, record) in enumerate(chunk):
                named += int(_first_decimals(loaded.tokenizer, predicted[i][mask[i]], labels[i][mask[i]])
                             == tuple(_first_decimal((c + 0.5) / CELLS) for c in record.extra["cell"][::-1]))
    per_answer = tokens / len(items)
    return {"loss": round(total / tokens, 4), "no_information_loss": round(math.log(CELLS * CELLS) / per_answer, 4),
            "cells_named": round(named / len(items), 3)}


def _first_decimal(value: float) -> int:
    return int(f"{value:.4f}"[2])


def _first_decimals(tokenizer, predicted, truth) -> tuple[int, ...]:
    """The predicted digit at the first decimal of each coordinate of the true answer."""
    pieces = [tokenizer.decode([int(t)]) for t in truth]
    found, digits = [], []
    for i, piece in enumerate(pieces[:-1]):
        if piece == "." and pieces[i - 1] == "0":
            found.append(i + 1)
    for i in found[:2]:
        guess = tokenizer.decode([int(predicted[i])])
        digits.append(int(guess) if guess.isdigit() else -1)
    return tuple(digits)


if __name__ == "__main__":
    sys.exit(main())
