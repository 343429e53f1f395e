"""Qwen2-VL whose image tokens carry where they are on the screen.

Qwen2-VL sees positions only through rotary embeddings: in the vision tower
(2-D RoPE) and in the decoder (M-RoPE). Rotary embeddings act on queries and
keys, never on values, so attention can *prefer* a place but what it reads
out carries no position: a patch's features are the same wherever its
content is. To answer "click the square" with ``x=0.4312`` the decoder must
read a position off the image tokens it attends to, and nothing in the
architecture hands it one (M-RoPE also gives the width the slowest
frequencies: with Qwen2-VL's base of 10^6 a column turns its section by under
2e-4 radians). Pretrained checkpoints learned it anyway, from vast data; a
small model trained from random weights in minutes sits at the
no-information loss until it finds a way, or never does
(``scripts/pointing_check.py``; benchmarks/README.md, MiniWoB++).

Two absolute signals, each switched on by a key of the vision config (0 or
absent: plain Qwen2-VL); checkpoints stay ``qwen2_vl`` checkpoints with one
more tensor each:

- ``absolute_position_grid: G`` adds, as Qwen3-VL's vision tower does, a
  learned G x G grid of embeddings, resampled to each image's patch grid, to
  the patch embeddings (``model.visual.absolute_positions.weight``). Its
  entries start at the scale of 0.02 against patch features of about 0.7,
  so the signal has to grow before it is used.
- ``absolute_position_code: K`` adds to each merged image token, after the
  merger, a learned linear map of fixed Fourier features of the token's
  centre (sin and cos of pi*k*x and pi*k*y, k = 1..K, x and y as fractions of
  the image, like the coordinates the model answers with;
  ``model.visual.merger.position_code.weight``, part of the merger so that it
  trains wherever the projector does). The decoder's image tokens then carry
  a smooth code of their place from the first step. On the pointing check
  it takes the loss off the plateau within 100 steps on every seed tried,
  where without it (grid or not) leaving the plateau was up to the seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Qwen2VLForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs
from transformers.vision_utils import get_vision_attention_seqlens, get_vision_position_ids

__all__ = [
    "POSITION_CODE_KEY",
    "POSITION_GRID_KEY",
    "Qwen2VLWithAbsolutePositions",
    "fourier_features",
    "merged_token_centres",
    "position_code_size",
    "position_grid_size",
]

POSITION_GRID_KEY = "absolute_position_grid"
POSITION_CODE_KEY = "absolute_position_code"


def position_grid_size(config) -> int:
    """The side of ``config``'s (a ``Qwen2VLConfig``) absolute position grid; 0 when it has none."""
    return int(getattr(config.vision_config, POSITION_GRID_KEY, 0) or 0)


def position_code_size(config) -> int:
    """Frequencies per axis of ``config``'s position code at the merger; 0 when it has none."""
    return int(getattr(config.vision_config, POSITION_CODE_KEY, 0) or 0)


def merged_token_centres(grid_thw: torch.Tensor, position_ids: torch.Tensor, merge: int) -> torch.Tensor:
    """``[n_merged, 2]``: each merged token's centre (x, y) as a fraction of its image's width and height."""
    sizes = grid_thw[:, 1:].flip(-1).repeat_interleave(grid_thw.prod(-1), dim=0).to(torch.float32)  # (w, h)
    centres = (position_ids.flip(-1).to(torch.float32) + 0.5) / sizes
    return centres.view(-1, merge * merge, 2).mean(1)


def fourier_features(points: torch.Tensor, frequencies: int) -> torch.Tensor:
    """``[n, 4 * frequencies]``: sin and cos of pi * k * coordinate, k = 1..frequencies, for x and y."""
    k = torch.arange(1, frequencies + 1, device=points.device, dtype=torch.float32)
    angles = (torch.pi * points[:, :, None] * k).flatten(1)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class VisionTowerWithAbsolutePositions(Qwen2VisionTransformerPretrainedModel):
    """Qwen2-VL's vision tower, plus the grid's embedding at each patch after the patch embedding
    and the position code at each merged token after the merger (whichever the config switches on)."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.grid_side = int(getattr(config, POSITION_GRID_KEY, 0) or 0)
        if self.grid_side:
            self.absolute_positions = nn.Embedding(self.grid_side**2, config.embed_dim)
            nn.init.normal_(self.absolute_positions.weight, std=0.02)
        self.code_frequencies = int(getattr(config, POSITION_CODE_KEY, 0) or 0)
        if self.code_frequencies:
            self.merger.position_code = nn.Linear(4 * self.code_frequencies, config.hidden_size, bias=False)

    def merged(
        self, hidden_states: torch.Tensor, grid_thw: torch.Tensor, position_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The merger's output, plus the position code of each merged token's centre."""
        merged = self.merger(hidden_states)
        if not self.code_frequencies:
            return merged
        if position_ids is None:
            position_ids = get_vision_position_ids(grid_thw, self.spatial_merge_size)
        centres = merged_token_centres(grid_thw, position_ids, self.spatial_merge_size)
        code = self.merger.position_code(fourier_features(centres, self.code_frequencies).to(merged.dtype))
        return merged + code

    def position_embeddings(self, grid_thw: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """``[n_patches, embed_dim]``: for each patch (rows in the order of ``position_ids``, the
        tower's (row, column) of every patch), the grid resampled bilinearly to its image's patch grid."""
        table = self.absolute_positions.weight.T.reshape(1, -1, self.grid_side, self.grid_side)
        resampled: dict[tuple[int, int], torch.Tensor] = {}
        pieces = []
        for (_t, h, w), rows in zip(grid_thw.tolist(), position_ids.split(grid_thw.prod(-1).tolist()), strict=True):
            if (h, w) not in resampled:
                resampled[(h, w)] = F.interpolate(table, size=(h, w), mode="bilinear", align_corners=False)[0]
            pieces.append(resampled[(h, w)][:, rows[:, 0], rows[:, 1]].T)
        return torch.cat(pieces)

    @merge_with_config_defaults
    @capture_outputs
    def forward(self, hidden_states: torch.Tensor, grid_thw: torch.Tensor, **kwargs) -> BaseModelOutputWithPooling:
        """Qwen2-VL's tower forward (transformers 5.17) with the absolute positions added."""
        position_ids = get_vision_position_ids(grid_thw, self.spatial_merge_size, kwargs=kwargs)
        cu_seqlens, max_seqlen = get_vision_attention_seqlens(grid_thw, self.config, kwargs=kwargs)
        hidden_states = self.patch_embed(hidden_states)
        if self.grid_side:
            hidden_states = hidden_states + self.position_embeddings(grid_thw, position_ids).to(hidden_states.dtype)
        rotary = self.rotary_pos_emb(hidden_states, position_ids)
        for block in self.blocks:
            hidden_states = block(
                hidden_states, cu_seqlens=cu_seqlens, max_seqlen=max_seqlen, position_embeddings=rotary, **kwargs
            )
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden_states, pooler_output=self.merged(hidden_states, grid_thw, position_ids)
        )


class Qwen2VLWithAbsolutePositions(Qwen2VLForConditionalGeneration):
    """``Qwen2VLForConditionalGeneration`` whose vision tower is :class:`VisionTowerWithAbsolutePositions`."""

    def __init__(self, config) -> None:
        super().__init__(config)
        if position_grid_size(config) <= 0 and position_code_size(config) <= 0:
            raise ValueError(f"vision_config.{POSITION_GRID_KEY} or {POSITION_CODE_KEY} must be positive")
        self.model.visual = VisionTowerWithAbsolutePositions._from_config(config.vision_config)
        self.post_init()
