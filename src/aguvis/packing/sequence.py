"""Sequence packing: several tokenised samples in one row, computed as if alone.

A packed batch lays samples end to end in ``R`` rows of ``L`` tokens. Three
things make a packed row mathematically the same as its samples run one by
one, and this module computes all three on the CPU, in the data loader:

1. **Positions per sample.** Every sample's M-RoPE position ids start at 0
   (:func:`aguvis.packing.positions.mrope_position_ids`), exactly as if it
   were alone.
2. **Attention per sample.** ``sequence_ids`` and ``cu_seqlens`` say which
   tokens belong together; :mod:`aguvis.packing.attention` confines attention
   to them (varlen flash attention, a FlexAttention block mask or a dense
   SDPA mask). The vision tower gets its own ``vision_cu_seqlens`` (one
   segment per image frame), so patches of different images never attend to
   each other either.
3. **Loss per label token.** ``label_positions`` lists the flat index (over
   ``R*L``) of each hidden state that predicts a label, and ``label_targets``
   that label. The shift is done inside each sample, so no prediction ever
   crosses a sample boundary.

Worked example: samples of 3 and 2 tokens packed in one row padded to 6::

    flat index     0    1    2    3    4    5
    sample         0    0    0    1    1    pad
    sequence_ids   0    0    0    1    1    2      (pad: its own segment)
    text position  0    1    2    0    1    0
    labels       -100   7    8  -100   9  -100
    cu_seqlens     [0, 3, 5, 6]
    label_positions [0, 1, 3]   label_targets [7, 8, 9]

Hidden state 0 predicts label 7 (token 1), state 1 predicts 8, state 3
predicts 9. The first token of a sample never carries a label in training
data (it is ``<|im_start|>``), and even if it did it would be skipped, as in
the unshifted Hugging Face loss of the sample alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import torch

from aguvis.packing.positions import mrope_position_ids

IGNORE_INDEX = -100


class TokenisedSample(Protocol):
    """What packing reads from a sample (``aguvis.chat.tokenize.Tokenised``)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None


class PatchSource(Protocol):
    """Where a batch of pool rows gets its patches (``aguvis.train.preload.PatchPool``)."""

    def gather(self, rows: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class PackingSpec:
    """The few model constants the collator needs."""

    image_token_id: int
    spatial_merge_size: int = 2
    pad_token_id: int = 0

    @classmethod
    def from_config(cls, config: Any) -> PackingSpec:
        """From a ``Qwen2VLConfig`` (or anything with the same fields)."""
        text = getattr(config, "text_config", config)
        pad = getattr(text, "pad_token_id", None)
        return cls(
            image_token_id=int(config.image_token_id),
            spatial_merge_size=int(config.vision_config.spatial_merge_size),
            pad_token_id=0 if pad is None else int(pad),
        )


@dataclass
class PackedBatch:
    """Samples packed into ``R`` rows of ``L`` tokens (see the module docstring).

    Tensors live on one device; :meth:`to` moves them. Python ints are
    computed on the CPU at collation so the training loop never has to ask
    the GPU for a size (no host-device synchronisation).
    """

    input_ids: torch.Tensor  # [R, L] long
    labels: torch.Tensor  # [R, L] long, -100 where no loss (not shifted)
    position_ids: torch.Tensor  # [3, R, L] long, M-RoPE positions restarting per sample
    sequence_ids: torch.Tensor  # [R, L] int32, sample index; padding gets num_samples + row
    cu_seqlens: torch.Tensor  # [S + 1] int32 over the flattened R*L tokens, padding segments included
    max_seqlen: int  # longest segment of cu_seqlens
    label_positions: torch.Tensor  # [N] long, flat index of the hidden state predicting each label
    label_targets: torch.Tensor  # [N] long
    image_token_positions: torch.Tensor  # [n_image_tokens] long, flat index of each <|image_pad|>
    pixel_values: torch.Tensor | None  # [P, 1176], images in flat order
    image_grid_thw: torch.Tensor | None  # [n_images, 3] long
    vision_cu_seqlens: torch.Tensor | None  # [n_frames + 1] int32, one segment per image frame
    vision_max_seqlen: int  # patches in the largest frame (0 without images)
    vision_segments: tuple[int, ...]  # patches of each frame, the lengths of vision_cu_seqlens on the host
    vision_position_ids: torch.Tensor | None  # [P, 2] long, (row, column) of each patch for the ViT's rotary
    pixel_rows: torch.Tensor | None  # [P] long: rows of a device-resident patch pool, instead of pixel_values
    sample_order: list[int]  # input index of each packed sample, in flat order
    sample_lengths: list[int]  # tokens of each packed sample, in flat order
    num_label_tokens: int

    @property
    def num_samples(self) -> int:
        return len(self.sample_lengths)

    @property
    def num_tokens(self) -> int:
        """Real (non-padding) tokens."""
        return sum(self.sample_lengths)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.input_ids.shape[0]), int(self.input_ids.shape[1]))

    def with_pixels(self, pool: PatchSource) -> PackedBatch:
        """Fill ``pixel_values`` (``[rows, 1176]``) from ``pool`` (e.g. on the
        GPU: ``aguvis.train.preload.PatchPool``) at ``pixel_rows``; a batch that
        already carries its pixels is returned as it is."""
        if self.pixel_rows is None:
            return self
        return replace(self, pixel_values=pool.gather(self.pixel_rows), pixel_rows=None)

    def to(self, device: torch.device | str, non_blocking: bool = True) -> PackedBatch:
        """A copy with every tensor on ``device`` (ints and lists stay)."""
        return replace(self, **{name: value.to(device, non_blocking=non_blocking) for name, value in self._tensors()})

    def pin_memory(self) -> PackedBatch:
        """Page-locked copy, called by ``DataLoader(pin_memory=True)``."""
        return replace(self, **{name: value.pin_memory() for name, value in self._tensors()})

    def _tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                yield f.name, value


