"""Command-line entry points for MiniWoB++: ``aguvis data synth miniwob``, ``aguvis data synth
miniwob-lookalike`` and ``aguvis eval miniwob``.

:func:`register_synth` adds ``synth miniwob`` and ``synth miniwob-lookalike`` to the ``aguvis data`` group and
:func:`register_eval` adds ``miniwob`` to the ``aguvis eval`` group. Nothing
heavy is imported here: selenium, miniwob and torch load when a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

MODES = ("grounding", "self-plan", "enforced-plan")


def register_synth(data_subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth miniwob`` and ``synth miniwob-lookalike`` under the ``aguvis data`` subcommands."""
    synth = data_subparsers.add_parser("synth", help="synthesise training data from a live environment")
    sub = synth.add_subparsers(dest="synth_source", metavar="SOURCE")
    synth.set_defaults(handler=lambda args: _help(synth))
    parser = sub.add_parser(
        "miniwob",
        help="stage-1 grounding and stage-2 trajectory records from MiniWoB++ with scripted experts",
        description="Play each task's seeds with its scripted expert in a headless Chromium, keep the won "
        "episodes, and write OUTPUT/stage1.jsonl (grounding queries per screen), OUTPUT/stage1-referring.jsonl "
        "(what is at each queried point), OUTPUT/stage2-l1/l2/l3.jsonl "
        "(trajectory steps at three levels of inner monologue), mixtures, a manifest and the screenshots. "
        "A rerun skips tasks already done with the same settings.",
    )
    parser.add_argument("--tasks", default="all", help="comma-separated task names, or 'all' (default)")
    parser.add_argument("--episodes", type=int, required=True, help="episodes (seeds) per task")
    parser.add_argument(
        "--task-episodes",
        default="",
        metavar="TASK=N,...",
        help="other episode counts for some tasks, e.g. click-link=300,login-user=60",
    )
    parser.add_argument(
        "--seed-start", type=int, default=0, help="first seed (default 0); seeds from 1000000 are for evaluation"
    )
    parser.add_argument(
        "--queries-per-screen", type=int, default=8, help="at most this many grounding queries per screen (default 8)"
    )
    parser.add_argument(
        "--points",
        choices=("none", "instruction", "named"),
        default="none",
        help="write each click's point in the monologue too (stage-2 levels l2, l3): 'instruction' ends the "
        "low-level instruction with it (\"Click the 'OK' button at (x=0.4031, y=0.5357)\"); 'named' adds a line "
        "\"Point: OK4031 OK5357\", the decimals right after the element's name, and answers each stage-1 query "
        "with such a line before its click. Trajectories already played are reused (default: none)",
    )
    parser.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="folder for the data set")
    _browser_arguments(parser)
    parser.set_defaults(handler=run_synth)
    lookalike = sub.add_parser(
        "miniwob-lookalike",
        help="stage-1 grounding records on MiniWoB++-styled screens drawn with PIL (no browser)",
        description="Draw screens in MiniWoB++'s look (instruction bar, text, buttons, links, check boxes, radio "
        "buttons, text fields at random places) with the goals and words of a MiniWoB++ data set, and write "
        "OUTPUT/stage1.jsonl (grounding queries per screen, packed), OUTPUT/stage1.yaml, a manifest and the "
        "screens. Tens of thousands of layouts in seconds, where training runs. A rerun with the same settings "
        "does nothing.",
    )
    lookalike.add_argument(
        "--vocabulary", type=Path, required=True, metavar="DIR", help="a MiniWoB++ data set (its manifest.json)"
    )
    lookalike.add_argument("--screens", type=int, required=True, help="screens to draw")
    lookalike.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    lookalike.add_argument(
        "--layout",
        choices=("page", "one-button", "square"),
        default="page",
        help="page: rows of mixed elements or scattered buttons (default); one-button: a single button anywhere; "
        "square: a black square on a cell of the model's image-token grid, the easiest pointing",
    )
    lookalike.add_argument(
        "--queries-per-screen", type=int, default=16, help="at most this many grounding queries per screen (default 16)"
    )
    lookalike.add_argument(
        "--points",
        choices=("none", "named"),
        default="none",
        help="named: answer each query with a 'Point: OK4031 OK5357' line before its click, as "
        "'synth miniwob --points named' does (default: none)",
    )
    lookalike.add_argument(
        "--random-labels",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of check-box and radio labels drawn as fresh random strings of 2-7 letters and digits, "
        "as click-option and click-checkboxes label theirs (default 0: the data set's words)",
    )
    lookalike.add_argument(
        "--referring",
        action="store_true",
        help="also ask each screen's shown words back ('What is at (x=..., y=...)?' -> \"button 'OK'\"), in "
        "stage1-referring.jsonl, as 'synth miniwob' does for the real screens",
    )
    lookalike.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    lookalike.add_argument("--font", metavar="TTF", help="Liberation Sans Regular (default: found by fontconfig)")
    lookalike.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="folder for the data set")
    lookalike.add_argument("--no-progress", action="store_true", help="no progress bar")
    lookalike.set_defaults(handler=run_lookalike)


