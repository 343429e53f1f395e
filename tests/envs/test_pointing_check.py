"""scripts/pointing_check.py: the square screens and the reading of the cell a model names."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from aguvis.model.tiny import build_tiny_tokenizer
from tests.fixtures_scripts import load_script


def test_each_screen_has_its_square_in_the_named_cell_and_the_answer_at_its_centre(tmp_path):
    check = load_script("pointing_check")
    records = check.draw(tmp_path / "screens", 12, seed=3)
    cell = check.SIDE // check.CELLS
    for line in records.read_text().splitlines():
        record = json.loads(line)
        row, col = record["cell"]
        image = Image.open(records.parent / record["image"]).convert("L")
        centre = (col * cell + cell // 2, row * cell + cell // 2)
        assert image.getpixel(centre) == 0
        assert image.histogram()[0] == 20 * 20  # nothing else is drawn
        answer = record["conversations"][1]["value"]
        assert answer == f"pyautogui.click(x={centre[0] / check.SIDE:.4f}, y={centre[1] / check.SIDE:.4f})"


def test_every_cell_centre_has_its_own_first_decimal():
    check = load_script("pointing_check")
    decimals = [check._first_decimal((c + 0.5) / check.CELLS) for c in range(check.CELLS)]
    assert len(set(decimals)) == check.CELLS


def test_the_cell_read_is_the_predicted_digit_at_each_coordinates_first_decimal():
    check = load_script("pointing_check")
    tokenizer = build_tiny_tokenizer()
    truth = tokenizer("pyautogui.click(x=0.4375, y=0.8125)")["input_ids"]
    predicted = tokenizer("pyautogui.click(x=0.9375, y=0.8,25)")["input_ids"]
    assert len(predicted) == len(truth)
    assert check._first_decimals(tokenizer, truth, truth) == (4, 8)
    assert check._first_decimals(tokenizer, predicted, truth) == (9, 8)


@pytest.mark.parametrize("spec", ["fp32:precision", "reference:precision=fp32", ":precision=fp32"])
def test_a_packed_variant_needs_a_new_name_and_key_value_overrides(tmp_path, spec):
    check = load_script("pointing_check")
    with pytest.raises(SystemExit) as exit_info:
        check.main(["--out", str(tmp_path), "--packed", spec])
    assert exit_info.value.code == 2
