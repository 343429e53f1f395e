"""The ``aguvis`` command.

Each subpackage that offers commands has a ``commands`` module with a
``register(subparsers)`` function. Those modules import nothing heavy at the top
(no torch, no transformers), so ``aguvis action parse`` and ``--help`` stay fast;
the handler functions import what they need when they run.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

# Order here is the order in `aguvis --help`.
COMMAND_MODULES = (
    "aguvis.actions.commands",
    "aguvis.data.commands",
    "aguvis.packing.commands",
    "aguvis.train.commands",
    "aguvis.agent.commands",
    "aguvis.eval.commands",
    "aguvis.serve.commands",
    "aguvis.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aguvis",
        description="Pure-vision GUI agents: parse actions, convert and check data, "
        "train Qwen2-VL models in two stages, predict, evaluate and serve.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from aguvis import __version__

    return __version__


def exit_on_sigterm() -> None:
    """Turn SIGTERM (``kill``, a job scheduler's time limit) into ``SystemExit(143)``, so that
    ``finally`` blocks and context managers run: browsers, worker pools and temporary files are
    closed instead of being left behind by a process that simply vanished."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
