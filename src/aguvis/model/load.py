"""Load Qwen2-VL-family checkpoints from a local directory.

Only local folders are read (``local_files_only``): training machines often
have no internet, and a typo must not turn into a silent download. A folder
needs ``config.json``, weights (``model.safetensors``, a sharded
``model.safetensors.index.json`` or the ``pytorch_model.bin`` equivalents) and
tokenizer files (``tokenizer.json``, or ``vocab.json`` with ``merges.txt``).

The tokenizer gets Aguvis' ``<|recipient|>`` and ``<|diff_marker|>`` tokens
when it lacks them. Qwen2-VL's embedding matrix (151936 rows) is larger than
its tokenizer (151657 tokens), so the two new ids (151657, 151658) usually fit
without resizing; the embeddings grow only when they do not, and the new rows
start at the mean of the old ones (as upstream Aguvis initialises them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aguvis.chat.vision import MAX_PIXELS, MIN_PIXELS, build_image_processor, saved_normalisation
from aguvis.model.checkpoint import save_checkpoint_hf
from aguvis.model.freeze import freeze_vision_tower
from aguvis.model.tiny_tokenizer import add_agent_special_tokens

__all__ = [
    "CheckpointFilesError",
    "Loaded",
    "freeze_vision_tower",
    "grow_embeddings",
    "load_model",
    "model_class_for",
    "save_checkpoint_hf",
]

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")


class CheckpointFilesError(FileNotFoundError):
    """A model directory that lacks a file ``load_model`` needs; the message names it."""


@dataclass
class Loaded:
    """A model with the tokenizer and image processor that go with it."""

    model: Any
    tokenizer: Any
    image_processor: Any


def load_model(
    path: str | Path,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    max_pixels: int = MAX_PIXELS,
    attn_implementation: str = "sdpa",
    min_pixels: int = MIN_PIXELS,
) -> Loaded:
    """Load model, tokenizer and image processor from the local directory ``path``.

    ``dtype`` ``None`` keeps the dtype the checkpoint was saved in. The image
    processor is Qwen2-VL's PIL one (no torchvision needed) capped at
    ``max_pixels``, with the pixel normalisation saved in the folder's
    ``preprocessor_config.json`` (Qwen2-VL's when there is none); its patch
    geometry is checked against the model's.
    """
    from transformers import AutoConfig, AutoTokenizer

    path = Path(path)
    check_model_dir(path)
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    cls = model_class_for(config, path)
    model = cls.from_pretrained(
        path,
        dtype=dtype if dtype is not None else "auto",
        attn_implementation=attn_implementation,
        local_files_only=True,
    )
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    add_agent_special_tokens(tokenizer)
    grow_embeddings(model, len(tokenizer))
    normalisation = saved_normalisation(path)
    try:
        image_processor = build_image_processor(max_pixels=max_pixels, min_pixels=min_pixels, **normalisation)
    except ValueError as err:
        raise ValueError(f"{path}/preprocessor_config.json: {err}") from err
    _check_vision_geometry(config, image_processor, path)
    return Loaded(model=model.to(device), tokenizer=tokenizer, image_processor=image_processor)


def check_model_dir(path: Path) -> None:
    """Raise :class:`CheckpointFilesError` naming the first missing file."""
    if not path.is_dir():
        raise CheckpointFilesError(f"{path}: no such model directory (only local directories are loaded)")
    if not (path / "config.json").is_file():
        raise CheckpointFilesError(f"{path}: missing config.json")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointFilesError(f"{path}: missing weights (one of {', '.join(WEIGHT_FILES)})")
    has_fast = (path / "tokenizer.json").is_file()
    has_bpe = (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
    if not (has_fast or has_bpe):
        half = [name for name in ("vocab.json", "merges.txt") if not (path / name).is_file()]
        missing = half[0] if len(half) == 1 else "tokenizer.json"
        raise CheckpointFilesError(
            f"{path}: missing tokenizer file {missing} (needs tokenizer.json, or vocab.json + merges.txt)"
        )


def model_class_for(config: Any, path: Path | None = None) -> type:
    """The transformers class for a Qwen2-VL (``qwen2_vl``) or Qwen2.5-VL (``qwen2_5_vl``) config; a
    Qwen2-VL whose vision config has an absolute position grid gets
    :class:`aguvis.model.absolute_positions.Qwen2VLWithAbsolutePositions`."""
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    from aguvis.model.absolute_positions import Qwen2VLWithAbsolutePositions, position_code_size, position_grid_size

    classes = {"qwen2_vl": Qwen2VLForConditionalGeneration, "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}
    if config.model_type not in classes:
        where = f"{path}/config.json: " if path is not None else ""
        raise ValueError(
            f"{where}model_type {config.model_type!r} is not supported (expected one of {SUPPORTED_MODEL_TYPES})"
        )
    if config.model_type == "qwen2_vl" and (position_grid_size(config) > 0 or position_code_size(config) > 0):
        return Qwen2VLWithAbsolutePositions
    return classes[config.model_type]


def grow_embeddings(model: Any, vocab_size: int) -> bool:
    """Make the embeddings hold ``vocab_size`` ids; return whether they had to grow.

    Never shrinks (Qwen2-VL's matrix is padded beyond its tokenizer on
    purpose). New input and output rows are set to the mean of the old rows,
    which leaves the output distribution over old tokens nearly unchanged.
    """
    old = model.get_input_embeddings().weight.shape[0]
    if vocab_size <= old:
        return False
    model.resize_token_embeddings(vocab_size, mean_resizing=False)
    with torch.no_grad():
        for embedding in _distinct_embeddings(model):
            weight = embedding.weight
            weight[old:] = weight[:old].mean(dim=0, keepdim=True)
    return True


def _distinct_embeddings(model: Any) -> list[nn.Module]:
    modules = [model.get_input_embeddings()]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not modules[0].weight:
        modules.append(output)
    return modules


def _check_vision_geometry(config: Any, image_processor: Any, path: Path) -> None:
    vision = config.vision_config
    expected = {
        "patch_size": vision.patch_size,
        "merge_size": vision.spatial_merge_size,
        "temporal_patch_size": vision.temporal_patch_size,
    }
    for name, value in expected.items():
        if getattr(image_processor, name) != value:
            raise ValueError(
                f"{path}/config.json: vision {name} {value} differs from the image processor's "
                f"{getattr(image_processor, name)}"
            )
