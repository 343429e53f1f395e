"""A real (tiny, random) Qwen2-VL plays through the agent, end to end, without a browser."""

from __future__ import annotations

from aguvis.chat.template import Mode
from aguvis.envs.miniwob.evaluate import EvalSettings, ModelPolicy, evaluate, read_results
from aguvis.envs.miniwob.monologue import SYSTEM_PROMPT


def test_a_local_model_plays_episodes_and_every_reply_is_recorded(tmp_path, fake_env):
    from aguvis.agent import Agent
    from aguvis.agent.local import LocalBackend
    from aguvis.chat.vision import build_image_processor
    from aguvis.model.load import Loaded
    from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    loaded = Loaded(build_tiny_model(tokenizer, seed=0), tokenizer, build_image_processor())
    agent = Agent(LocalBackend(loaded), Mode.SELF_PLAN, SYSTEM_PROMPT, max_new_tokens=12)
    evaluate(
        tmp_path,
        ["click-button"],
        EvalSettings("tiny", "self-plan", 2),
        ModelPolicy(agent),
        make_env=fake_env,
        progress=False,
    )
    results = read_results(tmp_path)
    assert [r.seed for r in results] == [1_000_000, 1_000_001]
    assert all(1 <= r.steps <= 3 and len(r.replies) == r.steps for r in results)


def test_the_model_sees_screens_exactly_as_the_training_data_stores_them(tmp_path):
    from PIL import Image, ImageDraw

    from aguvis.envs.miniwob.images import save_png

    capture = Image.new("RGB", (320, 420), "white")
    draw = ImageDraw.Draw(capture)
    for i in range(60):  # more colours than the palette holds: anti-aliased text, gradients
        draw.rectangle([i * 5, i * 7, i * 5 + 40, i * 7 + 9], fill=(4 * i, 255 - 3 * i, (17 * i) % 256))
        draw.text((5, 5 + i * 6), f"label {i}", fill=(i, i, i))
    save_png(capture, tmp_path / "screen.png")
    stored = Image.open(tmp_path / "screen.png").convert("RGB")
    seen = ModelPolicy(agent=None).observe(capture)
    assert seen.mode == "RGB" and seen.tobytes() == stored.tobytes()
    assert seen.tobytes() != capture.tobytes()
    assert ModelPolicy(agent=None, colours=None).observe(capture) is capture
