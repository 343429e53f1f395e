"""Stage-1 recipe variants for the MiniWoB++ model, side by side, in one GPU call.

Each variant trains stage 1 from the same random model for the same number
of optimizer steps (the same token budget per step) and is then probed,
teacher-forced, on held-out screens (seeds the training data never used) and
on a sample of its training screens:

- grounding: a query's answer tokens, each predicted given the true ones
  before it, read back as the click a greedy reply would write
  (:func:`read_click`); a hit when the click lies in the target's box
  (exact-match rate of the answer text too);
- referring: the share of "what is at (x, y)?" answers predicted exactly.

Variants on MiniWoB++ look-alike screens (``lookalike``, ``lookalike-only``,
``pointing``: one button per screen) draw them first, on the machine's cores
(``aguvis data synth miniwob-lookalike``), and are also probed on 300 drawn
screens of another seed and on drawn screens they trained on.

Teacher forcing differs from free generation only after a first wrong
token. In a coordinate that is a digit, after which generation would carry
on from its own digit, changing the value by less than that digit's place;
or the end of the number (a ',' where a fourth decimal was due: an uncertain
last digit loses the argmax to the comma), where generation would end the
number too. :func:`read_click` reads each coordinate the way generation
would, up to the first predicted piece that is not part of a number. (Until
2026-12-04 the probe parsed the predicted pieces as one string, so such an
early comma made the answer unparseable and counted as a miss: its hit rates
were too low wherever the last digits were uncertain, i.e. mostly on screens
the model had not memorised.)

    python scripts/miniwob_stage1_sweep.py --data runs/miniwob/data --heldout runs/miniwob/heldout \\
        --out "$OUT" --steps 600 --variant grounding --variant referring

Results go to ``OUT/sweep.json`` after every variant (a timed-out call keeps
what finished).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

from aguvis.data.augment import named_point_text
from aguvis.envs.miniwob.monologue import POINT_PREFIX

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package: its siblings by path
from pointing_check import SHAPE as TOY_SHAPE  # noqa: E402  (the toy's 1M shape, which points)

# the vision tower of configs/miniwob/model.yaml until 2026-12-06 (6 blocks of width 256), under which
# the model stayed on the pointing plateau (benchmarks/README.md)
WIDE_VISION = {"vision_depth": 6, "vision_embed_dim": 256, "vision_num_heads": 4, "vision_mlp_ratio": 4}
# the stages' bf16 mixed precision until 2026-12-06 (the flash varlen kernel, patches in bf16)
BF16 = ["precision=bf16", "data.packing.attention=varlen", "data.preload_dtype=compute"]

# name -> (record files of the stage-1 mixture, config overrides, model shape overrides of
# configs/miniwob/model.yaml, which has the position code since 2026-12-06); a file under a
# folder of DRAWN is drawn first (aguvis data synth miniwob-lookalike, --lookalike-screens screens, in that
# layout), with 300 held-out screens of another seed to probe on
VARIANTS: dict[str, tuple[list[str], list[str], dict]] = {
    "grounding": (["stage1.jsonl"], [], {}),
    "lookalike": (["stage1.jsonl", "lookalike/stage1.jsonl"], [], {}),
    "lookalike-only": (["lookalike/stage1.jsonl"], [], {}),
    "pointing": (["pointing/stage1.jsonl"], [], {}),
    "pointing-theta10": (["pointing/stage1.jsonl"], [], {"rope_theta": 10.0}),
    "pointing-grid": (["pointing/stage1.jsonl"], [], {"absolute_position_grid": 32, "absolute_position_code": 0}),
    "grounding-grid": (["stage1.jsonl"], [], {"absolute_position_grid": 32, "absolute_position_code": 0}),
    "pointing-no-code": (["pointing/stage1.jsonl"], [], {"absolute_position_code": 0}),
    "grounding-no-code": (["stage1.jsonl"], [], {"absolute_position_code": 0}),
    "squares": (["squares/stage1.jsonl"], [], {}),
    "squares-lr-3e-4": (["squares/stage1.jsonl"], ["optim.lr=3.0e-4"], {}),
    "squares-toy-size": (["squares/stage1.jsonl"], [], TOY_SHAPE),
    "pointing-toy-size": (["pointing/stage1.jsonl"], [], TOY_SHAPE),
    "squares-wide-vision": (["squares/stage1.jsonl"], [], WIDE_VISION),
    "pointing-wide-vision": (["pointing/stage1.jsonl"], [], WIDE_VISION),
    "grounding-wide-vision": (["stage1.jsonl"], [], WIDE_VISION),
    "squares-bf16": (["squares/stage1.jsonl"], BF16, {}),
    "grounding-bf16": (["stage1.jsonl"], BF16, {}),
    "pointing-squares": (["pointing/stage1.jsonl", "squares/stage1.jsonl"], [], {}),
    "grounding-squares": (["stage1.jsonl", "squares/stage1.jsonl"], [], {}),
    "pointing-lr-3e-4": (["pointing/stage1.jsonl"], ["optim.lr=3.0e-4"], {}),
    "pointing-vision-2": (["pointing/stage1.jsonl"], [], {"vision_depth": 2}),
    "grounding-vision-2": (["stage1.jsonl"], [], {"vision_depth": 2}),
    "referring": (["stage1.jsonl", "stage1-referring.jsonl"], [], {}),
    # four times the queries a step, a quarter of the steps (the same tokens): recall across the
    # template is bridged by a large batch, not by more steps (benchmarks/README.md, run 11's section)
    "referring-accum4": (["stage1.jsonl", "stage1-referring.jsonl"], ["batch.grad_accumulation=4"], {}),
    "referring-accum4-lr-3e-4": (
        ["stage1.jsonl", "stage1-referring.jsonl"], ["batch.grad_accumulation=4", "optim.lr=3.0e-4"], {}
    ),
    # the other way to average the recall's gradient over more samples: a lower rate at the same batch
    "referring-lr-1e-4": (["stage1.jsonl", "stage1-referring.jsonl"], ["optim.lr=1.0e-4"], {}),
    # each decoder layer and vision block torch.compile'd: the same losses (checked on the CPU), and
    # fewer, fused kernels for a model this small; the first steps pay for the compilation
    "referring-compile": (["stage1.jsonl", "stage1-referring.jsonl"], ["compile=true"], {}),
    "frozen-vision": (["stage1.jsonl"], ["freeze_vision=true"], {}),
    "lr-3e-4": (["stage1.jsonl"], ["optim.lr=3.0e-4"], {}),
    "lr-3e-3": (["stage1.jsonl"], ["optim.lr=3.0e-3"], {}),
    "wide": (["stage1.jsonl"], [], {"hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 1408,
                                    "vision_embed_dim": 384, "vision_num_heads": 6}),
    "wide-referring": (["stage1.jsonl", "stage1-referring.jsonl"], [],
                       {"hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 1408,
                        "vision_embed_dim": 384, "vision_num_heads": 6}),
}
# folder -> layout of the look-alike screens
DRAWN = {"lookalike": "page", "pointing": "one-button", "squares": "square"}
_NUMBER_PIECE = re.compile(r"^[0-9.]+$")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("runs/miniwob/data"), help="the training data set")
    parser.add_argument("--heldout", type=Path, required=True, help="a data set of held-out seeds")
    parser.add_argument("--run", type=Path, default=Path("runs/miniwob/sweep"), help="folder for the models")
    parser.add_argument("--out", type=Path, required=True, help="folder for sweep.json")
    parser.add_argument("--configs", type=Path, default=Path("configs/miniwob"), help="model.yaml, stage1.yaml")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--steps", type=int, default=600,
                        help="stage-1 optimizer steps per variant, divided by its gradient accumulation")
    parser.add_argument("--train-probe", type=int, default=300, help="training screens to probe (default 300)")
    parser.add_argument("--lookalike-screens", type=int, default=24000,
                        help="look-alike screens drawn for the variants that use them (default 24000)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every variant")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"steps": args.steps, "variants": {}}
    for name in args.variant:
        files, overrides, shape = VARIANTS[name]
        start = time.monotonic()
        folder = args.run / name
        model_yaml = folder / "model.yaml"
        folder.mkdir(parents=True, exist_ok=True)
        spec = yaml.safe_load((args.configs / "model.yaml").read_text(encoding="utf-8"))
        spec["shape"] = {**spec["shape"], **shape}
        model_yaml.write_text(yaml.safe_dump(spec), encoding="utf-8")
        _run([sys.executable, "scripts/miniwob_init_model.py", "--config", str(model_yaml),
              "--output", str(folder / "init")])
        drawn = [d for d in DRAWN if any(f.startswith(f"{d}/") for f in files)]
        for folder_name in drawn:
            for seed, screens, where in ((0, args.lookalike_screens, folder_name), (1, 300, f"{folder_name}-heldout")):
                _run([sys.executable, "-m", "aguvis.cli", "data", "synth", "miniwob-lookalike", "--vocabulary",
                      str(args.data), "--screens", str(screens), "--seed", str(seed), "--layout", DRAWN[folder_name],
                      "--no-progress", "-o", str(args.data / where)])
        mixture = args.data / f"sweep-{name}.yaml"
        mixture.write_text(yaml.safe_dump({"datasets": [
            {"json_path": f, "images_folder": str(Path(f).parent), "sampling_strategy": "all"} for f in files]}),
            encoding="utf-8")
        stage1 = args.configs / "stage1.yaml"
        steps = same_tokens_steps(args.steps, stage1, overrides, args.overrides)
        command = [sys.executable, "-m", "aguvis.cli", "train", "--config", str(stage1),
                   "--set", f"model.path={folder / 'init'}", "--set", f"data.mixture={mixture}",
                   "--set", f"run.output_dir={folder / 'train'}",
                   "--set", f"run.max_steps={steps}",
                   "--set", "run.resume=none", "--set", "data.augment=null"]
        for override in overrides + args.overrides:
            command += ["--set", override]
        _run(command)
        trained = time.monotonic() - start
        metrics = [json.loads(x) for x in (folder / "train" / "metrics.jsonl").read_text().splitlines() if x]
        loaded = _load(folder / "train" / "model")
        report = {
            "files": files, "overrides": overrides, "shape": shape, "train_s": round(trained, 1),
            "steps": steps,
            "final_loss": metrics[-1]["loss"] if metrics else None,
            "heldout": probe(loaded, args.heldout, None),
            "train": probe(loaded, args.data, args.train_probe),
        }
        for folder_name in drawn:  # the drawn screens: held-out ones, and some it trained on
            report[f"{folder_name}-heldout"] = probe(loaded, args.data / f"{folder_name}-heldout", None)
            report[f"{folder_name}-train"] = probe(loaded, args.data / folder_name, args.train_probe)
        results["variants"][name] = report
        (args.out / "sweep.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(json.dumps({name: {k: report[k] for k in ("train_s", "final_loss")} | {
            k: v["summary"] for k, v in report.items() if isinstance(v, dict) and "summary" in v}}), flush=True)
    return 0


def same_tokens_steps(steps: int, config: Path, variant: list[str], common: list[str] = ()) -> int:
    """``steps`` scaled by the ``batch.grad_accumulation`` of ``config`` with the ``common`` overrides
    over the variant's (its overrides, then the common ones, as the training command applies them):
    every variant trains on as many tokens as the others, a larger batch in fewer steps."""
    from aguvis.train.config import load_config

    base = load_config(config, common).batch.grad_accumulation
    return max(1, steps * base // load_config(config, [*variant, *common]).batch.grad_accumulation)


def _load(model_dir: Path):
    """The trained model in fp32, on the GPU when there is one."""
    import torch

    from aguvis.model.load import load_model

    return load_model(model_dir, dtype=torch.float32, device="cuda" if torch.cuda.is_available() else "cpu")


def probe(loaded, data: Path, sample: int | None) -> dict:
    """Teacher-forced grounding hit rate (and the share of clicks on another queried element instead)
    and referring exact match of ``loaded`` (an ``aguvis.model.load.Loaded``) on ``data``'s stage-1
    records, ``sample`` of each file at most."""
    import torch

    from aguvis.chat.tokenize import RecordTokenizer
    from aguvis.data.records import read_records
    from aguvis.eval.boxes import Box

    device = next(loaded.model.parameters(), torch.empty(0)).device
    tokens = RecordTokenizer(loaded.tokenizer, loaded.image_processor, max_length=4096)
    counts: dict = defaultdict(lambda: [0, 0])
    for kind, name in (("grounding", "stage1.jsonl"), ("referring", "stage1-referring.jsonl")):
        if not (data / name).is_file():
            continue
        records = list(read_records(data / name))
        if sample is not None and len(records) > sample:
            records = random.Random(0).sample(records, sample)
        for record in records:
            tok = tokens(record, data)
            ids = tok.input_ids[None].to(device)
            with torch.inference_mode():
                logits = loaded.model(
                    input_ids=ids,
                    mm_token_type_ids=(ids == loaded.model.config.image_token_id).int(),
                    pixel_values=tok.pixel_values.to(device),
                    image_grid_thw=tok.image_grid_thw.to(device),
                ).logits[0]
            predicted = logits[:-1].argmax(-1).cpu()
            labels = tok.labels[1:]
            spans = _spans(labels)
            answers = [t for t in record.conversations if t.role == "gpt"]
            if len(spans) != len(answers):
                raise RuntimeError(f"{len(spans)} label spans for {len(answers)} answers in {record.images}")
            task = record.extra.get("task", "?")
            named = "reply_names" in record.extra  # each click after its `Point:` line, which decides it
            boxes = [Box(*box) for box in record.extra["bbox"]] if kind != "referring" else []
            queries = 0
            for (lo, hi), answer in zip(spans, answers, strict=True):
                exact = bool(torch.equal(predicted[lo:hi], labels[lo:hi]))
                if kind == "referring":
                    _add(counts, ("referring-exact", task), exact)
                elif named == (answer.recipient == "all"):  # the answer that carries the query's point
                    truth = _pieces(loaded.tokenizer, labels[lo:hi])
                    guess = _pieces(loaded.tokenizer, predicted[lo:hi])
                    if named:
                        name, point = record.extra["reply_names"][queries], record.extra["reply_points"][queries]
                        click = read_named_point(truth, guess, name, point)
                    else:
                        click = read_click(truth, guess)
                    landed = landing(click, boxes, queries, record.extra.get("reply_names"))
                    queries += 1
                    _add(counts, ("grounding-hit", task), landed == "hit")
                    _add(counts, ("grounding-other", task), landed == "other")
                    _add(counts, ("grounding-exact", task), exact)
    table: dict = defaultdict(dict)
    for (metric, task), (good, total) in sorted(counts.items()):
        table[metric][task] = round(good / total, 3)
    summary = {}
    for metric in table:
        good = sum(g for (m, _), (g, _t) in counts.items() if m == metric)
        total = sum(t for (m, _), (_g, t) in counts.items() if m == metric)
        summary[metric] = round(good / total, 3)
    return {"summary": summary, "per_task": dict(table)}


def landing(click: tuple[float, float] | None, boxes: list, index: int, names: list[str] | None = None) -> str:
    """Where a query's ``click`` lands among the boxes of its screen's queries: ``"hit"`` (its own,
    ``boxes[index]``), ``"other"`` (an element of another name: the model found an element, not the one
    named; with ``names``, a box of the same name, such as an option's label for its radio button, is
    no other) or ``"none"``."""
    if click is None:
        return "none"
    if boxes[index].contains(click):
        return "hit"
    others = [box for j, box in enumerate(boxes) if j != index and (names is None or names[j] != names[index])]
    return "other" if any(box.contains(click) for box in others) else "none"


def read_click(truth: list[str], predicted: list[str]) -> tuple[float, float] | None:
    """The ``(x, y)`` a greedy reply would write, from the teacher-forced ``predicted`` pieces of an
    answer whose true pieces are ``truth``: each coordinate is the run of predicted number pieces at
    the true number's positions, cut at the first piece that is not one (where generation would
    end the number). None when a coordinate is not a number.

    >>> read_click(["(x", "=", "0", ".", "2", "5", ",", " y", "=", "0", ".", "7", ")"],
    ...            ["(x", "=", "0", ".", "2", ",", ",", " y", "=", "0", ".", "4", ")"])
    (0.2, 0.4)
    """
    values = []
    i = 0
    while i < len(truth) and len(values) < 2:
        if not _NUMBER_PIECE.match(truth[i]):
            i += 1
            continue
        end = i
        while end < len(truth) and _NUMBER_PIECE.match(truth[end]):
            end += 1
        text = ""
        for piece in predicted[i:end]:
            if not _NUMBER_PIECE.match(piece):
                break
            text += piece
        try:
            values.append(float(text))
        except ValueError:
            return None
        i = end
    return (values[0], values[1]) if len(values) == 2 else None


def read_named_point(
    truth: list[str], predicted: list[str], name: str, point: list[float]
) -> tuple[float, float] | None:
    """The ``(x, y)`` a greedy reply would write in a ``Point:`` line (``Point: OK4031 OK5357``), from its
    teacher-forced ``predicted`` pieces: each coordinate's decimals are the predicted pieces at the true
    decimals' positions, cut at the first piece that is not a digit. None when a coordinate has none.

    >>> truth = ["Point", ":", " ", "O", "K", "4", "0", "3", "1", " ", "O", "K", "5"]
    >>> guess = ["Point", ":", " ", "O", "K", "4", "1", ",", "2", " ", "O", "K", "7"]
    >>> read_named_point(truth, guess, "OK", [0.4031, 0.5])
    (0.41, 0.7)
    """
    text = POINT_PREFIX + named_point_text(name, *point)
    line = "".join(truth).find(text)  # the answer's pieces also hold its recipient and end marker
    if line < 0:
        raise ValueError(f"the answer {''.join(truth)!r} holds no Point line {text!r}")
    x_start = line + len(POINT_PREFIX) + len(name)
    x_digits = text[len(POINT_PREFIX) + len(name) :].split(" ", 1)[0]
    y_start = x_start + len(x_digits) + 1 + len(name)
    starts, offset = [], 0
    for piece in truth:
        starts.append(offset)
        offset += len(piece)
    values = []
    for begin, end in ((x_start, x_start + len(x_digits)), (y_start, line + len(text))):
        digits = ""
        for index, start in enumerate(starts):
            if begin <= start < end:
                if not predicted[index].isdigit():
                    break
                digits += predicted[index]
        if not digits:
            return None
        values.append(float("0." + digits))
    return values[0], values[1]


def _pieces(tokenizer, ids) -> list[str]:
    return [tokenizer.decode([int(i)]) for i in ids]


def _add(counts: dict, key: tuple[str, str], ok: bool) -> None:
    counts[key][0] += int(ok)
    counts[key][1] += 1


def _spans(labels) -> list[tuple[int, int]]:
    """Contiguous runs of supervised positions: one per assistant message."""
    spans, start = [], None
    values = labels.tolist()
    for i, v in enumerate(values + [-100]):
        if v != -100 and start is None:
            start = i
        elif v == -100 and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _run(command: list[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, check=True)


if __name__ == "__main__":
    sys.exit(main())
