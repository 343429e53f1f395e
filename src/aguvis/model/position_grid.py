"""Qwen2-VL with a learned absolute position grid in its vision tower.

Qwen2-VL's vision tower knows where a patch is only through rotary
embeddings, which make attention depend on *relative* positions: a patch's
features are the same wherever on the screen its content is. Its decoder's
M-RoPE gives the image rows and columns the slowest rotary frequencies (with
Qwen2-VL's base of 10^6 a column turns the width section by under 2e-4
radians). Pretrained checkpoints learned to read absolute positions anyway,
from vast data; a small model trained from random weights in minutes may
not: on ``scripts/pointing_check.py``'s screens (one square in one of 64
cells) a 1M-parameter model without the grid stays at the no-information
loss after 600 steps, with it learns where the square is (benchmarks/README.md,
MiniWoB++).

Qwen3-VL's vision tower adds a learned grid of absolute position embeddings,
interpolated to each image's patch grid, to the patch embeddings. This
module does the same on Qwen2-VL's tower, switched on by the vision config's
``absolute_position_grid`` (the grid's side, in embeddings; 0 or absent:
plain Qwen2-VL), so checkpoints stay ``qwen2_vl`` checkpoints with one extra
tensor, ``model.visual.absolute_positions.weight``. The grid is indexed by
the patch's place *relative to the image size*, like the coordinates the
model answers with.
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

__all__ = ["POSITION_GRID_KEY", "Qwen2VLWithPositionGrid", "position_grid_size"]

POSITION_GRID_KEY = "absolute_position_grid"


def position_grid_size(config) -> int:
    """The side of ``config``'s (a ``Qwen2VLConfig``) absolute position grid; 0 when it has none."""
    return int(getattr(config.vision_config, POSITION_GRID_KEY, 0) or 0)


class VisionTowerWithPositionGrid(Qwen2VisionTransformerPretrainedModel):
    """Qwen2-VL's vision tower, plus the grid's embedding at each patch after the patch embedding."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.grid_side = int(getattr(config, POSITION_GRID_KEY))
        self.absolute_positions = nn.Embedding(self.grid_side**2, config.embed_dim)
        nn.init.normal_(self.absolute_positions.weight, std=0.02)

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
        """Qwen2-VL's tower forward (transformers 5.17) with the position grid added to the patches."""
        position_ids = get_vision_position_ids(grid_thw, self.spatial_merge_size, kwargs=kwargs)
        cu_seqlens, max_seqlen = get_vision_attention_seqlens(grid_thw, self.config, kwargs=kwargs)
        hidden_states = self.patch_embed(hidden_states)
        hidden_states = hidden_states + self.position_embeddings(grid_thw, position_ids).to(hidden_states.dtype)
        rotary = self.rotary_pos_emb(hidden_states, position_ids)
        for block in self.blocks:
            hidden_states = block(
                hidden_states, cu_seqlens=cu_seqlens, max_seqlen=max_seqlen, position_embeddings=rotary, **kwargs
            )
        return BaseModelOutputWithPooling(last_hidden_state=hidden_states, pooler_output=self.merger(hidden_states))


class Qwen2VLWithPositionGrid(Qwen2VLForConditionalGeneration):
    """``Qwen2VLForConditionalGeneration`` whose vision tower is :class:`VisionTowerWithPositionGrid`."""

    def __init__(self, config) -> None:
        super().__init__(config)
        if position_grid_size(config) <= 0:
            raise ValueError(f"vision_config.{POSITION_GRID_KEY} must be a positive grid side")
        self.model.visual = VisionTowerWithPositionGrid._from_config(config.vision_config)
        self.post_init()
