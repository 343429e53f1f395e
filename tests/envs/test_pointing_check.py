"""scripts/pointing_check.py: the square screens and the reading of the cell a model names."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from aguvis.model.tiny import build_tiny_tokenizer
from tests.fixtures_scripts import SCRIPTS, load_script


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


@pytest.mark.parametrize(
    "extra",
    [
        ["--questions", "0", "--look", "button-pair"],
        ["--questions", "2"],
        ["--questions", "2", "--look", "button"],
        ["--buttons", "7", "--look", "button-pair"],
        ["--buttons", "3", "--look", "button"],
        ["--ask-by", "side", "--look", "button-pair", "--buttons", "3"],
        ["--refer", "--look", "button"],
        ["--no-screen", "--look", "button-pair"],
        ["--list-last", "--look", "button-pair"],
    ],
)
def test_more_questions_or_buttons_need_a_button_pair(tmp_path, extra):
    check = load_script("pointing_check")
    with pytest.raises(SystemExit) as exit_info:
        check.main(["--out", str(tmp_path), "--placement", "anywhere", *extra])
    assert exit_info.value.code == 2


def _check_without_training(tmp_path, monkeypatch, *extra: str) -> dict:
    check = load_script("pointing_check")
    monkeypatch.chdir(SCRIPTS.parent)  # the script names configs/ and scripts/ from the repository root
    out = tmp_path / "check"
    check.main(
        [
            "--out",
            str(out),
            "--screens",
            "48",
            "--batch",
            "8",
            "--steps",
            "10",
            "--shape",
            "absolute_position_grid=8",
            "--compare-trainer",
            "--compare-steps",
            "7",
            "--no-train",
            *extra,
        ]
    )
    return json.loads((out / "check.json").read_text())


@pytest.mark.slow
def test_the_trainer_computes_each_step_as_a_plain_model_does_and_the_packed_forward_as_the_model_own(
    tmp_path, monkeypatch
):
    results = _check_without_training(tmp_path, monkeypatch, "--compare")
    summary = results["compare_trainer"]["packed"]["summary"]
    assert summary["steps"] == 7  # 6 steps per epoch: the second epoch's loader is checked too
    assert summary["pixels_wrong"] == 0
    assert summary["min_grad_cosine"] > 0.9999
    assert summary["min_update_cosine"] > 0.999
    compare = results["compare"]
    reference = compare["float32 reference"]["loss"]
    # bf16 rounding depends on the CPU's kernels (0.95 to 0.99 of the fp32 gradient); the packed
    # forward in bf16 must be as close to fp32 as the model's own forward in bf16
    bf16 = compare["bfloat16 reference"]["grad_cosine"]
    assert bf16 > 0.9
    for kernel in ("varlen", "sdpa"):
        assert compare[f"float32 {kernel}"]["loss"] == pytest.approx(reference, abs=1e-4)
        assert compare[f"float32 {kernel}"]["grad_cosine"] > 0.9999
        assert compare[f"bfloat16 {kernel}"]["grad_cosine"] == pytest.approx(bf16, abs=0.005)


@pytest.mark.slow
def test_screens_paired_with_the_wrong_answers_are_counted(tmp_path, monkeypatch):
    from aguvis.packing.sequence import PackedBatch

    with_pixels = PackedBatch.with_pixels

    def shifted(self, pool):  # every screen gets the next one's patches
        batch = with_pixels(self, pool)
        return replace(batch, pixel_values=batch.pixel_values.roll(int(batch.image_grid_thw[0].prod()), 0))

    monkeypatch.setattr(PackedBatch, "with_pixels", shifted)
    summary = _check_without_training(tmp_path, monkeypatch)["compare_trainer"]["packed"]["summary"]
    assert summary["pixels_wrong"] > 0.5 * 7 * 8  # a shifted screen shows the same cell by chance only


def test_a_square_placed_anywhere_is_drawn_where_its_answer_says(tmp_path):
    check = load_script("pointing_check")
    records = check.draw(tmp_path / "screens", 12, seed=4, placement="anywhere")
    lefts = set()
    for line in records.read_text().splitlines():
        record = json.loads(line)
        x, y = record["centre"]
        image = Image.open(records.parent / record["image"]).convert("L")
        left, top = round(x * check.SIDE) - check.SQUARE // 2, round(y * check.SIDE) - check.SQUARE // 2
        right, bottom = left + check.SQUARE - 1, top + check.SQUARE - 1
        assert image.getpixel((left, top)) == 0 and image.getpixel((right, bottom)) == 0
        assert image.histogram()[0] == check.SQUARE**2
        assert record["conversations"][1]["value"] == f"pyautogui.click(x={x:.4f}, y={y:.4f})"
        lefts.add(left % (check.SIDE // check.CELLS))
    assert len(lefts) > 3  # not only the cells' places


def test_a_trainer_comparison_needs_squares_in_cells(tmp_path):
    check = load_script("pointing_check")
    with pytest.raises(SystemExit) as exit_info:
        check.main(["--out", str(tmp_path), "--placement", "anywhere", "--compare-trainer"])
    assert exit_info.value.code == 2


def test_a_snapped_answer_is_the_centre_of_the_cell_that_holds_the_squares_centre(tmp_path):
    check = load_script("pointing_check")
    records = check.draw(tmp_path / "screens", 12, seed=4, placement="snapped")
    cell = check.SIDE // check.CELLS
    for line in records.read_text().splitlines():
        record = json.loads(line)
        dark = np.argwhere(np.asarray(Image.open(records.parent / record["image"]).convert("L")) == 0)
        centre_px = (dark[:, 1].min() + check.SQUARE // 2, dark[:, 0].min() + check.SQUARE // 2)
        expected = tuple(round(((c // cell) + 0.5) * cell / check.SIDE, 4) for c in centre_px)
        assert tuple(record["centre"]) == expected


def test_a_button_placed_anywhere_is_drawn_where_its_answer_says_with_a_word_on_it(tmp_path):
    check = load_script("pointing_check")
    width, height = check.LOOKS["button"]
    records = check.draw(tmp_path / "screens", 12, seed=4, placement="anywhere", look="button")
    for line in records.read_text().splitlines():
        record = json.loads(line)
        assert record["conversations"][0]["value"] == "<image>Click the button"
        pixels = np.asarray(Image.open(records.parent / record["image"]).convert("L"))
        drawn = np.argwhere(pixels < 255)
        top, left = drawn.min(axis=0)
        bottom, right = drawn.max(axis=0)
        assert (right - left + 1, bottom - top + 1) == (width, height)  # nothing outside the button
        x, y = record["centre"]
        assert (x, y) == (round((left + width // 2) / check.SIDE, 4), round((top + height // 2) / check.SIDE, 4))
        inside = pixels[top + 2 : bottom - 1, left + 2 : right - 1]
        assert (inside < 100).sum() > 10  # the word's dark strokes
        assert np.median(inside) == 239  # on Chromium's light grey


def test_a_buttons_answer_entropy_counts_its_width_and_height_apart():
    check = load_script("pointing_check")
    width, height = check.LOOKS["button"]
    expected = math.log(check.SIDE - width + 1) + math.log(check.SIDE - height + 1)  # every centre written apart
    assert check.answer_entropy("anywhere", 4, "button") == pytest.approx(expected)
    assert check.answer_entropy("anywhere", 4, "button") < check.answer_entropy("anywhere", 4, "square")


def test_a_button_is_wider_than_a_cell(tmp_path):
    check = load_script("pointing_check")
    with pytest.raises(SystemExit) as exit_info:
        check.main(["--out", str(tmp_path), "--look", "button"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(("look", "inside"), [("box", 0), ("blank-button", 239)])
def test_a_box_and_a_blank_button_fill_the_buttons_place_with_one_shade(tmp_path, look, inside):
    check = load_script("pointing_check")
    width, height = check.LOOKS[look]
    records = check.draw(tmp_path / "screens", 6, seed=4, placement="anywhere", look=look)
    for line in records.read_text().splitlines():
        record = json.loads(line)
        pixels = np.asarray(Image.open(records.parent / record["image"]).convert("L"))
        top, left = np.argwhere(pixels < 255).min(axis=0)
        assert (round((left + width // 2) / check.SIDE, 4), round((top + height // 2) / check.SIDE, 4)) == tuple(
            record["centre"]
        )
        assert set(np.unique(pixels[top + 2 : top + height - 2, left + 2 : left + width - 2])) == {inside}
        assert (pixels < 255).sum() <= width * height


def test_also_look_draws_each_training_screen_in_one_of_two_looks_and_names_it(tmp_path):
    check = load_script("pointing_check")
    records = check.draw(tmp_path / "mixed", 40, seed=5, placement="anywhere", look="button", also_look="box")
    queries = {}
    for line in records.read_text().splitlines():
        record = json.loads(line)
        pixels = np.asarray(Image.open(records.parent / record["image"]).convert("L"))
        look = "box" if (pixels == 0).sum() == 40 * 20 else "button"
        queries[record["conversations"][0]["value"]] = queries.get(record["conversations"][0]["value"], 0) + 1
        assert record["conversations"][0]["value"] == f"<image>Click the {look}"
    assert set(queries) == {"<image>Click the box", "<image>Click the button"}
    assert min(queries.values()) >= 10


@pytest.mark.parametrize("buttons", [2, 4])
def test_a_button_pair_screen_asks_for_one_of_its_buttons_with_different_words(tmp_path, buttons):
    check = load_script("pointing_check")
    records = check.draw(tmp_path / "pairs", 12, seed=5, placement="anywhere", look="button-pair", buttons=buttons)
    from aguvis.envs.miniwob.lookalike import _BUTTON

    asked_leftmost = 0
    for line in records.read_text().splitlines():
        record = json.loads(line)
        image = Image.open(records.parent / record["image"]).convert("RGB")
        word = record["conversations"][0]["value"].removeprefix("<image>Click the ").removesuffix(" button")
        assert word in check.BUTTON_WORDS
        centres = [record["centre"], *record["others"]]
        assert len(centres) == buttons and len({tuple(c) for c in centres}) == buttons
        for x, y in centres:  # near each centre, left of the word, is a button's face
            assert image.getpixel((round(x * check.SIDE) - 16, round(y * check.SIDE))) == tuple(_BUTTON)
        x, y = record["centre"]
        assert record["conversations"][1]["value"] == f"pyautogui.click(x={x:.4f}, y={y:.4f})"
        asked_leftmost += record["centre"][0] == min(c[0] for c in centres)
    assert 0 < asked_leftmost < 12  # the asked button is not always the same one


def test_a_button_asked_for_by_its_side_is_the_left_or_the_right_one_of_the_same_screens(tmp_path):
    check = load_script("pointing_check")
    by_word = check.draw(tmp_path / "word", 16, seed=5, placement="anywhere", look="button-pair")
    by_side = check.draw(tmp_path / "side", 16, seed=5, placement="anywhere", look="button-pair", by="side")
    sides = set()
    for word_line, line in zip(by_word.read_text().splitlines(), by_side.read_text().splitlines(), strict=True):
        first, record = json.loads(word_line), json.loads(line)
        assert (tmp_path / "word" / first["image"]).read_bytes() == (tmp_path / "side" / record["image"]).read_bytes()
        assert (record["centre"], record["others"]) == (first["centre"], first["others"])
        side = "left" if record["centre"][0] <= record["others"][0][0] else "right"
        assert record["conversations"][0]["value"] == f"<image>Click the {side} button"
        sides.add(side)
    assert sides == {"left", "right"}


def test_a_referring_question_asks_for_the_word_of_the_button_not_asked_for(tmp_path):
    check = load_script("pointing_check")
    once = check.draw(tmp_path / "once", 12, seed=5, placement="anywhere", look="button-pair")
    refer = check.draw(tmp_path / "refer", 12, seed=5, placement="anywhere", look="button-pair", refer=True)
    for first, line in zip(once.read_text().splitlines(), refer.read_text().splitlines(), strict=True):
        first, record = json.loads(first), json.loads(line)
        turns = record["conversations"]
        assert turns[:2] == first["conversations"] and len(turns) == 4
        (x, y), asked = record["others"][0], turns[0]["value"].split()[2]
        assert turns[2]["value"] == f"What is at (x={x:.4f}, y={y:.4f})?"
        word = turns[3]["value"].removeprefix("button '").removesuffix("'")
        assert word in check.BUTTON_WORDS and word != asked and turns[3]["recipient"] == "all"


def test_more_questions_ask_for_either_button_of_the_same_screens(tmp_path):
    check = load_script("pointing_check")
    once = check.draw(tmp_path / "once", 16, seed=5, placement="anywhere", look="button-pair")
    more = check.draw(tmp_path / "more", 16, seed=5, placement="anywhere", look="button-pair", questions=4)
    later_words = set()
    for first, line in zip(once.read_text().splitlines(), more.read_text().splitlines(), strict=True):
        first, record = json.loads(first), json.loads(line)
        assert (tmp_path / "once" / first["image"]).read_bytes() == (tmp_path / "more" / record["image"]).read_bytes()
        turns = record["conversations"]
        assert turns[:2] == first["conversations"] and len(turns) == 8
        asked = turns[0]["value"].removeprefix("<image>")
        for question, answer in zip(turns[2::2], turns[3::2], strict=True):
            assert question["from"] == "human" and "<image>" not in question["value"]
            x, y = record["centre"] if question["value"] == asked else record["others"][0]
            assert answer["value"] == f"pyautogui.click(x={x:.4f}, y={y:.4f})"
            later_words.add(question["value"] == asked)
    assert later_words == {True, False}  # the later questions name both buttons


def test_the_check_starts_from_a_given_model_instead_of_a_random_one(tmp_path, monkeypatch):
    check = load_script("pointing_check")
    monkeypatch.chdir(SCRIPTS.parent)
    given = tmp_path / "given"
    given.mkdir()
    check.random_model(given, {**check.SHAPE, "absolute_position_code": 8}, {}, seed=7)
    out = tmp_path / "check"
    check.main(["--out", str(out), "--screens", "8", "--init", str(given / "init"), "--no-train"])
    assert (out / "init" / "model.safetensors").read_bytes() == (given / "init" / "model.safetensors").read_bytes()
    assert json.loads((out / "check.json").read_text())["init"] == str(given / "init")


def test_a_parse_answer_lists_the_buttons_in_reading_order_then_clicks_the_asked_one(tmp_path):
    check = load_script("pointing_check")
    once = check.draw(tmp_path / "once", 12, seed=5, placement="anywhere", look="button-pair", buttons=3)
    parse = check.draw(tmp_path / "parse", 12, seed=5, placement="anywhere", look="button-pair", buttons=3, parse=True)
    for first, line in zip(once.read_text().splitlines(), parse.read_text().splitlines(), strict=True):
        first, record = json.loads(first), json.loads(line)
        turns = record["conversations"]
        assert [turns[0], turns[2]] == first["conversations"] and len(turns) == 3
        assert (turns[1]["recipient"], turns[1]["end_turn"]) == ("all", False)  # the reply goes on to the click
        listed = check._listing(turns[1]["value"])
        points = [p for _, p in listed]
        assert sorted(points, key=lambda p: (p[1], p[0])) == points
        assert sorted(points) == sorted(tuple(c) for c in [record["centre"], *record["others"]])
        asked = turns[0]["value"].removeprefix("<image>Click the ").removesuffix(" button")
        assert dict(listed)[asked] == tuple(record["centre"])


def test_whole_token_words_are_one_token_after_a_space_and_drawn_on_the_buttons(tmp_path):
    check = load_script("pointing_check")
    tokenizer = build_tiny_tokenizer()
    for word in check.WHOLE_TOKEN_WORDS:
        assert len(tokenizer(" " + word, add_special_tokens=False)["input_ids"]) == 1, word
    assert len(tokenizer(" No", add_special_tokens=False)["input_ids"]) > 1  # what the mixed words are not
    records = check.draw(tmp_path / "tokens", 8, seed=5, placement="anywhere", look="button-pair", words="tokens")
    for line in records.read_text().splitlines():
        word = json.loads(line)["conversations"][0]["value"].removeprefix("<image>Click the ").split()[0]
        assert word in check.WHOLE_TOKEN_WORDS


def test_the_click_read_after_a_list_is_the_last_point_of_the_answer():
    check = load_script("pointing_check")
    tokenizer = build_tiny_tokenizer()
    truth = tokenizer("Buttons: save at (x=0.1250, y=0.5000). pyautogui.click(x=0.4375, y=0.8125)")["input_ids"]
    assert check._first_decimals(tokenizer, truth, truth) == (4, 8)


def test_a_reply_is_judged_by_the_button_its_click_lands_in_and_by_its_list(tmp_path):
    check = load_script("pointing_check")
    from aguvis.data.records import read_records

    path = check.draw(tmp_path / "parse", 4, seed=5, placement="anywhere", look="button-pair", parse=True)
    record = next(iter(read_records(path)))
    listing, click = record.conversations[1].value, record.conversations[2].value
    (ax, ay), (ox, oy) = record.extra["centre"], record.extra["others"][0]
    right = f"all\n{listing}<|im_end|>\n<|im_start|>assistant<|recipient|>os\n{click}"
    assert check.judge(record, right) == {"clicked_asked": True, "clicked_other": False, "lists_right": True}
    nudged = f"os\npyautogui.click(x={ax + 19 / check.SIDE:.4f}, y={ay - 9 / check.SIDE:.4f})"  # still inside
    assert check.judge(record, nudged) == {"clicked_asked": True, "clicked_other": False, "lists_right": False}
    other = f"os\npyautogui.click(x={ox:.4f}, y={oy:.4f})"
    assert check.judge(record, other)["clicked_other"] and not check.judge(record, other)["clicked_asked"]
    swapped = listing.replace(f"x={ax:.4f}", "x=0.0000")  # the asked word at the wrong place
    wrong_list = f"all\n{swapped}<|im_end|>\n<|im_start|>assistant<|recipient|>os\n{click}"
    assert check.judge(record, wrong_list)["lists_right"] is False
    assert check.judge(record, "os\nnot code") == {"clicked_asked": False, "clicked_other": False, "lists_right": False}


def test_the_generated_score_runs_the_models_own_replies(tmp_path, monkeypatch):
    check = load_script("pointing_check")
    monkeypatch.chdir(SCRIPTS.parent)
    records = check.draw(tmp_path / "pairs", 3, seed=5, placement="anywhere", look="button-pair", parse=True)
    model = check.random_model(tmp_path, {**check.SHAPE, "absolute_position_code": 8}, {}, seed=7)
    scored = check.score_generated(model, records, n=3)
    assert scored["screens"] == 3 and set(scored) == {"screens", "clicked_asked", "clicked_other", "lists_right"}


def test_a_listed_question_carries_the_buttons_list_before_asking(tmp_path):
    check = load_script("pointing_check")
    once = check.draw(tmp_path / "once", 8, seed=5, placement="anywhere", look="button-pair", words="tokens")
    listed = check.draw(
        tmp_path / "listed", 8, seed=5, placement="anywhere", look="button-pair", words="tokens", listed=True
    )
    for first, line in zip(once.read_text().splitlines(), listed.read_text().splitlines(), strict=True):
        first, record = json.loads(first), json.loads(line)
        question, asked = record["conversations"][0]["value"], first["conversations"][0]["value"]
        assert question.startswith("<image>Buttons: ") and question.endswith(asked.removeprefix("<image>"))
        assert record["conversations"][1:] == first["conversations"][1:]
        points = sorted(p for _, p in check._listing(question))
        assert points == sorted(tuple(c) for c in [record["centre"], *record["others"]])


def test_with_the_list_last_the_question_comes_first_and_the_same_list_follows(tmp_path):
    check = load_script("pointing_check")
    drawing = {"placement": "anywhere", "look": "button-pair", "words": "tokens", "listed": True}
    before = check.draw(tmp_path / "before", 6, seed=5, **drawing)
    after = check.draw(tmp_path / "after", 6, seed=5, list_last=True, **drawing)
    for first, line in zip(before.read_text().splitlines(), after.read_text().splitlines(), strict=True):
        first, record = json.loads(first), json.loads(line)
        listing, _, asked = first["conversations"][0]["value"].removeprefix("<image>").rpartition(" Click")
        assert record["conversations"][0]["value"] == f"<image>Click{asked}. {listing}"
        assert record["conversations"][1:] == first["conversations"][1:]


def test_without_the_screen_a_listed_record_is_plain_text_and_its_replies_are_scored(tmp_path, monkeypatch):
    check = load_script("pointing_check")
    monkeypatch.chdir(SCRIPTS.parent)
    drawing = {"placement": "anywhere", "look": "button-pair", "words": "tokens", "listed": True}
    listed = check.draw(tmp_path / "listed", 4, seed=5, **drawing)
    plain = check.draw(tmp_path / "plain", 4, seed=5, screen=False, **drawing)
    for first, line in zip(listed.read_text().splitlines(), plain.read_text().splitlines(), strict=True):
        first, record = json.loads(first), json.loads(line)
        assert "image" not in record and "image" in first
        assert "<image>" + record["conversations"][0]["value"] == first["conversations"][0]["value"]
        assert record["conversations"][1:] == first["conversations"][1:]
    model = check.random_model(tmp_path, {**check.SHAPE, "absolute_position_code": 8}, {}, seed=7)
    scored = check.score_generated(model, plain, n=4)
    assert scored["screens"] == 4 and set(scored) == {"screens", "clicked_asked", "clicked_other"}
    assert check.score(model, plain, "anywhere", 4, "button-pair", False)["loss"] > 0


def test_asked_by_the_first_word_every_screen_shows_it_and_asks_for_it(tmp_path):
    check = load_script("pointing_check")
    records = check.draw(
        tmp_path / "first", 12, seed=5, placement="anywhere", look="button-pair", by="first", words="one-two"
    )
    places = set()
    for line in records.read_text().splitlines():
        record = json.loads(line)
        assert record["conversations"][0]["value"] == "<image>Click the ONE button"
        places.add(tuple(record["centre"]))
    assert len(places) == 12  # the asked button is wherever it is drawn
    with pytest.raises(SystemExit):
        check.main(["--out", str(tmp_path / "x"), "--ask-by", "first"])  # button pairs only
