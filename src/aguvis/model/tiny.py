"""A tiny random Qwen2-VL for tests, the demo and CPU experiments.

Same architecture as the real checkpoints (vision transformer with 14-pixel
patches, 2x2 patch merger, M-RoPE decoder), a few hundred thousand parameters,
so a training step takes milliseconds on a CPU and everything runs offline.

``TINY_CONFIG`` holds the shape. The decoder's head dimension is
``hidden_size / num_attention_heads = 64 / 4 = 16``; M-RoPE splits the half
head dimension (8 rotary frequencies) into temporal/height/width sections
``(2, 3, 3)``, the same 1 : 1.5 : 1.5 ratio as Qwen2-VL's ``(16, 24, 24)`` of 64.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase, Qwen2VLConfig, Qwen2VLForConditionalGeneration

from aguvis.model.absolute_positions import POSITION_CODE_KEY, POSITION_GRID_KEY, Qwen2VLWithAbsolutePositions
from aguvis.model.tiny_tokenizer import build_tiny_tokenizer

__all__ = ["TINY_CONFIG", "TinyConfig", "build_tiny_model", "build_tiny_tokenizer", "tiny_qwen2_vl_config"]


@dataclass(frozen=True)
class TinyConfig:
    """Shape of the tiny model; pass any field to ``build_tiny_model`` to change it."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 128
    mrope_section: tuple[int, int, int] = (2, 3, 3)
    vision_depth: int = 2
    vision_embed_dim: int = 32
    vision_num_heads: int = 2
    vision_mlp_ratio: int = 2
    patch_size: int = 14
    temporal_patch_size: int = 2
    spatial_merge_size: int = 2
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = False
    rope_theta: float = 1_000_000.0  # Qwen2-VL's; smaller gives the image rows and columns faster rotations
    absolute_position_grid: int = 0  # > 0: a learned grid of that side in the tower (aguvis.model.absolute_positions)
    absolute_position_code: int = 0  # > 0: a Fourier code of that many frequencies at the merger (same module)


TINY_CONFIG = TinyConfig()


def tiny_qwen2_vl_config(tokenizer: PreTrainedTokenizerBase, shape: TinyConfig = TINY_CONFIG) -> Qwen2VLConfig:
    """A ``Qwen2VLConfig`` of the given shape whose special ids come from ``tokenizer``."""
    head_dim = shape.hidden_size // shape.num_attention_heads
    if 2 * sum(shape.mrope_section) != head_dim:
        raise ValueError(
            f"mrope_section {shape.mrope_section} must sum to head_dim/2 = {head_dim // 2} "
            f"(hidden_size {shape.hidden_size} / num_attention_heads {shape.num_attention_heads} / 2)"
        )
    ids = {name: _token_id(tokenizer, token) for name, token in _SPECIAL_IDS.items()}
    return Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=shape.hidden_size,
            intermediate_size=shape.intermediate_size,
            num_hidden_layers=shape.num_hidden_layers,
            num_attention_heads=shape.num_attention_heads,
            num_key_value_heads=shape.num_key_value_heads,
            max_position_embeddings=shape.max_position_embeddings,
            max_window_layers=shape.num_hidden_layers,
            rms_norm_eps=1e-6,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": float(shape.rope_theta),
                "mrope_section": list(shape.mrope_section),
            },
            bos_token_id=ids["bos_token_id"],
            eos_token_id=ids["eos_token_id"],
            pad_token_id=tokenizer.pad_token_id,
            use_cache=False,
        ),
        vision_config=dict(
            depth=shape.vision_depth,
            embed_dim=shape.vision_embed_dim,
            hidden_size=shape.hidden_size,
            num_heads=shape.vision_num_heads,
            mlp_ratio=shape.vision_mlp_ratio,
            patch_size=shape.patch_size,
            temporal_patch_size=shape.temporal_patch_size,
            spatial_merge_size=shape.spatial_merge_size,
            **({POSITION_GRID_KEY: shape.absolute_position_grid} if shape.absolute_position_grid else {}),
            **({POSITION_CODE_KEY: shape.absolute_position_code} if shape.absolute_position_code else {}),
        ),
        image_token_id=ids["image_token_id"],
        video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"],
        vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=shape.tie_word_embeddings,
    )


def build_tiny_model(
    tokenizer: PreTrainedTokenizerBase, seed: int = 0, **overrides: object
) -> Qwen2VLForConditionalGeneration:
    """A randomly initialised tiny Qwen2-VL, identical for identical (tokenizer, seed, overrides).

    ``overrides`` are :class:`TinyConfig` fields, e.g. ``num_hidden_layers=3``.
    The global torch RNG is left as it was.
    """
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(TinyConfig)})
    if unknown:
        raise TypeError(f"unknown tiny model option(s): {', '.join(unknown)}")
    shape = dataclasses.replace(TINY_CONFIG, **overrides)
    config = tiny_qwen2_vl_config(tokenizer, shape)
    config._attn_implementation = "sdpa"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        absolute = shape.absolute_position_grid or shape.absolute_position_code
        model = (Qwen2VLWithAbsolutePositions if absolute else Qwen2VLForConditionalGeneration)(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    vocab = tokenizer.get_vocab()
    model.generation_config.eos_token_id = [vocab[t] for t in ("<|diff_marker|>", "<|im_end|>") if t in vocab]
    return model.eval()


_SPECIAL_IDS = {
    "bos_token_id": "<|endoftext|>",
    "eos_token_id": "<|im_end|>",
    "image_token_id": "<|image_pad|>",
    "video_token_id": "<|video_pad|>",
    "vision_start_token_id": "<|vision_start|>",
    "vision_end_token_id": "<|vision_end|>",
}


def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(f"tokenizer has no special token {token}")
    return int(token_id)
