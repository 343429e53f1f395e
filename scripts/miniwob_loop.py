"""The MiniWoB++ learning proof on one GPU, within a time budget: random init -> stage 1 -> stage 2.

1. write the random model of ``configs/miniwob/model.yaml``;
2. probe: a few stage-1 steps, to measure the seconds per step and the fixed
   cost of one training run (start-up, preloading, checkpoint and export);
3. stage 1 (``configs/miniwob/stage1.yaml``) for the share of the budget
   given by ``--stage1-share``, as ``run.max_steps``, so that the learning
   rate schedule ends where the run ends;
4. stage 2 (``configs/miniwob/stage2.yaml``) on what is left, sized from
   stage 1's measured step time; with ``--stage1-steps`` given and
   ``--stage2-steps`` not, step 2 (the probe) is skipped, and stage 2 still
   ends its schedule within the budget;

Each stage also gets ``run.max_seconds`` as a guard: stage 1 its share plus
``--slack`` (stage 2 is sized from what it leaves), stage 2 what is left of
the budget. If a step estimate was wrong, the stage still ends in time,
part-way along its schedule, and the summary says so.
5. pack the final model and both stages' metrics (``model.tar.part-*``, 15
   MiB pieces, so that a device call brings them back) beside
   ``summary.json``; with ``--keep-stage1`` the stage-1 model too, when the
   pieces still fit the 8 files and 64 MiB a call returns (the summary says
   if not). A final model alone past that (more than about 16M parameters
   in fp32) leaves its last pieces in ``RUN/parts``, named in the summary's
   ``parts_not_returned``, for a second call to fetch while the machine is
   warm. Until then each stage's metrics wait in the output folder, where
   a call that ran out of time leaves them.

``--lookalike N`` first draws N look-alike screens on the machine's cores
(``aguvis data synth miniwob-lookalike``, with named points when the data
has them, ``--lookalike-random-labels`` of the choice labels random strings,
``--lookalike-referring``: their words asked back too) and adds them to
stage 1's mixture: screens that need not travel in the archive. The drawing
counts against the budget, and needs Liberation Sans where it runs
(fonts-liberation, or ``AGUVIS_FONT`` naming a carried copy).

``--stage2-rehearsal STRATEGY`` adds stage 1's records to stage 2's
mixture, each file drawn by STRATEGY (``random:25%``): stage 2 keeps
rehearsing what stage 1 taught.

Variant ``stage2-only`` (the ablation "stage 2 without stage 1") skips stage 1
and trains stage 2 from the random model; pass ``--stage2-steps`` with the
full run's stage-2 steps to compare at equal stage-2 training.
Variant ``stage1-only`` stops after stage 1, on the whole budget, and packs
the stage-1 model as ``model/``: a stage-1 recipe probed
(``scripts/miniwob_probe.py``) in part of a call.

    python scripts/miniwob_loop.py --data runs/miniwob/data --run runs/miniwob --out "$OUT"

Unpack the model where you evaluate it (``model/``, ``stage1-model/``, ``stage*-metrics.jsonl``)::

    mkdir -p runs/miniwob/gpu && cat OUT/model.tar.part-* | tar -x -C runs/miniwob/gpu
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

PART_BYTES = 15 * 1024 * 1024
RETURNED_FILES = 8  # a device call brings back at most 8 files,
RETURNED_BYTES = 64 * 1024 * 1024  # 64 MiB in all
SUMMARY_BYTES = 64 * 1024  # room kept for summary.json
PACK_SECONDS = 15.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("runs/miniwob/data"), help="the synthesised data set")
    parser.add_argument("--run", type=Path, default=Path("runs/miniwob"), help="folder for models and checkpoints")
    parser.add_argument("--out", type=Path, required=True, help="folder for the packed model and the metrics")
    parser.add_argument("--configs", type=Path, default=Path("configs/miniwob"), help="model.yaml, stage1/2.yaml")
    parser.add_argument(
        "--variant", choices=("full", "stage1-only", "stage2-only"), default="full", help="which stages to run"
    )
    parser.add_argument("--budget-s", type=float, default=540.0, help="seconds for the whole script (default 540)")
    parser.add_argument("--stage1-share", type=float, default=0.45, help="share of the training time for stage 1")
    parser.add_argument("--stage1-steps", type=int, help="stage-1 steps (default: what the budget allows)")
    parser.add_argument("--stage2-steps", type=int, help="stage-2 steps (default: what the budget allows)")
    parser.add_argument("--probe-steps", type=int, default=24, help="stage-1 steps of the timing probe")
    parser.add_argument(
        "--stage2-cost", type=float, default=1.05, help="a stage-2 step's time over a stage-1 step's (default 1.05)"
    )
    parser.add_argument(
        "--stage2-overhead",
        type=float,
        default=1.0,
        help="stage 2's fixed cost (start-up, preloading, export) over stage 1's measured one (default 1.0: "
        "run 10 measured 106 s against 113 s; 1.3 left 58 s of its call unused)",
    )
    parser.add_argument(
        "--slack", type=float, default=0.15, help="stage 1 may run this share over its planned time (default 0.15)"
    )
    parser.add_argument(
        "--lookalike", type=int, default=0, metavar="SCREENS", help="look-alike screens drawn for stage 1 (default 0)"
    )
    parser.add_argument(
        "--lookalike-random-labels",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the look-alike check-box and radio labels that are random strings (default 0)",
    )
    parser.add_argument(
        "--lookalike-queries",
        type=int,
        default=12,
        metavar="N",
        help="grounding queries per look-alike screen (default 12: at 16, about one screen in 2,000 is longer "
        "than the 1,280 tokens of data.max_length)",
    )
    parser.add_argument(
        "--lookalike-referring",
        action="store_true",
        help="also ask the look-alike screens' words back ('what is at (x, y)?'), as the real data does",
    )
    parser.add_argument(
        "--stage2-rehearsal",
        metavar="STRATEGY",
        help="also train stage 2 on stage 1's records, each file of the data's stage1.yaml drawn by STRATEGY "
        "(e.g. random:25%%), so that planning steps do not wear away grounding and reading",
    )
    parser.add_argument(
        "--keep-stage1",
        action="store_true",
        help="also pack the stage-1 model (stage1-model/), to probe what stage 1 alone learned",
    )
    parser.add_argument(
        "--model-set",
        dest="model_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of model.yaml for the random model, e.g. shape.vision_embed_dim=192",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every training run, e.g. batch.micro_batch_size=4 for a CPU smoke run",
    )
    args = parser.parse_args(argv)
    if args.stage2_rehearsal and args.variant != "full":
        parser.error("--stage2-rehearsal needs --variant full: without stage 1 it would not be stage 2 alone")
    start = time.monotonic()
    summary: dict = {"variant": args.variant, "budget_s": args.budget_s, "model_overrides": args.model_overrides}

    init = args.run / "init"
    _run(
        [
            sys.executable,
            "scripts/miniwob_init_model.py",
            "--config",
            str(args.configs / "model.yaml"),
            "--output",
            str(init),
            *(arg for override in args.model_overrides for arg in ("--set", override)),
        ],
        summary,
        "init",
    )
    summary["data"] = json.loads((args.data / "manifest.json").read_text(encoding="utf-8"))
    summary["data"].pop("vocabulary", None)  # thousands of words, for the look-alike screens
    stage1_mixture = args.data / "stage1.yaml"
    if args.lookalike and args.variant != "stage2-only":
        drawn = args.run / "lookalike"
        points = "named" if summary["data"].get("points") == "named" else "none"
        command = [sys.executable, "-m", "aguvis.cli", "data", "synth", "miniwob-lookalike", "--vocabulary"]
        command += [str(args.data), "--screens", str(args.lookalike), "--points", points, "--random-labels"]
        command += [str(args.lookalike_random_labels), "--queries-per-screen", str(args.lookalike_queries)]
        command += ["--output", str(drawn), "--no-progress"]
        command += ["--referring"] if args.lookalike_referring else []
        _run(command, summary, "lookalike")
        stage1_mixture = _joined_mixture([stage1_mixture, drawn / "stage1.yaml"], args.run / "stage1-mixture.yaml")

    stage2_mixture = None
    if args.stage2_rehearsal:  # joined now, so that a bad strategy stops the call before any training
        stage2_mixture = _joined_mixture(
            [args.data / "stage2.yaml", args.data / "stage1.yaml"],
            args.run / "stage2-mixture.yaml",
            strategies=[None, args.stage2_rehearsal],
        )
        summary["stage2_rehearsal"] = args.stage2_rehearsal

    step_s = overhead_s = 0.0
    # a step count from the budget needs the step time before the first stage: with stage 1's steps given,
    # stage 1 measures it for stage 2, and the probe's start-up is saved
    first_stage_steps = args.stage2_steps if args.variant == "stage2-only" else args.stage1_steps
    if first_stage_steps is None:
        probe = _train(
            args, "stage1", init, args.run / "probe", args.probe_steps, summary, log_every=1, probe=True,
            mixture=stage1_mixture,
        )
        times = [m["step_time_s"] for m in probe["metrics"]][5:] or [m["step_time_s"] for m in probe["metrics"]]
        step_s = statistics.median(times)
        overhead_s = max(probe["wall_s"] - sum(m["step_time_s"] for m in probe["metrics"]), 0.0)
        data_s = probe["timings"]["data_s"]
        summary["probe"] = {"step_s": step_s, "overhead_s": overhead_s, "data_s": data_s}
        overhead_s = _stage_fixed_cost(overhead_s, data_s, _screen_copies(args, "stage1"))

    model = init
    if args.variant != "stage2-only":
        stages_left = 2 if args.variant == "full" else 1
        left = args.budget_s - (time.monotonic() - start) - stages_left * overhead_s - PACK_SECONDS
        train_s = left * (args.stage1_share if args.variant == "full" else 1.0)
        steps = args.stage1_steps or max(1, math.floor(train_s / step_s))
        stage1 = _train(
            args, "stage1", init, args.run / "stage1", steps, summary, max_seconds=train_s * (1 + args.slack),
            mixture=stage1_mixture,
        )
        if stage1["metrics"]:
            step_s = statistics.median(m["step_time_s"] for m in stage1["metrics"])
            measured = max(stage1["wall_s"] - _training_seconds(stage1["metrics"]), 0.0)
            overhead_s = measured * args.stage2_overhead
            summary["stage1"]["overhead_s"] = round(measured, 1)
        model = args.run / "stage1" / "model"
    if args.variant != "stage1-only":
        left = args.budget_s - (time.monotonic() - start) - overhead_s - PACK_SECONDS
        stage2_steps = args.stage2_steps or max(1, math.floor(left / (step_s * args.stage2_cost)))
        # the last stage gets no slack: nothing after it can give the time back (run 14 ran 11 s past its budget)
        _train(
            args, "stage2", model, args.run / "stage2", stage2_steps, summary, max_seconds=left,
            mixture=stage2_mixture,
        )
        model = args.run / "stage2" / "model"

    stages = [name for name in ("stage1", "stage2") if (args.out / f"{name}-metrics.jsonl").is_file()]
    contents = {"model": model}
    contents |= {f"{name}-metrics.jsonl": args.out / f"{name}-metrics.jsonl" for name in stages}
    kept = {"stage1-model": args.run / "stage1" / "model"} if args.keep_stage1 and args.variant == "full" else {}
    summary["parts"] = _pack(contents | kept, args.out)
    if kept and _beyond_return(summary["parts"], args.out):
        summary["stage1_model"] = "left out: with it the pieces would not all come back from the call"
        summary["parts"] = _pack(contents, args.out)
    if beyond := _beyond_return(summary["parts"], args.out):  # a model of more than about 16M parameters
        kept_at = args.run / "parts"
        kept_at.mkdir(parents=True, exist_ok=True)
        for name in beyond:
            shutil.copyfile(args.out / name, kept_at / name)
        summary["parts_not_returned"] = {"parts": beyond, "kept_at": str(kept_at)}
    for name in stages:  # in the archive now
        (args.out / f"{name}-metrics.jsonl").unlink()
    summary["total_s"] = time.monotonic() - start
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "data"}, indent=2))
    return 0


def _train(
    args: argparse.Namespace,
    stage: str,
    model: Path,
    output: Path,
    steps: int,
    summary: dict,
    *,
    log_every: int | None = None,
    max_seconds: float | None = None,
    probe: bool = False,
    mixture: Path | None = None,
) -> dict:
    """Run one ``aguvis train`` for ``steps`` optimizer steps (at most
    ``max_seconds`` of training) on ``mixture`` (default: the data's own for
    the stage); returns its wall time and metrics."""
    config = args.configs / f"{stage}.yaml"
    mixture = mixture or args.data / f"{stage}.yaml"
    command = [
        sys.executable,
        "-m",
        "aguvis.cli",
        "train",
        "--config",
        str(config),
        "--set",
        f"model.path={model}",
        "--set",
        f"data.mixture={mixture}",
        "--set",
        f"run.output_dir={output}",
        "--set",
        f"run.max_steps={steps}",
        "--set",
        "run.resume=none",
    ]
    if log_every is not None:
        command += ["--set", f"run.log_every={log_every}"]
    if max_seconds is not None:
        command += ["--set", f"run.max_seconds={max(max_seconds, 1.0):.0f}"]
    for override in args.overrides:
        command += ["--set", override]
    if probe:  # timing needs no augmented copies, which only lengthen the preloading; last, so that
        command += ["--set", "data.augment=null"]  # an override of data.augment.copies cannot undo it
    name = output.name
    wall = _run(command, summary, name)
    metrics_file = output / "metrics.jsonl"
    metrics = [json.loads(line) for line in metrics_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    resolved = yaml.safe_load((output / "config.yaml").read_text(encoding="utf-8"))
    last = metrics[-1] if metrics else {}
    trained = int(last.get("step", 0))
    summary[name] = {
        "steps_planned": steps,
        "steps": trained,
        "stopped_by_time": trained < steps,
        "token_budget": resolved["data"]["packing"]["token_budget"] if resolved["data"].get("packing") else None,
        "samples": round(statistics.mean(m["samples"] for m in metrics) * trained) if metrics else 0,
        "wall_s": wall,
        "final_loss": last.get("loss"),
        "from": str(model),
    }
    timings = json.loads((output / "timings.json").read_text(encoding="utf-8"))
    summary[name]["timings"] = {key: round(seconds, 1) for key, seconds in timings.items()}
    if name != "probe":
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{name}-metrics.jsonl").write_text(metrics_file.read_text(encoding="utf-8"), encoding="utf-8")
    return {"wall_s": wall, "metrics": metrics, "timings": timings}


def _joined_mixture(mixtures: list[Path], out: Path, strategies: list[str | None] | None = None) -> Path:
    """One mixture file ``out`` with the entries of ``mixtures`` in order, their paths made absolute; a
    mixture's ``strategies`` item, where not None, replaces the sampling strategy of each of its entries."""
    from aguvis.data import load_mixture

    strategies = strategies or [None] * len(mixtures)
    datasets = [
        {
            "json_path": str(e.json_path.resolve()),
            "images_folder": str(e.images_folder.resolve()),
            "sampling_strategy": strategy or e.sampling_strategy,
        }
        for mixture, strategy in zip(mixtures, strategies, strict=True)
        for e in load_mixture(mixture)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump({"datasets": datasets}, sort_keys=False), encoding="utf-8")
    load_mixture(out)  # checks the strategies
    return out


