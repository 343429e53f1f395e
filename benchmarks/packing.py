#!/usr/bin/env python
"""Grounding training throughput: plain Hugging Face vs grounding packing vs the packed fast step.

One command, one run, a table printed last. On a Qwen2-VL-2B-shaped model
(random weights, real shapes, vision tower frozen, bf16 weights, AdamW) and
synthetic grounding data it measures, for

  (a) the plain Hugging Face forward (``model(..., labels=...)``, SDPA), one
      query per sample, padded batches of 8;
  (b) grounding packing only: one sample per screenshot group
      (``aguvis.packing.grounding.pack_queries`` to at most 8192 tokens),
      the same plain forward, padded batches of 2 (4 runs out of memory:
      full-vocabulary fp32 logits);
  (c) grounding packing + sequence packing + the fast step: samples packed
      into rows of a token budget (``TokenBudgetStepSampler`` +
      ``PackedCollator``), per-sample M-RoPE positions, varlen flash
      attention confined to each sample (and to each image in the vision
      tower), compiled decoder layers and vision blocks, cross-entropy on
      label positions only, no host-device synchronisation in the step, a
      ``DataLoader`` with workers and pinned memory,

training throughput in grounding queries per second, real (non-padding)
tokens per second and MFU (``aguvis.packing.flops`` says what is counted),
with peak GPU memory. Before the table: a check that the packed loss matches
per-sample Hugging Face losses on the GPU, and a micro-benchmark of the
attention options (varlen, FlexAttention, SDPA with a dense mask; for the
vision tower varlen vs SDPA per image).

Data (stated, synthetic, ``--seed``): queries per screenshot ~ Gamma(shape
2, scale 10) rounded and clipped to [1, 60] (mean about 20); screenshots 70%
1920x1080 (desktop/web) and 30% 1080x2400 (phone), which ``smart_resize``
at ``max_pixels`` 1280*720 turns into 4500 and 4488 patches (1125 and 1122
image tokens); per query 33 template tokens + an instruction of 1 + Poisson(4)
tokens + the 21-token action ``pyautogui.click(x=0.dddd, y=0.dddd)``, of
which 24 are label tokens (``os\\n``, the action, ``<|diff_marker|>``),
matching ScreenSpot instructions with the real Qwen2-VL tokenizer (37.6
tokens per query); a 39-token system prompt. Pixel values are random and
token ids random (outside the special tokens): neither changes the work.

Usage::

    python benchmarks/packing.py                  # the GPU run (< 8 minutes on one H100)
    python benchmarks/packing.py --smoke          # tiny model on the CPU, seconds
    python benchmarks/packing.py --loss-curves benchmarks/packing_loss_curves.png   # CPU, tiny model
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import random
import statistics
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Before torch touches the GPU: fewer out-of-memory errors from fragmentation with changing shapes.
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

import torch
import torch.nn.functional as F

import aguvis.packing.attention as attention_module
from aguvis.chat.tokenize import Tokenised
from aguvis.packing.attention import (
    AttentionBackend,
    build_packed_attention,
    disable_packed_attention,
    enable_packed_attention,
    image_attention,
    varlen_attention,
)
from aguvis.packing.flops import H100_BF16_PEAK_FLOPS, ModelShape, StepFlops, mfu, step_flops
from aguvis.packing.forward import PackedLabelLossModel, compile_blocks, packed_forward
from aguvis.packing.grounding import pack_queries
from aguvis.packing.prefetch import prefetch_to_device
from aguvis.packing.sequence import PackedBatch, PackedCollator, PackingSpec
from aguvis.train.collator import Collator
from aguvis.train.dataset import DataPosition, StepSampler, TokenBudgetStepSampler

# ---------------------------------------------------------------- model shape

QWEN2_VL_2B = {
    "text_config": {
        "vocab_size": 151936,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
        "use_cache": False,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "pad_token_id": 151643,
    },
    "vision_config": {
        "depth": 32,
        "embed_dim": 1280,
        "hidden_size": 1536,
        "num_heads": 16,
        "mlp_ratio": 4,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "spatial_merge_size": 2,
    },
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "tie_word_embeddings": True,
}


def build_model(smoke: bool, device: torch.device, dtype: torch.dtype) -> tuple[Any, Vocabulary]:
    """Random-weight model on ``device`` with the vision tower frozen."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    if smoke:
        from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer

        tokenizer = build_tiny_tokenizer()
        model = build_tiny_model(tokenizer, seed=0).to(device=device, dtype=dtype)
        vocab = Vocabulary.from_tokenizer(tokenizer)
    else:
        config = Qwen2VLConfig(**QWEN2_VL_2B)
        config._attn_implementation = "sdpa"
        torch.manual_seed(0)
        with torch.device(device):
            model = Qwen2VLForConditionalGeneration(config)
        model.to(dtype)
        vocab = QWEN2_VL_IDS
    model.model.visual.requires_grad_(False)
    return model.train(), vocab


