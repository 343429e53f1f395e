"""Sharding (FSDP2), mixed precision and activation checkpointing.

Every decoder layer is its own FSDP2 unit (``fully_shard``), and the
wrapper around the whole model is the root unit holding the embeddings, the
vision tower, the final norm and ``lm_head`` (see :func:`shard_units`).
Parameters stay in fp32 (the optimizer's master weights); with bf16 precision
FSDP2 gathers them as bf16 for compute and reduces gradients in fp32, which is
what upstream's DeepSpeed bf16 setup does too. FSDP2 also runs with a single
process (Gloo on CPU, NCCL on one GPU), so there is one code path for every
world size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from aguvis.model.freeze import vision_tower
from aguvis.train.config import Precision


def compute_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    """``auto``: bf16 on a GPU, fp32 on a CPU (bf16 matmuls are slow on most CPUs); ``tf32`` computes in fp32."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return torch.float32


def set_tf32(precision: Precision) -> None:
    """Let fp32 matrix products use TF32 tensor cores exactly when ``precision`` is ``tf32``.

    The switch is process-wide in torch, so it is set both ways: a ``fp32``
    run after a ``tf32`` one in the same process gets full fp32 products
    again. (Convolutions follow ``torch.backends.cudnn.allow_tf32``, on by
    torch's default, untouched here.)
    """
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"


def shard_units(model: nn.Module) -> list[nn.Module]:
    """The decoder layers, each its own FSDP2 unit (the model's ``_no_split_modules``
    outside the vision tower, e.g. ``Qwen2VLDecoderLayer``).

    The vision tower stays in the root unit: FSDP gathers a unit's weights
    with a collective when the unit runs, and a rank whose micro-batch has no
    image would not run the vision blocks, leaving the other ranks waiting.
    The root unit is gathered by every rank on every step. The frozen tower
    costs about 0.7 B replicated parameters (the same for 2B to 72B models).
    """
    names = set(getattr(model, "_no_split_modules", None) or ())
    if not names:
        raise ValueError(f"{type(model).__name__} declares no _no_split_modules to shard by")
    in_vision = {id(m) for m in vision_tower(model).modules()}
    return [m for m in model.modules() if type(m).__name__ in names and id(m) not in in_vision]


def apply_fsdp(root: nn.Module, hf_model: nn.Module, mesh: DeviceMesh, dtype: torch.dtype) -> None:
    """Shard ``hf_model``'s layers and blocks, then ``root`` (which contains ``hf_model``).

    Units free their gathered parameters after the forward pass and gather
    them again for the backward pass only when there is more than one rank:
    alone, a rank's shard is the whole tensor and resharding would save no
    memory worth the extra copy per unit.
    """
    policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
    reshard = mesh.size() > 1
    for unit in shard_units(hf_model):
        fully_shard(unit, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard)
    fully_shard(root, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard)


def enable_activation_checkpointing(hf_model: nn.Module) -> None:
    """Recompute each layer's activations in the backward pass (non-reentrant)."""
    hf_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