def _screen_copies(args: argparse.Namespace, stage: str) -> int:
    """How many copies of each screen a stage preloads: 1, plus ``data.augment.copies`` when augmenting."""
    from aguvis.train.config import load_config

    augment = load_config(args.configs / f"{stage}.yaml", args.overrides).data.augment
    return 1 + augment.copies if augment is not None else 1


def _stage_fixed_cost(probe_s: float, data_s: float, copies: int) -> float:
    """A stage's fixed cost from the probe's ``probe_s``, of which ``data_s`` prepared one copy of each
    record and screen: only that part grows with the ``copies`` a stage prepares (run 10: the whole
    probe's cost times 4 copies gave 139 s, where stage 1 took 113 s)."""
    data_s = min(data_s, probe_s)
    return probe_s + data_s * (copies - 1)


def _training_seconds(metrics: list[dict]) -> float:
    """Seconds spent in optimizer steps: each logged row's mean step time times the steps it covers."""
    total, previous = 0.0, 0
    for row in metrics:
        total += row["step_time_s"] * (row["step"] - previous)
        previous = row["step"]
    return total


def _run(command: list[str], summary: dict, name: str) -> float:
    print("+ " + " ".join(command), flush=True)
    start = time.monotonic()
    subprocess.run(command, check=True)
    wall = time.monotonic() - start
    summary.setdefault("wall_s", {})[name] = round(wall, 1)
    return wall


def _beyond_return(parts: list[str], out: Path) -> list[str]:
    """The pieces among ``parts`` (in ``out``) past the files and bytes a call brings back beside
    ``summary.json``: a second call can fetch them from where the loop keeps a copy."""
    files, size = 1, SUMMARY_BYTES
    for index, name in enumerate(parts):
        files, size = files + 1, size + (out / name).stat().st_size
        if files > RETURNED_FILES or size > RETURNED_BYTES:
            return parts[index:]
    return []


def _pack(contents: dict[str, Path], out: Path) -> list[str]:
    """Tar ``contents`` (name in the archive -> file or folder) into ``out/model.tar.part-NN`` pieces of
    at most :data:`PART_BYTES`."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("model.tar.part-*"):  # of an earlier packing
        stale.unlink()
    archive = out / "model.tar"
    with tarfile.open(archive, "w") as tar:
        for name, path in contents.items():
            tar.add(path, arcname=name)
    parts = []
    with archive.open("rb") as whole:
        while chunk := whole.read(PART_BYTES):
            part = out / f"model.tar.part-{len(parts):02d}"
            part.write_bytes(chunk)
            parts.append(part.name)
    archive.unlink()
    return parts


if __name__ == "__main__":
    sys.exit(main())
