"""Stage-1 grounding queries from a page's DOM."""

from __future__ import annotations

import random

from aguvis.envs.miniwob.elements import Page
from aguvis.envs.miniwob.geometry import TaskFrame
from aguvis.envs.miniwob.grounding import grounding_queries

FRAME = TaskFrame()


def test_every_query_points_inside_its_target_box(element):
    page = Page(
        (
            element(0, "button", "okay", box=(2, 60, 44, 21)),
            element(1, "span", "eget", classes=("alink",), box=(70, 100, 20, 11)),
        )
    )
    queries = grounding_queries(page, FRAME, random.Random(0))
    assert len(queries) == 2
    for query in queries:
        x1, y1, x2, y2 = query.box
        assert x1 <= query.point[0] <= x2 and y1 <= query.point[1] <= y2


def test_elements_with_the_same_description_get_no_query(element):
    page = Page(
        (
            element(0, "button", "okay"),
            element(1, "button", "okay", box=(50, 60, 40, 20)),
            element(2, "button", "next", box=(2, 100, 40, 20)),
        )
    )
    assert [q.role for q in grounding_queries(page, FRAME, random.Random(0))] == ["button"]
    assert "okay" not in grounding_queries(page, FRAME, random.Random(0))[0].instruction


def test_unlabelled_text_fields_are_described_by_their_position(element):
    page = Page(tuple(element(i, "input", input_type="text", box=(5, 60 + 40 * i, 128, 21)) for i in range(2)))
    instructions = sorted(q.instruction for q in grounding_queries(page, FRAME, random.Random(1)))
    assert all(("first" in text) or ("second" in text) for text in instructions)


def test_hidden_elements_and_long_texts_get_no_query(element):
    page = Page((element(0, "button", "okay", visible=False), element(1, "div", "one two three four five")))
    assert grounding_queries(page, FRAME, random.Random(0)) == []


def test_the_limit_caps_the_number_of_queries(element):
    page = Page(tuple(element(i, "button", f"b{i}", box=(2, 52 + 15 * i, 40, 12)) for i in range(8)))
    assert len(grounding_queries(page, FRAME, random.Random(0), limit=3)) == 3


def test_the_same_seed_gives_the_same_queries(element):
    page = Page(tuple(element(i, "button", f"b{i}", box=(2, 52 + 15 * i, 40, 12)) for i in range(8)))
    assert grounding_queries(page, FRAME, random.Random(5)) == grounding_queries(page, FRAME, random.Random(5))


def test_a_query_keeps_the_words_its_element_shows(element):
    page = Page(
        (
            element(0, "button", "okay", box=(2, 60, 44, 21)),
            element(1, "input", input_type="text", box=(5, 100, 128, 21)),
        )
    )
    shown = {q.role: q.text for q in grounding_queries(page, FRAME, random.Random(0))}
    assert shown == {"button": "okay", "textbox": ""}  # an unlabelled field shows no words