# ---------------------------------------------------------------- synthetic grounding data


@dataclass(frozen=True)
class Vocabulary:
    """Token ids of the chat template pieces, and the range of ordinary text ids."""

    im_start: int
    im_end: int
    newline: int
    system: int
    user: int
    assistant: int
    recipient: int
    os: int
    diff_marker: int
    vision_start: int
    vision_end: int
    image_pad: int
    text_ids: int  # ordinary tokens are drawn from [0, text_ids)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> Vocabulary:
        def one(text: str) -> int:
            ids = tokenizer.encode(text, add_special_tokens=False)
            if len(ids) != 1:
                raise ValueError(f"{text!r} is not one token: {ids}")
            return ids[0]

        special = min(tokenizer.convert_tokens_to_ids("<|endoftext|>"), one("<|im_start|>"))
        return cls(
            one("<|im_start|>"), one("<|im_end|>"), one("\n"), one("system"), one("user"), one("assistant"),
            one("<|recipient|>"), one("os"), one("<|diff_marker|>"), one("<|vision_start|>"),
            one("<|vision_end|>"), one("<|image_pad|>"), special,
        )  # fmt: skip


# The real Qwen2-VL ids (its tokenizer plus Aguvis's two tokens at 151657/151658).
QWEN2_VL_IDS = Vocabulary(
    im_start=151644, im_end=151645, newline=198, system=8948, user=872, assistant=77091, recipient=151657,
    os=436, diff_marker=151658, vision_start=151652, vision_end=151653, image_pad=151655, text_ids=151643,
)  # fmt: skip

SYSTEM_PROMPT_TOKENS = 34  # + "<|im_start|>system\n" and "<|im_end|>\n" = 39, the grounding prompt
ACTION_TOKENS = 21  # pyautogui.click(x=0.4312, y=0.129)
QUERY_TEMPLATE_TOKENS = 33  # everything of a (user, assistant) pair but the instruction
MAX_SEQ_LEN = 8192
SCREENS = (((1920, 1080), 0.7), ((1080, 2400), 0.3))
SMOKE_SCREENS = (((112, 84), 0.7), ((84, 140), 0.3))


@dataclass(frozen=True)
class Screenshot:
    grid: tuple[int, int, int]  # (t, h, w) patches
    queries: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]  # (instruction ids, action ids)


