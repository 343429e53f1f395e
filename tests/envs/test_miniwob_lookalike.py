"""MiniWoB++ look-alike screens: drawn elements, their queries and the records (no browser)."""

from __future__ import annotations

import dataclasses
import json
import random
import re

import numpy as np
import pytest

from aguvis.actions import parse
from aguvis.data import load_mixture, read_records, validate_file
from aguvis.data.augment import named_point_text
from aguvis.envs.miniwob.geometry import TaskFrame
from aguvis.envs.miniwob.lookalike import (
    MERGED_TOKEN_PX,
    LookalikeError,
    LookalikeSettings,
    Vocabulary,
    draw_screen,
    find_font,
    screen_queries,
    synthesise_lookalike,
)
from aguvis.envs.miniwob.monologue import POINT_PREFIX
from aguvis.envs.miniwob.synth import SynthSettings, synthesise


@pytest.fixture(scope="module")
def font():
    try:
        return find_font()
    except LookalikeError as err:
        pytest.skip(f"no Liberation Sans here ({err})")


VOCABULARY = Vocabulary(
    goals=('Click on the "ok" button.', "Select nibh and click Submit."),
    texts={
        "button": ("ok", "cancel", "next", "submit", "yes", "no"),
        "link": ("justo.", "nam", "urna"),
        "checkbox": ("nibh", "quam", "vel"),
        "radio": ("Ab", "cD", "EfG"),
        "text": ("donec lacus", "sit amet", "magna fringilla dui", "at"),
    },
)
BUTTON_FILL = (239, 239, 239)


def test_every_query_clicks_inside_its_element_and_names_it_once(font):
    frame = TaskFrame()
    seen_roles = set()
    for seed in range(60):
        rng = random.Random(seed)
        image, drawn = draw_screen(VOCABULARY, rng, font, frame)
        assert image.size == frame.image_size
        pixels = np.asarray(image)
        queries = screen_queries(drawn, frame, rng, 16)
        identities = [d.identity for d in drawn]
        for query in queries:
            x, y = query.point
            x1, y1, x2, y2 = query.box
            assert 0 <= x1 < x <= x2 <= 1 and 0 <= y1 < y <= y2 <= 1
            matches = [d for d in drawn if query.instruction in d.phrasings]
            assert len(matches) == 1 and identities.count(matches[0].identity) == 1
            seen_roles.add(query.role)
            if query.role == "button":  # the click lands on the button's grey face or its text
                px, py = int(x * frame.image_size[0]), int(y * frame.image_size[1])
                region = pixels[py - 2 : py + 3, px - 2 : px + 3].reshape(-1, 3)
                assert any(tuple(c) == BUTTON_FILL for c in region) or region.min() < 100
    assert seen_roles == {"button", "link", "checkbox", "radio", "text", "textbox"}


def test_the_bar_shows_a_goal_and_the_area_below_shows_the_elements(font):
    image, drawn = draw_screen(VOCABULARY, random.Random(3), font, TaskFrame())
    pixels = np.asarray(image)
    bar, area = pixels[:100], pixels[100:]
    assert (bar == (255, 255, 0)).all(-1).mean() > 0.8 and (bar[..., 0] < 100).any()  # yellow, with text
    assert drawn and all(d.box[1] >= 50 for d in drawn)
    assert (area < 128).any()


