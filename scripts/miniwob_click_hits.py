"""Does a MiniWoB++ model click inside the element the expert clicked? Training steps against held-out ones.

For each task, up to ``--per-task`` click steps of a data set's ``stage2-l2.jsonl``
(drawn with a fixed seed; previous steps listed as instructions, as the online
evaluation lists a self-planning model's) are put to the model as the online
evaluation does (self-plan, the MiniWoB++ system prompt, greedy, the screen as
stored), and the reply's click is scored against the expert's target box
(``bbox``). Run on the
training data and on held-out seeds, it tells a model that has not learned to
find the named element (both low) from one that learned its training screens
(training high, held-out low), without playing episodes.

    python scripts/miniwob_click_hits.py --model runs/miniwob/run7/model --per-task 40 \\
        --data runs/miniwob/data --data runs/miniwob/heldout --tasks click-button,click-link -o hits.json

A click counts when it lies inside the box, edges included; a reply without a
click, or with code that does not parse, is a miss. A miss is also told
apart by where it lands: on another element the data set's grounding
queries name on that screen (``stage1.jsonl``'s boxes: the model chose the
wrong element), elsewhere (it found none), or no click at all.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

_INSTRUCTION = re.compile(r"Instruction: (.*)\n")
LANDINGS = ("target", "other element", "elsewhere", "no click")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the model folder")
    parser.add_argument(
        "--data", type=Path, action="append", required=True, help="a data set folder with stage2-l2.jsonl (repeatable)"
    )
    parser.add_argument("--tasks", required=True, help="comma-separated task names")
    parser.add_argument("--per-task", type=int, default=40, help="click steps per task and data set (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="which steps are drawn (default 0)")
    parser.add_argument("-o", "--output", type=Path, help="write the counts here as JSON")
    args = parser.parse_args(argv)

    from aguvis.agent import Agent
    from aguvis.agent.local import LocalBackend
    from aguvis.chat.template import Mode
    from aguvis.envs.miniwob.monologue import SYSTEM_PROMPT

    agent = Agent(LocalBackend(args.model, batch_size=16), Mode.SELF_PLAN, SYSTEM_PROMPT)
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for folder in args.data:
        boxes = element_boxes(folder / "stage1.jsonl")
        for task in args.tasks.split(","):
            records = click_steps(folder / "stage2-l2.jsonl", task, args.per_task, args.seed)
            predictions = agent.predict_batch([request_for(r, folder) for r in records])
            landed = Counter(
                landing(p.actions, r["bbox"], boxes.get(r["image"], [])) for p, r in zip(predictions, records)
            )
            counts.setdefault(str(folder), {})[task] = {"steps": len(records), **{k: landed[k] for k in LANDINGS}}
            misses = ", ".join(f"{k} {landed[k]}" for k in LANDINGS[1:])
            print(f"{folder} {task}: {landed['target']}/{len(records)} ({misses})", flush=True)
    if args.output:
        args.output.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    return 0


def click_steps(path: Path, task: str, limit: int, seed: int) -> list[dict]:
    """Up to ``limit`` of ``task``'s click records in ``path`` that have a target box, drawn with ``seed``."""
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    chosen = [
        r for r in records if r.get("task") == task and r.get("action_type") == "pyautogui.click" and r.get("bbox")
    ]
    random.Random(seed).shuffle(chosen)
    return chosen[:limit]


def request_for(record: dict, folder: Path):
    """The self-plan request of a stage-2 record: its screenshot, goal and previous steps."""
    from aguvis.agent.request import Request
    from aguvis.chat.template import Mode

    prompt = next(t["value"] for t in record["conversations"] if t["from"] == "human")
    goal = _INSTRUCTION.search(prompt)
    if goal is None:
        raise ValueError(f"{record.get('episode_id')} step {record.get('step_id')}: no 'Instruction:' line")
    previous = prompt.split("Previous actions:\n", 1)[-1].strip()
    steps = [] if previous in ("", "None") else previous.split("\n")
    return Request(image=folder / record["image"], goal=goal[1], previous_actions=steps, mode=Mode.SELF_PLAN)


def element_boxes(path: Path) -> dict[str, list[list[float]]]:
    """Each screen's boxes of the elements its grounding queries name (none when ``path`` is missing)."""
    if not path.exists():
        return {}
    boxes: dict[str, list[list[float]]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                box = record.get("bbox") or []
                boxes[record["image"]] = box if not box or isinstance(box[0], list) else [box]  # one box, or a list
    return boxes


def landing(actions: list, target: list[float], others: list[list[float]]) -> str:
    """Where a reply's click lands: one of :data:`LANDINGS`."""
    args = actions[0].args if actions else {}
    if "x" not in args or "y" not in args:
        return "no click"
    if inside(actions, target):
        return "target"
    if any(inside(actions, box) for box in others if box != target):
        return "other element"
    return "elsewhere"


def inside(actions: list, box: list[float]) -> bool:
    """Whether the first of ``actions`` (parsed, normalised) clicks inside ``box`` (left, top, right, bottom)."""
    from aguvis.eval.boxes import Box

    args = actions[0].args if actions else {}
    return "x" in args and "y" in args and Box(*box).contains((args["x"], args["y"]))


if __name__ == "__main__":
    sys.exit(main())
