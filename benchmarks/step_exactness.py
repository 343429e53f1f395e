"""Does the trainer's step compute the loss and gradients of the plain model, on this machine?

The CPU tests prove the packed step exact in fp32, where every attention
backend falls back to one SDPA call per sample. On a GPU the step takes other
paths the CPU never runs: bf16 compute over fp32 master weights, torch's flash
varlen kernel in the decoder, per-image cuDNN attention in the vision tower,
patches preloaded onto the device. This check builds the real
:class:`aguvis.train.Trainer` from a config, takes one optimizer step's batch
(a token budget that holds every record given), runs the trainer's forward and
backward on it, and compares with the reference: the same checkpoint in fp32,
each record alone through Hugging Face's own forward (SDPA), mean token
cross-entropy over the same label tokens.

Printed: both losses, and for each parameter the cosine between the two
gradients and the ratio of their norms, worst first. In fp32
on a CPU expect cosines of 1 to 6 places; bf16 compute costs a few in the
third decimal, and a wrong kernel, position or mask shows as a cosine far
from 1 in the parameters it feeds. (``scripts/pointing_check.py
--compare-trainer`` follows many steps and the optimizer's updates, on its
toy screens only.)

    python benchmarks/step_exactness.py --config configs/miniwob/stage1.yaml \\
        --model runs/miniwob/init --records runs/miniwob/data/stage1.jsonl --images runs/miniwob/data --limit 64
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aguvis.data.records import read_records, write_records  # noqa: E402
from aguvis.model.load import load_model  # noqa: E402
from aguvis.train.config import load_config  # noqa: E402
from aguvis.train.trainer import Trainer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="a training config (its data section is replaced)")
    parser.add_argument("--model", type=Path, required=True, help="the checkpoint both sides start from")
    parser.add_argument("--records", type=Path, required=True, help="a stage-1 or stage-2 record file")
    parser.add_argument("--images", type=Path, required=True, help="the folder its image paths are relative to")
    parser.add_argument("--limit", type=int, default=64, help="records to use (default 64)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="further config overrides (e.g. precision=fp32, data.preload=false)")
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        records = list(read_records(args.records))[: args.limit]
        subset = Path(tmp) / "records.jsonl"
        write_records(subset, records)
        config = load_config(args.config, [
            f"model.path={args.model}", "data.mixture=null", f"data.records={subset}",
            f"data.images_root={args.images}", "data.packing.token_budget=10000000", "data.augment=null",
            "data.num_workers=0", "batch.grad_accumulation=1", "run.max_steps=1", "run.resume=none",
            f"run.output_dir={Path(tmp) / 'run'}",
            *args.overrides,
        ])
        trainer = Trainer(config)
        try:
            trained = trainer_side(trainer)
            dtype = trainer.dtype
        finally:
            trainer.close()
    reference = reference_side(args.model, config, records, args.images, trains=set(trained["grads"]))
    report = compare(reference, trained)
    report["compute_dtype"] = str(dtype)
    report["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(json.dumps({k: v for k, v in report.items() if k != "parameters"}, indent=2))
    print(f"{'parameter':70s} {'cosine':>10s} {'norm ratio':>10s}")
    for row in report["parameters"][:25]:
        print(f"{row['name']:70s} {row['cosine']:10.6f} {row['norm_ratio']:10.4f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def trainer_side(trainer: Trainer) -> dict:
    """Mean token loss and gradients of the trainer's own step over its first batch (all records)."""
    stream = trainer.micro_batch_stream()
    batches = trainer.next_micro_batches(stream)
    if len(batches) != 1:
        raise SystemExit("set batch.grad_accumulation=1: the check compares one micro-batch")
    (batch,) = batches
    labels = batch.num_label_tokens
    loss_sum = trainer.forward_backward_step(batch, labels)
    grads = {}
    for name, param in trainer.model.named_parameters():
        if param.grad is not None:
            grad = param.grad.full_tensor() if hasattr(param.grad, "full_tensor") else param.grad
            grads[name.removeprefix("model.")] = grad.detach().float().cpu()
    return {"loss": float(loss_sum) / labels, "label_tokens": labels, "samples": batch.num_samples, "grads": grads}


def reference_side(model_dir: Path, config, records, images: Path, trains: set[str]) -> dict:
    """Mean token loss and gradients of the checkpoint in fp32, each record alone through HF's forward;
    ``trains``: the parameters the trainer trained (a frozen vision tower stays frozen here too)."""
    from aguvis.chat.tokenize import RecordTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_model(model_dir, dtype=torch.float32, device=device, max_pixels=config.data.max_pixels,
                        min_pixels=config.data.min_pixels)
    model = loaded.model
    model.train()
    for name, param in model.named_parameters():
        param.requires_grad_(name in trains)
    tokenize = RecordTokenizer(loaded.tokenizer, loaded.image_processor, max_length=config.data.max_length)
    encoded = [tokenize(record, images) for record in records]
    labels = sum(int((t.labels[1:] != -100).sum()) for t in encoded)
    total = 0.0
    for tok in encoded:
        ids = tok.input_ids[None].to(device)
        logits = model(
            input_ids=ids,
            mm_token_type_ids=(ids == model.config.image_token_id).int(),
            pixel_values=None if tok.pixel_values is None else tok.pixel_values.to(device),
            image_grid_thw=None if tok.image_grid_thw is None else tok.image_grid_thw.to(device),
            use_cache=False,
        ).logits[0, :-1]
        targets = tok.labels[1:].to(device)
        loss = F.cross_entropy(logits[targets != -100], targets[targets != -100], reduction="sum")
        (loss / labels).backward()
        total += float(loss.detach())
    grads = {n: p.grad.detach().float().cpu() for n, p in model.named_parameters() if p.grad is not None}
    return {"loss": total / labels, "label_tokens": labels, "samples": len(encoded), "grads": grads}


def compare(reference: dict, trained: dict) -> dict:
    """Losses side by side, and per parameter the gradient cosine and norm ratio (trainer / reference)."""
    missing = sorted(set(reference["grads"]) ^ set(trained["grads"]))
    rows = []
    for name, want in reference["grads"].items():
        got = trained["grads"].get(name)
        if got is None:
            continue
        norm = float(want.norm())
        cosine = float(F.cosine_similarity(want.flatten(), got.flatten(), dim=0)) if norm > 0 else 1.0
        rows.append({"name": name, "cosine": cosine, "norm_ratio": float(got.norm()) / max(norm, 1e-30)})
    rows.sort(key=lambda r: r["cosine"])
    worst = rows[0]["cosine"] if rows else float("nan")
    return {
        "reference_loss": reference["loss"],
        "trainer_loss": trained["loss"],
        "loss_relative_difference": abs(trained["loss"] - reference["loss"]) / reference["loss"],
        "label_tokens": [reference["label_tokens"], trained["label_tokens"]],
        "samples": [reference["samples"], trained["samples"]],
        "parameters_only_on_one_side": missing,
        "worst_cosine": worst,
        "parameters": rows,
    }


if __name__ == "__main__":
    raise SystemExit(main())
