"""Tokenise every training record once and keep the screenshots on the device.

Without this, every epoch re-reads, re-decodes and re-tokenises each record
in the data-loader workers and copies its patches to the GPU (a 320x420
MiniWoB++ screen is 660 patches, 3 MB of fp32). For data sets whose
screenshots fit in device memory (synthetic screens, data from an online
environment) :func:`preload` does that work once, before training, in
``workers`` processes:

1. every record's token ids and labels (:meth:`RecordTokenizer.encode`);
2. every *distinct* screenshot's patches (records that share a file, such
   as the reasoning levels of one step, share its patches), written into one
   ``[rows, 588]`` :class:`PatchPool` on the training device, in the dtype
   the vision tower computes in (bf16 under mixed precision: the tower casts
   its input to that dtype anyway, so nothing changes in the math), or, when
   ``data.preload_dtype`` is ``uint8``, as the resized screens' colour levels,
   one byte a value (a quarter of fp32), normalised as the image processor
   does when a step gathers them (equal to its patches within fp32 rounding).
   A still screen's patch is the same frame ``temporal_patch_size`` (2)
   times in the processor's 1,176 values; the pool keeps it once and
   repeats it when it gathers: half the memory, and half the bytes the
   workers send.

A :class:`PreloadedDataset` item then carries ``pixel_rows`` (its patches'
rows in the pool) instead of ``pixel_values``; the packed collator passes
them on and ``PackedBatch.with_pixels(pool)`` gathers the patches on the
device, so a step's data loading is a few small index tensors.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
import random
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from aguvis.chat.tokenize import EncodedText, RecordTokenizer
from aguvis.chat.vision import load_rgb_image, still_patch_levels
from aguvis.data.augment import (
    Extent,
    ShiftError,
    draw_shift,
    record_extent,
    retype_record,
    shift_image,
    shift_record,
)
from aguvis.train.dataset import Sample, SampleError

R = TypeVar("R")

CHUNK = 32  # records or screenshots per task of a worker process (~50 MB of patches for 320x420 screens)


@dataclass(frozen=True)
class PreloadedSample:
    """A tokenised sample whose patches are rows of a patch pool (see the module docstring)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    image_grid_thw: torch.Tensor | None
    pixel_rows: torch.Tensor | None
    pixel_values: None = None


class PreloadedDataset(Dataset):
    """``dataset[i]``: sample ``i`` as a :class:`PreloadedSample`; ``lengths[i]`` its tokens."""

    def __init__(self, texts: Sequence[EncodedText], image_ids: Sequence[tuple[int, ...]], images: ImageTable) -> None:
        self.texts = texts
        self.image_ids = image_ids
        self.images = images
        self.lengths = [int(t.input_ids.shape[0]) for t in texts]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> PreloadedSample:
        text, ids = self.texts[index], self.image_ids[index]
        if not ids:
            return PreloadedSample(text.input_ids, text.labels, None, None)
        grid = torch.stack([self.images.grids[i] for i in ids])
        rows = torch.cat([torch.arange(self.images.offsets[i], self.images.offsets[i + 1]) for i in ids])
        return PreloadedSample(text.input_ids, text.labels, grid, rows)


@dataclass(frozen=True)
class ImageTable:
    """Where each distinct screenshot's patches sit in the pool: rows ``offsets[i]:offsets[i + 1]``;
    which file it was made from, moved by which ``shifts`` (pixels right and down; (0, 0): as is)."""

    offsets: list[int]
    grids: list[torch.Tensor]
    sources: list[str]
    shifts: list[tuple[int, int]]


@dataclass(frozen=True)
class PatchPool:
    """Every preloaded screenshot's patches, one frame each (``[rows, 3 * patch**2]``) on the training device.

    :meth:`gather` repeats each patch's frame ``frames`` times, channel by
    channel, into the processor's layout (``[3, frames, patch, patch]``
    flattened). Float patches are gathered as they are. A pool of colour
    levels (uint8, 0..255) carries ``normalisation``, per column ``(scale,
    offset)``, and is gathered as ``levels * scale + offset`` in fp32: the
    processor's rescaling and per-channel normalisation in one step.
    """

    patches: torch.Tensor
    frames: int
    normalisation: tuple[torch.Tensor, torch.Tensor] | None = None

    def gather(self, rows: torch.Tensor) -> torch.Tensor:
        picked = self.patches.index_select(0, rows)
        if self.normalisation is not None:
            scale, offset = self.normalisation
            picked = torch.addcmul(offset, picked.float(), scale)
        n = picked.shape[0]
        return picked.view(n, 3, 1, -1).expand(n, 3, self.frames, picked.shape[1] // 3).reshape(n, -1)

    @classmethod
    def of_levels(cls, patches: torch.Tensor, frames: int, image_processor: Any) -> PatchPool:
        """A pool of colour levels, normalised as ``image_processor`` would. A stored patch is laid
        out channel-major (``[3, patch, patch]`` flattened): column ``c`` is channel
        ``c // (columns // 3)``."""
        factor = image_processor.rescale_factor if image_processor.do_rescale else 1.0
        mean = image_processor.image_mean if image_processor.do_normalize else [0.0, 0.0, 0.0]
        std = image_processor.image_std if image_processor.do_normalize else [1.0, 1.0, 1.0]
        per_channel = patches.shape[1] // 3
        scale = torch.tensor([factor / s for s in std], dtype=torch.float32)
        offset = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)], dtype=torch.float32)
        columns = (t.repeat_interleave(per_channel).to(patches.device) for t in (scale, offset))
        return cls(patches, frames, tuple(columns))


