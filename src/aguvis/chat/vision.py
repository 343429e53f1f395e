"""Screenshots -> Qwen2-VL vision inputs, and how many tokens they cost.

Qwen2-VL resizes a screenshot with ``smart_resize`` to multiples of 28 pixels
within ``[min_pixels, max_pixels]``, cuts it into 14x14 patches and merges
2x2 patches into one language-model token. Aguvis caps screenshots at
1280x720 pixels (``max_pixels = 1280*720``), which bounds an image at about
1,150 tokens whatever the screen resolution.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

MAX_PIXELS = 1280 * 720
MIN_PIXELS = 56 * 56  # Qwen2-VL's default


def build_image_processor(
    max_pixels: int = MAX_PIXELS,
    min_pixels: int = MIN_PIXELS,
    image_mean: list[float] | None = None,
    image_std: list[float] | None = None,
) -> Qwen2VLImageProcessorPil:
    """Qwen2-VL's image processor in its PIL flavour (no torchvision needed).

    ``size`` is passed as a fresh dict: passing ``max_pixels=`` instead makes
    transformers write into the class-wide default ``size`` dict, which would
    leak this cap into every processor built afterwards. ``image_mean`` and
    ``image_std`` (per RGB channel, pixels in [0, 1]) default to Qwen2-VL's
    (OpenAI CLIP's); a model trained from scratch may choose its own
    (``configs/miniwob/model.yaml`` says why), and a checkpoint keeps them in
    ``preprocessor_config.json``.
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    normalisation = {
        key: [float(v) for v in value]
        for key, value in (("image_mean", image_mean), ("image_std", image_std))
        if value is not None
    }
    for key, value in normalisation.items():
        if len(value) != 3 or (key == "image_std" and min(value) <= 0):
            raise ValueError(f"{key} must be three numbers, one per RGB channel (std > 0), got {value}")
    return Qwen2VLImageProcessorPil(size={"shortest_edge": min_pixels, "longest_edge": max_pixels}, **normalisation)


def saved_normalisation(folder: str | os.PathLike[str]) -> dict[str, list[float]]:
    """``image_mean`` / ``image_std`` from a checkpoint's ``preprocessor_config.json`` (empty when it has none),
    so that a model sees pixels scaled as in its training."""
    config = Path(folder) / "preprocessor_config.json"
    if not config.is_file():
        return {}
    try:
        saved = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{config}: not valid JSON ({err})") from err
    return {key: saved[key] for key in ("image_mean", "image_std") if saved.get(key) is not None}


def load_rgb_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open a screenshot as RGB (many are RGBA or palette PNGs; the vision
    tower takes three channels). Pixels are decoded here, once."""
    with Image.open(path) as image:
        return image.convert("RGB")


def still_patch_levels(image: Image.Image, image_processor: Any) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A still RGB screenshot's patches as colour levels, each patch's frame once: ``[patches, 3 * patch**2]``
    uint8 (channel-major), and its grid ``(1, rows, columns)``.

    The processor gives each patch ``temporal_patch_size`` identical frames
    of the same pixels, in fp32; this resizes exactly as it does (its
    ``smart_resize`` and resampling filter, in PIL) and cuts the patches in
    its order, in bytes: the work of a patch pool of colour levels
    (``aguvis.train.preload``), which repeats the frame when it gathers.
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    size, patch, merge = image_processor.size, image_processor.patch_size, image_processor.merge_size
    bounds = {"min_pixels": size["shortest_edge"], "max_pixels": size["longest_edge"]}
    height, width = smart_resize(image.height, image.width, factor=patch * merge, **bounds)
    if (width, height) != image.size:
        image = image.resize((width, height), resample=image_processor.resample)
    rows, columns = height // patch, width // patch
    pixels = np.asarray(image, dtype=np.uint8).reshape(rows // merge, merge, patch, columns // merge, merge, patch, 3)
    # the processor's order: merged block row and column, row and column within it, then channel, y, x
    patches = pixels.transpose(0, 3, 1, 4, 6, 2, 5).reshape(rows * columns, 3 * patch * patch)
    return np.ascontiguousarray(patches), (1, rows, columns)


def image_token_count(width: int, height: int, image_processor: object) -> int:
    """Language-model tokens (``<|image_pad|>``) for a ``width`` x ``height``
    image under ``image_processor``'s pixel budget.

    tokens = (resized_h / patch) * (resized_w / patch) / merge**2, e.g. a
    1920x1080 screenshot at ``max_pixels`` 1280*720 is scaled by 1/1.5 to
    1280x720, floored to multiples of 28 -> 1260x700, i.e. 90x50 patches of
    14 px = 4500 patches, merged 2x2 -> 1125 tokens.
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    size = image_processor.size
    patch = image_processor.patch_size
    merge = image_processor.merge_size
    resized_h, resized_w = smart_resize(
        height, width, factor=patch * merge, min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"]
    )
    return (resized_h // patch) * (resized_w // patch) // merge**2
