"""Next-token cross-entropy computed only where there are labels.

A Qwen2-VL training sample is mostly image and prompt tokens; the loss covers
only the assistant's answer (often under 5% of the sequence). Projecting every
hidden state onto the 152k-word vocabulary and then masking most of it wastes
time and, above all, memory (8192 x 151936 fp32 logits are 5 GB per sample).
Here the decoder runs to its last hidden states, the states that predict a
label are gathered, and only those go through ``lm_head``, chunk by chunk,
each chunk recomputed in the backward pass instead of kept, with the
cross-entropy in fp32.

Normalisation: :class:`LabelLossModel` returns the *sum* of token losses. The
trainer divides by the number of label tokens in the whole optimizer step,
summed over micro-batches and ranks with one all-reduce, so every label token
weighs the same however the tokens fall into micro-batches and ranks: the
gradient equals that of one big batch, and resuming on another number of GPUs
does not change the objective (a mean per micro-batch would overweight short
answers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from aguvis.model.freeze import vision_tower

IGNORE_INDEX = -100
DEFAULT_CHUNK_SIZE = 1024


@dataclass(frozen=True)
class LabelTargets:
    """Which hidden states predict which label tokens.

    ``hidden_states[batch_index[i], position[i]]`` predicts ``target[i]``.
    """

    batch_index: torch.Tensor
    position: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return int(self.target.numel())


def label_targets(labels: torch.Tensor) -> LabelTargets:
    """Pair each label token with the position whose hidden state predicts it.

    The state at position ``t`` predicts token ``t + 1``, so labels are read
    one step to the right. Example, one row::

        labels   = [-100, -100,  7,  8, -100]
        position = [1, 2]      (states 1 and 2 ...)
        target   = [7, 8]      (... predict labels[2] and labels[3])

    The last position never predicts anything and the first label never has a
    predictor, exactly as in Hugging Face's shifted loss.
    """
    shifted = labels[:, 1:]
    batch_index, position = (shifted != IGNORE_INDEX).nonzero(as_tuple=True)
    return LabelTargets(batch_index, position, shifted[batch_index, position])


def count_label_tokens(labels: torch.Tensor) -> int:
    """Number of tokens that carry loss (after the one-step shift)."""
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


def chunked_cross_entropy_sum(
    hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> torch.Tensor:
    """Sum of fp32 cross-entropy of ``hidden @ weight.T`` against ``target``.

    ``hidden`` is ``[N, d]`` (only label positions), ``weight`` the ``[V, d]``
    output projection. Each chunk of ``chunk_size`` rows is checkpointed, so at
    most one ``[chunk_size, V]`` logits block is alive at a time, also during
    the backward pass.
    """
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk_size):
        stop = start + chunk_size
        total = total + checkpoint(
            _cross_entropy_sum, hidden[start:stop], weight, target[start:stop], use_reentrant=False
        )
    return total


def _cross_entropy_sum(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits = F.linear(hidden, weight).float()
    return F.cross_entropy(logits, target, reduction="sum")


class LabelLossModel(nn.Module):
    """A Qwen2-VL (or Qwen2.5-VL) causal LM whose forward returns the summed label loss.

    Wrapping the whole model in one module keeps the training step a single
    ``forward`` call, which is what FSDP2 needs: the wrapper is the root of the
    sharding, so the parameters outside the decoder layers (embeddings, vision
    tower, final norm, ``lm_head``, tied or not) are gathered once per
    forward, before ``lm_head`` is applied outside the HF model's own forward.
    """

    def __init__(self, model: nn.Module, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.Tensor | None = None,
        mm_token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sum (fp32 scalar) of the cross-entropy over every label token of the batch."""
        outputs = self.model.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            image_grid_thw=image_grid_thw,
            mm_token_type_ids=mm_token_type_ids,
            use_cache=False,
        )
        hidden = outputs.last_hidden_state
        weight = self.model.get_output_embeddings().weight
        targets = label_targets(labels)
        if len(targets) == 0:
            loss = zero_touching(hidden, weight)
        else:
            selected = hidden[targets.batch_index, targets.position]
            loss = chunked_cross_entropy_sum(selected, weight, targets.target, self.chunk_size)
        if pixel_values is None:
            trainable = [p for p in vision_tower(self.model).parameters() if p.requires_grad]
            if trainable:
                loss = loss + zero_touching(*trainable)
        return loss


def zero_touching(*tensors: torch.Tensor) -> torch.Tensor:
    """A zero that depends on ``tensors``, so each receives a (zero) gradient.

    FSDP reduces gradients per group of parameters with one collective whose
    size must match on every rank. A rank whose micro-batch has no label
    tokens (``lm_head`` unused) or no images (vision merger unused) would
    otherwise skip those gradients while other ranks have them, and the job
    would hang.
    """
    return sum((t.float().sum() for t in tensors), torch.zeros((), device=tensors[0].device)) * 0.0