def register_eval(eval_subparsers: argparse._SubParsersAction) -> None:
    """Add ``miniwob`` under the ``aguvis eval`` benchmarks."""
    parser = eval_subparsers.add_parser(
        "miniwob",
        help="MiniWoB++ online: play seeded episodes in a headless Chromium, pure vision",
        description="Play seeded MiniWoB++ episodes with a model (or the scripted experts) that sees only the "
        "screenshot and the instruction. Appends each episode to OUTPUT/episodes.jsonl (a rerun continues), "
        "writes OUTPUT/report.json and report.md (success rate and mean reward per task) and, per task, a strip "
        "of screenshots of one success and one failure with the actions drawn.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model", metavar="DIR|URL", help="local model directory, or the base URL of an OpenAI-compatible server"
    )
    source.add_argument(
        "--expert", action="store_true", help="play the scripted DOM experts through the same action path"
    )
    parser.add_argument("--tasks", default="all", help="comma-separated task names, or 'all' (default)")
    parser.add_argument("--episodes", type=int, default=50, help="episodes (seeds) per task (default 50)")
    parser.add_argument(
        "--seed-start", type=int, default=1_000_000, help="first seed (default 1000000, never used for data)"
    )
    parser.add_argument("--mode", choices=MODES, default="self-plan", help="inference mode of the model")
    parser.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="folder for the results")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="reply length limit (default 256)")
    parser.add_argument("--device", default="cpu", help="torch device for a local model (default cpu)")
    parser.add_argument(
        "--batch-size", type=int, default=16, help="replies generated together by a local model (default 16)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "auto"),
        default="float32",
        help="weights of a local model: float32 (default, fast on CPUs), bfloat16, or auto (as saved)",
    )
    parser.add_argument("--model-name", metavar="NAME", help="model name to request from a server")
    parser.add_argument("--api-key", metavar="KEY", help="API key for a server that wants one")
    _browser_arguments(parser)
    parser.set_defaults(handler=run_eval)


