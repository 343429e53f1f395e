"""Time preloading (``aguvis.train.preload``): a stage's records and screens made ready once, before training.

Two measurements on the first ``--samples`` samples of a mixture:

1. per screen, in this process: the image processor's patches as colour
   levels (the baseline: fp32, each patch's frame twice, what preloading
   made before 2026-12-07) against
   ``aguvis.chat.vision.still_patch_levels`` (bytes, each frame once), on
   the same decoded screens; median milliseconds over ``--repeats`` passes,
   and the ratio;
2. the whole ``preload`` of those samples with ``--workers`` processes and
   one shifted copy of each screen, as the MiniWoB++ stages run it: seconds
   per phase (tokenising, shift ranges, shifted copies, screens).

    PYTHONPATH=src python benchmarks/preload.py --mixture runs/miniwob/data13n/stage1.yaml --samples 1000 --workers 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import aguvis.train.preload as preloading  # noqa: E402
from aguvis.chat.tokenize import RecordTokenizer  # noqa: E402
from aguvis.chat.vision import build_image_processor, load_rgb_image, still_patch_levels  # noqa: E402
from aguvis.model.tiny_tokenizer import add_agent_special_tokens, build_tiny_tokenizer  # noqa: E402
from aguvis.train.dataset import load_samples  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mixture", required=True, type=Path, help="a stage's mixture file, e.g. DATA/stage1.yaml")
    p.add_argument("--samples", type=int, default=1000, help="the mixture's first samples (default 1000)")
    p.add_argument("--screens", type=int, default=200, help="screens of the per-screen timing (default 200)")
    p.add_argument("--repeats", type=int, default=3, help="passes of the per-screen timing (default 3)")
    p.add_argument("--workers", type=int, default=1, help="processes of the whole preload (default 1)")
    p.add_argument("--max-length", type=int, default=1280)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # the preload's workers run single-threaded; so does the per-screen timing
    samples = load_samples(mixture=args.mixture)[: args.samples]
    if not samples:
        p.error(f"{args.mixture}: no samples")
    tokenizer = build_tiny_tokenizer()
    add_agent_special_tokens(tokenizer)
    records = RecordTokenizer(tokenizer, build_image_processor(), max_length=args.max_length)

    paths = list(dict.fromkeys(s.images_root / s.record.images[0] for s in samples if s.record.images))
    screens = [load_rgb_image(path) for path in paths[: args.screens]]
    processor = records.image_processor
    levels = {"return_tensors": "pt", "do_rescale": False, "do_normalize": False}
    baseline = _median_ms(lambda i: processor(images=[screens[i]], **levels)["pixel_values"], screens, args)
    bytes_once = _median_ms(lambda i: still_patch_levels(screens[i], processor), screens, args)
    print(f"per screen ({len(screens)} screens, {args.repeats} passes, one thread):")
    print(f"  processor patches (baseline)  {baseline:.2f} ms")
    print(f"  still_patch_levels            {bytes_once:.2f} ms   ratio {bytes_once / baseline:.3f}")

    phases: dict[str, float] = {}
    timed_parallel = preloading._parallel

    def timing(fn: Callable, state: tuple, n: int, workers: int, desc: str, progress: bool) -> Iterator:
        start = time.perf_counter()
        yield from timed_parallel(fn, state, n, workers, desc, progress)
        phases[desc] = time.perf_counter() - start

    preloading._parallel = timing
    start = time.perf_counter()
    dataset, pool = preloading.preload(
        samples,
        records,
        device="cpu",
        dtype=torch.uint8,
        workers=args.workers,
        progress=False,
        augment=preloading.ShiftAugment(copies=1, max_shift=0.12),
    )
    total = time.perf_counter() - start
    print(f"whole preload ({len(samples)} samples and one shifted copy, {args.workers} worker(s)): {total:.1f} s")
    for desc, seconds in phases.items():
        print(f"  {desc:<18} {seconds:6.1f} s")
    print(f"  {len(dataset)} samples, pool {tuple(pool.patches.shape)} {pool.patches.dtype}")
    return 0


def _median_ms(fn: Callable[[int], object], screens: list, args: argparse.Namespace) -> float:
    """Median over ``args.repeats`` passes of the mean milliseconds of ``fn(i)`` per screen; ten untimed calls first."""
    for i in range(min(10, len(screens))):
        fn(i)
    passes = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for i in range(len(screens)):
            fn(i)
        passes.append((time.perf_counter() - start) / len(screens) * 1000)
    return statistics.median(passes)


if __name__ == "__main__":
    sys.exit(main())
