"""Training samples and the order in which ranks see them.

:class:`RecordDataset` is a map-style dataset over records (from a mixture
YAML or one record file) that tokenises lazily: a record becomes token ids,
labels and pixels only when a data-loader worker asks for it.

:class:`StepSampler` decides which records each rank trains on, micro-batch
by micro-batch. The order is a pure function of ``(seed, epoch)`` and of the
number of samples consumed so far, so a resumed run sees exactly the samples
an uninterrupted run would have seen next, also on another number of ranks.
:class:`TokenBudgetStepSampler` does the same for packed micro-batches (a
token budget each instead of a number of samples).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset

from aguvis.data.mixture import iter_mixture
from aguvis.data.records import Record, read_records


class SampleError(RuntimeError):
    """A training sample that could not be tokenised; the message names it and the cause."""


@dataclass(frozen=True)
class Sample:
    """A record and the folder its image paths are relative to."""

    record: Record
    images_root: Path


def load_samples(
    *,
    mixture: str | Path | None = None,
    records: str | Path | None = None,
    images_root: str | Path | None = None,
    seed: int = 0,
) -> list[Sample]:
    """All training samples of a mixture (sampled with ``seed``) or of one record file."""
    if (mixture is None) == (records is None):
        raise ValueError("give exactly one of mixture and records")
    if mixture is not None:
        return [Sample(record, Path(root)) for record, root in iter_mixture(mixture, seed)]
    if images_root is None:
        raise ValueError("a record file needs images_root")
    return [Sample(record, Path(images_root)) for record in read_records(records)]


class RecordDataset(Dataset):
    """``dataset[i]`` tokenises sample ``i`` with ``tokenize(record, images_root)``.

    ``tokenize`` is an ``aguvis.chat.tokenize.RecordTokenizer``. Failures are
    re-raised naming the sample index and the record's source, so a bad record
    deep inside a mixture can be found.
    """

    def __init__(self, samples: Sequence[Sample], tokenize: Callable[[Record, Path], Any]) -> None:
        self.samples = samples
        self.tokenize = tokenize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Any:
        sample = self.samples[index]
        try:
            return self.tokenize(sample.record, sample.images_root)
        except Exception as err:
            images = ", ".join(sample.record.images) or "no images"
            raise SampleError(f"training sample {index} ({images} under {sample.images_root}): {err}") from err


@dataclass(frozen=True)
class DataPosition:
    """How far training has read: ``consumed`` units (all ranks together) of
    ``epoch``; the unit is ``samples`` (:class:`StepSampler`) or
    ``micro_batches`` (:class:`TokenBudgetStepSampler`)."""

    epoch: int = 0
    consumed: int = 0
    unit: str = "samples"

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "consumed": self.consumed, "unit": self.unit}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DataPosition:
        return cls(epoch=int(obj["epoch"]), consumed=int(obj["consumed"]), unit=str(obj.get("unit", "samples")))


@dataclass(frozen=True)
class StepSampler:
    """Seeded, resumable, sharded order of micro-batches.

    Each epoch shuffles all ``num_samples`` indices with a generator seeded
    by ``seed + epoch``. The shuffled list is cut into *global micro-batches*
    of ``micro_batch_size * world_size`` samples; rank ``r`` takes the ``r``-th
    slice of ``micro_batch_size`` of each. Only whole optimizer steps are used
    per epoch; the tail that cannot fill one is dropped (it is a different
    tail every epoch).

    Example: 10 samples, micro-batch 2, 2 ranks, accumulation 1, permutation
    ``[3, 7, 0, 9, 4, 1, 8, 2, 6, 5]``: step 0 gives rank 0 ``[3, 7]`` and
    rank 1 ``[0, 9]``; step 1 gives ``[4, 1]`` and ``[8, 2]``; ``[6, 5]`` is
    dropped (2 steps per epoch). Resuming after step 0 means ``consumed = 4``.
    On one rank with micro-batch 4 the same steps see the same 4 samples.
    """

    num_samples: int
    micro_batch_size: int
    grad_accumulation: int
    world_size: int = 1
    rank: int = 0
    seed: int = 0
    unit: ClassVar[str] = "samples"

    def steps_in_epoch(self, epoch: int) -> int:
        return self.steps_per_epoch

    def step_size(self) -> str:
        """What one optimizer step takes, for messages."""
        return (
            f"{self.samples_per_step} samples (micro_batch_size {self.micro_batch_size} x grad_accumulation "
            f"{self.grad_accumulation} x world size {self.world_size})"
        )

    def remaining(self, position: DataPosition) -> int:
        """This rank's micro-batches left in ``position``'s epoch."""
        end = self.steps_per_epoch * self.samples_per_step
        return max(0, end - position.consumed) // self.global_micro_batch

    @property
    def global_micro_batch(self) -> int:
        return self.micro_batch_size * self.world_size

    @property
    def samples_per_step(self) -> int:
        return self.global_micro_batch * self.grad_accumulation

    @property
    def steps_per_epoch(self) -> int:
        return self.num_samples // self.samples_per_step

    def permutation(self, epoch: int) -> list[int]:
        """The shuffled sample indices of ``epoch``; identical on every rank."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.num_samples, generator=generator).tolist()

    def micro_batches(self, position: DataPosition) -> Iterator[list[int]]:
        """This rank's micro-batches from ``position`` to the end of that epoch."""
        if position.consumed % self.global_micro_batch:
            raise ValueError(
                f"cannot resume at sample {position.consumed}: not a multiple of the global micro-batch "
                f"{self.global_micro_batch} (micro_batch_size x world size)"
            )
        order = self.permutation(position.epoch)
        end = self.steps_per_epoch * self.samples_per_step
        for start in range(position.consumed, end, self.global_micro_batch):
            first = start + self.rank * self.micro_batch_size
            yield order[first : first + self.micro_batch_size]

    def advance(self, position: DataPosition, micro_batches: int = 1) -> DataPosition:
        """The position after all ranks consumed ``micro_batches`` more micro-batches.

        Moves to the next epoch when the current one has no whole step left.
        """
        consumed = position.consumed + micro_batches * self.global_micro_batch
        if consumed >= self.steps_per_epoch * self.samples_per_step:
            return DataPosition(position.epoch + 1, 0, self.unit)
        return DataPosition(position.epoch, consumed, self.unit)