def make_screenshots(n: int, seed: int, vocab: Vocabulary, smoke: bool) -> list[Screenshot]:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    rng = random.Random(seed)
    sizes, weights = zip(*(SMOKE_SCREENS if smoke else SCREENS))
    out = []
    for _ in range(n):
        width, height = rng.choices(sizes, weights)[0]
        h, w = smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=1280 * 720)
        count = 1 + rng.randrange(6) if smoke else min(60, max(1, round(rng.gammavariate(2.0, 10.0))))
        queries = tuple(
            (
                tuple(rng.randrange(vocab.text_ids) for _ in range(1 + _poisson(rng, 4.0))),
                tuple(rng.randrange(vocab.text_ids) for _ in range(ACTION_TOKENS)),
            )
            for _ in range(count)
        )
        out.append(Screenshot((1, h // 14, w // 14), queries))
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, k, p = math.exp(-lam), 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k


@dataclass(frozen=True)
class SampleSpec:
    """Which queries of which screenshot make one training sample."""

    screen: int
    queries: tuple[int, ...]


class GroundingSamples(torch.utils.data.Dataset):
    """Builds ``Tokenised`` samples on the fly (in ``DataLoader`` workers)."""

    def __init__(self, screens: list[Screenshot], specs: list[SampleSpec], vocab: Vocabulary, seed: int) -> None:
        self.screens, self.specs, self.vocab = screens, specs, vocab
        rng = random.Random(seed)
        self.system = tuple(rng.randrange(vocab.text_ids) for _ in range(SYSTEM_PROMPT_TOKENS))
        gen = torch.Generator().manual_seed(seed)
        self.pixels = {
            s.grid: torch.randn(math.prod(s.grid), 1176, generator=gen)
            for s in {sc.grid: sc for sc in screens}.values()
        }

    def __len__(self) -> int:
        return len(self.specs)

    def length(self, i: int) -> int:
        spec = self.specs[i]
        screen = self.screens[spec.screen]
        text = sum(QUERY_TEMPLATE_TOKENS + len(screen.queries[q][0]) for q in spec.queries)
        return SYSTEM_PROMPT_TOKENS + 5 + image_tokens(screen.grid) + 2 + text

    def __getitem__(self, i: int) -> Tokenised:
        v, spec = self.vocab, self.specs[i]
        screen = self.screens[spec.screen]
        ids = [v.im_start, v.system, v.newline, *self.system, v.im_end, v.newline]
        labels = [-100] * len(ids)
        for k, q in enumerate(spec.queries):
            instruction, action = screen.queries[q]
            user = [v.im_start, v.user, v.newline]
            if k == 0:
                user += [v.vision_start, *[v.image_pad] * image_tokens(screen.grid), v.vision_end]
            user += [*instruction, v.im_end, v.newline, v.im_start, v.assistant, v.recipient]
            answer = [v.os, v.newline, *action, v.diff_marker]
            ids += user + answer + [v.newline]
            labels += [-100] * len(user) + answer + [-100]
        return Tokenised(
            input_ids=torch.tensor(ids),
            labels=torch.tensor(labels),
            pixel_values=self.pixels[screen.grid],
            image_grid_thw=torch.tensor([screen.grid]),
        )


def image_tokens(grid: tuple[int, int, int]) -> int:
    return math.prod(grid) // 4


def one_query_specs(screens: list[Screenshot]) -> list[SampleSpec]:
    return [SampleSpec(s, (q,)) for s, screen in enumerate(screens) for q in range(len(screen.queries))]


def grounding_packed_specs(screens: list[Screenshot], seed: int) -> list[SampleSpec]:
    """Each screenshot's queries shuffled and bin-packed into samples of at
    most ``MAX_SEQ_LEN`` tokens, as ``aguvis pack`` does."""
    rng = random.Random(seed)
    specs = []
    for s, screen in enumerate(screens):
        order = list(range(len(screen.queries)))
        rng.shuffle(order)
        costs = [QUERY_TEMPLATE_TOKENS + len(screen.queries[q][0]) for q in order]
        capacity = MAX_SEQ_LEN - (SYSTEM_PROMPT_TOKENS + 5 + image_tokens(screen.grid) + 2)
        for members in pack_queries(costs, capacity):
            specs.append(SampleSpec(s, tuple(order[i] for i in members)))
    return specs


# ---------------------------------------------------------------- measuring


@dataclass
class Result:
    name: str
    description: str
    steps: int = 0
    seconds: float = 0.0
    queries: int = 0
    tokens: int = 0
    flops: float = 0.0
    peak_memory_gb: float = 0.0
    step_seconds: float = 0.0
    queries_per_step: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def queries_per_second(self) -> float:
        return self.queries / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def mfu(self) -> float:
        return mfu(self.flops, self.seconds) if self.seconds else 0.0


@dataclass(frozen=True)
class StepWork:
    """What a batch holds, computed on the CPU before the step."""

    queries: int
    tokens: int
    flops: StepFlops


def batch_work(
    shape: ModelShape,
    input_ids: torch.Tensor,
    sample_lengths: Sequence[int],
    labels: int,
    grids: Sequence[Sequence[int]],
    vocab: Vocabulary,
) -> StepWork:
    """Queries (each answer ends with one ``<|diff_marker|>``), real tokens and FLOPs of a CPU batch."""
    frames = [h * w for t, h, w in grids for _ in range(t)]
    queries = int((input_ids == vocab.diff_marker).sum())
    return StepWork(queries, sum(sample_lengths), step_flops(shape, sample_lengths, labels, frames))


def measure(
    name: str,
    description: str,
    loader: Iterator[Any],
    step: Callable[[Any], None],
    work: Callable[[Any], StepWork],
    *,
    device: torch.device,
    seconds: float,
    warmup: int,
) -> Result:
    """Warm up (compilation, allocator), time the step, then run as many
    steps as fill ``seconds`` without any synchronisation between them."""
    result = Result(name, description)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(warmup):
        start = time.perf_counter()
        step(next(loader))
        _sync(device)
        times.append(time.perf_counter() - start)
    per_step = statistics.median(times[-3:]) if times else 1.0
    steps = max(3, math.ceil(seconds / per_step))
    batches = [next(loader) for _ in range(min(steps, 4))]  # the loader is warm and ahead
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        batch = batches[i] if i < len(batches) else next(loader)
        w = work(batch)
        step(batch)
        result.queries += w.queries
        result.tokens += w.tokens
        result.flops += w.flops.total
    _sync(device)
    result.seconds = time.perf_counter() - start
    result.steps = steps
    result.step_seconds = result.seconds / steps
    result.queries_per_step = result.queries / steps
    if device.type == "cuda":
        result.peak_memory_gb = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cycle(make: Callable[[int], Iterator[Any]]) -> Iterator[Any]:
    epoch = 0
    while True:
        yield from make(epoch)
        epoch += 1


def make_loader(
    dataset: GroundingSamples,
    batches: Callable[[int], Any],
    collate: Callable[[Any], Any],
    args: argparse.Namespace,
) -> Iterator[Any]:
    """Endless batches, epoch after epoch; ``batches(epoch)`` is that epoch's batch sampler."""

    def epoch_iter(epoch: int) -> Iterator[Any]:
        return iter(
            torch.utils.data.DataLoader(
                dataset,
                batch_sampler=batches(epoch),
                collate_fn=collate,
                num_workers=args.workers,
                pin_memory=args.device == "cuda",
                persistent_workers=False,
                prefetch_factor=4 if args.workers else None,
            )
        )

    return cycle(epoch_iter)


# ---------------------------------------------------------------- the three configurations


def run_plain(
    name: str,
    description: str,
    model: Any,
    optimizer: torch.optim.Optimizer,
    dataset: GroundingSamples,
    batch_size: int,
    shape: ModelShape,
    args: argparse.Namespace,
) -> Result:
    """Hugging Face's own forward and loss on padded batches."""
    device = torch.device(args.device)
    config = model.config
    collate = Collator(pad_token_id=0, image_token_id=config.image_token_id, video_token_id=config.video_token_id)
    order = StepSampler(len(dataset), batch_size, grad_accumulation=1, seed=args.seed)  # as the trainer's
    loader = make_loader(dataset, lambda epoch: list(order.micro_batches(DataPosition(epoch))), collate, args)
    params = [p for p in model.parameters() if p.requires_grad]

    def step(batch: dict[str, Any]) -> None:
        batch = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        out = model(**batch, use_cache=False)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=device.type == "cuda")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def work(batch: dict[str, Any]) -> StepWork:
        lengths = batch["attention_mask"].sum(1).tolist()
        labels = int((batch["labels"][:, 1:] != -100).sum())
        return batch_work(shape, batch["input_ids"], lengths, labels, batch["image_grid_thw"].tolist(), dataset.vocab)

    return measure(name, description, loader, step, work, device=device, seconds=args.seconds, warmup=args.warmup)


def packed_collator(
    spec: PackingSpec, backend: AttentionBackend, pixel_dtype: torch.dtype | None = None
) -> PackedCollator:
    """One flat row for varlen (rows do not matter to it); rows of exactly
    ``MAX_SEQ_LEN`` for the masked backends, whose compiled kernels and block
    masks would otherwise be rebuilt for every new row length."""
    if backend is AttentionBackend.VARLEN:
        return PackedCollator(spec, pad_to_multiple_of=64, pixel_dtype=pixel_dtype)
    return PackedCollator(spec, row_length=MAX_SEQ_LEN, pad_to=MAX_SEQ_LEN, pixel_dtype=pixel_dtype)


def run_packed(
    name: str,
    description: str,
    model: Any,
    optimizer: torch.optim.Optimizer,
    dataset: GroundingSamples,
    shape: ModelShape,
    backend: AttentionBackend,
    args: argparse.Namespace,
) -> Result:
    """Grounding-packed samples, sequence-packed to a token budget, packed attention."""
    device = torch.device(args.device)
    spec = PackingSpec.from_config(model.config)
    lengths = [dataset.length(i) for i in range(len(dataset))]
    sampler = TokenBudgetStepSampler(lengths, args.token_budget, grad_accumulation=1, seed=args.seed)
    pixel_dtype = torch.bfloat16 if device.type == "cuda" else None
    collate = packed_collator(spec, backend, pixel_dtype)
    works: deque[StepWork] = deque()

    def counted(batches: Iterator[PackedBatch]) -> Iterator[PackedBatch]:
        for batch in batches:  # counted on the CPU copy, before it goes to the GPU
            grids = batch.image_grid_thw.tolist() if batch.image_grid_thw is not None else []
            works.append(
                batch_work(shape, batch.input_ids, batch.sample_lengths, batch.num_label_tokens, grids, dataset.vocab)
            )
            yield batch

    loader = prefetch_to_device(counted(make_loader(dataset, sampler.plan, collate, args)), device)
    if args.preload:  # diagnostic: the same batches already on the GPU, cycled (no data loading at all)
        preloaded = [next(loader) for _ in range(args.preload)]
        ready = list(works)
        works.clear()

        def replay() -> Iterator[PackedBatch]:
            while True:
                for w, b in zip(ready, preloaded):
                    works.append(w)
                    yield b

        loader = replay()
    loss_model = PackedLabelLossModel(model, backend)
    params = [p for p in model.parameters() if p.requires_grad]

    def step(batch: PackedBatch) -> None:
        loss = loss_model(batch) / batch.num_label_tokens
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=device.type == "cuda")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def work(batch: PackedBatch) -> StepWork:
        return works.popleft()

    result = measure(name, description, loader, step, work, device=device, seconds=args.seconds, warmup=args.warmup)
    result.extra["token_budget"] = args.token_budget
    result.extra["backend"] = backend.value
    return result


# ---------------------------------------------------------------- checks and micro-benchmarks


def check_packed_loss(model: Any, dataset: GroundingSamples, device: torch.device) -> dict[str, float]:
    """Summed label loss of a packed batch vs the samples through Hugging Face one by one."""
    samples = [dataset[i] for i in range(3)]
    spec = PackingSpec.from_config(model.config)
    config = model.config
    collate = Collator(pad_token_id=0, image_token_id=config.image_token_id, video_token_id=config.video_token_id)
    reference = 0.0
    with torch.no_grad():
        for s in samples:
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in collate([s]).items()}
            labels = batch.pop("labels")
            logits = model(**batch, use_cache=False).logits[0, :-1].float()
            reference += float(F.cross_entropy(logits, labels[0, 1:], ignore_index=-100, reduction="sum"))
        previous = enable_packed_attention(model)
        out = {"reference": reference}

        for backend in AttentionBackend:
            packed = packed_collator(spec, backend)(samples).to(device)
            hidden = packed_forward(model, packed, backend)
            logits = model.lm_head(hidden).float()
            loss = float(F.cross_entropy(logits, packed.label_targets, reduction="sum"))
            out[backend.value] = abs(loss - reference) / abs(reference)
        disable_packed_attention(model, previous)
    return out


