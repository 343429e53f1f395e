"""Training checkpoints: resumable state plus a Hugging Face model.

Layout of ``<output_dir>/checkpoints/step-00000500/``::

    state/         model + optimizer, torch.distributed.checkpoint (sharded;
                   any world size can load it)
    model/         the weights in Hugging Face format (gathered on rank 0)
    trainer.json   step, data position, LR-scheduler state, world size
    rng/rank-N.pt  each rank's RNG states

A checkpoint is written into ``.step-00000500.tmp`` and renamed when every
rank has finished, so a folder named ``step-*`` is always complete; leftovers
of a crash are deleted on the next save. Only the newest ``keep`` checkpoints
are kept.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from aguvis.train.distributed import DistributedContext

_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class TrainerState:
    """Small replicated state saved as JSON next to the sharded tensors."""

    step: int
    data_position: dict[str, int]
    scheduler: dict[str, Any]
    world_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "data_position": self.data_position,
            "scheduler": self.scheduler,
            "world_size": self.world_size,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrainerState:
        return cls(
            step=int(obj["step"]),
            data_position=dict(obj["data_position"]),
            scheduler=dict(obj["scheduler"]),
            world_size=int(obj["world_size"]),
        )


class Checkpointer:
    """Saves and finds checkpoints under ``<output_dir>/checkpoints``."""

    def __init__(self, output_dir: str | Path, dist_ctx: DistributedContext, keep: int = 2) -> None:
        self.root = Path(output_dir) / "checkpoints"
        self.dist = dist_ctx
        self.keep = keep

    def step_dir(self, step: int) -> Path:
        return self.root / f"step-{step:08d}"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
        return [p for _, p in sorted(found) if (p / "trainer.json").is_file()]

    def latest(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def discard_all(self) -> list[Path]:
        """Delete every checkpoint (rank 0; collective); returns what was there."""
        found = self.checkpoints()
        if self.dist.is_main:
            for path in found:
                shutil.rmtree(path)
        self.dist.barrier()
        return found

    def save(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        state: TrainerState,
        export_model: Callable[[Path], None],
    ) -> Path:
        """Write checkpoint ``state.step`` on every rank; ``export_model(dir)`` writes ``model/`` (collective)."""
        final = self.step_dir(state.step)
        tmp = final.with_name(f".{final.name}.tmp")
        if self.dist.is_main:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        self.dist.barrier()
        model_state, optim_state = get_state_dict(model, optimizer)
        dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=tmp / "state")
        export_model(tmp / "model")
        (tmp / "rng").mkdir(exist_ok=True)
        torch.save(rng_state(), tmp / "rng" / f"rank-{self.dist.rank}.pt")
        self.dist.barrier()
        if self.dist.is_main:
            (tmp / "trainer.json").write_text(json.dumps(state.to_json(), indent=2), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            self._prune()
        self.dist.barrier()
        return final

    def load(self, path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> TrainerState:
        """Restore model and optimizer in place from ``path``; return the trainer state.

        RNG states are restored when the checkpoint was written by the same
        number of ranks (each rank has its own); otherwise they are left as
        seeded.
        """
        path = Path(path)
        info = path / "trainer.json"
        if not info.is_file():
            raise FileNotFoundError(f"{path}: not a complete checkpoint (missing trainer.json)")
        state = TrainerState.from_json(json.loads(info.read_text(encoding="utf-8")))
        model_state, optim_state = get_state_dict(model, optimizer)
        loaded = {"model": model_state, "optim": optim_state}
        dcp.load(loaded, checkpoint_id=path / "state")
        set_state_dict(model, optimizer, model_state_dict=loaded["model"], optim_state_dict=loaded["optim"])
        rng_file = path / "rng" / f"rank-{self.dist.rank}.pt"
        if state.world_size == self.dist.world_size and rng_file.is_file():
            set_rng_state(torch.load(rng_file, weights_only=False))
        return state

    def _prune(self) -> None:
        for old in self.checkpoints()[: -self.keep]:
            shutil.rmtree(old)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states of this process."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
