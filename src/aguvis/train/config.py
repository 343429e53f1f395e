"""Training configuration: typed nested dataclasses read from YAML.

A config file mirrors the dataclasses below, one YAML mapping per section::

    model: {path: models/Qwen2-VL-7B-Instruct}
    data: {mixture: configs/mixtures/stage1.yaml}
    optim: {lr: 1.0e-5}
    run: {output_dir: runs/stage1}

Anything left out takes the default written here (the Aguvis recipe). Unknown
keys and values of the wrong type are errors that name the YAML file and the
dotted key, so a typo never silently trains with a default. Command-line
overrides use the same dotted keys: ``--set optim.lr=2e-5`` (the value is read
as YAML, so ``2e-5``, ``true``, ``null`` and ``[0.9, 0.95]`` work).

Relative paths (model, data, output) are taken relative to the directory the
command runs in, as for any command-line tool; entries inside a mixture file
resolve against that mixture file's folder.

This module imports neither torch nor transformers, so ``aguvis train --help``
and config validation stay fast.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

Precision = Literal["auto", "bf16", "fp32", "tf32"]
PreloadDtype = Literal["compute", "uint8"]
ScheduleName = Literal["cosine", "constant"]
SyntheticKind = Literal["grounding", "planning"]
AttentionName = Literal["varlen", "flex", "sdpa"]


class ConfigError(ValueError):
    """A config file or override that cannot be used; says which file and key."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        self.source = source
        self.key = key
        prefix = "".join(f"{part}: " for part in (source, key) if part)
        super().__init__(prefix + message)


@dataclass
class ModelConfig:
    """Which weights to start from.

    ``path`` is a local Hugging Face directory (Qwen2-VL or Qwen2.5-VL, or an
    earlier stage's output) or the word ``tiny`` for the random offline test
    model. Nothing is ever downloaded.
    """

    path: str = "models/Qwen2-VL-7B-Instruct"
    attn_implementation: str = "sdpa"


@dataclass
class SyntheticConfig:
    """Generated toy data (``aguvis.train.synthetic_data``) for tiny runs.

    ``kind`` ``grounding`` makes stage-1 records (``queries_per_screen`` per
    screenshot), ``planning`` stage-2 records with an inner monologue. The
    data is written under ``<run.output_dir>/data``.
    """

    kind: SyntheticKind = "grounding"
    screens: int = 64
    queries_per_screen: int = 3
    seed: int = 0


@dataclass
class PackingConfig:
    """Sequence packing (``aguvis.packing.sequence``): a micro-batch is every
    sample that fits in ``token_budget`` tokens, laid end to end in one row,
    with positions and attention per sample, so it computes what the samples
    compute alone and no token is padding. ``batch.micro_batch_size`` is then
    unused. ``attention`` picks the kernel (``benchmarks/packing.py`` measures
    them; ``varlen`` was fastest on an H100, and on a CPU every backend runs
    an exact per-sample reference). ``lookahead``: how many upcoming samples
    the best-fit packer may choose from.
    """

    token_budget: int = 16384
    attention: AttentionName = "varlen"
    lookahead: int = 64


@dataclass
class AugmentConfig:
    """Shift augmentation of preloaded screens (``aguvis.data.augment``):
    ``copies`` extra copies of every single-screen sample, each with its
    screen moved by a random offset of at most ``max_shift`` of the width and
    height (drawn from ``seed``, the same for every sample on one screen) and
    its actions' coordinates moved with it. Against a small model remembering
    where targets usually are instead of finding them. ``retype``: each copy
    of a record with ``hidden_text`` also gets fresh letters there
    (:func:`aguvis.data.augment.retype_record`), against recalling typed
    strings instead of copying them from the goal.
    """

    copies: int = 3
    max_shift: float = 0.12
    seed: int = 0
    retype: bool = True


@dataclass
class DataConfig:
    """Where records come from and how they are tokenised.

    Give exactly one of ``mixture`` (an upstream-style mixture YAML),
    ``records`` (one JSON/JSONL record file, with ``images_root``: the folder
    its image paths are relative to) or ``synthetic``.

    ``packing`` (a :class:`PackingConfig`, or ``null`` for padded batches of
    ``batch.micro_batch_size`` samples) and ``preload``: tokenise every record
    once, before training, in ``num_workers`` processes, and keep every
    screenshot's patches on the training device (about 1.5 MB of bf16 per
    320x420 screen, 13 MB per 1280x720 one), so a step costs the data loader
    almost nothing. For data sets whose screenshots fit in device memory
    (synthetic or online-environment data); needs ``packing``. ``augment``
    (an :class:`AugmentConfig`) adds shifted copies of the preloaded samples.
    ``preload_dtype``: what the pool keeps the patches in; ``compute`` (the
    dtype the vision tower computes in) or ``uint8``: the resized screens'
    colour levels, one byte a value (a quarter of fp32, half of bf16),
    normalised in fp32 as each step gathers them, so the tower sees the
    processor's patches to within fp32 rounding.
    """

    mixture: str | None = None
    records: str | None = None
    images_root: str | None = None
    synthetic: SyntheticConfig | None = None
    max_length: int = 8192
    max_pixels: int = 1280 * 720
    min_pixels: int = 56 * 56
    num_workers: int = 2
    packing: PackingConfig | None = None
    preload: bool = False
    preload_dtype: PreloadDtype = "compute"
    augment: AugmentConfig | None = None


