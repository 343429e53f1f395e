"""Process-group setup for ``torchrun`` and for a plain ``python`` run.

Under ``torchrun`` the rank, world size and rendezvous come from the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...),
so the same command scales from one GPU to many nodes. A plain ``python`` run
is a world of one: it still gets a process group (in-process store, no
network) so that FSDP2 and the collectives run the same code path.
Backend: NCCL when CUDA is available, Gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh


@dataclass
class DistributedContext:
    """Where this process sits in the job, and whether it owns the process group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    mesh: DeviceMesh
    owns_process_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum a few numbers over ranks in one collective (float64 for exact counts).

        A world of one returns them as they are: no collective, so nothing
        waits for the device.
        """
        if self.world_size == 1:
            return [float(v) for v in values]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_process_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_process_group = False


def init_distributed(device: str | None = None) -> DistributedContext:
    """Join (or create) the default process group and build a 1-D device mesh.

    ``device`` ``None`` picks ``cuda`` when available, else ``cpu``.
    """
    device_type = device or ("cuda" if torch.cuda.is_available() else "cpu")
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank = int(os.environ.get("RANK", 0)) if launched else 0
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if launched else 1
    local_rank = int(os.environ.get("LOCAL_RANK", 0)) if launched else 0
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
        torch_device = torch.device("cuda", local_rank)
    else:
        torch_device = torch.device("cpu")
    backend = "nccl" if device_type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        if launched:
            kwargs = {"device_id": torch_device} if device_type == "cuda" else {}
            dist.init_process_group(backend=backend, **kwargs)
        else:
            dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
        owns = True
    rank, world_size = dist.get_rank(), dist.get_world_size()
    mesh = init_device_mesh(device_type, (world_size,))
    return DistributedContext(rank, world_size, local_rank, torch_device, mesh, owns)
