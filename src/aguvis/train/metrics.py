"""Training metrics: one JSON object per logged step in ``metrics.jsonl``.

Each line holds ``step``, ``loss`` (mean over the step's label tokens),
``lr``, ``grad_norm`` (before clipping), ``label_tokens``, ``tokens``
(non-padding tokens, all ranks), ``samples`` (all ranks), ``epoch``, and
``tokens_per_s`` and ``step_time_s``: wall-clock means over the steps since
the previous logged line (the trainer reads nothing back from the GPU between
logged steps, so a single step's time is not observable without slowing
it). Only rank 0 writes. A resumed run first drops the lines of steps after
its checkpoint, so the file always describes one consistent run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StepMetrics:
    """What one optimizer step reports."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    label_tokens: int
    tokens: int
    samples: int
    tokens_per_s: float
    step_time_s: float
    epoch: int


class MetricsLog:
    """Append-only JSONL log of :class:`StepMetrics`, written by rank 0 only."""

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Drop lines for steps later than ``step`` (atomically rewrites the file)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines() if _step(line) <= step]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def write(self, metrics: StepMetrics) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(metrics)) + "\n")
            f.flush()


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """All logged steps of a run, in order."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _step(line: str) -> float:
    """The line's step; unreadable lines (a write torn by a crash) count as later than any step."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")
