"""Time one agent reply of a local model: ``LocalBackend.generate_prompts`` per screenshot.

What an online episode or the server waits for at each step, without the
browser: the prompt (screenshot and goal) is built, generated from greedily
and decoded. Prints the median seconds per reply over ``--repeats`` passes
(one untimed reply first), the mean reply length in tokens, and the ratio to
a baseline timed in the same run: a plain ``model.generate`` of the same
prompt for exactly as many new tokens, with no reply rules (forced
continuation, stopping) and no decoding, i.e. what the reply costs over the
model's own generation.

    PYTHONPATH=src python benchmarks/reply_latency.py --model runs/miniwob/run11/model \\
        --images 'runs/miniwob/heldout/images/click-button/*.png' --mode self-plan

To compare two versions of the backend, run it at both commits on the same
machine, one after the other.
"""

from __future__ import annotations

import argparse
import glob
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aguvis.agent import Request  # noqa: E402
from aguvis.agent.local import LocalBackend  # noqa: E402
from aguvis.agent.prompt import build_prompt  # noqa: E402
from aguvis.chat.template import Mode  # noqa: E402

GOALS = ('Click on the "No" button.', 'Click on the "submit" button.', 'Click on the "Ok" button.')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a local model directory")
    p.add_argument("--images", required=True, help="glob of screenshots (the first --screens are used)")
    p.add_argument("--screens", type=int, default=6, help="screenshots per pass (default 6)")
    p.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.SELF_PLAN.value)
    p.add_argument("--repeats", type=int, default=3, help="timed passes over the screenshots (default 3)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = sorted(glob.glob(args.images))[: args.screens]
    if not paths:
        p.error(f"no screenshot matches {args.images!r}")
    backend = LocalBackend(args.model, device=args.device)
    mode = Mode(args.mode)
    requests = [Request(Image.open(path), GOALS[i % len(GOALS)], mode=mode) for i, path in enumerate(paths)]
    prompts = [build_prompt(request) for request in requests]
    backend.generate_prompts(prompts[:1], args.max_new_tokens)  # warm-up
    seconds, plain, tokens = [], [], []
    for _ in range(args.repeats):
        for prompt in prompts:
            start = time.perf_counter()
            (generation,) = backend.generate_prompts([prompt], args.max_new_tokens)
            seconds.append(time.perf_counter() - start)
            tokens.append(generation.completion_tokens)
            plain.append(plain_generate_seconds(backend, prompt, generation.completion_tokens))
    reply, baseline = statistics.median(seconds), statistics.median(plain)
    print(
        f"{len(seconds)} replies ({mode.value}): median {reply:.3f} s a reply, mean {statistics.mean(tokens):.1f} "
        f"tokens; plain generate of as many tokens {baseline:.3f} s; ratio {reply / baseline:.3f}"
    )
    return 0


def plain_generate_seconds(backend: LocalBackend, prompt, new_tokens: int) -> float:
    """Seconds of ``model.generate`` on the prompt the backend builds, greedy, exactly ``new_tokens`` long."""
    start = time.perf_counter()
    with torch.inference_mode():
        inputs, _ = backend._batch_inputs([backend._row(prompt)])
        backend.model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=backend.pad_id,
            use_cache=True,  # the checkpoints' generation_config.json says false (the training setting)
        )
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