def test_synthesis_writes_valid_records_that_shifting_leaves_alone_and_reuses_them(tmp_path, font):
    out = tmp_path / "lookalike"
    settings = LookalikeSettings(screens=30, seed=1, queries_per_screen=6)
    manifest = synthesise_lookalike(out, VOCABULARY, settings, workers=2, progress=False)
    records = list(read_records(out / "stage1.jsonl"))
    assert list(validate_file(out / "stage1.jsonl")) == []
    assert manifest["screens"] == len(records) > 20
    assert manifest["grounding_queries"] == sum(len(r.conversations) // 2 for r in records)
    for record in records:
        answers = [t for t in record.conversations if t.role == "gpt"]
        assert 1 <= len(answers) <= 6 == settings.queries_per_screen
        assert len(record.extra["bbox"]) == len(answers) and record.extra["augment"] is False
        for answer, box in zip(answers, record.extra["bbox"], strict=True):
            (action,) = parse(answer.value)
            assert box[0] <= action.args["x"] <= box[2] and box[1] <= action.args["y"] <= box[3]
        assert (out / record.images[0]).is_file()
    assert [e.json_path.name for e in load_mixture(out / "stage1.yaml")] == ["stage1.jsonl"]
    before = (out / "stage1.jsonl").stat().st_mtime_ns
    assert synthesise_lookalike(out, VOCABULARY, settings, workers=1, progress=False) == manifest
    assert (out / "stage1.jsonl").stat().st_mtime_ns == before
    again = synthesise_lookalike(tmp_path / "again", VOCABULARY, settings, workers=1, progress=False)
    assert again["grounding_queries"] == manifest["grounding_queries"]  # seeded, whatever the workers
    assert (tmp_path / "again" / "stage1.jsonl").read_bytes() == (out / "stage1.jsonl").read_bytes()


def test_the_vocabulary_comes_from_a_miniwob_data_sets_manifest(tmp_path, fake_env):
    data = tmp_path / "data"
    synthesise(data, {"click-button": 3}, SynthSettings(), make_env=fake_env, progress=False)
    vocabulary = Vocabulary.from_manifest(data)
    trajectories = json.loads((data / "trajectories" / "click-button.json").read_text())
    goals = {e["goal"] for e in trajectories["episodes"]}
    queries = [q for e in trajectories["episodes"] for s in e["steps"] for q in s["queries"]]
    shown = {q["text"] for q in queries if q["role"] == "button"}
    assert set(vocabulary.goals) == goals and set(vocabulary.texts["button"]) == shown


def test_a_manifest_without_a_vocabulary_is_refused_by_name(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"source": "miniwob"}))
    with pytest.raises(LookalikeError, match=r"manifest.json: no 'vocabulary'"):
        Vocabulary.from_manifest(tmp_path)
    with pytest.raises(LookalikeError, match="cannot read"):
        Vocabulary.from_manifest(tmp_path / "missing")


def test_a_missing_font_file_is_named(tmp_path):
    with pytest.raises(LookalikeError, match="nothing.ttf does not exist"):
        find_font(tmp_path / "nothing.ttf")


def test_the_one_button_layout_draws_exactly_one_button_anywhere(font):
    frame = TaskFrame()
    points = []
    for seed in range(40):
        rng = random.Random(seed)
        _, drawn = draw_screen(VOCABULARY, rng, font, frame, layout="one-button")
        (query,) = screen_queries(drawn, frame, rng, 16)
        assert [d.role for d in drawn] == ["button"] and query.role == "button"
        points.append(query.point)
    xs, ys = zip(*points, strict=True)
    assert max(xs) - min(xs) > 0.5 and max(ys) - min(ys) > 0.4  # spread over the area, not one place


def test_the_square_layout_centres_one_square_on_a_cell_of_the_image_token_grid(font):
    frame = TaskFrame()
    columns, rows = 320 // MERGED_TOKEN_PX, 420 // MERGED_TOKEN_PX  # 11.4 -> 11 columns, 15 rows
    cells = set()
    for seed in range(60):
        rng = random.Random(seed)
        image, drawn = draw_screen(VOCABULARY, rng, font, frame, layout="square")
        (query,) = screen_queries(drawn, frame, rng, 16)
        assert query.instruction in ("Click the square", "the black square") and query.role == "square"
        cell = (int(query.point[0] * columns), int(query.point[1] * rows))
        centre = ((cell[0] + 0.5) / columns, (cell[1] + 0.5) / rows)
        assert abs(query.point[0] - centre[0]) < 0.01 and abs(query.point[1] - centre[1]) < 0.01
        pixels = np.asarray(image.convert("L"))
        dark = np.argwhere(pixels < 128)
        assert len(dark) == 400  # 20 x 20 screenshot pixels, and nothing else drawn (no bar)
        x1, y1, x2, y2 = query.box
        assert x1 * 320 - 1 <= dark[:, 1].min() and dark[:, 1].max() <= x2 * 320  # boxes: 4 decimals
        cells.add(cell)
    assert len(cells) > 40  # spread over the grid's 165 cells


def test_an_unknown_layout_is_refused(tmp_path):
    with pytest.raises(LookalikeError, match="layout must be one of page, one-button, square"):
        synthesise_lookalike(tmp_path, VOCABULARY, LookalikeSettings(screens=1, layout="grid"), progress=False)


def test_new_settings_redraw_the_folder_without_the_old_screens(tmp_path, font):
    synthesise_lookalike(tmp_path, VOCABULARY, LookalikeSettings(screens=12), workers=1, progress=False)
    manifest = synthesise_lookalike(tmp_path, VOCABULARY, LookalikeSettings(screens=5), workers=1, progress=False)
    listed = {r.images[0] for r in read_records(tmp_path / "stage1.jsonl")}
    on_disk = {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "images").glob("*.png")}
    assert manifest["screens"] == len(listed) <= 5 and on_disk == listed


