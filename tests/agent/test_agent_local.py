"""LocalBackend + Agent on the tiny random model: determinism, batching, modes."""

from __future__ import annotations

import torch

from aguvis.agent import Agent, Request
from aguvis.agent.local import LocalBackend
from aguvis.agent.prompt import build_prompt
from aguvis.chat.template import Mode
from aguvis.model.load import Loaded, load_model

GOAL = "Open the settings"


def test_saved_checkpoint_reloads_and_predicts_identically(tiny_model_dir, screens, tmp_path):
    from aguvis.model.checkpoint import save_checkpoint_hf

    first = load_model(tiny_model_dir)
    again = save_checkpoint_hf(first.model, first.tokenizer, first.image_processor, tmp_path / "resaved")
    before = Agent(LocalBackend(first), Mode.SELF_PLAN, max_new_tokens=12).predict(screens[0], GOAL)
    after = Agent(LocalBackend(again), Mode.SELF_PLAN, max_new_tokens=12).predict(screens[0], GOAL)
    assert after.raw == before.raw and after.raw


def test_batch_predictions_equal_one_by_one_predictions(tiny_backend, screens):
    requests = [Request(screen, f"{GOAL} {i}", mode=mode) for i, screen in enumerate(screens) for mode in Mode]
    agent = Agent(tiny_backend, max_new_tokens=10)
    batched = agent.predict_batch(requests)
    single = [agent.predict_batch([request])[0] for request in requests]
    assert [p.raw for p in batched] == [p.raw for p in single]


def test_enforced_plan_output_starts_with_a_thought(tiny_backend, screens):
    prediction = Agent(tiny_backend, Mode.ENFORCED_PLAN, max_new_tokens=8).predict(screens[0], GOAL)
    assert prediction.raw.startswith("all\nThought:")
    assert prediction.recipient == "all"
    assert prediction.thought.startswith("Thought:")


def test_grounding_output_is_addressed_to_os(tiny_backend, screens):
    prediction = Agent(tiny_backend, Mode.GROUNDING, max_new_tokens=8).predict(screens[0], "Click OK")
    assert prediction.raw.startswith("os\n")


def test_unparseable_model_output_gives_a_prediction_with_error(tiny_backend, screens):
    # An untrained model writes noise; the agent reports it instead of raising.
    prediction = Agent(tiny_backend, Mode.GROUNDING, max_new_tokens=8).predict(screens[0], "Click OK")
    assert prediction.error is not None
    assert prediction.actions == [] and len(prediction.raw) > len("os\n")


def test_generation_stops_at_the_token_budget(tiny_backend, screens):
    (generation,) = tiny_backend.generate_prompts([build_prompt(Request(screens[1], GOAL))], max_new_tokens=5)
    assert generation.completion_tokens <= 5
    assert generation.prompt_tokens > 0


class ScriptedModel:
    """Stands in for the model's ``generate``: each step proposes the script's
    next token (the pieces laid end to end) and lets the backend's logits
    processors and stopping criteria act on it, as ``generate`` does. A token
    the processors force instead is written without using up the script.
    So the backend's stop and continuation rules can be checked on replies a
    random model would never write."""

    def __init__(self, model, pieces: list[list[int]]) -> None:
        self.model, self.script, self.inputs, self.used = model, [t for p in pieces for t in p], [], 0
        self.config, self.device, self.dtype = model.config, model.device, model.dtype

    def eval(self):
        return self

    def generate(self, input_ids, generation_config, logits_processor, stopping_criteria, **_):
        self.inputs.append(input_ids)
        vocabulary = len(self.model.get_input_embeddings().weight)
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
        for _step in range(generation_config.max_new_tokens):
            scores = torch.zeros(input_ids.shape[0], vocabulary)
            scores[:, self.script[self.used] if self.used < len(self.script) else generation_config.pad_token_id] = 1.0
            scores = logits_processor(input_ids, scores)
            token = scores.argmax(dim=-1)
            forced = int(torch.isfinite(scores[0]).sum()) == 1
            if not forced and not done[0] and self.used < len(self.script):
                self.used += 1
            token = torch.where(done, generation_config.pad_token_id, token)
            input_ids = torch.cat([input_ids, token[:, None]], dim=1)
            done |= (token == generation_config.eos_token_id) | stopping_criteria(input_ids, scores)
            if done.all():
                break
        return input_ids