@dataclass
class OptimConfig:
    """AdamW settings; ``grad_clip`` is the max global L2 norm (0 disables)."""

    lr: float = 1e-5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float = 1.0


@dataclass
class ScheduleConfig:
    """Learning-rate shape over the run: linear warm-up, then cosine decay."""

    name: ScheduleName = "cosine"
    warmup_ratio: float = 0.03
    min_lr_ratio: float = 0.0


@dataclass
class BatchConfig:
    """Per-rank micro-batch and accumulation; global batch = micro x accum x world size."""

    micro_batch_size: int = 1
    grad_accumulation: int = 16


@dataclass
class RunConfig:
    """Length, seeding, logging, checkpointing and resumption of a run.

    ``max_steps`` (optimizer steps) wins over ``epochs`` when set. ``resume``
    is ``auto`` (the newest complete checkpoint under ``output_dir``, or a fresh
    start when there is none), ``none`` (always fresh) or a checkpoint folder.
    ``save_every`` 0 saves only at the end.

    ``max_seconds`` is an optional wall-clock budget for the training loop of
    one invocation (data loading and periodic checkpoints included; model
    building before the loop and the final save after it not). Training stops
    at the first optimizer-step boundary at or past the budget, logs that step,
    saves the final checkpoint and exports the model as usual. The learning-rate
    schedule is still planned for the full ``max_steps``/``epochs``: a run cut
    short by time ends part-way along the cosine (the LR has not decayed to its
    minimum), and a later ``resume`` continues on the same curve with a fresh
    budget. To end the schedule on time, pick ``max_steps`` that fit.
    """

    output_dir: str = "runs/train"
    epochs: int = 1
    max_steps: int | None = None
    max_seconds: float | None = None
    seed: int = 42
    log_every: int = 1
    save_every: int = 500
    keep_checkpoints: int = 2
    resume: str = "auto"


@dataclass
class TrainConfig:
    """A whole training run (one stage of the recipe).

    ``precision`` ``auto`` means bf16 mixed precision on a GPU (fp32 master
    weights, bf16 compute) and plain fp32 on a CPU; ``fp32`` everywhere (a
    small model learning to point from random weights left its loss plateau
    in fp32 and not in bf16: benchmarks/README.md, MiniWoB++; with packing,
    pick the ``sdpa`` attention then, since the flash kernels take bf16
    only); ``tf32`` is fp32 whose matrix products run on a GPU's TF32
    tensor cores (fp32 range and accumulation, a 10-bit mantissa in the
    products; on a CPU the same as fp32). ``freeze_vision`` freezes
    the vision transformer but keeps its patch merger (the projector into the
    language model) trainable, as upstream Aguvis does. ``compile``
    ``torch.compile``s each decoder layer and vision block (with
    ``data.packing``; pays off on long runs of large models).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    run: RunConfig = field(default_factory=RunConfig)
    precision: Precision = "auto"
    gradient_checkpointing: bool = True
    freeze_vision: bool = True
    compile: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-able dict (tuples become lists)."""
        return _plain(dataclasses.asdict(self))


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config, apply ``key=value`` overrides, validate everything."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", source=str(path)) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", source=str(path)) from None
    if raw is None:
        raw = {}
    config = from_dict(raw, source=str(path))
    return apply_overrides(config, overrides)


def from_dict(raw: Any, *, source: str | None = None) -> TrainConfig:
    """Build a :class:`TrainConfig` from nested dicts, rejecting unknown keys."""
    config = _build(TrainConfig, raw, source=source, prefix="")
    check(config, source=source)
    return config


