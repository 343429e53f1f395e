"""scripts/miniwob_stage1_sweep.py: the teacher-forced probe reads each answer back from its own tokens."""

from __future__ import annotations

import torch

from aguvis.envs.miniwob.synth import SynthSettings, synthesise
from aguvis.model.load import load_model
from tests.fixtures_models import save_tiny_checkpoint
from tests.fixtures_scripts import load_script


def test_label_spans_are_the_runs_of_supervised_positions():
    sweep = load_script("miniwob_stage1_sweep")
    labels = torch.tensor([-100, 5, 6, -100, -100, 7, -100, 8, 9])
    assert sweep._spans(labels) == [(1, 3), (5, 6), (7, 9)]


def test_a_model_that_predicts_every_label_scores_one(tmp_path, fake_env):
    """The probe is fed a model whose logits put each position's label first: every grounding
    answer is then read back as a click inside its box and every referring answer is exact."""
    sweep = load_script("miniwob_stage1_sweep")
    data = tmp_path / "data"
    synthesise(data, {"click-button": 3}, SynthSettings(), make_env=fake_env, progress=False)
    model_dir = save_tiny_checkpoint(tmp_path / "model", seed=0)

    loaded = load_model(model_dir)
    vocab = loaded.model.config.get_text_config().vocab_size

    class Oracle(torch.nn.Module):
        config = loaded.model.config

        def forward(self, input_ids, **_):
            logits = torch.zeros(1, input_ids.shape[1], vocab)
            logits[0, torch.arange(input_ids.shape[1] - 1), input_ids[0, 1:]] = 1.0
            return type("Out", (), {"logits": logits})()

    loaded.model = Oracle()
    result = sweep.probe(loaded, data, None)
    assert result["summary"] == {"grounding-exact": 1.0, "grounding-hit": 1.0, "referring-exact": 1.0}
    assert set(result["per_task"]["grounding-hit"]) == {"click-button"}