def attention_microbenchmark(device: torch.device, dtype: torch.dtype, smoke: bool) -> list[dict[str, Any]]:
    """Forward+backward of decoder attention on one packed row, forward of
    vision attention on four screenshots, per attention option."""
    rows: list[dict[str, Any]] = []
    gen = torch.Generator().manual_seed(0)
    heads, kv_heads, dim = (4, 2, 16) if smoke else (12, 2, 128)
    total = 512 if smoke else 16384
    lengths = []
    while sum(lengths) < total:  # grounding-packed samples: 1,200 to 3,500 tokens
        lengths.append(
            min(total - sum(lengths), int(torch.randint(total * 3 // 40, total * 9 // 40, (1,), generator=gen)))
        )
    sequence_ids = torch.repeat_interleave(torch.arange(len(lengths), dtype=torch.int32), torch.tensor(lengths))[None]
    cu = torch.zeros(len(lengths) + 1, dtype=torch.int32)
    cu[1:] = torch.cumsum(torch.tensor(lengths), 0)
    flops = 6.0 * heads * dim * sum(n * n for n in lengths)  # fwd+bwd, causal (see aguvis.packing.flops)
    q = torch.randn(1, heads, total, dim, device=device, dtype=dtype, requires_grad=True)
    k = torch.randn(1, kv_heads, total, dim, device=device, dtype=dtype, requires_grad=True)
    v = torch.randn(1, kv_heads, total, dim, device=device, dtype=dtype, requires_grad=True)
    grad = torch.randn(1, total, heads, dim, device=device, dtype=dtype)
    chosen_gqa = attention_module.VARLEN_GQA
    variants = [(b, "native") for b in AttentionBackend] + [(AttentionBackend.VARLEN, "repeat")]
    for backend, gqa in variants:
        if backend is AttentionBackend.FLEX and device.type != "cuda":
            continue  # no FlexAttention backward on the CPU
        option = backend.value if gqa == "native" else f"{backend.value}, key/value heads repeated"
        try:
            meta = build_packed_attention(sequence_ids.to(device), cu.to(device), max(lengths), backend)

            def run(meta: Any = meta) -> None:
                out = meta.attend(q, k, v, dim**-0.5)
                out.backward(grad)

            attention_module.VARLEN_GQA = gqa
            ms = _time_ms(run, device)
            rows.append({"part": "decoder fwd+bwd", "option": option, "ms": ms, "tflops": flops / ms / 1e9})
        except Exception as err:  # noqa: BLE001 - an option this torch build lacks is reported, not fatal
            rows.append({"part": "decoder fwd+bwd", "option": option, "error": f"{type(err).__name__}: {err}"})
        finally:
            attention_module.VARLEN_GQA = chosen_gqa

    if device.type == "cuda":
        rows.append(_native_gqa_probe(q, k, v, cu, max(lengths)))
    vheads, vdim, patches, images = (2, 16, 48, 2) if smoke else (16, 80, 4500, 4)
    vq = torch.randn(1, vheads, patches * images, vdim, device=device, dtype=dtype)
    vk, vv = torch.randn_like(vq), torch.randn_like(vq)
    vcu = torch.arange(images + 1, dtype=torch.int32, device=device) * patches
    vflops = 4.0 * vheads * vdim * patches * patches * images
    segments = (patches,) * images
    options: dict[str, Callable[[], Any]] = {
        "image_attention (SDPA per run of equal images)": lambda: image_attention(vq, vk, vv, segments, vdim**-0.5),
        "varlen": lambda: varlen_attention(vq, vk, vv, vcu, patches, causal=False, scale=vdim**-0.5),
        "sdpa per image": lambda: [
            F.scaled_dot_product_attention(a, b, c) for a, b, c in zip(*(t.split(patches, dim=2) for t in (vq, vk, vv)))
        ],
    }
    if device.type == "cuda":
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def batched(backend: Any) -> Callable[[], Any]:
            def run() -> Any:
                with sdpa_kernel([backend]):
                    shaped = [t.view(vheads, images, patches, vdim).transpose(0, 1) for t in (vq, vk, vv)]
                    return F.scaled_dot_product_attention(*shaped)

            return run

        options["sdpa batched, cuDNN"] = batched(SDPBackend.CUDNN_ATTENTION)
        options["sdpa batched, flash"] = batched(SDPBackend.FLASH_ATTENTION)
    with torch.no_grad():
        for option, fn in options.items():
            try:
                ms = _time_ms(fn, device)
                rows.append({"part": "vision fwd", "option": option, "ms": ms, "tflops": vflops / ms / 1e9})
            except Exception as err:  # noqa: BLE001 - reported, as above
                rows.append({"part": "vision fwd", "option": option, "error": f"{type(err).__name__}: {err}"})
    return rows


def _native_gqa_probe(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, max_len: int
) -> dict[str, Any]:
    """Does this torch's varlen_attn accept fewer key/value heads than query
    heads as they are (grouped-query attention without repeating them)?"""
    from torch.nn.attention.varlen import varlen_attn

    flat = [t.detach()[0].transpose(0, 1).contiguous() for t in (q, k, v)]
    cu = cu.to(q.device)
    expected = varlen_attention(q.detach(), k.detach(), v.detach(), cu, max_len, causal=True, scale=q.shape[-1] ** -0.5)
    try:
        kwargs = (
            {"is_causal": True}
            if "is_causal" in inspect.signature(varlen_attn).parameters
            else {"window_size": (-1, 0)}
        )
        got = varlen_attn(*flat, cu, cu, max_len, max_len, **kwargs)
        return {"part": "varlen native GQA", "max_abs_diff": float((got - expected[0]).abs().max())}
    except Exception as err:  # noqa: BLE001 - reported, as above
        return {"part": "varlen native GQA", "error": f"{type(err).__name__}: {err}"[:300]}


def _time_ms(fn: Callable[[], Any], device: torch.device, repeat: int = 10) -> float:
    for _ in range(3):
        fn()
    _sync(device)
    if device.type != "cuda":
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - start) * 1e3 / repeat
    times = []
    for _ in range(repeat):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end))
    return statistics.median(times)


