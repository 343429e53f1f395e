"""Online evaluation: lanes, step limits, resume, report and strips (browser-free env)."""

from __future__ import annotations

import json

import pytest

from aguvis.actions import parse
from aguvis.chat.template import Mode
from aguvis.envs.miniwob.evaluate import (
    Decision,
    EvalSettings,
    ExpertPolicy,
    ModelPolicy,
    evaluate,
    read_results,
    strip_path,
)


class ScriptedPolicy:
    """Answers every step with the same code."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.asked = 0

    def start(self, task):
        pass

    def decide(self, turns):
        self.asked += len(turns)
        actions = parse(self.code) if self.code else []
        error = None if actions else "no action"
        return [Decision(self.code, actions, self.code or "nothing", error=error) for _ in turns]


YES = "pyautogui.click(x=0.1062, y=0.3333)"  # the 'yes' button of FakeButtonEnv


def run(tmp_path, policy, fake_env, episodes=4, name="scripted", mode=None):
    settings = EvalSettings(name, mode, episodes)
    return evaluate(tmp_path, ["click-button"], settings, policy, make_env=fake_env, progress=False)


def test_the_expert_wins_every_episode_through_the_text_path(tmp_path, fake_env):
    report = run(tmp_path, ExpertPolicy(), fake_env, name="expert")
    assert report["tasks"]["click-button"]["success_rate"] == 1.0
    assert report["mean_success_rate"] == 1.0


def test_an_expert_that_cannot_act_loses_the_episode_instead_of_stopping_the_run(tmp_path, fake_env, monkeypatch):
    from aguvis.envs.miniwob import experts

    def lost(utterance, page, frame, history):
        raise experts.ExpertError("no visible button 'yes' on the page")

    monkeypatch.setitem(experts.EXPERTS, "click-button", lost)
    report = run(tmp_path, ExpertPolicy(), fake_env, episodes=2, name="expert")
    assert report["tasks"]["click-button"]["successes"] == 0
    assert read_results(tmp_path)[0].errors[0] == "expert: no visible button 'yes' on the page"


def test_success_rate_and_mean_reward_count_every_episode(tmp_path, fake_env):
    report = run(tmp_path, ScriptedPolicy(YES), fake_env)  # right on even seeds only
    task = report["tasks"]["click-button"]
    assert (task["episodes"], task["successes"], task["mean_reward"]) == (4, 2, 0.0)


def test_an_episode_that_never_ends_fails_at_the_step_limit(tmp_path, fake_env):
    run(tmp_path, ScriptedPolicy("pyautogui.write(message='hello')"), fake_env, episodes=1)
    (result,) = read_results(tmp_path)
    assert (result.success, result.reward, result.steps) == (False, -1.0, 3)
    assert result.errors[-1] == "step limit 3 reached"


def test_a_reply_without_an_action_wastes_the_step(tmp_path, fake_env):
    run(tmp_path, ScriptedPolicy(""), fake_env, episodes=1)
    (result,) = read_results(tmp_path)
    assert result.steps == 3 and result.errors[0] == "no action"


def test_a_rerun_plays_only_the_episodes_not_yet_recorded(tmp_path, fake_env):
    run(tmp_path, ScriptedPolicy(YES), fake_env, episodes=2)
    policy = ScriptedPolicy(YES)
    report = run(tmp_path, policy, fake_env, episodes=4)
    assert policy.asked == 2 and fake_env.made[-1].resets == [1_000_002, 1_000_003]
    assert report["tasks"]["click-button"]["episodes"] == 4


def test_results_of_another_policy_are_not_mixed_in(tmp_path, fake_env):
    run(tmp_path, ScriptedPolicy(YES), fake_env, episodes=1)
    with pytest.raises(ValueError, match="another run"):
        run(tmp_path, ScriptedPolicy(YES), fake_env, episodes=1, name="other-model")


def test_a_torn_last_line_from_an_interrupted_run_is_ignored(tmp_path, fake_env):
    run(tmp_path, ScriptedPolicy(YES), fake_env, episodes=2)
    with (tmp_path / "episodes.jsonl").open("a") as file:
        file.write('{"task": "click-button", "se')
    assert len(read_results(tmp_path)) == 2


def test_one_strip_per_outcome_is_drawn_and_linked_from_the_report(tmp_path, fake_env):
    run(tmp_path, ScriptedPolicy(YES), fake_env)
    for success in (True, False):
        assert strip_path(tmp_path, "click-button", success).is_file()
    markdown = (tmp_path / "report.md").read_text()
    assert "(strips/click-button-failure.png)" in markdown and "| **mean over 1 tasks** | 4 | **0.500** |" in markdown


def test_every_browser_is_closed_at_the_end(tmp_path, fake_env):
    run(tmp_path, ScriptedPolicy(YES), fake_env, episodes=1)
    assert all(env.closed for env in fake_env.made)


class RecordingAgent:
    """Stands in for aguvis.agent.Agent: writes one instruction then a click, and records the requests."""

    mode = Mode.ENFORCED_PLAN

    def __init__(self):
        self.requests = []

    def predict_batch(self, requests):
        from aguvis.agent.prediction import prediction_from_reply

        self.requests += requests
        replies = []
        for request in requests:
            step = len(request.previous_actions)
            code = "pyautogui.write(message='x')" if step == 0 else YES
            reply = f"all\nThought: go.\nAction: step {step}<|im_end|>\n<|im_start|>assistant<|recipient|>os\n{code}"
            replies.append(prediction_from_reply(reply, *request.image.size))
        return replies


def test_the_model_sees_its_earlier_instructions_as_previous_actions(tmp_path, fake_env):
    agent = RecordingAgent()
    run(tmp_path, ModelPolicy(agent), fake_env, episodes=1, mode="enforced-plan")
    assert [r.previous_actions for r in agent.requests] == [[], ["step 0"]]
    assert {r.mode for r in agent.requests} == {Mode.ENFORCED_PLAN}
    assert json.loads((tmp_path / "run.json").read_text()) == {"policy": "scripted", "mode": "enforced-plan"}


class RunawayAgent(RecordingAgent):
    """Replies with no action and template tokens in the text, as an undertrained model does."""

    def predict_batch(self, requests):
        from aguvis.agent.prediction import prediction_from_reply

        self.requests += requests
        reply = "all\nThought: go.<|im_end|>\n<|im_start|>assistant<|recipient|>all\nThought: <|vision_start|>again"
        return [prediction_from_reply(reply, *r.image.size) for r in requests]


def test_a_reply_full_of_template_tokens_wastes_its_step_but_never_breaks_the_next_prompt(tmp_path, fake_env):
    agent = RunawayAgent()
    run(tmp_path, ModelPolicy(agent), fake_env, episodes=1, mode="enforced-plan")
    later = [r.previous_actions for r in agent.requests if r.previous_actions]
    assert later and all("<|" not in entry for entries in later for entry in entries)
    (result,) = read_results(tmp_path)
    assert not result.success and result.steps == len(agent.requests)
