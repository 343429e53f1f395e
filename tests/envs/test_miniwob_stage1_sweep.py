"""scripts/miniwob_stage1_sweep.py: the teacher-forced probe reads each answer back from its own tokens."""

from __future__ import annotations

import dataclasses

import torch

from aguvis.envs.miniwob.synth import SynthSettings, synthesise
from aguvis.model.load import load_model
from aguvis.model.tiny import TinyConfig
from aguvis.train.config import load_config
from tests.fixtures_models import save_tiny_checkpoint
from tests.fixtures_scripts import SCRIPTS, load_script


def test_label_spans_are_the_runs_of_supervised_positions():
    sweep = load_script("miniwob_stage1_sweep")
    labels = torch.tensor([-100, 5, 6, -100, -100, 7, -100, 8, 9])
    assert sweep._spans(labels) == [(1, 3), (5, 6), (7, 9)]


def _probe_with_next_tokens(tmp_path, fake_env, choose, points="none"):
    """The probe on a small synthesised data set (``points`` as ``synth miniwob --points``), fed a model
    whose logits at each position put ``choose(tokenizer, ids, i)`` first (``ids``: the input ids of the record)."""
    sweep = load_script("miniwob_stage1_sweep")
    data = tmp_path / "data"
    synthesise(data, {"click-button": 3}, SynthSettings(), make_env=fake_env, progress=False, points=points)
    loaded = load_model(save_tiny_checkpoint(tmp_path / "model", seed=0))
    vocab = loaded.model.config.get_text_config().vocab_size
    tokenizer = loaded.tokenizer

    class Scripted(torch.nn.Module):
        config = loaded.model.config

        def forward(self, input_ids, **_):
            ids = input_ids[0].tolist()
            logits = torch.zeros(1, len(ids), vocab)
            for i in range(len(ids) - 1):
                logits[0, i, choose(tokenizer, ids, i)] = 1.0
            return type("Out", (), {"logits": logits})()

    loaded.model = Scripted()
    return sweep.probe(loaded, data, None)


def test_a_model_that_predicts_every_label_scores_one(tmp_path, fake_env):
    """Every grounding answer is read back as a click inside its box and every referring answer is exact."""
    result = _probe_with_next_tokens(tmp_path, fake_env, lambda tokenizer, ids, i: ids[i + 1])
    assert result["summary"] == {
        "grounding-exact": 1.0,
        "grounding-hit": 1.0,
        "grounding-other": 0.0,
        "referring-exact": 1.0,
    }
    assert set(result["per_task"]["grounding-hit"]) == {"click-button"}


def test_a_click_is_read_as_greedy_generation_would_write_it():
    """An unsure last decimal loses the argmax to the comma: generation would end the number there."""
    sweep = load_script("miniwob_stage1_sweep")
    truth = ["(x", "=", "0", ".", "2", "5", "1", ",", " y", "=", "0", ".", "7", ")"]
    assert sweep.read_click(truth, truth) == (0.251, 0.7)
    early = ["(x", "=", "0", ".", "2", "5", ",", ",", " y", "=", "0", ".", "4", ")"]
    assert sweep.read_click(truth, early) == (0.25, 0.4)
    wrong = ["(x", "=", "0", ".", "6", "1", "3", ",", " y", "=", "0", ".", "7", ")"]
    assert sweep.read_click(truth, wrong) == (0.613, 0.7)
    assert sweep.read_click(truth, ["(x", "=", ",", *truth[3:]]) is None  # no number at all
    assert sweep.read_click(["answer"], ["answer"]) is None


