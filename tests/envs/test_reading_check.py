"""scripts/reading_check.py: crops around the asked button, its label, and a short training run."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image

from tests.fixtures_scripts import SCRIPTS, load_script


@pytest.fixture(scope="module")
def screens(tmp_path_factory):
    check = load_script("pointing_check")
    folder = tmp_path_factory.mktemp("screens")
    return check.draw(folder, 16, seed=5, placement="anywhere", look="button-pair"), check.BUTTON_WORDS


def test_each_crop_is_the_screen_around_the_asked_button_labelled_with_its_word(screens):
    records, words = screens
    reading = load_script("reading_check")
    items = reading.examples(records, (84, 56), 3, random.Random(0), words)
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(items) == 3 * len(lines)
    for k, item in enumerate(items):
        record = lines[k // 3]
        assert words[item["label"]] == record["conversations"][0]["value"].split()[2]
        screen = Image.open(records.parent / record["image"]).convert("RGB")
        x, y = (round(c * screen.width) for c in record["centre"])
        bx, by = item["button"]
        assert item["image"].size == (84, 56)
        assert 20 <= bx <= 84 - 20 and 10 <= by <= 56 - 10  # the whole 40 x 20 button is inside
        left, top = x - bx, y - by
        inside = screen.crop((max(left, 0), max(top, 0), min(left + 84, 224), min(top + 56, 224)))
        corner = (max(-left, 0), max(-top, 0))
        shown = item["image"].crop((*corner, corner[0] + inside.width, corner[1] + inside.height))
        assert np.array_equal(np.asarray(shown), np.asarray(inside))


def test_on_whole_screens_the_head_reads_the_merged_token_that_holds_the_button_centre(screens):
    records, words = screens
    reading = load_script("reading_check")
    items = reading.examples(records, None, 1, random.Random(0), words)
    for item, line in zip(items, records.read_text().splitlines(), strict=True):
        x, y = json.loads(line)["centre"]
        assert item["image"].size == (224, 224)
        assert item["cell"] == (round(y * 224) // 28, round(x * 224) // 28)  # centres are whole pixels


@pytest.mark.parametrize("crop", ["85x56", "28x28", "84", "wide"])
def test_a_crop_must_be_whole_merged_tokens_holding_a_button(tmp_path, crop):
    reading = load_script("reading_check")
    with pytest.raises(SystemExit) as exit_info:
        reading.main(["--out", str(tmp_path), "--crop", crop])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("head", ["concat", "token"])
def test_a_short_run_scores_the_held_out_crops_at_each_evaluation(tmp_path, monkeypatch, head):
    reading = load_script("reading_check")
    monkeypatch.chdir(SCRIPTS.parent)
    out = tmp_path / "check"
    sizes = ["--screens", "24", "--heldout", "10", "--steps", "4", "--batch", "8", "--eval-every", "2"]
    assert reading.main(["--out", str(out), *sizes, "--head", head]) == 0
    results = json.loads((out / "check.json").read_text())
    assert results["head"] == head
    assert [h["step"] for h in results["history"]] == [2, 4]
    assert all(0.0 <= h["heldout_accuracy"] <= 1.0 and np.isfinite(h["loss"]) for h in results["history"])
    assert results["crop"] == [84, 56]


def test_the_saved_model_has_the_trained_tower_and_the_random_decoder(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    reading = load_script("reading_check")
    monkeypatch.chdir(SCRIPTS.parent)
    out, saved = tmp_path / "check", tmp_path / "reading-tower"
    sizes = ["--screens", "16", "--heldout", "4", "--steps", "2", "--batch", "8", "--eval-every", "2"]
    assert reading.main(["--out", str(out), *sizes, "--save-model", str(saved)]) == 0
    before, after = load_file(out / "init" / "model.safetensors"), load_file(saved / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {name for name in before if not (before[name] == after[name]).all()}
    assert changed and all(".visual." in name or name.startswith("visual.") for name in changed)
    assert (saved / "preprocessor_config.json").is_file() and (saved / "tokenizer.json").is_file()


def test_the_token_head_scores_each_token_alone_and_keeps_the_best():
    import torch

    reading = load_script("reading_check")
    features = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # one example, two tokens of width 2
    data = {"patches": torch.zeros(1, 4, 3), "grid": torch.tensor([[1, 2, 2]]), "picks": torch.tensor([[0, 1]])}

    class Tower(torch.nn.Module):
        def forward(self, patches, grid_thw):
            return type("Out", (), {"pooler_output": features.reshape(-1, 2)})()

    head = torch.nn.Linear(2, 2, bias=False)
    head.weight.data = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # word 0 from the first feature, word 1 from the second
    scores = reading.logits(Tower(), head, data, torch.tensor([0]), "token")
    assert scores.tolist() == [[1.0, 2.0]]  # token 0 scores (1, 0), token 1 (0, 2): the best of each


def test_the_embedding_head_is_the_decoders_fixed_embedding_of_each_words_token(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    reading = load_script("reading_check")
    check = load_script("pointing_check")
    monkeypatch.chdir(SCRIPTS.parent)
    out, saved = tmp_path / "check", tmp_path / "reading-tower"
    sizes = ["--screens", "16", "--heldout", "4", "--steps", "2", "--batch", "8", "--eval-every", "2"]
    spied = {}
    real_logits = reading.logits

    def spy(tower, head, data, chosen, kind="concat"):
        spied["head"], spied["kind"] = head, kind
        return real_logits(tower, head, data, chosen, kind)

    monkeypatch.setattr(reading, "logits", spy)
    argv = ["--out", str(out), *sizes, "--words", "tokens", "--head", "embedding", "--save-model", str(saved)]
    assert reading.main(argv) == 0
    from aguvis.model.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    ids = [tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in check.WHOLE_TOKEN_WORDS]
    embedding = load_file(saved / "model.safetensors")["model.language_model.embed_tokens.weight"]
    assert spied["kind"] == "embedding" and not spied["head"].weight.requires_grad
    assert (spied["head"].weight == embedding[ids]).all()  # after training: the decoder's rows, unchanged
    with pytest.raises(SystemExit):
        reading.main(["--out", str(tmp_path / "mixed"), "--head", "embedding"])  # needs whole-token words


def test_the_embedding_head_scores_cosines_whatever_the_tokens_norm():
    import torch

    reading = load_script("reading_check")
    features = torch.tensor([[[30.0, 0.0], [0.0, 0.5]]])  # a long token and a short one
    data = {"patches": torch.zeros(1, 4, 3), "grid": torch.tensor([[1, 2, 2]]), "picks": torch.tensor([[0, 1]])}

    class Tower(torch.nn.Module):
        def forward(self, patches, grid_thw):
            return type("Out", (), {"pooler_output": features.reshape(-1, 2)})()

    head = torch.nn.Linear(2, 2, bias=False)
    head.weight.data = torch.tensor([[0.2, 0.0], [0.0, 0.1]])  # small rows, as a random embedding's
    scores = reading.logits(Tower(), head, data, torch.tensor([0]), "embedding")
    assert torch.allclose(scores, torch.tensor([[1.0, 1.0]]) * reading.COSINE_SCALE)