def profile_packed(
    model: Any,
    optimizer: torch.optim.Optimizer,
    dataset: GroundingSamples,
    backend: AttentionBackend,
    args: argparse.Namespace,
) -> None:
    """Kernel time of three packed steps, top entries (``--profile``)."""
    from torch.profiler import ProfilerActivity, profile

    device = torch.device(args.device)
    spec = PackingSpec.from_config(model.config)
    lengths = [dataset.length(i) for i in range(len(dataset))]
    sampler = TokenBudgetStepSampler(lengths, args.token_budget, grad_accumulation=1, seed=1)
    collate = packed_collator(spec, backend, torch.bfloat16 if device.type == "cuda" else None)
    batches = [collate([dataset[i] for i in b]) for b in sampler.plan(0)[:3]]
    if device.type == "cuda":
        batches = [b.pin_memory() for b in batches]
    loss_model = PackedLabelLossModel(model, backend)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for batch in batches:
            batch = batch.to(device)
            (loss_model(batch) / batch.num_label_tokens).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        _sync(device)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.profile, max_name_column_width=70), flush=True)


# ---------------------------------------------------------------- report


def table(results: list[Result], baseline: Result, packed_only: Result | None) -> str:
    header = (
        f"{'config':<4} {'queries/s':>10} {'tokens/s':>10} {'MFU':>6} {'x (a)':>6} {'x (b)':>6} "
        f"{'step s':>7} {'q/step':>7} {'peak GB':>8}  description"
    )
    lines = [header]
    for r in results:
        vs_b = r.queries_per_second / packed_only.queries_per_second if packed_only else float("nan")
        lines.append(
            f"{r.name:<4} {r.queries_per_second:>10.1f} {r.tokens_per_second:>10.0f} {100 * r.mfu:>5.1f}% "
            f"{r.queries_per_second / baseline.queries_per_second:>6.1f} {vs_b:>6.2f} {r.step_seconds:>7.3f} "
            f"{r.queries_per_step:>7.1f} {r.peak_memory_gb:>8.1f}  {r.description}"
        )
    return "\n".join(lines)