def test_random_labels_replace_the_vocabularys_choice_labels_by_fresh_strings(font):
    frame = TaskFrame()
    words = {w for ws in VOCABULARY.texts.values() for w in ws}

    def labels(vocabulary, roles=("checkbox", "radio")):
        found = []
        for seed in range(80):
            _, drawn = draw_screen(vocabulary, random.Random(seed), font, frame)
            found += [d for d in drawn if d.role in roles]
        return found

    assert all(d.text in words for d in labels(VOCABULARY))
    fresh = labels(dataclasses.replace(VOCABULARY, random_labels=1.0))
    assert len(fresh) > 20 and not any(d.text in words for d in fresh)
    assert all(re.fullmatch(r"[A-Za-z0-9]{2,7}", d.text) for d in fresh)
    assert len({d.text for d in fresh}) > 0.9 * len(fresh)  # new on every screen, nothing to memorise
    assert all(d.phrasings and d.text in d.phrasings[0] for d in fresh)
    buttons = labels(dataclasses.replace(VOCABULARY, random_labels=1.0), roles=("button",))
    assert buttons and all(d.text in words for d in buttons)  # buttons keep the data's words


def test_named_points_answer_each_query_with_its_point_before_the_click(tmp_path, font):
    out = tmp_path / "named"
    settings = LookalikeSettings(screens=12, seed=2, queries_per_screen=5, points="named")
    synthesise_lookalike(out, VOCABULARY, settings, workers=1, progress=False)
    assert list(validate_file(out / "stage1.jsonl")) == []
    for record in read_records(out / "stage1.jsonl"):
        answers = [t for t in record.conversations if t.role == "gpt"]
        points, clicks = answers[0::2], answers[1::2]
        assert [t.recipient for t in points] == ["all"] * len(points)
        assert [t.recipient for t in clicks] == ["os"] * len(clicks)
        names = record.extra["reply_names"]
        for point, click, name, (x, y) in zip(points, clicks, names, record.extra["reply_points"], strict=True):
            assert point.value == POINT_PREFIX + named_point_text(name, x, y)
            assert parse(click.value)[0].args == {"x": x, "y": y}


def test_referring_records_ask_each_shown_word_back_at_its_point_on_the_same_screen(tmp_path, font):
    out = tmp_path / "referring"
    vocabulary = dataclasses.replace(VOCABULARY, random_labels=1.0)
    settings = LookalikeSettings(screens=12, seed=4, queries_per_screen=6, referring=True)
    manifest = synthesise_lookalike(out, vocabulary, settings, workers=1, progress=False)
    assert [e.json_path.name for e in load_mixture(out / "stage1.yaml")] == ["stage1.jsonl", "stage1-referring.jsonl"]
    assert list(validate_file(out / "stage1-referring.jsonl")) == []
    grounding = {r.images[0]: r for r in read_records(out / "stage1.jsonl")}
    referring = list(read_records(out / "stage1-referring.jsonl"))
    assert referring and manifest["referring_queries"] == sum(len(r.conversations) // 2 for r in referring)
    random_labels = 0
    for record in referring:
        asked = grounding[record.images[0]]  # the screen a grounding record queries too
        questions, answers = record.conversations[0::2], record.conversations[1::2]
        assert questions[0].value.startswith("<image>") and all(t.recipient == "all" for t in answers)
        for question, answer, box, point in zip(
            questions, answers, record.extra["bbox"], record.extra["query_points"], strict=True
        ):
            assert question.value.removeprefix("<image>") == f"What is at (x={point[0]}, y={point[1]})?"
            assert box in asked.extra["bbox"]  # one of the screen's queried elements
            assert box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
            role, text = re.fullmatch(r"(\w+) '(.+)'", answer.value).groups()
            random_labels += role in ("checkbox", "radio")
    assert random_labels > 0  # fresh labels are asked back: read, not remembered
    plain = tmp_path / "plain"
    synthesise_lookalike(plain, vocabulary, dataclasses.replace(settings, referring=False), progress=False)
    assert not (plain / "stage1-referring.jsonl").exists()
    assert [e.json_path.name for e in load_mixture(plain / "stage1.yaml")] == ["stage1.jsonl"]


def test_bad_lookalike_settings_are_refused_by_name(tmp_path):
    with pytest.raises(LookalikeError, match="points"):
        synthesise_lookalike(tmp_path, VOCABULARY, LookalikeSettings(screens=2, points="inline"), progress=False)
    with pytest.raises(LookalikeError, match="random labels"):
        synthesise_lookalike(
            tmp_path, dataclasses.replace(VOCABULARY, random_labels=1.5), LookalikeSettings(screens=2), progress=False
        )
