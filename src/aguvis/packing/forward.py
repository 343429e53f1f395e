"""Run a Qwen2-VL on a :class:`~aguvis.packing.sequence.PackedBatch`.

:func:`packed_forward` drives the model's own modules (vision tower, token
embeddings, decoder) with everything the collator precomputed, and returns
only the hidden states that predict a label token. Compared with the model's
``forward``:

- positions come from the batch (per sample), never from ``get_rope_index``
  over the whole row;
- attention is confined to each sample (:mod:`aguvis.packing.attention`);
- image features are written into the ``<|image_pad|>`` slots with
  ``index_copy`` at precomputed positions, and the vision tower gets its
  ``cu_seqlens``, ``max_seqlen`` and rotary positions precomputed: no
  ``nonzero``/``.tolist()``/``.item()`` on the GPU, so nothing in the step
  waits for the device;
- the vision tower runs without autograd when none of its parameters trains
  (Aguvis freezes it), so none of its activations are kept;
- no logits are made here: the loss projects only the returned states onto
  the vocabulary (:class:`PackedLabelLossModel`).
"""

from __future__ import annotations

import torch
from torch import nn

from aguvis.packing.attention import AttentionBackend, build_packed_attention, image_segments
from aguvis.packing.sequence import PackedBatch


def packed_forward(
    model: nn.Module, batch: PackedBatch, backend: AttentionBackend | str = AttentionBackend.VARLEN
) -> torch.Tensor:
    """Hidden states ``[N, d]`` at ``batch.label_positions``; row ``i``
    predicts ``batch.label_targets[i]``.

    ``model`` is a ``Qwen2VLForConditionalGeneration`` (or Qwen2.5-VL) with
    :func:`~aguvis.packing.attention.enable_packed_attention` applied, and
    ``batch`` is on the model's device.
    """
    if batch.pixel_rows is not None:
        raise ValueError("the batch holds rows of a patch pool, not pixels: call batch.with_pixels(pool) first")
    core = model.model
    language_model = core.language_model
    embeds = language_model.embed_tokens(batch.input_ids)
    if batch.pixel_values is not None:
        image_embeds = _image_features(core.visual, batch)
        width = embeds.shape[-1]
        flat = embeds.reshape(-1, width).index_copy(0, batch.image_token_positions, image_embeds.to(embeds.dtype))
        embeds = flat.view_as(embeds)
    attention = build_packed_attention(batch.sequence_ids, batch.cu_seqlens, batch.max_seqlen, backend)
    hidden = language_model(
        inputs_embeds=embeds, position_ids=batch.position_ids, use_cache=False, packed=attention
    ).last_hidden_state
    return hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.label_positions)


def _image_features(visual: nn.Module, batch: PackedBatch) -> torch.Tensor:
    """Merged image features ``[n_image_tokens, d]``, images in flat order.

    Autograd follows only what trains: a frozen tower (Aguvis freezes the ViT
    but trains its merger) runs without it, and the merger is applied again
    with it to the tower's output, so no activation of the frozen blocks is
    kept. When the blocks train under activation checkpointing, they attend
    through the varlen path, whose recomputation in the backward pass does
    not depend on :func:`image_segments` (set only during the forward).
    """
    grad = torch.is_grad_enabled()
    blocks_train = any(p.requires_grad for name, p in visual.named_parameters() if not name.startswith("merger."))
    merger_trains = any(p.requires_grad for p in visual.merger.parameters())
    checkpointed = any(getattr(block, "gradient_checkpointing", False) for block in visual.blocks)
    segments = () if (grad and blocks_train and checkpointed) else batch.vision_segments
    with torch.set_grad_enabled(grad and blocks_train), image_segments(segments):
        out = visual(
            batch.pixel_values.to(visual.get_dtype()),
            grid_thw=batch.image_grid_thw,
            cu_seqlens=batch.vision_cu_seqlens,
            max_seqlen=batch.vision_max_seqlen,
            position_ids=batch.vision_position_ids,
        )
    if grad and merger_trains and not blocks_train:
        if hasattr(visual, "merged"):  # a tower with a position code at its merger
            return visual.merged(out.last_hidden_state, batch.image_grid_thw, batch.vision_position_ids)
        return visual.merger(out.last_hidden_state)
    return out.pooler_output


class PackedLabelLossModel(nn.Module):
    """Wraps a Qwen2-VL so that ``forward(batch)`` returns the *sum* of the
    token cross-entropies of a packed batch (fp32 scalar).

    The trainer divides by the label tokens of the whole optimizer step, as
    for ``aguvis.train.loss.LabelLossModel``; a single module around the
    whole step is also what FSDP2 wants as its root.
    """

    def __init__(
        self, model: nn.Module, backend: AttentionBackend | str = AttentionBackend.VARLEN, chunk_size: int = 1024
    ) -> None:
        super().__init__()
        self.model = model
        self.backend = AttentionBackend(backend)
        self.chunk_size = chunk_size

    def forward(self, batch: PackedBatch) -> torch.Tensor:
        from aguvis.model.freeze import vision_tower
        from aguvis.train.loss import chunked_cross_entropy_sum, zero_touching

        hidden = packed_forward(self.model, batch, self.backend)
        weight = self.model.get_output_embeddings().weight
        if batch.num_label_tokens == 0:
            # Keep the graph connected: under FSDP every rank runs the same backward.
            loss = zero_touching(hidden, weight)
        else:
            loss = chunked_cross_entropy_sum(hidden, weight, batch.label_targets, self.chunk_size)
        if batch.pixel_values is None:
            trainable = [p for p in vision_tower(self.model).parameters() if p.requires_grad]
            if trainable:
                loss = loss + zero_touching(*trainable)
        return loss


def compile_blocks(model: nn.Module, *, vision: bool = True, dynamic: bool | None = None) -> None:
    """``torch.compile`` each decoder layer (and vision block), torchtitan
    style: one small graph per block type, reused by every layer, so
    normalisation, rotary embedding, activation and residual additions fuse
    around the matrix products while attention stays a kernel call."""
    for layer in model.model.language_model.layers:
        layer.compile(dynamic=dynamic)
    if vision:
        for block in model.model.visual.blocks:
            block.compile(dynamic=dynamic)