def test_a_miss_on_another_queried_element_is_told_from_a_miss_on_nothing():
    from aguvis.eval.boxes import Box

    sweep = load_script("miniwob_stage1_sweep")
    boxes = [Box(0.1, 0.1, 0.3, 0.2), Box(0.5, 0.5, 0.7, 0.6), Box(0.0, 0.0, 1.0, 0.25)]  # the last holds the first
    assert sweep.landing((0.2, 0.15), boxes, 0) == "hit"
    assert sweep.landing((0.6, 0.55), boxes, 0) == "other"
    assert sweep.landing((0.9, 0.9), boxes, 0) == "none"
    assert sweep.landing((0.2, 0.15), boxes, 1) == "other"  # inside the first, and the container
    assert sweep.landing(None, boxes, 1) == "none"
    # an element of the same name (an option's label, asked for its radio button) is no other element
    assert sweep.landing((0.6, 0.55), boxes, 0, ["a", "a", "c"]) == "none"
    assert sweep.landing((0.6, 0.55), boxes, 0, ["a", "b", "c"]) == "other"


def test_an_answer_whose_last_decimals_end_early_still_hits_its_box(tmp_path, fake_env):
    """Teacher-forced, a model that writes the first decimals right and then the comma (where the
    true answer has a fourth decimal) clicks where greedy generation would: inside the box."""

    def early_comma(tokenizer, ids, i):
        digits = {tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)}
        fourth = i >= 5 and ids[i + 1] in digits and all(t in digits for t in ids[i - 2 : i + 1])
        return tokenizer.convert_tokens_to_ids(",") if fourth else ids[i + 1]

    result = _probe_with_next_tokens(tmp_path, fake_env, early_comma)
    assert result["summary"]["grounding-hit"] == 1.0 and result["summary"]["grounding-exact"] < 1.0


def test_with_named_points_the_point_line_decides_the_hit_not_the_click_that_copies_it(tmp_path, fake_env):
    """Teacher-forced, the click after a ``Point:`` line only copies the true line's digits; the probe reads
    the point the model wrote in that line."""
    perfect = _probe_with_next_tokens(tmp_path / "a", fake_env, lambda tokenizer, ids, i: ids[i + 1], "named")
    assert perfect["summary"]["grounding-hit"] == 1.0

    def first_decimal_wrong(tokenizer, ids, i):  # the first decimal after a name, in a Point line: 9 (or 1)
        text = tokenizer.decode(ids[max(0, i - 40) : i + 1])
        line = text.rsplit("Point: ", 1)[-1] if "Point: " in text else None
        after_name = line is not None and "\n" not in line and not line[-1:].isdigit()
        nxt = tokenizer.decode([ids[i + 1]])
        if after_name and nxt.isdigit() and " " not in line:  # the x coordinate's first decimal
            return tokenizer.convert_tokens_to_ids("9" if nxt != "9" else "1")
        return ids[i + 1]

    wrong = _probe_with_next_tokens(tmp_path / "b", fake_env, first_decimal_wrong, "named")
    assert wrong["summary"]["grounding-hit"] < 0.5  # the os click still copies the true digits


def test_every_variant_names_real_model_fields_config_keys_and_data():
    sweep = load_script("miniwob_stage1_sweep")
    fields = {f.name for f in dataclasses.fields(TinyConfig)}
    stage1 = SCRIPTS.parent / "configs" / "miniwob" / "stage1.yaml"
    for name, (files, overrides, shape) in sweep.VARIANTS.items():
        assert set(shape) <= fields, name
        load_config(stage1, overrides)  # the command's own loader: unknown keys and bad values raise
        for file in files:
            folder = file.split("/")[0]
            assert "/" not in file or folder in sweep.DRAWN, (name, file)


def test_an_accumulating_variant_trains_the_same_tokens_in_fewer_steps():
    sweep = load_script("miniwob_stage1_sweep")
    stage1 = SCRIPTS.parent / "configs" / "miniwob" / "stage1.yaml"
    _files, overrides, _shape = sweep.VARIANTS["referring-accum4"]
    assert sweep.same_tokens_steps(1600, stage1, overrides) == 400
    assert sweep.same_tokens_steps(1600, stage1, sweep.VARIANTS["referring"][1]) == 1600
    assert sweep.same_tokens_steps(3, stage1, ["batch.grad_accumulation=4"]) == 1
