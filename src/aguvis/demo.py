"""``aguvis demo``: the whole recipe in miniature, on a laptop CPU, in minutes.

1. draw synthetic GUI screens (:mod:`aguvis.data.synthetic`): a training set
   and held-out screens never seen in training;
2. train the tiny random Qwen2-VL (:mod:`aguvis.model.tiny`) on the stage-1
   grounding records with the real :meth:`aguvis.train.trainer.Trainer.train`
   for a wall-clock budget;
3. predict a click for every held-out instruction with the :class:`Agent` in
   grounding mode, exactly as a released checkpoint would be used;
4. report the training loss (first step -> mean of the last steps, and a
   short curve), steps, samples per second (a sample is one packed record: a
   screen with its queries), wall times, and click accuracy: a prediction is
   correct iff its click point lies inside the target element's box, edges
   included; output without a click counts as wrong.

Two baselines put the accuracy in context: clicking uniformly at random (the
mean target-box area) and clicking a random clickable element of the screen
(the mean of 1 / elements). A model above the second has learned more than
where elements are. The report also counts the misses that still land on
another element. After four minutes on two CPU cores most misses do: the
model has learned which kind of element an instruction names and where such
elements sit on each kind of screen, but hardly to read the labels yet.

Outputs under ``--output``: ``data/`` (screens and records), ``train/`` (the
trainer's run folder with its ``config.yaml`` and ``metrics.jsonl``; the final
model is ``train/model``), ``report.json``, ``predictions.jsonl`` (every
held-out query with its predicted click) and ``predictions.png``. Each run
trains afresh.

The Trainer plans its cosine schedule in optimizer steps, the demo has
minutes: a short calibration run measures the time per step, and the real run
is planned for the number of steps that fits, with ``run.max_seconds`` (the
budget plus 10%) as the hard stop should the machine slow down.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CALIBRATION_PLANNED_STEPS = 100_000  # never reached: the calibration run stops on time
DEADLINE_SLACK = 1.1  # training may overrun its budget by 10% before it is cut short
LOSS_TAIL = 10  # the reported final loss is the mean of the last steps
EVAL_MAX_NEW_TOKENS = 32
EVAL_BATCH = 16


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo. ``steps`` pins the number of optimizer steps
    (tests); ``None`` fits as many as ``minutes`` allow, measured by a
    calibration run of ``calibration_seconds``. ``model`` holds
    :class:`aguvis.model.tiny.TinyConfig` fields (empty: the tiny model).

    The defaults were tuned for two CPU cores: 280x168 screens are 60 image
    tokens and hold about six elements each, and packing every element of a
    screen into one record (``queries_per_screen``) trains on all of them for
    the price of one image. The model is the 256k-parameter tiny one: it runs
    about 2.3 times as many steps per minute as a 0.74M one (hidden 128, three
    layers) and learned as much in the same minutes (44% held-out accuracy
    after 1500 steps at lr 3e-3, against 41% after the larger one's 1000 steps
    at 2e-3); held-out accuracy levels off after about 1000 steps.
    """

    output: Path
    minutes: float = 4.0
    train_screens: int = 3000
    heldout_screens: int = 100
    queries_per_screen: int = 8
    width: int = 280
    height: int = 168
    micro_batch_size: int = 8
    lr: float = 3e-3
    warmup_ratio: float = 0.03
    freeze_vision: bool = True
    model: dict[str, Any] = field(default_factory=dict)
    steps: int | None = None
    calibration_seconds: float = 6.0
    seed: int = 0
    figure_tiles: int = 6