def apply_overrides(config: TrainConfig, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
    """Return a new config with each ``dotted.key=yaml_value`` applied in order."""
    raw = config.to_dict()
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value", source="--set")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"value {text!r} is not valid YAML: {err}", source="--set", key=key) from None
        node = raw
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            if part in node and node[part] is None:
                raise ConfigError(f"is null; set the whole section, e.g. {where}={{...}}", source="--set", key=where)
            child = node.get(part)
            if not isinstance(child, dict):
                raise ConfigError("unknown key", source="--set", key=where)
            node = child
        if parts[-1] not in node:
            raise ConfigError("unknown key", source="--set", key=key)
        node[parts[-1]] = value
    return from_dict(raw, source="--set" if overrides else None)


def check(config: TrainConfig, *, source: str | None = None) -> None:
    """Cross-field rules that single types cannot express."""
    data = config.data
    sources = [data.mixture is not None, data.records is not None, data.synthetic is not None]
    if sum(sources) != 1:
        raise ConfigError(
            "give exactly one of data.mixture, data.records and data.synthetic", source=source, key="data"
        )
    if data.records is not None and data.images_root is None:
        raise ConfigError("data.records needs data.images_root", source=source, key="data.images_root")
    positive = {
        "data.max_length": data.max_length,
        "data.max_pixels": data.max_pixels,
        "batch.micro_batch_size": config.batch.micro_batch_size,
        "batch.grad_accumulation": config.batch.grad_accumulation,
        "run.epochs": config.run.epochs,
        "run.log_every": config.run.log_every,
        "run.keep_checkpoints": config.run.keep_checkpoints,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"must be positive, got {value}", source=source, key=key)
    if config.run.max_steps is not None and config.run.max_steps <= 0:
        raise ConfigError(f"must be positive or null, got {config.run.max_steps}", source=source, key="run.max_steps")
    if config.run.max_seconds is not None and config.run.max_seconds <= 0:
        raise ConfigError(
            f"must be positive or null, got {config.run.max_seconds}", source=source, key="run.max_seconds"
        )
    if config.run.save_every < 0:
        raise ConfigError("must be >= 0", source=source, key="run.save_every")
    if data.synthetic is not None and min(data.synthetic.screens, data.synthetic.queries_per_screen) <= 0:
        raise ConfigError("screens and queries_per_screen must be positive", source=source, key="data.synthetic")
    if data.min_pixels > data.max_pixels:
        raise ConfigError("must not exceed data.max_pixels", source=source, key="data.min_pixels")
    if not 0.0 <= config.schedule.warmup_ratio < 1.0:
        raise ConfigError("must be in [0, 1)", source=source, key="schedule.warmup_ratio")
    if not 0.0 <= config.schedule.min_lr_ratio <= 1.0:
        raise ConfigError("must be in [0, 1]", source=source, key="schedule.min_lr_ratio")
    if config.optim.lr <= 0:
        raise ConfigError("must be positive", source=source, key="optim.lr")
    if data.packing is not None:
        for name in ("token_budget", "lookahead"):
            if getattr(data.packing, name) <= 0:
                raise ConfigError("must be positive", source=source, key=f"data.packing.{name}")
        if data.packing.token_budget < data.max_length:
            raise ConfigError(
                f"must be at least data.max_length ({data.max_length}), or the longest samples fit no micro-batch",
                source=source,
                key="data.packing.token_budget",
            )
    if data.preload and data.packing is None:
        raise ConfigError("needs data.packing (preloaded samples are packed)", source=source, key="data.preload")
    if data.augment is not None:
        if not data.preload:
            raise ConfigError(
                "needs data.preload (shifted screens are made while preloading)", source=source, key="data.augment"
            )
        if data.augment.copies < 0:
            raise ConfigError("must be >= 0", source=source, key="data.augment.copies")
        if not 0.0 < data.augment.max_shift < 1.0:
            raise ConfigError("must be in (0, 1)", source=source, key="data.augment.max_shift")
    if config.compile and data.packing is None:
        raise ConfigError("needs data.packing (compiled blocks run the packed forward)", source=source, key="compile")


def _build(cls: type, raw: Any, *, source: str | None, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping, got {type(raw).__name__}", source=source, key=prefix or None)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(f"unknown key (known: {', '.join(sorted(known))})", source=source, key=key)
    values = {}
    for name, value in raw.items():
        key = f"{prefix}{name}"
        hint = hints[name]
        section = _dataclass_in(hint)
        if section is not None and not (value is None and _optional(hint)):
            values[name] = _build(section, value if value is not None else {}, source=source, prefix=f"{key}.")
        else:
            values[name] = _coerce(value, hint, source=source, key=key)
    return cls(**values)


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass type of a section hint (``X`` or ``X | None``), else ``None``."""
    if dataclasses.is_dataclass(hint):
        return hint
    if get_origin(hint) in (Union, types.UnionType):
        found = [arg for arg in get_args(hint) if dataclasses.is_dataclass(arg)]
        return found[0] if found else None
    return None


def _optional(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)


def _coerce(value: Any, hint: Any, *, source: str | None, key: str) -> Any:
    """Check ``value`` against a type hint; ints are accepted where floats are expected."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, source=source, key=key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise ConfigError(f"expected one of {list(allowed)}, got {value!r}", source=source, key=key)
        return value
    if origin is tuple:
        item_types = get_args(hint)
        if not isinstance(value, (list, tuple)) or len(value) != len(item_types):
            raise ConfigError(f"expected a list of {len(item_types)} values, got {value!r}", source=source, key=key)
        return tuple(
            _coerce(v, t, source=source, key=f"{key}[{i}]")
            for i, (v, t) in enumerate(zip(value, item_types, strict=True))
        )
    if hint is float:
        if isinstance(value, str):
            value = _float_text(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"expected a number, got {value!r}", source=source, key=key)
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {value!r}", source=source, key=key)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {value!r}", source=source, key=key)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {value!r}", source=source, key=key)
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _float_text(text: str) -> float | str:
    """``"2e-5"`` -> ``2e-05``: PyYAML (YAML 1.1) reads exponents without a dot as strings."""
    try:
        return float(text)
    except ValueError:
        return text


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