@dataclass(frozen=True)
class ShiftAugment:
    """``copies`` shifted copies of every screen (``aguvis.data.augment``), each by a random offset
    of at most ``max_shift`` of the width and height, drawn from ``seed``; with ``retype``, each
    copy of a record with ``hidden_text`` gets fresh letters there."""

    copies: int
    max_shift: float
    seed: int = 0
    retype: bool = True


def preload(
    samples: Sequence[Sample],
    tokenizer: RecordTokenizer,
    *,
    device: torch.device | str,
    dtype: torch.dtype,
    workers: int,
    progress: bool = True,
    augment: ShiftAugment | None = None,
) -> tuple[PreloadedDataset, PatchPool]:
    """The dataset of ``samples`` and its patch pool ``[rows, 588]`` on ``device``, in ``dtype``
    (``torch.uint8``: colour levels, see :class:`PatchPool`).

    With ``augment``, every single-screen sample is followed (after all the
    originals) by ``augment.copies`` shifted copies; the samples of one screen
    share each copy's offset, so they share its patches too.

    A record that cannot be tokenised or an image that cannot be read raises
    :class:`SampleError` naming the sample (its index and image files).
    """
    texts = _encode_all(_encode_chunk, (tokenizer, samples), len(samples), workers, "tokenise", progress)
    paths: dict[str, int] = {}
    image_ids: list[tuple[int, ...]] = []
    jobs: list[tuple[str, int, tuple[int, int]]] = []  # (path, image tokens, shift in pixels)
    for text in texts:
        ids = []
        for path, count in zip(text.image_paths, text.image_tokens, strict=True):
            key = os.path.realpath(path)
            if key not in paths:
                paths[key] = len(paths)
                jobs.append((key, count, (0, 0)))
            ids.append(paths[key])
        image_ids.append(tuple(ids))
    if augment is not None and augment.copies > 0:
        shifted, shifted_ids = _augment(samples, image_ids, jobs, tokenizer, augment, workers, progress)
        texts += shifted
        image_ids += shifted_ids

    rows = [count * tokenizer.merge_size**2 for _, count, _ in jobs]
    offsets = [0]
    for n in rows:
        offsets.append(offsets[-1] + n)
    processor = tokenizer.image_processor
    pool = torch.empty((offsets[-1], 3 * processor.patch_size**2), dtype=dtype, device=device)
    grids: list[torch.Tensor] = [torch.empty(0)] * len(jobs)
    done = 0
    for pixels, chunk_grids in _parallel(
        _image_chunk, (tokenizer, jobs, dtype), len(jobs), workers, "screenshots", progress
    ):
        stop = done + len(chunk_grids)
        if pixels.shape[0] != offsets[stop] - offsets[done]:
            raise RuntimeError(
                f"screenshots {done}..{stop - 1}: {pixels.shape[0]} patches, expected {offsets[stop] - offsets[done]}"
            )
        pool[offsets[done] : offsets[stop]] = pixels.to(device)
        grids[done:stop] = [torch.tensor(grid) for grid in chunk_grids]
        done = stop
    table = ImageTable(offsets, grids, [path for path, _, _ in jobs], [shift for _, _, shift in jobs])
    frames = processor.temporal_patch_size
    patches = PatchPool.of_levels(pool, frames, processor) if dtype == torch.uint8 else PatchPool(pool, frames)
    return PreloadedDataset(texts, image_ids, table), patches


def _encode_all(
    fn: Callable[[int, int], list[Encoded]], state: tuple[Any, ...], n: int, workers: int, desc: str, progress: bool
) -> list[EncodedText]:
    """The texts ``fn`` encodes over ``range(n)`` in the workers (:func:`_parallel`), as tensors."""
    return [
        EncodedText(torch.tensor(ids), torch.tensor(labels), tuple(map(Path, paths)), tuple(counts))
        for chunk in _parallel(fn, state, n, workers, desc, progress)
        for ids, labels, paths, counts in chunk
    ]


