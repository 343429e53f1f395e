"""Data synthesis: expert episodes -> trajectories -> stage-1/stage-2 records (browser-free env)."""

from __future__ import annotations

import json

import pytest

from aguvis.actions import parse
from aguvis.data import load_mixture, read_records, validate_file
from aguvis.data.augment import point_text, shift_record
from aguvis.envs.miniwob.synth import SynthSettings, synthesise, trajectory_path


@pytest.fixture
def made(tmp_path, fake_env):
    out = tmp_path / "data"
    results = synthesise(out, {"click-button": 4}, SynthSettings(), make_env=fake_env, progress=False)
    return out, results


def test_every_won_episode_is_kept_with_one_screenshot_per_step(made):
    out, results = made
    assert [e.seed for e in results[0].episodes] == [0, 1, 2, 3]
    for episode in results[0].episodes:
        assert (out / episode.steps[0].image).is_file()


def test_the_record_files_are_valid_aguvis_records(made):
    out, _ = made
    for name in ("stage1.jsonl", "stage1-referring.jsonl", "stage2-l1.jsonl", "stage2-l2.jsonl", "stage2-l3.jsonl"):
        assert list(validate_file(out / name)) == [], name


def test_stage_one_packs_the_queries_of_one_screen_into_one_conversation(made):
    out, _ = made
    record = next(read_records(out / "stage1.jsonl"))
    humans = [t.value for t in record.conversations if t.role == "human"]
    assert humans[0].startswith("<image>") and not any(h.startswith("<image>") for h in humans[1:])
    assert len(record.extra["bbox"]) == len(humans) == 2


def test_referring_records_ask_what_is_at_each_grounded_point(made):
    out, _ = made
    grounding, referring = next(read_records(out / "stage1.jsonl")), next(read_records(out / "stage1-referring.jsonl"))
    clicks = [parse(t.value)[0].args for t in grounding.conversations if t.role == "gpt"]
    assert [t.value for t in referring.conversations] == [
        f"<image>What is at {point_text(clicks[0]['x'], clicks[0]['y'])}?", "button 'no'",
        f"What is at {point_text(clicks[1]['x'], clicks[1]['y'])}?", "button 'yes'",
    ]
    assert [t.recipient for t in referring.conversations if t.role == "gpt"] == ["all", "all"]
    assert referring.extra["query_points"] == [[c["x"], c["y"]] for c in clicks]
    moved = shift_record(referring, 0.01, 0.0)  # the questions move with the screen
    assert moved.conversations[0].value == f"<image>What is at {point_text(clicks[0]['x'] + 0.01, clicks[0]['y'])}?"


def test_stage_two_has_one_record_per_step_and_level_with_the_episodes_goal(made):
    out, _ = made
    records = list(read_records(out / "stage2-l3.jsonl"))
    assert len(records) == 4
    assert 'Instruction: Click on the "no" button.' in records[1].conversations[1].value
    assert records[1].conversations[2].value.startswith("Thought: ")


def test_the_mixtures_resolve_to_the_record_files(made):
    out, _ = made
    entries = load_mixture(out / "stage2.yaml")
    assert sorted(e.json_path.name for e in entries) == ["stage2-l1.jsonl", "stage2-l2.jsonl", "stage2-l3.jsonl"]


def test_the_manifest_counts_what_was_written(made):
    out, _ = made
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tasks"]["click-button"] == {"episodes": 4, "lost": 0, "steps": 4}
    assert manifest["image_bytes"] == sum(p.stat().st_size for p in (out / "images").rglob("*.png"))


def test_a_rerun_with_the_same_settings_plays_nothing_again(made, fake_env):
    out, _ = made
    envs, before = len(fake_env.made), trajectory_path(out, "click-button").stat().st_mtime_ns
    synthesise(out, {"click-button": 4}, SynthSettings(), make_env=fake_env, progress=False)
    assert len(fake_env.made) == envs and trajectory_path(out, "click-button").stat().st_mtime_ns == before


def test_a_lost_episode_is_dropped_with_its_screenshots(tmp_path, fake_env, monkeypatch):
    from aguvis.envs.miniwob import experts

    def wrong(utterance, page, frame, history):  # always clicks 'yes': loses every odd seed
        return experts.click_button('Click on the "yes" button.', page, frame, history)

    monkeypatch.setitem(experts.EXPERTS, "click-button", wrong)
    results = synthesise(tmp_path, {"click-button": 2}, SynthSettings(), make_env=fake_env, progress=False)
    assert results[0].lost == [1] and [e.seed for e in results[0].episodes] == [0]
    assert sorted(p.name for p in (tmp_path / "images" / "click-button").iterdir()) == ["0000000-00.png"]


def test_an_episode_the_expert_cannot_finish_is_dropped(tmp_path, fake_env, monkeypatch):
    from aguvis.envs.miniwob import experts

    def stuck(utterance, page, frame, history):
        raise experts.ExpertError("no visible button")

    monkeypatch.setitem(experts.EXPERTS, "click-button", stuck)
    results = synthesise(tmp_path, {"click-button": 2}, SynthSettings(), make_env=fake_env, progress=False)
    assert results[0].lost == [0, 1] and results[0].episodes == []


def test_evaluation_seeds_are_refused_for_data(tmp_path, fake_env):
    with pytest.raises(ValueError, match="kept for evaluation"):
        synthesise(tmp_path, {"click-button": 10}, SynthSettings(seed_start=999_995), make_env=fake_env)
    assert fake_env.made == []


def test_changing_a_tasks_episode_count_plays_it_again(made, fake_env):
    out, _ = made
    results = synthesise(out, {"click-button": 5}, SynthSettings(), make_env=fake_env, progress=False)
    assert len(results[0].episodes) == 5


