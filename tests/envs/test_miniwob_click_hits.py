"""scripts/miniwob_click_hits.py: which steps are asked, how, and what counts as a hit."""

from __future__ import annotations

import json

from aguvis.agent.prediction import MESSAGE_OPEN as OS_OPEN
from aguvis.agent.prediction import prediction_from_reply
from aguvis.chat.template import Mode
from tests.fixtures_scripts import load_script

BOX = [0.2, 0.3, 0.4, 0.5]
OS = OS_OPEN + "os\n"


def _record(task, k, action_type="pyautogui.click", bbox=BOX, previous="None"):
    prompt = f"<image>\nPlease act.\n\nInstruction: Click on the \"ok\" button.\n\nPrevious actions:\n{previous}\n"
    return {
        "image": f"images/{task}/{k}.png",
        "task": task,
        "episode_id": f"{task}/{k}",
        "step_id": 0,
        "action_type": action_type,
        "bbox": bbox,
        "conversations": [
            {"from": "human", "value": prompt},
            {"from": "gpt", "value": "pyautogui.click(x=0.3, y=0.4)"},
        ],
    }


def _actions(reply):
    return prediction_from_reply(reply, 320, 420).actions


def test_a_click_counts_only_inside_the_box():
    hits = load_script("miniwob_click_hits")
    assert hits.inside(_actions("all\nAction: Click 'ok'<|im_end|>\n" + OS + "pyautogui.click(x=0.3, y=0.4)"), BOX)
    assert hits.inside(_actions("os\npyautogui.click(x=0.2, y=0.5)"), BOX)  # the edges are inside
    assert not hits.inside(_actions("os\npyautogui.click(x=0.41, y=0.4)"), BOX)
    assert not hits.inside(_actions("os\npyautogui.write(message='ok')"), BOX)
    assert not hits.inside(_actions("all\nThought: no action"), BOX)
    assert not hits.inside(_actions("os\npyautogui.click(x=0.3, y="), BOX)  # unparseable


def test_only_the_tasks_click_steps_with_a_box_are_drawn(tmp_path):
    hits = load_script("miniwob_click_hits")
    lines = [_record("click-button", k) for k in range(5)]
    lines += [_record("click-link", 9), _record("click-button", 7, "pyautogui.write")]
    lines += [_record("click-button", 8, bbox=None)]
    path = tmp_path / "stage2-l1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    drawn = hits.click_steps(path, "click-button", 3, seed=0)
    assert len(drawn) == 3 and {r["episode_id"] for r in drawn} <= {f"click-button/{k}" for k in range(5)}
    assert drawn == hits.click_steps(path, "click-button", 3, seed=0)
    assert len(hits.click_steps(path, "click-button", 50, seed=0)) == 5


def test_the_request_carries_the_goal_and_the_previous_steps(tmp_path):
    hits = load_script("miniwob_click_hits")
    request = hits.request_for(_record("click-button", 1, previous="Step 1: pyautogui.click(x=0.1, y=0.2)"), tmp_path)
    assert request.goal == 'Click on the "ok" button.'
    assert request.previous_actions == ["Step 1: pyautogui.click(x=0.1, y=0.2)"]
    assert request.mode == Mode.SELF_PLAN and request.image == tmp_path / "images/click-button/1.png"
    assert hits.request_for(_record("click-button", 2), tmp_path).previous_actions == []


def test_a_miss_is_told_by_where_it_lands(tmp_path):
    hits = load_script("miniwob_click_hits")
    other = [0.6, 0.3, 0.8, 0.5]
    grounding = {"image": "images/click-button/1.png", "bbox": [BOX, other], "conversations": []}
    one_box = {"image": "images/click-button/2.png", "bbox": other, "conversations": []}
    path = tmp_path / "stage1.jsonl"
    path.write_text(json.dumps(grounding) + "\n" + json.dumps(one_box) + "\n", encoding="utf-8")
    boxes = hits.element_boxes(path)
    assert boxes == {"images/click-button/1.png": [BOX, other], "images/click-button/2.png": [other]}
    assert hits.element_boxes(tmp_path / "missing.jsonl") == {}
    on = boxes["images/click-button/1.png"]
    assert hits.landing(_actions("os\npyautogui.click(x=0.3, y=0.4)"), BOX, on) == "target"
    assert hits.landing(_actions("os\npyautogui.click(x=0.7, y=0.4)"), BOX, on) == "other element"
    assert hits.landing(_actions("os\npyautogui.click(x=0.5, y=0.9)"), BOX, on) == "elsewhere"
    assert hits.landing(_actions("os\npyautogui.write(message='ok')"), BOX, on) == "no click"