def pack_batch(
    samples: Sequence[TokenisedSample],
    spec: PackingSpec,
    *,
    row_length: int | None = None,
    pad_to_multiple_of: int = 1,
    pad_to: int | None = None,
    pixel_dtype: torch.dtype | None = None,
) -> PackedBatch:
    """Pack ``samples`` into rows.

    With ``row_length`` ``None`` every sample goes into one row, in order
    (the layout for varlen attention, where rows do not matter). Otherwise
    samples go first-fit into rows of at most ``row_length`` tokens (the
    layout for dense masks, whose cost grows with the row length squared).
    Rows are padded to the longest row rounded up to ``pad_to_multiple_of``,
    or to exactly ``pad_to`` tokens (static shapes for ``torch.compile``).
    ``pixel_dtype`` (e.g. ``torch.bfloat16`` for a bf16 vision tower, which
    casts its input to its own dtype anyway) halves the bytes to copy to the
    GPU without changing what the model computes.
    """
    if not samples:
        raise ValueError("cannot pack an empty list of samples")
    lengths = [_checked_length(sample, i) for i, sample in enumerate(samples)]
    rows = _assign_rows(lengths, row_length)
    width = max(sum(lengths[i] for i in row) for row in rows)
    width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    if pad_to is not None:
        if pad_to < width:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest packed row ({width} tokens)")
        width = pad_to

    n_rows = len(rows)
    input_ids = torch.full((n_rows, width), spec.pad_token_id, dtype=torch.long)
    labels = torch.full((n_rows, width), IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.zeros((3, n_rows, width), dtype=torch.long)
    sequence_ids = torch.empty((n_rows, width), dtype=torch.int32)
    segment_lengths: list[int] = []
    label_positions: list[torch.Tensor] = []
    label_targets: list[torch.Tensor] = []
    image_positions: list[torch.Tensor] = []
    order: list[int] = [i for row in rows for i in row]
    flat_index = {i: k for k, i in enumerate(order)}  # input index -> place in flat order
    for r, row in enumerate(rows):
        offset = 0
        for i in row:
            sample, n = samples[i], lengths[i]
            flat = r * width + offset
            input_ids[r, offset : offset + n] = sample.input_ids
            labels[r, offset : offset + n] = sample.labels
            try:
                position_ids[:, r, offset : offset + n] = mrope_position_ids(
                    sample.input_ids,
                    sample.image_grid_thw,
                    image_token_id=spec.image_token_id,
                    spatial_merge_size=spec.spatial_merge_size,
                )
            except ValueError as err:
                raise ValueError(f"sample {i}: {err}") from err
            sequence_ids[r, offset : offset + n] = flat_index[i]
            segment_lengths.append(n)
            predicts = torch.nonzero(sample.labels[1:] != IGNORE_INDEX).flatten()
            label_positions.append(predicts + flat)
            label_targets.append(sample.labels[1:][predicts])
            image_positions.append(torch.nonzero(sample.input_ids == spec.image_token_id).flatten() + flat)
            offset += n
        if offset < width:  # the padding tail is a segment of its own
            position_ids[:, r, offset:] = torch.arange(width - offset)
            sequence_ids[r, offset:] = len(samples) + r
            segment_lengths.append(width - offset)

    cu_seqlens = torch.zeros(len(segment_lengths) + 1, dtype=torch.int32)
    cu_seqlens[1:] = torch.cumsum(torch.tensor(segment_lengths), 0)
    targets = torch.cat(label_targets)
    with_images = [i for i in order if _has_images(samples[i])]
    grids = [samples[i].image_grid_thw for i in with_images]
    pixels = [_pixels(samples[i], i) for i in with_images]
    vision = _vision_inputs(pixels, grids, spec.spatial_merge_size, pixel_dtype)
    return PackedBatch(
        input_ids=input_ids,
        labels=labels,
        position_ids=position_ids,
        sequence_ids=sequence_ids,
        cu_seqlens=cu_seqlens,
        max_seqlen=max(segment_lengths),
        label_positions=torch.cat(label_positions),
        label_targets=targets,
        image_token_positions=torch.cat(image_positions),
        sample_order=order,
        sample_lengths=[lengths[i] for i in order],
        num_label_tokens=int(targets.numel()),
        **vision,
    )


def _checked_length(sample: TokenisedSample, index: int) -> int:
    if sample.input_ids.dim() != 1 or sample.labels.shape != sample.input_ids.shape:
        raise ValueError(
            f"sample {index}: input_ids {tuple(sample.input_ids.shape)} and labels "
            f"{tuple(sample.labels.shape)} must be 1-D and of the same length"
        )
    if sample.input_ids.shape[0] == 0:
        raise ValueError(f"sample {index}: no tokens")
    return int(sample.input_ids.shape[0])


def _assign_rows(lengths: list[int], row_length: int | None) -> list[list[int]]:
    """First-fit: each sample goes into the first row with room left.

    >>> _assign_rows([5, 4, 3, 2], 8)
    [[0, 2], [1, 3]]
    """
    if row_length is None:
        return [list(range(len(lengths)))]
    rows: list[list[int]] = []
    room: list[int] = []
    for i, n in enumerate(lengths):
        if n > row_length:
            raise ValueError(f"sample {i} has {n} tokens, more than row_length {row_length}")
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(i)
                room[r] -= n
                break
        else:
            rows.append([i])
            room.append(row_length - n)
    return rows


def _has_images(sample: TokenisedSample) -> bool:
    return sample.image_grid_thw is not None and sample.image_grid_thw.shape[0] > 0


def _pixels(sample: TokenisedSample, index: int) -> tuple[str, torch.Tensor]:
    """``("values", pixel_values)`` or, for a preloaded sample whose patches
    live in a pool on the device, ``("rows", pixel_rows)``."""
    if sample.pixel_values is not None:
        return "values", sample.pixel_values
    rows = getattr(sample, "pixel_rows", None)
    if rows is None:
        raise ValueError(f"sample {index} has image_grid_thw but neither pixel_values nor pixel_rows")
    return "rows", rows


def _vision_inputs(
    pixels: list[tuple[str, torch.Tensor]], grids: list[torch.Tensor], merge: int, dtype: torch.dtype | None
) -> dict[str, Any]:
    """Concatenated vision inputs (pixels, or rows of a patch pool) and the
    ViT's per-frame attention segments.

    ``vision_cu_seqlens`` has one segment of ``h*w`` patches per frame, which
    is how Qwen2-VL's vision tower separates images (transformers'
    ``get_vision_cu_seqlens``); passing it precomputed spares the GPU a
    ``.tolist()`` per step.
    """
    from transformers.vision_utils import get_vision_cu_seqlens, get_vision_position_ids

    if not grids:
        return {
            "pixel_values": None,
            "image_grid_thw": None,
            "vision_cu_seqlens": None,
            "vision_max_seqlen": 0,
            "vision_segments": (),
            "vision_position_ids": None,
            "pixel_rows": None,
        }
    kinds = {kind for kind, _ in pixels}
    if len(kinds) > 1:
        raise ValueError("cannot pack samples with pixel_values together with preloaded samples (pixel_rows)")
    tensors = [t for _, t in pixels]
    pooled = kinds == {"rows"}
    grid = torch.cat(grids).long()
    if pooled:
        values = None
    else:
        values = torch.cat(tensors) if dtype is None else torch.cat([p.to(dtype) for p in tensors])
    return {
        "pixel_values": values,
        "pixel_rows": torch.cat(tensors) if pooled else None,
        "image_grid_thw": grid,
        "vision_cu_seqlens": get_vision_cu_seqlens(grid).to(torch.int32),
        "vision_max_seqlen": int((grid[:, 1] * grid[:, 2]).max()),
        "vision_segments": tuple(int(h * w) for t, h, w in grid.tolist() for _ in range(t)),
        "vision_position_ids": get_vision_position_ids(grid, merge),
    }


@dataclass(frozen=True)
class PackedCollator:
    """``collate_fn`` for a ``DataLoader`` whose batches are lists of samples
    (e.g. from ``aguvis.train.dataset.TokenBudgetStepSampler``); see :func:`pack_batch`."""

    spec: PackingSpec
    row_length: int | None = None
    pad_to_multiple_of: int = 1
    pad_to: int | None = None
    pixel_dtype: torch.dtype | None = None

    def __call__(self, samples: Sequence[TokenisedSample]) -> PackedBatch:
        return pack_batch(
            samples,
            self.spec,
            row_length=self.row_length,
            pad_to_multiple_of=self.pad_to_multiple_of,
            pad_to=self.pad_to,
            pixel_dtype=self.pixel_dtype,
        )


def plan_token_batches(
    lengths: Sequence[int], token_budget: int, order: Sequence[int], lookahead: int = 64
) -> list[list[int]]:
    """Split ``order`` (sample indices) into batches of at most ``token_budget`` tokens.

    Best fit within a window: the batch being filled takes, among the next
    ``lookahead`` samples of ``order``, the longest one that still fits; when
    none fits the batch is closed. A window of 1 is plain greedy filling.
    Every index appears exactly once.

    >>> plan_token_batches([6, 5, 4, 3, 2], 8, order=[0, 1, 2, 3, 4], lookahead=5)
    [[0, 4], [1, 3], [2]]
    """
    for i in order:
        if lengths[i] > token_budget:
            raise ValueError(f"sample {i} has {lengths[i]} tokens, more than the token budget {token_budget}")
    upcoming = iter(order)
    window = list(itertools.islice(upcoming, lookahead))  # always the first `lookahead` samples not yet placed
    batches: list[list[int]] = []
    while window:
        batch: list[int] = []
        room = token_budget
        while window:
            fitting = [k for k, i in enumerate(window) if lengths[i] <= room]
            if not fitting:
                break
            pick = max(fitting, key=lambda k: lengths[window[k]])  # max keeps the first of equals
            batch.append(window.pop(pick))
            room -= lengths[batch[-1]]
            window.extend(itertools.islice(upcoming, 1))
        batches.append(batch)
    return batches