def test_fewer_episodes_of_a_task_leave_no_screens_of_the_dropped_ones(made, fake_env):
    out, _ = made
    synthesise(out, {"click-button": 2}, SynthSettings(), make_env=fake_env, progress=False)
    names = sorted(p.name for p in (out / "images" / "click-button").iterdir())
    assert names == ["0000000-00.png", "0000001-00.png"]


def _by_role(record, role):
    return [turn.value for turn in record.conversations if turn.role == role]


def test_instruction_points_put_each_clicks_point_in_its_instruction_and_move_with_the_screen():
    from aguvis.envs.miniwob.synth import Episode, Step, planning_records

    image = "images/click-button-sequence/0-0{}.png"
    first = Step(image.format(0), "pyautogui.click(x=0.2, y=0.3)", "Click 'ONE'", "t", "o", [0.1, 0.2, 0.3, 0.4], [])
    second = Step(image.format(1), "pyautogui.click(x=0.6, y=0.3)", "Click 'TWO'", "t", "o", [0.5, 0.2, 0.7, 0.4], [])
    episode = Episode("click-button-sequence", 0, "Click button ONE, then click button TWO.", 1.0, [first, second])
    plain = list(planning_records(episode, "l2"))
    l1 = list(planning_records(episode, "l1", points="instruction"))
    l2 = list(planning_records(episode, "l2", points="instruction"))
    assert [r.conversations for r in l1] == [r.conversations for r in planning_records(episode, "l1")]
    assert "reply_points" not in plain[0].extra and "reply_points" not in l1[0].extra
    assert _by_role(l2[0], "gpt") == ["Action: Click 'ONE' at (x=0.2, y=0.3)", "pyautogui.click(x=0.2, y=0.3)"]
    assert [r.extra["reply_points"] for r in l2] == [[[0.2, 0.3]], [[0.6, 0.3]]]
    assert "Click 'ONE' at (x=0.2, y=0.3)" in _by_role(l2[1], "human")[0]  # the previous step, as written
    moved = shift_record(l2[1], 0.1, 0.1)
    assert _by_role(moved, "gpt") == ["Action: Click 'TWO' at (x=0.7, y=0.4)", "pyautogui.click(x=0.7, y=0.4)"]
    assert "Click 'ONE' at (x=0.2, y=0.3)" in _by_role(moved, "human")[0]  # an earlier screen's point stays


def test_named_points_follow_the_instruction_and_move_with_the_screen_but_stay_out_of_the_history():
    from aguvis.envs.miniwob.synth import Episode, Step, planning_records

    image = "images/click-button-sequence/0-0{}.png"
    first = Step(image.format(0), "pyautogui.click(x=0.2, y=0.35)", "Click 'ONE'", "t", "o", [0.1, 0.2, 0.3, 0.4], [])
    second = Step(image.format(1), "pyautogui.click(x=0.6, y=0.3)", "Click 'TWO'", "t", "o", [0.5, 0.2, 0.7, 0.4], [])
    episode = Episode("click-button-sequence", 0, "Click button ONE, then click button TWO.", 1.0, [first, second])
    l1 = list(planning_records(episode, "l1", points="named"))
    l3 = list(planning_records(episode, "l3", points="named"))
    assert [r.conversations for r in l1] == [r.conversations for r in planning_records(episode, "l1")]
    assert _by_role(l3[0], "gpt") == ["Thought: o t\nAction: Click 'ONE'\nPoint: ONE2 ONE35", "pyautogui.click(x=0.2, y=0.35)"]
    assert [r.extra["reply_names"] for r in l3] == [["ONE"], ["TWO"]]
    assert "Click 'ONE'\n" in _by_role(l3[1], "human")[0] and "ONE2" not in _by_role(l3[1], "human")[0]
    moved = shift_record(l3[1], 0.1, 0.1)
    assert _by_role(moved, "gpt") == ["Thought: o t\nAction: Click 'TWO'\nPoint: TWO7 TWO4", "pyautogui.click(x=0.7, y=0.4)"]
    assert moved.extra["reply_points"] == [[0.7, 0.4]]


def test_named_points_answer_every_stage1_query_before_its_click(tmp_path, fake_env):
    out = tmp_path / "data"
    synthesise(out, {"click-button": 2}, SynthSettings(), make_env=fake_env, progress=False, points="named")
    assert json.loads((out / "manifest.json").read_text())["points"] == "named"
    record = next(read_records(out / "stage1.jsonl"))
    turns = record.conversations[1:] if record.conversations[0].role == "system" else record.conversations
    for i, (x, y) in enumerate(record.extra["reply_points"]):
        name = record.extra["reply_names"][i]
        point, click = turns[3 * i + 1], turns[3 * i + 2]
        assert (point.recipient, point.end_turn, click.recipient) == ("all", False, "os")
        assert point.value == f"Point: {name}{str(x)[2:]} {name}{str(y)[2:]}"
        assert parse(click.value)[0].args == {"x": x, "y": y}
    moved = shift_record(record, 0.01, 0.0)
    assert [p[0] for p in moved.extra["reply_points"]] == [round(x + 0.01, 4) for x, _ in record.extra["reply_points"]]
    assert list(validate_file(out / "stage1.jsonl")) == []


def test_a_target_is_named_by_its_quoted_words_or_by_what_the_instruction_calls_it():
    from aguvis.envs.miniwob.synth import target_name

    assert target_name("Check the 'lorem' checkbox") == "lorem"
    assert target_name("Click 'Tab #2'") == "Tab #2"
    assert target_name("Open the folder 'Marcela'") == "Marcela"
    assert target_name("Click the second text box") == "second text box"
    with pytest.raises(ValueError, match="no name"):
        target_name("Click")