def _augment(
    samples: Sequence[Sample],
    image_ids: list[tuple[int, ...]],
    jobs: list[tuple[str, int, tuple[int, int]]],
    tokenizer: RecordTokenizer,
    augment: ShiftAugment,
    workers: int,
    progress: bool,
) -> tuple[list[EncodedText], list[tuple[int, ...]]]:
    """Shifted copies of the single-screen samples; appends their screens to ``jobs``.

    A screen is shifted only if every sample on it can be (``ShiftError``
    otherwise); the offset keeps every sample's targets on the screen.
    """
    extents: list[Extent | None] = [None] * len(jobs)
    sizes: list[tuple[int, int]] = [(0, 0)] * len(jobs)
    refused: set[int] = set()
    for start, chunk in _parallel_indexed(_extent_chunk, (samples,), len(samples), workers, "shift ranges", progress):
        for index, (ok, extent, size) in enumerate(chunk, start):
            ids = image_ids[index]
            if not ok or len(ids) != 1:
                refused.update(ids)
                continue
            (image,) = ids
            sizes[image] = size
            extents[image] = extent if extents[image] is None else extents[image].union(extent)
    originals = len(jobs)
    copy_of: dict[tuple[int, int], tuple[int, tuple[int, int]]] = {}  # (image, copy) -> (new image id, pixel shift)
    for image in range(originals):
        if image in refused:
            continue
        width, height = sizes[image]
        for copy in range(1, augment.copies + 1):
            rng = random.Random(f"{augment.seed}:{image}:{copy}")
            shift = draw_shift(extents[image], width, height, augment.max_shift, rng)
            copy_of[image, copy] = (len(jobs), shift)
            path, count, _ = jobs[image]
            jobs.append((path, count, shift))
    plans: list[tuple[int, int, float, float]] = []  # (sample, copy, shift as a share of the width, height)
    shifted_ids: list[tuple[int, ...]] = []
    for copy in range(1, augment.copies + 1):
        for index, ids in enumerate(image_ids):
            if len(ids) != 1 or ids[0] in refused:
                continue
            new_id, (dx, dy) = copy_of[ids[0], copy]
            width, height = sizes[ids[0]]
            plans.append((index, copy, dx / width, dy / height))
            shifted_ids.append((new_id,))
    state = (tokenizer, samples, plans, augment)
    return _encode_all(_shifted_chunk, state, len(plans), workers, "tokenise shifted", progress), shifted_ids


def token_lengths(
    samples: Sequence[Sample], tokenizer: RecordTokenizer, *, workers: int, progress: bool = True
) -> list[int]:
    """Every sample's token count (text tokenised, images sized from their
    file headers, nothing decoded), in ``workers`` processes: what the
    token-budget sampler plans micro-batches with."""
    lengths: list[int] = []
    for chunk in _parallel(_length_chunk, (tokenizer, samples), len(samples), workers, "lengths", progress):
        lengths += chunk
    return lengths


# ------------------------------------------------------------ worker side
#
# Workers are forked with the work in a module global (nothing large is
# pickled to them) and return plain lists for text and one stacked tensor per
# chunk of screenshots (a few shared-memory handles in all, never one per record).

_STATE: tuple[Any, ...] | None = None


Encoded = tuple[list[int], list[int], list[str], list[int]]  # plain lists: cheap to send back


def _encode_chunk(start: int, stop: int) -> list[Encoded]:
    assert _STATE is not None
    tokenizer, samples = _STATE
    return [_encode(tokenizer, samples[index], f"training sample {index}") for index in range(start, stop)]


def _shifted_chunk(start: int, stop: int) -> list[Encoded]:
    """Shifted copies, built here rather than in the parent: moving a record parses its actions (about
    0.7 ms a record), tens of seconds for a stage's copies in one process."""
    assert _STATE is not None
    tokenizer, samples, plans, augment = _STATE
    out = []
    for index, copy, dx, dy in plans[start:stop]:
        sample = samples[index]
        name = f"shifted copy {copy} of training sample {index}"
        try:
            record = shift_record(sample.record, dx, dy)
            if augment.retype:
                record = retype_record(record, random.Random(f"{augment.seed}:retype:{index}:{copy}"))
        except Exception as err:
            raise SampleError(f"{name} ({', '.join(sample.record.images)}): {err}") from err
        out.append(_encode(tokenizer, Sample(record, sample.images_root), name))
    return out