@dataclass(frozen=True)
class HeldOutQuery:
    """One held-out instruction: its screenshot, text, target box (normalised x1, y1, x2, y2) and
    the boxes of every clickable element on its screen (empty: unknown)."""

    image: Path
    instruction: str
    bbox: tuple[float, float, float, float]
    elements: tuple[tuple[float, float, float, float], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """The agent's answer to one held-out query."""

    query: HeldOutQuery
    point: tuple[float, float] | None
    hit: bool
    error: str | None


@dataclass(frozen=True)
class TrainingResult:
    model_dir: Path
    parameters: int
    steps: int
    planned_steps: int
    stopped_by_time: bool
    seconds: float
    step_seconds: float
    samples: int
    queries_per_sample: float
    loss_first: float
    loss_last: float
    loss_curve: list[float]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train a tiny model on synthetic screens and evaluate it (a few minutes on a CPU)",
        description="End-to-end demo: synthetic grounding data, a few minutes of stage-1 training of a tiny "
        "Qwen2-VL with the real trainer, grounding predictions on held-out screens, a report and a figure.",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    parser.add_argument("--minutes", type=float, default=DemoConfig.minutes,
                        help=f"training time budget in minutes (default {DemoConfig.minutes:g})")
    parser.add_argument("--train-screens", type=int, default=DemoConfig.train_screens,
                        help=f"synthetic training screens (default {DemoConfig.train_screens})")
    parser.add_argument("--heldout-screens", type=int, default=DemoConfig.heldout_screens,
                        help=f"held-out screens to evaluate on (default {DemoConfig.heldout_screens})")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, model and training (default 0)")
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    if args.minutes <= 0 or args.train_screens < 1 or args.heldout_screens < 1:
        print("aguvis demo: --minutes, --train-screens and --heldout-screens must be positive", file=sys.stderr)
        return 2
    config = DemoConfig(args.output, minutes=args.minutes, train_screens=args.train_screens,
                        heldout_screens=args.heldout_screens, seed=args.seed)
    report = run(config)
    print(format_report(report))
    return 0


def run(config: DemoConfig) -> dict[str, Any]:
    """Run the demo; return the report (also written to ``report.json``)."""
    started = time.monotonic()
    config.output.mkdir(parents=True, exist_ok=True)
    train_records, heldout = make_data(config)
    data_seconds = time.monotonic() - started
    training = train(config, train_records)
    outcomes, eval_seconds = evaluate(training.model_dir, heldout)
    write_predictions(outcomes, config.output / "predictions.jsonl")
    figure = config.output / "predictions.png"
    draw_predictions(outcomes, figure, config.figure_tiles)
    report = build_report(config, training, outcomes, eval_seconds, time.monotonic() - started, data_seconds)
    report["figure"] = str(figure)
    _write_json(config.output / "report.json", report)
    return report


# ----------------------------------------------------------------------- data


def make_data(config: DemoConfig) -> tuple[Path, list[HeldOutQuery]]:
    """Write the training and held-out sets; return the training records and the held-out queries."""
    from aguvis.data.synthetic import make_grounding_dataset

    data = config.output / "data"
    common = {"queries_per_screen": config.queries_per_screen, "seed": config.seed, "width": config.width,
              "height": config.height, "progress": True}
    train_records = make_grounding_dataset(data, config.train_screens, split="train", **common)
    heldout_records = make_grounding_dataset(data, config.heldout_screens, split="heldout", **common)
    return train_records, heldout_queries(heldout_records)


def queries_per_record(records_path: Path) -> float:
    """The mean number of grounding queries packed into one record of the file."""
    from aguvis.data.records import read_records

    counts = [len(record.extra["bbox"]) for record in read_records(records_path)]
    return sum(counts) / max(1, len(counts))


def heldout_queries(records_path: Path) -> list[HeldOutQuery]:
    """Every (instruction, target box) of a grounding record file, in order.

    A packed record asks ``k`` questions about one screen: human turn ``2i``
    holds question ``i`` (the first with the ``<image>`` placeholder) and
    ``extra["bbox"][i]`` its target box.
    """
    from aguvis.data.records import read_records

    queries = []
    for record in read_records(records_path):
        questions = [turn.value.replace("<image>", "") for turn in record.conversations if turn.role == "human"]
        image = records_path.parent / record.images[0]
        elements = tuple(tuple(e["bbox"]) for e in record.extra.get("elements", []))
        queries += [HeldOutQuery(image, q, tuple(box), elements) for q, box in zip(questions, record.extra["bbox"])]
    return queries


# ------------------------------------------------------------------- training


def training_config(config: DemoConfig, records: Path, output_dir: Path, steps: int, seconds: float | None):
    """The Trainer config: the stage-1 recipe sized for a CPU, ``steps`` planned, ``seconds`` at most."""
    from aguvis.train.config import (
        BatchConfig,
        DataConfig,
        ModelConfig,
        OptimConfig,
        RunConfig,
        ScheduleConfig,
        TrainConfig,
    )

    return TrainConfig(
        model=ModelConfig(path="tiny"),  # the Trainer is handed build_model(config), this shape
        data=DataConfig(records=str(records), images_root=str(records.parent), max_length=2048,
                        max_pixels=config.width * config.height, num_workers=0),
        optim=OptimConfig(lr=config.lr),
        schedule=ScheduleConfig(name="cosine", warmup_ratio=config.warmup_ratio, min_lr_ratio=0.1),
        batch=BatchConfig(micro_batch_size=config.micro_batch_size, grad_accumulation=1),
        run=RunConfig(output_dir=str(output_dir), max_steps=steps, max_seconds=seconds, seed=config.seed,
                      log_every=1, save_every=0, keep_checkpoints=1, resume="none"),
        precision="fp32",
        gradient_checkpointing=False,
        freeze_vision=config.freeze_vision,
    )


def build_model(config: DemoConfig):
    """The tiny model with ``config.model`` applied, its tokenizer and image processor (random, offline)."""
    from aguvis.chat.vision import build_image_processor
    from aguvis.model.load import Loaded
    from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(tokenizer, seed=config.seed, **config.model)
    processor = build_image_processor(max_pixels=config.width * config.height)
    return Loaded(model=model, tokenizer=tokenizer, image_processor=processor)


def run_trainer(config: DemoConfig, records: Path, output_dir: Path, steps: int, seconds: float | None):
    """``Trainer.train()`` afresh in ``output_dir``.

    Returns the (closed) trainer, the exported model folder and the wall time
    of ``train()`` itself: the steps with their data loading, then the final
    checkpoint and export; building the model and reading the records before
    it are not counted.
    """
    from aguvis.train.trainer import Trainer

    shutil.rmtree(output_dir, ignore_errors=True)  # each demo run trains afresh
    trainer = Trainer(training_config(config, records, output_dir, steps, seconds), loaded=build_model(config))
    try:
        start = time.monotonic()
        model_dir = trainer.train()
        elapsed = time.monotonic() - start
    finally:
        trainer.close()
    return trainer, model_dir, elapsed


def plan_steps(config: DemoConfig, records: Path) -> tuple[int, float]:
    """Steps that fit in ``config.minutes`` on this machine now, and the measured seconds per step.

    A calibration run of the real trainer, stopped by ``run.max_seconds``,
    measures the wall time per step with data loading (and the first, slower
    step and the final save) included, so the estimate errs on the short side.
    """
    scratch = config.output / "calibration"
    try:
        trainer, _, elapsed = run_trainer(config, records, scratch, CALIBRATION_PLANNED_STEPS,
                                          config.calibration_seconds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    per_step = elapsed / trainer.step
    return max(1, int(config.minutes * 60 / per_step)), per_step


def train(config: DemoConfig, records: Path) -> TrainingResult:
    """Train for ``config.steps`` steps, or for as many as fit in ``config.minutes``.

    The cosine schedule is planned for the calibrated number of steps, so it
    ends on time on an unchanged machine; ``run.max_seconds`` (the budget plus
    10%) stops a slowed-down run regardless, part-way along the schedule.
    """
    from aguvis.train.metrics import read_metrics

    if config.steps is not None:
        steps, seconds = config.steps, None
    else:
        steps, per_step = plan_steps(config, records)
        seconds = config.minutes * 60 * DEADLINE_SLACK
        print(f"calibration: {per_step * 1000:.0f} ms per step -> {steps} steps in {config.minutes:g} min")
    run_dir = config.output / "train"
    trainer, model_dir, elapsed = run_trainer(config, records, run_dir, steps, seconds)
    rows = read_metrics(run_dir / "metrics.jsonl")
    losses = [row["loss"] for row in rows]
    tail = losses[-min(len(losses), LOSS_TAIL):]
    return TrainingResult(
        model_dir=model_dir,
        parameters=sum(p.numel() for p in trainer.hf_model.parameters()),
        steps=trainer.step,
        planned_steps=steps,
        stopped_by_time=trainer.stopped_by_time,
        seconds=elapsed,
        step_seconds=sum(row["step_time_s"] for row in rows),
        samples=trainer.step * config.micro_batch_size,
        queries_per_sample=queries_per_record(records),
        loss_first=losses[0],
        loss_last=sum(tail) / len(tail),
        loss_curve=curve(losses),
    )


def curve(losses: list[float], points: int = 8) -> list[float]:
    """The loss at ``points`` evenly spaced steps (first and last included), each the mean
    of its neighbourhood, for a compact loss curve in the report."""
    if len(losses) <= points:
        return [round(x, 4) for x in losses]
    width = max(1, len(losses) // (2 * points))
    out = []
    for i in range(points):
        centre = round(i * (len(losses) - 1) / (points - 1))
        window = losses[max(0, centre - width) : centre + width + 1]
        out.append(round(sum(window) / len(window), 4))
    return out


# ----------------------------------------------------------------- evaluation


def evaluate(model_dir: Path, queries: list[HeldOutQuery]) -> tuple[list[Outcome], float]:
    """Ask the trained model, in grounding mode, for a click on every held-out query."""
    from tqdm import tqdm

    from aguvis.agent import Agent, Request
    from aguvis.agent.local import LocalBackend
    from aguvis.chat.template import Mode
    from aguvis.eval.boxes import Box

    agent = Agent(LocalBackend(model_dir, batch_size=EVAL_BATCH), Mode.GROUNDING, max_new_tokens=EVAL_MAX_NEW_TOKENS)
    start = time.monotonic()
    outcomes = []
    for first in tqdm(range(0, len(queries), EVAL_BATCH), desc="predict", unit="batch"):
        batch = queries[first : first + EVAL_BATCH]
        predictions = agent.predict_batch([Request(q.image, q.instruction, mode=Mode.GROUNDING) for q in batch])
        for query, prediction in zip(batch, predictions):
            point = prediction.actions[0].point if prediction.actions else None
            hit = Box(*query.bbox).contains(point)
            outcomes.append(Outcome(query, point, hit, prediction.error))
    return outcomes, time.monotonic() - start


def write_predictions(outcomes: list[Outcome], path: Path) -> None:
    """One JSON line per held-out query: screenshot, instruction, target box, predicted point, hit."""
    lines = [
        json.dumps({"image": str(o.query.image), "instruction": o.query.instruction, "bbox": list(o.query.bbox),
                    "point": None if o.point is None else list(o.point), "hit": o.hit, "error": o.error})
        for o in outcomes
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)


def chance_accuracy(queries: list[HeldOutQuery]) -> float:
    """Accuracy of clicking uniformly at random: the mean target-box area (normalised)."""
    return sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in (q.bbox for q in queries)) / len(queries)


def random_element_accuracy(queries: list[HeldOutQuery]) -> float | None:
    """Accuracy of clicking a random element of the screen, i.e. of finding the
    elements without reading their labels: the mean of 1 / elements on the screen."""
    if not queries or any(not q.elements for q in queries):
        return None
    return sum(1 / len(q.elements) for q in queries) / len(queries)


def on_another_element(outcome: Outcome) -> bool:
    """A miss whose click still lands on some other clickable element of the screen."""
    from aguvis.eval.boxes import Box

    return (not outcome.hit and outcome.point is not None
            and any(Box(*box).contains(outcome.point) for box in outcome.query.elements))


# --------------------------------------------------------------------- report


def build_report(
    config: DemoConfig,
    training: TrainingResult,
    outcomes: list[Outcome],
    eval_seconds: float,
    total_seconds: float,
    data_seconds: float,
) -> dict[str, Any]:
    """The report: what was trained, how fast, how the loss moved, how well it clicks.

    ``training.seconds`` is the wall time of ``Trainer.train()`` (steps with
    their data loading, final checkpoint and export);
    ``samples_per_s`` divides the trained samples (packed records) by it,
    ``queries_per_s`` the grounding queries they hold; ``step_compute_seconds``
    is the part spent in forward, backward and optimizer steps (the rest is
    data loading and saving).
    """
    hits = sum(o.hit for o in outcomes)
    clicks = sum(o.point is not None for o in outcomes)
    queries = training.samples * training.queries_per_sample
    return {
        "config": json.loads(json.dumps(dataclasses.asdict(config), default=str)),  # paths as text, tuples as lists
        "model": {"parameters": training.parameters, "path": str(training.model_dir)},
        "training": {
            "steps": training.steps,
            "planned_steps": training.planned_steps,
            "stopped_by_time": training.stopped_by_time,
            "seconds": round(training.seconds, 1),
            "steps_per_s": round(training.steps / training.seconds, 2),
            "step_compute_seconds": round(training.step_seconds, 1),
            "samples": training.samples,
            "samples_per_s": round(training.samples / training.seconds, 2),
            "queries_per_s": round(queries / training.seconds, 1),
            "loss_first_step": round(training.loss_first, 4),
            f"loss_last_{LOSS_TAIL}_steps": round(training.loss_last, 4),
            "loss_curve": training.loss_curve,
        },
        "heldout": {
            "screens": len({o.query.image for o in outcomes}),
            "queries": len(outcomes),
            "click_accuracy": round(hits / len(outcomes), 4),
            "correct": hits,
            "with_click": clicks,
            "missed_on_another_element": sum(on_another_element(o) for o in outcomes),
            "chance_accuracy": round(chance_accuracy([o.query for o in outcomes]), 4),
            "random_element_accuracy": _round(random_element_accuracy([o.query for o in outcomes])),
            "predict_seconds": round(eval_seconds, 1),
        },
        "data_seconds": round(data_seconds, 1),
        "total_seconds": round(total_seconds, 1),
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines of text for the terminal."""
    t, h = report["training"], report["heldout"]
    stop = (f", stopped by the time budget at step {t['steps']} of {t['planned_steps']}"
            if t["stopped_by_time"] else "")
    curve = " ".join(f"{x:.2f}" for x in t["loss_curve"])
    baselines = f"clicking at random {h['chance_accuracy']:.1%}"
    if h["random_element_accuracy"] is not None:
        baselines += f", clicking a random element {h['random_element_accuracy']:.1%}"
    misses = h["queries"] - h["correct"]
    lines = [
        (f"aguvis demo: small Qwen2-VL ({report['model']['parameters'] / 1e6:.2f} M parameters), "
         "stage-1 grounding on synthetic screens"),
        (f"  training : {t['steps']} steps in {t['seconds']:.0f} s ({t['steps_per_s']:.2f} steps/s, "
         f"{t['samples_per_s']:.1f} samples/s, {t['queries_per_s']:.0f} queries/s){stop}"),
        (f"  loss     : {t['loss_first_step']:.3f} -> {t[f'loss_last_{LOSS_TAIL}_steps']:.3f} "
         f"(first step -> mean of the last {LOSS_TAIL}); curve {curve}"),
        (f"  held-out : click accuracy {h['click_accuracy']:.1%} ({h['correct']}/{h['queries']} queries on "
         f"{h['screens']} unseen screens); {h['with_click']} answers with a click"),
        f"  baselines: {baselines}",
        f"  misses   : {h['missed_on_another_element']} of {misses} on another element of the screen",
        (f"  time     : {report['total_seconds']:.0f} s in all (data {report['data_seconds']:.0f} s, "
         f"training {t['seconds']:.0f} s, prediction {h['predict_seconds']:.0f} s)"),
        f"  wrote    : {report['figure']}, predictions.jsonl, report.json; model in {report['model']['path']}",
        f"  serve it : aguvis serve {report['model']['path']} --port 8000",
    ]
    return "\n".join(lines)


def draw_predictions(outcomes: list[Outcome], path: Path, tiles: int) -> None:
    """A grid of held-out screens: target box in green, the click as a dot
    (green when inside the box, red when not), the instruction underneath."""
    from PIL import Image, ImageDraw, ImageFont

    chosen = _one_per_screen(outcomes)[:tiles]
    if not chosen:
        return
    caption = 30
    font = ImageFont.load_default(size=13)
    images = []
    for outcome in chosen:
        with Image.open(outcome.query.image) as opened:
            screen = opened.convert("RGB")
        w, h = screen.size
        tile = Image.new("RGB", (w, h + caption), "white")
        tile.paste(screen, (0, 0))
        draw = ImageDraw.Draw(tile)
        x1, y1, x2, y2 = outcome.query.bbox
        draw.rectangle((x1 * w, y1 * h, x2 * w, y2 * h), outline=(0, 170, 0), width=2)
        if outcome.point is not None:
            px, py = outcome.point[0] * w, outcome.point[1] * h
            colour = (0, 170, 0) if outcome.hit else (220, 0, 0)
            draw.ellipse((px - 5, py - 5, px + 5, py + 5), fill=colour, outline="black")
        verdict = "hit" if outcome.hit else ("miss" if outcome.point is not None else "no click")
        draw.text((4, h + 8), f"{outcome.query.instruction}  [{verdict}]", fill="black", font=font)
        images.append(tile)
    columns = 2 if len(images) > 1 else 1
    rows = -(-len(images) // columns)
    tw, th = images[0].size
    sheet = Image.new("RGB", (columns * tw + (columns - 1) * 8, rows * th + (rows - 1) * 8), (200, 200, 200))
    for i, tile in enumerate(images):
        sheet.paste(tile, ((i % columns) * (tw + 8), (i // columns) * (th + 8)))
    tmp = path.with_name(f".{path.name}.tmp")
    sheet.save(tmp, format="PNG")
    os.replace(tmp, path)


def _one_per_screen(outcomes: list[Outcome]) -> list[Outcome]:
    seen: set[Path] = set()
    chosen = []
    for outcome in outcomes:
        if outcome.query.image not in seen:
            seen.add(outcome.query.image)
            chosen.append(outcome)
    return chosen


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