def _scripted_backend(tiny_model_dir, *texts: str) -> tuple[LocalBackend, ScriptedModel]:
    loaded = load_model(tiny_model_dir)
    encode = lambda text: loaded.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    model = ScriptedModel(loaded.model, [encode(text) for text in texts])
    return LocalBackend(Loaded(model, loaded.tokenizer, loaded.image_processor)), model


def test_self_plan_monologue_closed_by_im_end_is_continued_to_os(tiny_model_dir, screens):
    backend, model = _scripted_backend(
        tiny_model_dir, "all\nThought: Save first.<|im_end|>", "pyautogui.click(x=0.5, y=0.25)<|diff_marker|>"
    )
    prediction = Agent(backend, Mode.SELF_PLAN, max_new_tokens=64).predict(screens[0], GOAL)
    assert prediction.raw == (
        "all\nThought: Save first.<|im_end|>\n<|im_start|>assistant<|recipient|>os\npyautogui.click(x=0.5, y=0.25)"
    )
    assert (prediction.thought, prediction.error) == ("Thought: Save first.", None)
    assert prediction.pixel_actions == [{"name": "pyautogui.click", "args": {"x": 112, "y": 35}}]
    assert len(model.inputs) == 1  # the continuation is forced inside the one generate call
    assert model.used == len(model.script)  # and the model's own tokens went on after it


def test_reply_ended_by_diff_marker_is_not_continued(tiny_model_dir, screens):
    backend, model = _scripted_backend(tiny_model_dir, "os\npyautogui.click(x=0.5, y=0.25)<|diff_marker|>")
    prediction = Agent(backend, Mode.SELF_PLAN, max_new_tokens=64).predict(screens[0], GOAL)
    assert len(model.inputs) == 1
    assert prediction.recipient == "os" and prediction.error is None


def test_os_message_closed_by_im_end_is_not_continued(tiny_model_dir, screens):
    backend, model = _scripted_backend(tiny_model_dir, "pyautogui.click(x=0.5, y=0.25)<|im_end|>")
    prediction = Agent(backend, Mode.GROUNDING, max_new_tokens=64).predict(screens[0], "Click OK")
    assert len(model.inputs) == 1
    assert prediction.actions and prediction.error is None


def test_reply_is_continued_at_most_once(tiny_model_dir, screens):
    # The os message itself opens another `all` message: no second continuation.
    backend, model = _scripted_backend(
        tiny_model_dir, " a<|im_end|>", "<|im_start|>assistant<|recipient|>all\nThought: b<|im_end|>", "never used"
    )
    prediction = Agent(backend, Mode.ENFORCED_PLAN, max_new_tokens=64).predict(screens[0], GOAL)
    assert len(model.inputs) == 1
    assert model.used == len(model.script) - len(backend.tokenizer.encode("never used", add_special_tokens=False))
    assert prediction.thought == "Thought: a\nThought: b"
    assert prediction.error is not None  # the os message holds no code


def test_no_continuation_when_the_budget_cannot_hold_it_and_an_action(tiny_model_dir, screens):
    monologue = "all\nThought: Save first.<|im_end|>"
    backend, model = _scripted_backend(tiny_model_dir, monologue, "pyautogui.click(x=0.5, y=0.25)<|diff_marker|>")
    budget = len(backend.tokenizer.encode(monologue, add_special_tokens=False)) + len(backend.continuation_ids)
    (generation,) = backend.generate_prompts([build_prompt(Request(screens[0], GOAL))], max_new_tokens=budget)
    assert generation.finish_reason == "stop" and generation.text.endswith("Thought: Save first.")
    assert generation.completion_tokens == budget - len(backend.continuation_ids)