def _encode(tokenizer: RecordTokenizer, sample: Sample, name: str) -> Encoded:
    try:
        text = tokenizer.encode(sample.record, sample.images_root)
    except Exception as err:
        images = ", ".join(sample.record.images) or "no images"
        raise SampleError(f"{name} ({images} under {sample.images_root}): {err}") from err
    return text.input_ids.tolist(), text.labels.tolist(), [str(p) for p in text.image_paths], list(text.image_tokens)


def _extent_chunk(start: int, stop: int) -> list[tuple[bool, Extent | None, tuple[int, int]]]:
    """Per sample: whether it can be shifted, how far its coordinates reach, its screen's size."""
    assert _STATE is not None
    (samples,) = _STATE
    out = []
    for index in range(start, stop):
        sample = samples[index]
        try:
            extent = record_extent(sample.record)
            with Image.open(Path(sample.images_root) / sample.record.images[0]) as image:
                size = image.size
        except (ShiftError, OSError):
            out.append((False, None, (0, 0)))
            continue
        out.append((True, extent, size))
    return out


def _length_chunk(start: int, stop: int) -> list[int]:
    return [len(ids) for ids, _, _, _ in _encode_chunk(start, stop)]


def _image_chunk(start: int, stop: int) -> tuple[torch.Tensor, list[list[int]]]:
    """The chunk's screens, one frame of each patch (:class:`PatchPool`), and their grids."""
    assert _STATE is not None
    tokenizer, jobs, dtype = _STATE
    processor = tokenizer.image_processor
    pixels, grids = [], []
    for path, count, (dx, dy) in jobs[start:stop]:
        try:
            image = load_rgb_image(path)
            if dx or dy:
                image = shift_image(image, dx, dy)
            if dtype == torch.uint8:
                levels, grid = still_patch_levels(image, processor)
                values = torch.from_numpy(levels)
                if grid[1] * grid[2] != count * tokenizer.merge_size**2:
                    raise ValueError(f"{grid[1]} x {grid[2]} patches, expected {count} image tokens")
            else:
                normalised, grids_thw = tokenizer.vision_inputs([image], [count])
                assert normalised is not None and grids_thw is not None
                n = normalised.shape[0]
                values = normalised.view(n, 3, processor.temporal_patch_size, -1)[:, :, 0].reshape(n, -1)
                grid = tuple(grids_thw[0].tolist())
        except Exception as err:
            raise SampleError(f"screenshot {path}: {err}") from err
        pixels.append(values.to(dtype))
        grids.append(list(grid))  # a list: every tensor sent back holds a file descriptor until freed
    return torch.cat(pixels), grids


def _parallel(
    fn: Callable[[int, int], R], state: tuple[Any, ...], n: int, workers: int, desc: str, progress: bool
) -> Iterator[R]:
    """``fn(start, stop)`` over chunks of ``range(n)``, in order, in ``workers`` forked processes (0: here).

    At most ``2 * workers`` chunks are in flight, so results waiting for the
    parent never pile up; a worker that dies or a result that cannot be
    received raises here instead of leaving the parent waiting.
    """
    global _STATE
    bounds = [(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]
    _STATE = state
    try:
        with tqdm(total=n, desc=desc, unit="item", disable=not progress) as bar:
            if workers <= 0 or len(bounds) <= 1:
                for start, stop in bounds:
                    result = fn(start, stop)
                    bar.update(stop - start)
                    yield result
                return
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(min(workers, len(bounds)), mp_context=context, initializer=_one_thread) as pool:
                pending: collections.deque[tuple[int, int, Future[R]]] = collections.deque()
                upcoming = iter(bounds)
                for start, stop in itertools.islice(upcoming, 2 * workers):
                    pending.append((start, stop, pool.submit(fn, start, stop)))
                while pending:
                    start, stop, future = pending.popleft()
                    result = future.result()
                    for nxt in itertools.islice(upcoming, 1):
                        pending.append((*nxt, pool.submit(fn, *nxt)))
                    bar.update(stop - start)
                    yield result
    finally:
        _STATE = None


def _one_thread() -> None:
    """Forked workers run torch single-threaded: the parent's OpenMP pool does not survive a fork
    (its first parallel op would wait forever), as in ``DataLoader`` workers."""
    torch.set_num_threads(1)


def _parallel_indexed(
    fn: Callable[[int, int], R], state: tuple[Any, ...], n: int, workers: int, desc: str, progress: bool
) -> Iterator[tuple[int, R]]:
    """:func:`_parallel` with each chunk's first index."""
    starts = range(0, n, CHUNK)
    yield from zip(starts, _parallel(fn, state, n, workers, desc, progress), strict=True)
