"""The training loop for one stage of the Aguvis recipe.

``Trainer(config).train()`` runs the same code under ``python`` (one
process) and under ``torchrun`` (any number of processes and nodes):

1. build the model (local checkpoint or the tiny test model), freeze the
   vision transformer, enable activation checkpointing, wrap it in
   :class:`~aguvis.train.loss.LabelLossModel` and shard it with FSDP2;
2. AdamW with a warm-up + cosine ``LambdaLR``;
3. records -> :class:`~aguvis.train.dataset.RecordDataset`, ordered by the
   resumable :class:`~aguvis.train.dataset.StepSampler`, padded by the
   :class:`~aguvis.train.collator.Collator`; or, with ``data.packing``,
   ordered by :class:`~aguvis.train.dataset.TokenBudgetStepSampler` into
   token budgets, packed by :class:`~aguvis.packing.sequence.PackedCollator`
   (positions and attention per sample, :mod:`aguvis.packing`) and run by
   :class:`~aguvis.packing.forward.PackedLabelLossModel`; ``data.preload``
   tokenises everything first and keeps the screenshots on the device
   (:mod:`aguvis.train.preload`);
4. each optimizer step: fetch the step's micro-batches, count their label
   tokens over all ranks (one all-reduce), forward/backward each micro-batch
   with its summed loss divided by that count, clip, step;
5. log to ``metrics.jsonl`` and a progress bar; checkpoint every
   ``save_every`` steps and at the end; export the final model to
   ``<output_dir>/model`` in Hugging Face format, and where the run's time
   went to ``timings.json`` (set-up, data of it, training, saving).

Nothing in a step waits for the GPU on a single process: label counts come
from the host copy of the batch, and the loss and gradient norm stay on the
device until a step is logged (every ``log_every`` steps), so the host
queues the next step while the GPU computes this one.

``run.max_seconds`` adds a wall-clock budget: the loop ends at the first step
boundary past it (all ranks agree through one all-reduce per step), then saves
and exports as at the planned end; ``stopped_by_time`` tells the caller. The
LR schedule stays planned for ``total_steps``, so such a run ends mid-schedule.

``resume: auto`` continues from the newest checkpoint with the same result
as an uninterrupted run: weights and optimizer state are restored exactly, the
LR schedule is a function of the step, and the data order a function of
``(seed, epoch, samples consumed)``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.utils.data import DataLoader
from tqdm import tqdm

from aguvis.chat.tokenize import RecordTokenizer
from aguvis.chat.vision import build_image_processor
from aguvis.model.checkpoint import save_checkpoint_hf
from aguvis.model.freeze import freeze_vision_tower
from aguvis.model.load import Loaded, load_model
from aguvis.packing.attention import AttentionBackend, disable_packed_attention, enable_packed_attention
from aguvis.packing.forward import PackedLabelLossModel, compile_blocks
from aguvis.packing.prefetch import prefetch_to_device
from aguvis.packing.sequence import PackedBatch, PackedCollator, PackingSpec
from aguvis.train.checkpoint import Checkpointer, TrainerState
from aguvis.train.collator import Collator
from aguvis.train.config import TrainConfig
from aguvis.train.dataset import (
    DataPosition,
    MicroBatchIndices,
    RecordDataset,
    Sampler,
    StepSampler,
    TokenBudgetStepSampler,
    load_samples,
)
from aguvis.train.distributed import DistributedContext, init_distributed
from aguvis.train.loss import LabelLossModel, count_label_tokens
from aguvis.train.metrics import MetricsLog, StepMetrics
from aguvis.train.parallel import apply_fsdp, compute_dtype, enable_activation_checkpointing, set_tf32
from aguvis.train.preload import PatchPool, ShiftAugment, preload, token_lengths
from aguvis.train.schedule import build_scheduler
from aguvis.train.synthetic_data import make_synthetic_dataset, synthetic_records_path

logger = logging.getLogger(__name__)

TINY_MODEL = "tiny"


class Trainer:
    """Trains one stage; see the module docstring for the steps.

    ``loaded`` overrides ``config.model`` with a model bundle built in code
    (benchmarks use it for random weights of a real shape).
    """

    clock = staticmethod(time.monotonic)  # measures run.max_seconds; tests substitute a fake clock

    def __init__(
        self, config: TrainConfig, *, loaded: Loaded | None = None, dist_ctx: DistributedContext | None = None
    ) -> None:
        self.config = config
        self.dist = dist_ctx or init_distributed()
        try:
            self.setup(loaded)
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- setup

    def setup(self, loaded: Loaded | None) -> None:
        """Build everything in order; resume if a checkpoint is configured."""
        started = time.perf_counter()
        config = self.config
        self.output_dir = Path(config.run.output_dir)
        seed_everything(config.run.seed)
        self.dtype = compute_dtype(config.precision, self.dist.device)
        set_tf32(config.precision)
        self.packing = config.data.packing
        self.loaded = loaded or self.build_model()
        self.hf_model = self.loaded.model
        self.model = self.build_training_model()
        self.optimizer = self.build_optimizer()
        self.patch_pool: PatchPool | None = None  # with data.preload: every screenshot's patches, on the device
        data_started = time.perf_counter()
        self.dataset = self.build_dataset()
        self.collator = self.build_collator()
        self.sampler = self.build_sampler()
        # Where a run's time goes (timings.json): callers fitting runs into a time budget size the fixed costs
        self.timings = {"data_s": time.perf_counter() - data_started}
        self.total_steps = self.plan_steps()
        self.scheduler = build_scheduler(
            self.optimizer,
            self.total_steps,
            config.schedule.warmup_ratio,
            config.schedule.name,
            config.schedule.min_lr_ratio,
        )
        self.checkpointer = Checkpointer(self.output_dir, self.dist, keep=config.run.keep_checkpoints)
        self.metrics = MetricsLog(self.output_dir / "metrics.jsonl", enabled=self.dist.is_main)
        self.step = 0
        self.stopped_by_time = False  # set by train() when run.max_seconds ends it early
        self.position = DataPosition(unit=self.sampler.unit)
        self.step_epoch = 0  # epoch of the micro-batches in training (set by next_micro_batches)
        self.resume()
        self.metrics.truncate_after(self.step)
        self.timings["setup_s"] = time.perf_counter() - started

    def build_model(self) -> Loaded:
        """The configured model in fp32 on the CPU; sharding then moves each rank's shard to its device.

        Every rank reads the whole checkpoint first (about 30 GB of host memory
        per rank for a 7B model).
        """
        cfg = self.config
        if cfg.model.path == TINY_MODEL:
            from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer

            tokenizer = build_tiny_tokenizer()
            model = build_tiny_model(tokenizer, seed=cfg.run.seed)
            processor = build_image_processor(max_pixels=cfg.data.max_pixels, min_pixels=cfg.data.min_pixels)
            return Loaded(model=model, tokenizer=tokenizer, image_processor=processor)
        return load_model(
            cfg.model.path,
            dtype=torch.float32,
            device="cpu",
            max_pixels=cfg.data.max_pixels,
            min_pixels=cfg.data.min_pixels,
            attn_implementation=cfg.model.attn_implementation,
        )

    def build_training_model(self) -> torch.nn.Module:
        """Freeze, checkpoint activations, wrap for the label-only loss (packed or padded), shard."""
        hf_model = self.hf_model.float()
        hf_model.config.use_cache = False
        if self.config.freeze_vision:
            freeze_vision_tower(hf_model)
        if self.config.gradient_checkpointing:
            enable_activation_checkpointing(hf_model)
        hf_model.train()
        model: torch.nn.Module
        if self.packing is not None:
            self.attn_implementation = enable_packed_attention(hf_model)
            model = PackedLabelLossModel(hf_model, self.packing.attention)
            if self.config.compile:
                compile_blocks(hf_model)
        else:
            model = LabelLossModel(hf_model)
        apply_fsdp(model, hf_model, self.dist.mesh, self.dtype)
        return model

    def build_optimizer(self) -> torch.optim.AdamW:
        """AdamW over trainable parameters; biases and norm weights (1-D) get no weight decay."""
        decay, no_decay = [], []
        for param in self.model.parameters():
            if param.requires_grad:
                (no_decay if param.ndim <= 1 else decay).append(param)
        optim = self.config.optim
        groups = [
            {"params": decay, "weight_decay": optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, eps=optim.eps)

    def build_dataset(self) -> Any:
        """A :class:`RecordDataset` (tokenising lazily, in the loader) or, with
        ``data.preload``, a preloaded one whose patches are in :attr:`patch_pool`."""
        data = self.config.data
        if data.synthetic is not None:
            samples = load_samples(**self.prepare_synthetic_data())
        else:
            samples = load_samples(
                mixture=data.mixture, records=data.records, images_root=data.images_root, seed=self.config.run.seed
            )
        self.record_tokenizer = RecordTokenizer(
            self.loaded.tokenizer, self.loaded.image_processor, max_length=data.max_length
        )
        if data.preload:
            augment = data.augment
            dataset, self.patch_pool = preload(
                samples,
                self.record_tokenizer,
                device=self.dist.device,
                dtype=torch.uint8 if data.preload_dtype == "uint8" else self.dtype,
                workers=data.num_workers,
                progress=self.dist.is_main,
                augment=None
                if augment is None
                else ShiftAugment(augment.copies, augment.max_shift, augment.seed, augment.retype),
            )
            return dataset
        return RecordDataset(samples, self.record_tokenizer)

    def build_collator(self) -> Collator | PackedCollator:
        """Padding, or packing: one flat row for varlen attention (rows do not
        matter to it), rows of exactly ``data.max_length`` for the masked
        backends (static shapes, one block mask size)."""
        config = self.hf_model.config
        if self.packing is None:
            return Collator(
                pad_token_id=_pad_id(self.loaded.tokenizer),
                image_token_id=config.image_token_id,
                video_token_id=config.video_token_id,
            )
        spec = replace(PackingSpec.from_config(config), pad_token_id=_pad_id(self.loaded.tokenizer))
        pixel_dtype = self.dtype if self.dtype != torch.float32 else None
        if AttentionBackend(self.packing.attention) is AttentionBackend.VARLEN:
            return PackedCollator(spec, pad_to_multiple_of=64, pixel_dtype=pixel_dtype)
        length = self.config.data.max_length
        return PackedCollator(spec, row_length=length, pad_to=length, pixel_dtype=pixel_dtype)

    def build_sampler(self) -> Sampler:
        config = self.config
        if self.packing is None:
            return StepSampler(
                num_samples=len(self.dataset),
                micro_batch_size=config.batch.micro_batch_size,
                grad_accumulation=config.batch.grad_accumulation,
                world_size=self.dist.world_size,
                rank=self.dist.rank,
                seed=config.run.seed,
            )
        lengths = getattr(self.dataset, "lengths", None)
        if lengths is None:
            lengths = token_lengths(
                self.dataset.samples,
                self.record_tokenizer,
                workers=config.data.num_workers,
                progress=self.dist.is_main,
            )
        return TokenBudgetStepSampler(
            lengths,
            self.packing.token_budget,
            grad_accumulation=config.batch.grad_accumulation,
            world_size=self.dist.world_size,
            rank=self.dist.rank,
            seed=config.run.seed,
            lookahead=self.packing.lookahead,
        )

    def prepare_synthetic_data(self) -> dict[str, Path]:
        """Rank 0 writes the synthetic dataset under ``<output_dir>/data``; every rank reads it."""
        spec = self.config.data.synthetic
        assert spec is not None
        out = self.output_dir / "data"
        if self.dist.is_main:
            make_synthetic_dataset(out, spec.kind, spec.screens, spec.queries_per_screen, spec.seed)
        self.dist.barrier()
        return {"records": synthetic_records_path(out, spec.kind), "images_root": out}

    def plan_steps(self) -> int:
        """Optimizer steps of the run: ``max_steps``, else the whole steps of ``epochs`` epochs."""
        if self.sampler.steps_in_epoch(0) == 0:
            raise ValueError(
                f"{len(self.dataset)} training samples do not fill one optimizer step of {self.sampler.step_size()}"
            )
        if self.config.run.max_steps is not None:
            return self.config.run.max_steps
        return sum(self.sampler.steps_in_epoch(epoch) for epoch in range(self.config.run.epochs))

    def resume(self) -> None:
        """Load the checkpoint ``run.resume`` points at (``auto``: the newest, if any).

        ``none`` starts afresh and deletes the checkpoints an earlier run left
        in ``output_dir``: kept, they would be taken for this run's (its final
        export copies the checkpoint of its last step, and a stale one of the
        same step would be exported instead of the weights just trained).
        """
        choice = self.config.run.resume
        if choice == "none":
            stale = self.checkpointer.discard_all()
            if stale and self.dist.is_main:
                logger.warning(
                    "run.resume is none: deleted %d checkpoint(s) of an earlier run in %s",
                    len(stale),
                    self.checkpointer.root,
                )
            return
        path = self.checkpointer.latest() if choice == "auto" else Path(choice)
        if path is None:
            return
        state = self.checkpointer.load(path, self.model, self.optimizer)
        position = DataPosition.from_json(state.data_position)
        if position.unit != self.sampler.unit:
            raise ValueError(
                f"checkpoint {path} counts its data position in {position.unit} but this run in "
                f"{self.sampler.unit}: data.packing must be the same as in the run that wrote it"
            )
        self.scheduler.load_state_dict(state.scheduler)
        self.step = state.step
        self.position = position
        if self.dist.is_main:
            logger.info("resumed from %s at step %d", path, self.step)

    # ------------------------------------------------------------------ loop

    def train(self) -> Path:
        """Train to ``total_steps``, or until ``run.max_seconds`` runs out; return the final model folder.

        After a stop on time ``stopped_by_time`` is true and ``step`` is below
        ``total_steps``; the last step is logged and checkpointed either way.
        """
        self.write_config()
        self.stopped_by_time = False
        loop_started = time.perf_counter()
        start = self.clock()
        stream = self.micro_batch_stream()
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step", disable=not self.dist.is_main)
        window = _Window(time.perf_counter())
        while self.step < self.total_steps:
            step = self.train_step(self.next_micro_batches(stream))
            window.add(step)
            out_of_time = self.out_of_time(start)
            bar.update(1)
            if self.step % self.config.run.log_every == 0 or self.step == self.total_steps or out_of_time:
                metrics = self.resolve(step, window)
                window = _Window(time.perf_counter())
                bar.set_postfix(loss=f"{metrics.loss:.4f}", lr=f"{metrics.lr:.2e}")
                self.metrics.write(metrics)
            save_every = self.config.run.save_every
            if save_every and self.step % save_every == 0:
                self.save_checkpoint()
            if out_of_time:
                self.stopped_by_time = self.step < self.total_steps
                break
        bar.close()
        if self.stopped_by_time and self.dist.is_main:
            logger.info(
                "time budget of %gs reached: stopped at step %d of %d",
                self.config.run.max_seconds,
                self.step,
                self.total_steps,
            )
        saving_started = time.perf_counter()
        self.timings["train_s"] = saving_started - loop_started
        if self.checkpointer.latest() != self.checkpointer.step_dir(self.step):
            self.save_checkpoint()
        final = self.export_final_model()
        self.timings["export_s"] = time.perf_counter() - saving_started
        if self.dist.is_main:
            timings = {name: round(seconds, 3) for name, seconds in self.timings.items()}
            (self.output_dir / "timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
        return final

    def out_of_time(self, start: float) -> bool:
        """Whether ``run.max_seconds`` have passed since ``start`` (a :attr:`clock` reading) on any rank.

        Ranks decide together (a sum over ranks), so none stops while the
        others wait in a collective of the next step.
        """
        budget = self.config.run.max_seconds
        if budget is None:
            return False
        (late,) = self.dist.all_reduce_sum([float(self.clock() - start >= budget)])
        return late > 0

    def next_micro_batches(self, stream: Iterator[Any]) -> list[Any]:
        """The ``grad_accumulation`` micro-batches of the next step; advances the
        data position and remembers the epoch they belong to (``step_epoch``)."""
        self.step_epoch = self.position.epoch
        batches = []
        for _ in range(self.config.batch.grad_accumulation):
            batches.append(next(stream))
            self.position = self.sampler.advance(self.position)
        return batches

    def micro_batch_stream(self) -> Iterator[Any]:
        """This rank's micro-batches, epoch after epoch, starting at ``self.position``.

        Padded batches stay on the host (:meth:`forward_backward_step` moves
        them); packed ones are copied to the device one batch ahead, on a side
        stream (:func:`~aguvis.packing.prefetch.prefetch_to_device`).
        """
        if self.config.data.num_workers > 0:
            # Forked loader workers must not share the tokenizer's thread pool.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

        def host_batches() -> Iterator[Any]:
            position = self.position
            while True:
                loader = DataLoader(
                    self.dataset,
                    batch_sampler=MicroBatchIndices(self.sampler, position),
                    collate_fn=self.collator,
                    num_workers=self.config.data.num_workers,
                    pin_memory=self.dist.device.type == "cuda",
                    prefetch_factor=4 if self.config.data.num_workers > 0 else None,
                )
                yield from loader
                position = DataPosition(position.epoch + 1, 0, self.sampler.unit)

        if self.packing is None:
            return host_batches()
        return prefetch_to_device(host_batches(), self.dist.device)

    def train_step(self, micro_batches: list[Any]) -> StepResult:
        """One optimizer step over ``micro_batches``.

        Returns its loss and gradient norm still on the device (see
        :meth:`resolve`) and its token counts, global over ranks.
        """
        epoch = self.step_epoch
        counts = [_counts(b) for b in micro_batches]
        label_tokens, tokens, samples = self.dist.all_reduce_sum([sum(c[i] for c in counts) for i in range(3)])
        loss_sum = torch.zeros((), dtype=torch.float32, device=self.dist.device)
        for batch in micro_batches:
            loss_sum += self.forward_backward_step(batch, label_tokens)
        grad_norm = self.clip_gradients()
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return StepResult(self.step, epoch, loss_sum, grad_norm, lr, int(label_tokens), int(tokens), int(samples))

    def resolve(self, step: StepResult, window: _Window) -> StepMetrics:
        """Metrics of ``step``, read back from the device (every rank takes
        part: the loss is summed over ranks); timings are per step over
        ``window``, the steps since the previous logged one."""
        (total_loss,) = self.dist.all_reduce_sum([float(step.loss_sum)])
        grad_norm = float(step.grad_norm)
        if self.dist.device.type == "cuda":
            torch.cuda.synchronize(self.dist.device)
        elapsed = max(time.perf_counter() - window.start, 1e-9)
        return StepMetrics(
            step=step.step,
            loss=total_loss / max(step.label_tokens, 1.0),
            lr=step.lr,
            grad_norm=grad_norm,
            label_tokens=step.label_tokens,
            tokens=step.tokens,
            samples=step.samples,
            tokens_per_s=window.tokens / elapsed,
            step_time_s=elapsed / window.steps,
            epoch=step.epoch,
        )

    def forward_backward_step(self, batch: Any, step_label_tokens: float) -> torch.Tensor:
        """Forward and backward one micro-batch; return its (detached) summed token loss.

        The backward pass uses ``sum * world_size / step_label_tokens``: FSDP
        averages gradients over ranks, so the world size cancels and the step's
        gradient is that of the mean over all its label tokens.
        """
        if isinstance(batch, PackedBatch):
            loss_sum = self.model(batch.with_pixels(self.patch_pool) if self.patch_pool is not None else batch)
        else:
            loss_sum = self.model(**self.to_device(batch))
        scale = self.dist.world_size / max(step_label_tokens, 1.0)
        (loss_sum * scale).backward()
        return loss_sum.detach()

    def clip_gradients(self) -> torch.Tensor:
        """Clip to ``optim.grad_clip`` (0: no clipping); return the global norm before clipping, on the device."""
        params = [p for p in self.model.parameters() if p.requires_grad and p.grad is not None]
        max_norm = self.config.optim.grad_clip or float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        return norm.detach()

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v.to(self.dist.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
        }

    # ------------------------------------------------------------ outputs

    def trainer_state(self) -> TrainerState:
        scheduler = self.scheduler.state_dict()
        scheduler["lr_lambdas"] = [None] * len(scheduler["lr_lambdas"])
        return TrainerState(
            step=self.step,
            data_position=self.position.to_json(),
            scheduler=scheduler,
            world_size=self.dist.world_size,
        )

    def save_checkpoint(self) -> Path:
        return self.checkpointer.save(self.model, self.optimizer, self.trainer_state(), self.export_model)

    def export_model(self, path: Path) -> None:
        """Gather the full weights on rank 0 and write them in Hugging Face format (collective)."""
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        full = get_model_state_dict(self.model, options=options)
        if not self.dist.is_main:
            return
        prefix = "model."
        weights = {k[len(prefix) :]: v for k, v in full.items() if k.startswith(prefix)}
        if self.packing is not None:  # the saved config names the model's own attention, not the training kernel
            disable_packed_attention(self.hf_model, self.attn_implementation)
        try:
            save_checkpoint_hf(
                self.hf_model,
                self.loaded.tokenizer,
                self.loaded.image_processor,
                path,
                state_dict=weights,
                dtype=self.dtype,
            )
        finally:
            if self.packing is not None:
                enable_packed_attention(self.hf_model)

    def export_final_model(self) -> Path:
        """Copy the last checkpoint's model to ``<output_dir>/model`` (rank 0)."""
        final = self.output_dir / "model"
        if self.dist.is_main:
            source = self.checkpointer.step_dir(self.step) / "model"
            tmp = final.with_name(f".{final.name}.tmp")
            if tmp.exists():
                shutil.rmtree(tmp)
            shutil.copytree(source, tmp)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        self.dist.barrier()
        return final

    def write_config(self) -> None:
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            text = yaml.safe_dump(self.config.to_dict(), sort_keys=False)
            (self.output_dir / "config.yaml").write_text(text, encoding="utf-8")

    def close(self) -> None:
        """Release the process group if this trainer created it."""
        self.dist.close()


@dataclass
class StepResult:
    """An optimizer step whose loss and gradient norm may still be on the device."""

    step: int
    epoch: int
    loss_sum: torch.Tensor
    grad_norm: torch.Tensor
    lr: float
    label_tokens: int
    tokens: int
    samples: int


@dataclass
class _Window:
    """Steps since the last logged one, for per-step timings that need no synchronisation."""

    start: float
    steps: int = 0
    tokens: int = 0

    def add(self, step: StepResult) -> None:
        self.steps += 1
        self.tokens += step.tokens


def _counts(batch: Any) -> tuple[int, int, int]:
    """(label tokens, real tokens, samples) of a micro-batch, read from its host copy."""
    if isinstance(batch, PackedBatch):
        return batch.num_label_tokens, batch.num_tokens, batch.num_samples
    mask = batch["attention_mask"]
    return count_label_tokens(batch["labels"]), int(mask.sum()), int(mask.shape[0])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)