def data_summary(screens: list[Screenshot], specs_b: list[SampleSpec], dataset_b: GroundingSamples) -> str:
    counts = [len(s.queries) for s in screens]
    lengths = [dataset_b.length(i) for i in range(len(specs_b))]
    return (
        f"data: {len(screens)} screenshots, {sum(counts)} queries, queries/screenshot mean "
        f"{statistics.mean(counts):.1f} median {statistics.median(counts):.0f} min {min(counts)} max {max(counts)}; "
        f"grounding-packed samples: {len(specs_b)}, tokens mean {statistics.mean(lengths):.0f} max {max(lengths)}"
    )


# ---------------------------------------------------------------- loss curves (CPU)


def plot_loss_curves(path: Path, *, steps: int, seed: int, screens: int = 48) -> float:
    """Train the tiny model twice from the same initialisation on the same
    batches of grounding-packed synthetic records: once through Hugging
    Face's forward one sample at a time, once sequence-packed through
    ``PackedLabelLossModel``; plot both losses (sum over label tokens / label
    tokens of the step) and their difference to ``path``."""
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aguvis.chat.tokenize import RecordTokenizer
    from aguvis.chat.vision import build_image_processor, image_token_count
    from aguvis.data import Record, read_records
    from aguvis.data.synthetic import make_grounding_dataset
    from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer
    from aguvis.packing.grounding import TokenCounter, file_image_info, pack_grounding_records
    from aguvis.packing.sequence import pack_batch

    torch.manual_seed(seed)
    tokenizer, processor = build_tiny_tokenizer(), build_image_processor()
    with tempfile.TemporaryDirectory() as tmp:
        records = list(read_records(make_grounding_dataset(tmp, screens, queries_per_screen=8, seed=seed)))
        singles = [
            Record(
                r.images, [r.conversations[j] if j == 0 else _with_image(r.conversations[j]), r.conversations[j + 1]]
            )
            for r in records
            for j in range(0, len(r.conversations), 2)
        ]
        info = file_image_info(tmp, lambda w, h: image_token_count(w, h, processor))
        packed, report = pack_grounding_records(
            singles, counter=TokenCounter(tokenizer), image_info=info, max_seq_len=512, seed=seed
        )
        encode = RecordTokenizer(tokenizer, processor, max_length=512)
        samples = [encode(r, tmp) for r in packed]
    print(f"loss curves: {report.summary()}")
    rng = random.Random(seed)
    batches = [rng.sample(range(len(samples)), 4) for _ in range(steps)]

    def train(packed_step: bool) -> list[float]:
        model = build_tiny_model(tokenizer, seed=seed).float().train()
        model.model.visual.requires_grad_(False)
        spec = PackingSpec.from_config(model.config)
        if packed_step:
            enable_packed_attention(model)
        loss_model = PackedLabelLossModel(model, AttentionBackend.VARLEN)
        collate = Collator(0, model.config.image_token_id, model.config.video_token_id)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        losses = []
        for indices in batches:
            chosen = [samples[i] for i in indices]
            labels = sum(int((s.labels[1:] != -100).sum()) for s in chosen)
            if packed_step:
                total = loss_model(pack_batch(chosen, spec))
            else:
                total = torch.zeros(())
                for s in chosen:
                    batch = collate([s])
                    target = batch.pop("labels")
                    logits = model(**batch, use_cache=False).logits[0, :-1]
                    total = total + F.cross_entropy(logits, target[0, 1:], ignore_index=-100, reduction="sum")
            loss = total / labels
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        return losses

    unpacked, packed_losses = train(False), train(True)
    diff = [abs(a - b) for a, b in zip(unpacked, packed_losses)]
    rel = max(d / a for d, a in zip(diff, unpacked))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, height_ratios=(3, 1))
    steps_axis = range(1, steps + 1)
    top.plot(steps_axis, unpacked, label="unpacked: HF forward, one sample at a time", linewidth=3, alpha=0.5)
    top.plot(steps_axis, packed_losses, label="sequence-packed: packed_forward, varlen", linestyle="--", color="black")
    top.set_ylabel("loss per label token")
    top.set_title(f"tiny Qwen2-VL, CPU fp32, {len(batches[0])} grounding-packed samples per step")
    top.legend()
    bottom.plot(steps_axis, diff, color="tab:red")
    bottom.set_ylabel("|difference|")
    bottom.set_xlabel("optimizer step")
    bottom.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"loss curves: {steps} steps, max |difference| {max(diff):.2e}, max relative {rel:.2e}; plot in {path}")
    return rel