def _browser_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chromium", metavar="PATH", help="Chromium executable (default: found on PATH)")
    parser.add_argument("--chromedriver", metavar="PATH", help="chromedriver executable (default: found on PATH)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _env_factory(args: argparse.Namespace) -> Any:
    from aguvis.envs.miniwob.adapter import MiniWoBEnv
    from aguvis.envs.miniwob.browser import find_browser

    browser = find_browser(args.chromium, args.chromedriver)
    return functools.partial(MiniWoBEnv, browser=browser)


def run_synth(args: argparse.Namespace) -> int:
    from aguvis.envs.miniwob.browser import BrowserNotFoundError
    from aguvis.envs.miniwob.synth import SynthSettings, synthesise
    from aguvis.envs.miniwob.tasks import parse_tasks

    try:
        episodes = episode_counts(parse_tasks(args.tasks), args.episodes, args.task_episodes)
        settings = SynthSettings(args.seed_start, args.queries_per_screen)
        make_env = _env_factory(args)
        synthesise(
            args.output,
            episodes,
            settings,
            make_env=make_env,
            progress=not args.no_progress,
            points=args.points,
        )
    except (BrowserNotFoundError, ValueError) as err:
        print(f"aguvis data synth miniwob: {err}", file=sys.stderr)
        return 2
    manifest = json.loads((args.output / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("vocabulary")  # thousands of words; the file has them
    print(json.dumps(manifest, indent=2))
    return 0


def run_lookalike(args: argparse.Namespace) -> int:
    from aguvis.envs.miniwob.lookalike import LookalikeError, LookalikeSettings, Vocabulary, synthesise_lookalike

    try:
        vocabulary = dataclasses.replace(Vocabulary.from_manifest(args.vocabulary), random_labels=args.random_labels)
        settings = LookalikeSettings(
            args.screens,
            args.seed,
            args.queries_per_screen,
            layout=args.layout,
            points=args.points,
            referring=args.referring,
        )
        manifest = synthesise_lookalike(
            args.output, vocabulary, settings, font=args.font, workers=args.workers, progress=not args.no_progress
        )
    except LookalikeError as err:
        print(f"aguvis data synth miniwob-lookalike: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in manifest.items() if k != "made_with"}, indent=2))
    return 0


def episode_counts(tasks: list[str], default: int, overrides: str) -> dict[str, int]:
    """Episodes per task: ``default``, except where ``overrides`` (``task=N,...``) says otherwise.

    >>> episode_counts(["click-button", "click-link"], 100, "click-link=300")
    {'click-button': 100, 'click-link': 300}
    """
    counts = dict.fromkeys(tasks, default)
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        task, sep, number = item.partition("=")
        if not sep or task.strip() not in counts or not number.strip().isdigit():
            raise ValueError(f"--task-episodes: {item!r} is not TASK=N for one of the chosen tasks")
        counts[task.strip()] = int(number)
    return counts


def run_eval(args: argparse.Namespace) -> int:
    from aguvis.envs.miniwob.browser import BrowserNotFoundError
    from aguvis.envs.miniwob.evaluate import EvalSettings, ExpertPolicy, evaluate
    from aguvis.envs.miniwob.tasks import parse_tasks

    try:
        tasks = parse_tasks(args.tasks)
        if args.episodes < 1:
            raise ValueError(f"--episodes must be positive, got {args.episodes}")
        make_env = _env_factory(args)
        if args.expert:
            settings = EvalSettings("expert", None, args.episodes, args.seed_start)
            policy: Any = ExpertPolicy()
        else:
            settings = EvalSettings(str(args.model), args.mode, args.episodes, args.seed_start)
            policy = _model_policy(args)
        report = evaluate(args.output, tasks, settings, policy, make_env=make_env, progress=not args.no_progress)
    except (BrowserNotFoundError, ValueError, OSError) as err:
        print(f"aguvis eval miniwob: {err}", file=sys.stderr)
        return 2
    print((args.output / "report.md").read_text(encoding="utf-8"), end="")
    return 0 if report["tasks"] else 1


def _model_policy(args: argparse.Namespace) -> Any:
    from aguvis.agent import Agent
    from aguvis.chat.template import Mode
    from aguvis.envs.miniwob.evaluate import ModelPolicy
    from aguvis.envs.miniwob.monologue import SYSTEM_PROMPT

    mode = Mode(args.mode)
    if str(args.model).startswith(("http://", "https://")):
        from aguvis.agent.remote import OpenAIBackend

        backend: Any = OpenAIBackend(args.model, args.model_name, api_key=args.api_key)
    else:
        import torch

        from aguvis.agent.local import LocalBackend

        dtype = None if args.dtype == "auto" else getattr(torch, args.dtype)
        backend = LocalBackend(Path(args.model), device=args.device, dtype=dtype, batch_size=args.batch_size)
    system = None if mode is Mode.GROUNDING else SYSTEM_PROMPT
    return ModelPolicy(Agent(backend, mode, system, max_new_tokens=args.max_new_tokens))
