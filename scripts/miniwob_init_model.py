"""Write a randomly initialised Qwen2-VL for the MiniWoB++ learning proof.

The shape comes from a YAML file (``configs/miniwob/model.yaml``: ``seed``,
``shape``, fields of ``aguvis.model.tiny.TinyConfig``, and optionally the
pixel normalisation ``image_mean`` / ``image_std``, kept in the checkpoint's
``preprocessor_config.json``); the tokenizer is the offline tiny one. The
folder is a normal Hugging Face checkpoint that ``aguvis train`` loads like
any other.

    python scripts/miniwob_init_model.py --config configs/miniwob/model.yaml --output runs/miniwob/init
    python scripts/miniwob_init_model.py --config configs/miniwob/model.yaml --output runs/miniwob/init \
        --set shape.vision_embed_dim=192 --set shape.vision_num_heads=3      # an arm of an ablation
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="YAML with 'seed' and 'shape' (TinyConfig fields)")
    parser.add_argument("--output", type=Path, required=True, help="folder to write the checkpoint to")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the YAML (VALUE in YAML), e.g. shape.vision_embed_dim=192 or seed=1",
    )
    args = parser.parse_args(argv)

    from aguvis.chat.vision import build_image_processor
    from aguvis.model.checkpoint import save_checkpoint_hf
    from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer

    spec = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    known = ("seed", "shape", "image_mean", "image_std")
    for item in args.overrides:
        key, sep, value = item.partition("=")
        section, _, field = key.partition(".")
        if not sep or section not in known or (section == "shape") != bool(field):
            print(f"--set {item}: expected KEY=VALUE with KEY one of seed, image_mean, image_std or shape.FIELD",
                  file=sys.stderr)
            return 2
        target = spec.setdefault("shape", {}) if field else spec
        target[field or section] = yaml.safe_load(value)
    unknown = sorted(set(spec) - set(known))
    if unknown:
        print(f"{args.config}: unknown key(s) {', '.join(unknown)} (expected {', '.join(known)})", file=sys.stderr)
        return 2
    shape = dict(spec.get("shape") or {})
    if "mrope_section" in shape:
        shape["mrope_section"] = tuple(shape["mrope_section"])
    tokenizer = build_tiny_tokenizer()
    try:
        model = build_tiny_model(tokenizer, seed=int(spec.get("seed", 0)), **shape)
        processor = build_image_processor(image_mean=spec.get("image_mean"), image_std=spec.get("image_std"))
    except (TypeError, ValueError) as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 2
    save_checkpoint_hf(model, tokenizer, processor, args.output)
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    print(json.dumps({"output": str(args.output), "parameters": total, "vision_parameters": vision}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