class TokenBudgetStepSampler:
    """Seeded, resumable, sharded order of *packed* micro-batches.

    Each epoch shuffles the sample indices with a generator seeded by
    ``seed + epoch`` (as :class:`StepSampler`) and cuts the shuffled order into
    micro-batches of at most ``token_budget`` tokens with
    :func:`aguvis.packing.sequence.plan_token_batches`. The epoch's micro-batch
    ``k`` goes to rank ``k % world_size``; an optimizer step takes
    ``grad_accumulation`` of them per rank. Only whole steps are used, the
    few micro-batches left over are dropped (different ones every epoch), so
    the number of steps can differ by one or two between epochs.
    ``DataPosition.consumed`` counts micro-batches of all ranks.

    Example: plan ``[[3, 7], [0], [9, 4, 1], [8], [2, 6, 5]]`` on 2 ranks,
    accumulation 1: step 0 gives rank 0 ``[3, 7]`` and rank 1 ``[0]``; step 1
    ``[9, 4, 1]`` and ``[8]``; ``[2, 6, 5]`` is dropped.
    """

    unit: ClassVar[str] = "micro_batches"

    def __init__(
        self,
        lengths: Sequence[int],
        token_budget: int,
        grad_accumulation: int,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        lookahead: int = 64,
    ) -> None:
        self.lengths = list(lengths)
        self.token_budget = token_budget
        self.grad_accumulation = grad_accumulation
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.lookahead = lookahead
        self._plans: dict[int, list[list[int]]] = {}

    def plan(self, epoch: int) -> list[list[int]]:
        """Every micro-batch of ``epoch`` (all ranks), identical on every rank."""
        from aguvis.packing.sequence import plan_token_batches

        if epoch not in self._plans:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(len(self.lengths), generator=generator).tolist()
            if len(self._plans) >= 2:
                self._plans.pop(min(self._plans))
            self._plans[epoch] = plan_token_batches(self.lengths, self.token_budget, order, self.lookahead)
        return self._plans[epoch]

    @property
    def per_step(self) -> int:
        """Micro-batches per optimizer step, all ranks together."""
        return self.world_size * self.grad_accumulation

    def steps_in_epoch(self, epoch: int) -> int:
        return len(self.plan(epoch)) // self.per_step

    def step_size(self) -> str:
        return (
            f"{self.per_step} micro-batches of up to {self.token_budget} tokens (grad_accumulation "
            f"{self.grad_accumulation} x world size {self.world_size})"
        )

    def micro_batches(self, position: DataPosition) -> Iterator[list[int]]:
        """This rank's micro-batches from ``position`` to the end of that epoch."""
        if position.consumed % self.world_size:
            raise ValueError(
                f"cannot resume at micro-batch {position.consumed}: not a multiple of the world size {self.world_size}"
            )
        plan = self.plan(position.epoch)
        end = self.steps_in_epoch(position.epoch) * self.per_step
        for start in range(position.consumed, end, self.world_size):
            yield plan[start + self.rank]

    def remaining(self, position: DataPosition) -> int:
        end = self.steps_in_epoch(position.epoch) * self.per_step
        return max(0, end - position.consumed) // self.world_size

    def advance(self, position: DataPosition, micro_batches: int = 1) -> DataPosition:
        """The position after all ranks consumed ``micro_batches`` more micro-batches each."""
        consumed = position.consumed + micro_batches * self.world_size
        if consumed >= self.steps_in_epoch(position.epoch) * self.per_step:
            return DataPosition(position.epoch + 1, 0, self.unit)
        return DataPosition(position.epoch, consumed, self.unit)


Sampler = StepSampler | TokenBudgetStepSampler


class MicroBatchIndices(torch.utils.data.Sampler[list[int]]):
    """Adapter so a ``DataLoader`` can take a step sampler as ``batch_sampler``."""

    def __init__(self, sampler: Sampler, position: DataPosition) -> None:
        self.sampler = sampler
        self.position = position

    def __iter__(self) -> Iterator[list[int]]:
        return self.sampler.micro_batches(self.position)

    def __len__(self) -> int:
        return self.sampler.remaining(self.position)
