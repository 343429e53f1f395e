"""Time one stage-1 training step of a Qwen2-VL-2B-shaped model on one GPU.

The model has Qwen2-VL-2B-Instruct's real shape (decoder: hidden 1536, 28
layers, 12 heads, 2 KV heads, MLP 8960, vocabulary 151936, tied embeddings;
vision: depth 32, width 1280, 16 heads) with random weights, so nothing is
downloaded. Data are synthetic 1280x720 grounding screenshots (about 1,125
image tokens each) with several queries per screenshot, tokenised by the tiny
offline tokenizer. The step is the real one: ``aguvis.train.Trainer`` with
FSDP2, bf16 compute over fp32 master weights, frozen ViT, activation
checkpointing, label-only chunked cross-entropy and AdamW.

    python benchmarks/gpu_step.py                     # defaults below
    python benchmarks/gpu_step.py --micro-batch 1 --no-grad-ckpt
    python benchmarks/gpu_step.py --packing 16384 --no-grad-ckpt   # the trainer's packed path (data.packing)

Prints the per-step times and, last, the median over the timed steps
(warm-up steps excluded), tokens/s, peak GPU memory and an MFU estimate:
model FLOPs = 6 x (language-model parameters) x tokens for the trainable
decoder (forward + backward; attention score FLOPs not counted) + 2 x (ViT
parameters) x patches for the frozen vision forward, divided by step time and
the bf16 dense peak (989 TFLOP/s on an H100 SXM; ``--peak-tflops``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aguvis.chat.vision import build_image_processor  # noqa: E402
from aguvis.data.synthetic import make_grounding_dataset  # noqa: E402
from aguvis.model.load import Loaded  # noqa: E402
from aguvis.model.tiny import build_tiny_tokenizer  # noqa: E402
from aguvis.train.config import from_dict  # noqa: E402
from aguvis.train.trainer import Trainer  # noqa: E402

QWEN2_VL_2B_TEXT = dict(
    vocab_size=151936,
    hidden_size=1536,
    intermediate_size=8960,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    max_window_layers=28,
    rms_norm_eps=1e-6,
    rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
    use_cache=False,
)
QWEN2_VL_2B_VISION = dict(
    depth=32,
    embed_dim=1280,
    hidden_size=1536,
    mlp_ratio=4,
    num_heads=16,
    patch_size=14,
    temporal_patch_size=2,
    spatial_merge_size=2,
)


def build_2b_model(tokenizer, device: torch.device):
    """Random Qwen2-VL-2B-shaped model whose special ids match ``tokenizer``."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|endoftext|>", "<|im_end|>")
    }
    text = dict(
        QWEN2_VL_2B_TEXT,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=tokenizer.pad_token_id,
    )
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=QWEN2_VL_2B_VISION,
        tie_word_embeddings=True,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        return Qwen2VLForConditionalGeneration(config)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, kernels, caches)")
    p.add_argument("--micro-batch", type=int, default=4, help="samples per micro-batch")
    p.add_argument("--grad-accumulation", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--queries", type=int, default=8, help="grounding queries per screenshot (one sample)")
    p.add_argument("--no-grad-ckpt", action="store_true", help="disable activation checkpointing")
    p.add_argument(
        "--packing", type=int, metavar="TOKENS", help="sequence packing with this token budget per micro-batch"
    )
    p.add_argument("--compile", action="store_true", help="torch.compile decoder layers and vision blocks (packing)")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak of the GPU, for MFU")
    p.add_argument("--workdir", default=None, help="folder for synthetic data (default: a temporary one)")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    if not torch.cuda.is_available():
        print("gpu_step.py needs a CUDA GPU", file=sys.stderr)
        return 1
    device = torch.device("cuda", 0)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="aguvis-gpu-step-"))
    steps_total = args.warmup + args.steps
    per_micro_batch = args.micro_batch if args.packing is None else 2 * max(1, args.packing // 1200)
    samples = steps_total * per_micro_batch * args.grad_accumulation
    records = make_grounding_dataset(workdir / "data", samples, args.queries, seed=0, width=1280, height=720)

    tokenizer = build_tiny_tokenizer()
    start = time.perf_counter()
    model = build_2b_model(tokenizer, device)
    print(f"built model in {time.perf_counter() - start:.1f} s", flush=True)
    loaded = Loaded(model=model, tokenizer=tokenizer, image_processor=build_image_processor(max_pixels=1280 * 720))
    config = from_dict(
        {
            "model": {"path": "random Qwen2-VL-2B shape"},
            "data": {
                "records": str(records),
                "images_root": str(records.parent),
                "num_workers": 4,
                "packing": None if args.packing is None else {"token_budget": args.packing},
            },
            "batch": {"micro_batch_size": args.micro_batch, "grad_accumulation": args.grad_accumulation},
            "run": {"output_dir": str(workdir / "run"), "max_steps": steps_total, "save_every": 0, "resume": "none"},
            "precision": "bf16",
            "gradient_checkpointing": not args.no_grad_ckpt,
            "freeze_vision": True,
            "compile": args.compile,
        }
    )
    trainer = Trainer(config, loaded=loaded)
    n_llm = sum(p.numel() for n, p in model.named_parameters() if ".visual." not in f".{n}")
    n_vit = sum(p.numel() for p in model.model.visual.parameters())
    stream = trainer.micro_batch_stream()
    times, tokens, patches = [], [], []
    torch.cuda.reset_peak_memory_stats(device)
    for i in range(steps_total):
        batches = trainer.next_micro_batches(stream)
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        result = trainer.train_step(batches)
        torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - t0
        tag = "warm-up" if i < args.warmup else "timed"
        loss = float(result.loss_sum) / max(result.label_tokens, 1)
        print(f"step {i + 1:3d} ({tag}): {elapsed * 1000:8.1f} ms  loss {loss:.4f}  tokens {result.tokens}", flush=True)
        if i >= args.warmup:
            times.append(elapsed)
            tokens.append(result.tokens)
            grids = [_grid(b) for b in batches]
            patches.append(sum(int(grid.prod(-1).sum()) for grid in grids if grid is not None))
    median = statistics.median(times)
    mean_tokens = statistics.mean(tokens)
    flops = 6 * n_llm * mean_tokens + 2 * n_vit * statistics.mean(patches)
    mfu = flops / median / (args.peak_tflops * 1e12)
    peak_gib = torch.cuda.max_memory_allocated(device) / 2**30
    trainer.close()
    batching = f"micro-batch {args.micro_batch}" if args.packing is None else f"packed {args.packing} tokens"
    print(
        f"\nQwen2-VL-2B shape ({n_llm / 1e9:.2f} B LM + {n_vit / 1e9:.2f} B ViT params), "
        f"{torch.cuda.get_device_name(device)}, {batching} x accumulation "
        f"{args.grad_accumulation}, {args.queries} queries/screenshot, grad ckpt {not args.no_grad_ckpt}"
    )
    print(
        f"median step time {median * 1000:.1f} ms over {len(times)} steps (warm-up {args.warmup} excluded); "
        f"{mean_tokens / median:,.0f} tokens/s; peak memory {peak_gib:.1f} GiB; MFU ~{mfu:.1%}"
    )
    return 0


def _grid(batch):
    return batch["image_grid_thw"] if isinstance(batch, dict) else batch.image_grid_thw


if __name__ == "__main__":
    sys.exit(main())