def _with_image(turn: Any) -> Any:
    from aguvis.data import Turn

    return Turn(turn.role, "<image>" + turn.value, turn.recipient, turn.end_turn, dict(turn.extra))


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny model, tiny images, CPU-sized (seconds)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available, cpu with --smoke)")
    p.add_argument("--screenshots", type=int, default=None, help="synthetic screenshots (default 1500, smoke 24)")
    p.add_argument("--seconds", type=float, default=None, help="timed seconds per configuration (default 45, smoke 1)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 6, smoke 1)")
    p.add_argument("--token-budget", type=int, default=None, help="tokens per step in (c) (default 16384, smoke 512)")
    p.add_argument("--batch-a", type=int, default=8, help="samples per padded batch in (a)")
    p.add_argument("--batch-b", type=int, default=2, help="samples per padded batch in (b)")
    p.add_argument(
        "--backends",
        default="varlen",
        help="comma-separated attention options to run (c) with: varlen, flex, sdpa (first is (c), others c-NAME)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the decoder layers and vision blocks in (c) (default: on for cuda)",
    )
    p.add_argument("--skip", default="", help="comma-separated parts to skip: a, b, check, micro")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default 6, smoke 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data and batch order")
    p.add_argument(
        "--varlen-gqa",
        choices=("native", "repeat"),
        default="native",
        help="varlen: pass grouped key/value heads as they are, or repeat them to the query heads",
    )
    p.add_argument("--preload", type=int, default=0, help="diagnostic: cycle this many batches kept on the GPU in (c)")
    p.add_argument("--profile", type=int, default=0, help="after (c), print this many top kernels of 3 profiled steps")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument(
        "--loss-curves",
        default=None,
        help="instead: train the tiny model on the CPU packed and unpacked and plot the losses to this PNG",
    )
    p.add_argument("--loss-steps", type=int, default=40, help="optimizer steps of each --loss-curves run")
    args = p.parse_args(argv)
    args.device = args.device or ("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    if args.compile is None:
        args.compile = args.device == "cuda"
    defaults = {
        "screenshots": (1500, 24),
        "seconds": (45.0, 1.0),
        "warmup": (6, 1),
        "token_budget": (16384, 512),
        "workers": (6, 0),
    }
    for name, (full, smoke) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.loss_curves:
        relative = plot_loss_curves(Path(args.loss_curves), steps=args.loss_steps, seed=args.seed)
        return 0 if relative < 1e-5 else 1
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    # FlexAttention on the CPU (the correctness check) runs unfused, which it warns about.
    warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
    skip = set(filter(None, args.skip.split(",")))
    attention_module.VARLEN_GQA = args.varlen_gqa
    backends = [AttentionBackend(b) for b in args.backends.split(",")]
    t0 = time.perf_counter()
    model, vocab = build_model(args.smoke, device, dtype)
    shape = ModelShape.from_config(model.config)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.3f} B parameters, "
          f"{sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e9:.3f} B trainable, {dtype}, "
          f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}, "
          f"built in {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    screens = make_screenshots(args.screenshots, args.seed, vocab, args.smoke)
    specs_a, specs_b = one_query_specs(screens), grounding_packed_specs(screens, args.seed)
    data_a = GroundingSamples(screens, specs_a, vocab, args.seed)
    data_b = GroundingSamples(screens, specs_b, vocab, args.seed)
    print(data_summary(screens, specs_b, data_b), flush=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=device.type == "cuda")

    if "check" not in skip:
        print(f"packed loss vs one-by-one HF loss (relative difference, {dtype}): "
              f"{check_packed_loss(model, data_b, device)}", flush=True)  # fmt: skip
    micro = [] if "micro" in skip else attention_microbenchmark(device, dtype, args.smoke)
    for row in micro:
        print("attention:", json.dumps(row), flush=True)

    results: list[Result] = []
    if "a" not in skip:
        results.append(run_plain("a", f"HF forward, 1 query/sample, padded batches of {args.batch_a}",
                                 model, optimizer, data_a, args.batch_a, shape, args))  # fmt: skip
        print("done:", json.dumps(asdict(results[-1])), flush=True)
    if "b" not in skip:
        results.append(run_plain("b", f"HF forward, grounding packing, padded batches of {args.batch_b}",
                                 model, optimizer, data_b, args.batch_b, shape, args))  # fmt: skip
        print("done:", json.dumps(asdict(results[-1])), flush=True)
    enable_packed_attention(model)
    if args.compile:
        compile_blocks(model)
    for k, backend in enumerate(backends):
        if k:
            torch._dynamo.reset()  # each backend compiles its own graphs, as a training run would
        name = "c" if k == 0 else f"c-{backend.value}"
        description = (f"grounding + sequence packing ({args.token_budget} tokens/step), {backend.value} attention, "
                       f"{'compiled, ' if args.compile else ''}label-only CE")  # fmt: skip
        results.append(run_packed(name, description, model, optimizer, data_b, shape, backend, args))
        print("done:", json.dumps(asdict(results[-1])), flush=True)
        if args.profile and k == 0:
            profile_packed(model, optimizer, data_b, backend, args)

    if args.json:
        Path(args.json).write_text(json.dumps({"results": [asdict(r) for r in results], "attention": micro}, indent=2))
    by_name = {r.name: r for r in results}
    baseline = by_name.get("a", results[0])
    print(f"\nMFU = model FLOPs / time / {H100_BF16_PEAK_FLOPS / 1e12:.0f} TFLOP/s (H100 SXM dense bf16): decoder "
          "6*N*tokens + causal attention 6*L*d*s^2 per sample + output projection 6*V*d per label token, "
          "frozen ViT forward 2*N_vit*patches + merger + attention 4*depth*e*p^2 per image (aguvis.packing.flops)")  # fmt: skip
    print(table(results, baseline, by_name.get("b")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
