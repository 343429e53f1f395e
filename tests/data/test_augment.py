"""Shift augmentation: screens and the coordinates pointing into them move together."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from aguvis.actions import parse
from aguvis.data.augment import ShiftError, draw_shift, record_extent, shift_image, shift_record
from aguvis.data.records import Record, Turn


def grounding_record(bbox=((0.2, 0.3, 0.4, 0.5),)):
    return Record(
        images=["shot.png"],
        conversations=[
            Turn("human", "<image>Click OK"),
            Turn("gpt", "pyautogui.click(x=0.3, y=0.4)", recipient="os", end_turn=True),
            Turn("human", "Drag the slider"),
            Turn("gpt", "pyautogui.moveTo(x=0.25, y=0.35)\npyautogui.dragTo(x=0.35, y=0.45)", recipient="os"),
        ],
        extra={"bbox": [list(b) for b in bbox], "source": "test"},
    )


def test_a_shifted_screen_moves_its_pixels_and_repeats_the_edges():
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[:10] = (255, 255, 0)  # a yellow bar at the top, as MiniWoB++'s instruction
    pixels[20:25, 30:35] = (0, 0, 255)  # a target
    moved = np.asarray(shift_image(Image.fromarray(pixels), 7, -3))
    assert moved.shape == pixels.shape
    assert (moved[17:22, 37:42] == (0, 0, 255)).all() and moved[20, 34].tolist() != [0, 0, 255]
    assert (moved[:7, :7] == (255, 255, 0)).all()  # the bar runs on into the uncovered left border
    assert (moved[37:, :] == moved[36:37, :]).all()  # the uncovered bottom repeats the last row


def test_shifting_moves_every_action_and_box_and_nothing_else():
    record = grounding_record()
    moved = shift_record(record, 0.1, -0.05)
    actions = [a for t in moved.conversations if t.role == "gpt" for a in parse(t.value)]
    assert [(a.name, a.args) for a in actions] == [
        ("pyautogui.click", {"x": 0.4, "y": 0.35}),
        ("pyautogui.moveTo", {"x": 0.35, "y": 0.3}),
        ("pyautogui.dragTo", {"x": 0.45, "y": 0.4}),
    ]
    assert moved.extra == {"bbox": [[0.3, 0.25, 0.5, 0.45]], "source": "test"}
    assert [t.value for t in moved.conversations if t.role == "human"] == ["<image>Click OK", "Drag the slider"]
    assert record.conversations[1].value == "pyautogui.click(x=0.3, y=0.4)"  # the original is untouched


def test_points_of_plugin_functions_move_too():
    record = Record(
        ["s.png"],
        [Turn("human", "<image>Swipe up"), Turn("gpt", "mobile.swipe(from_coord=[0.5, 0.8], to_coord=[0.5, 0.2])")],
    )
    (action,) = parse(shift_record(record, 0.1, 0.1).conversations[1].value)
    assert action.args == {"from_coord": [0.6, 0.9], "to_coord": [0.6, 0.3]}


def test_drawn_shifts_keep_every_target_on_the_screen():
    record = grounding_record(bbox=((0.05, 0.3, 0.4, 0.5), (0.6, 0.2, 0.9, 0.97)))
    extent = record_extent(record)
    assert (extent.x0, extent.y0, extent.x1, extent.y1) == (0.05, 0.2, 0.9, 0.97)
    rng = random.Random(0)
    shifts = {draw_shift(extent, 320, 420, 0.12, rng) for _ in range(300)}
    assert all(-16 <= dx <= 32 and -50 <= dy <= 12 for dx, dy in shifts)  # x: 0.05, 0.1 of 320; y: 0.12, 0.03 of 420
    assert len(shifts) > 100
    for dx, dy in shifts:
        shift_record(record, dx / 320, dy / 420)  # never leaves the screen


def test_records_that_cannot_be_shifted_are_refused():
    with pytest.raises(ShiftError, match="leaves the screen"):
        shift_record(grounding_record(), 0.7, 0.0)
    prose = Record(
        ["s.png"], [Turn("human", "<image>Go"), Turn("gpt", "Thought: click OK.\npyautogui.click(x=0.3, y=0.4)")]
    )
    with pytest.raises(ShiftError, match="mixes prose"):
        shift_record(prose, 0.1, 0.0)
    two = Record(["a.png", "b.png"], [Turn("human", "<image><image>Go"), Turn("gpt", "pyautogui.click(x=0.3, y=0.4)")])
    with pytest.raises(ShiftError, match="2 images"):
        record_extent(two)


def test_a_monologue_turn_without_coordinates_is_kept_as_it_is():
    record = Record(
        ["s.png"],
        [
            Turn("human", "<image>Open it"),
            Turn("gpt", "Thought: the OK button is at the top.\nAction: Click OK", recipient="all"),
            Turn("gpt", "pyautogui.click(x=0.3, y=0.4)", recipient="os"),
        ],
    )
    moved = shift_record(record, 0.1, 0.1)
    assert moved.conversations[1] == record.conversations[1]
    assert moved.conversations[2].value == "pyautogui.click(x=0.4, y=0.5)"


def referring_record():
    return Record(
        ["s.png"],
        [
            Turn("human", "<image>What is at (x=0.3, y=0.4)?"),
            Turn("gpt", "button 'OK'", recipient="all"),
            Turn("human", "What is at (x=0.6, y=0.25)?"),
            Turn("gpt", "text 'two words'", recipient="all"),
        ],
        extra={"bbox": [[0.2, 0.3, 0.4, 0.5], [0.5, 0.2, 0.7, 0.3]], "query_points": [[0.3, 0.4], [0.6, 0.25]]},
    )


def test_points_a_question_asks_about_move_with_the_screen():
    moved = shift_record(referring_record(), 0.1, -0.05)
    assert [t.value for t in moved.conversations] == [
        "<image>What is at (x=0.4, y=0.35)?", "button 'OK'", "What is at (x=0.7, y=0.2)?", "text 'two words'",
    ]
    assert moved.extra["query_points"] == [[0.4, 0.35], [0.7, 0.2]]
    assert moved.extra["bbox"] == [[0.3, 0.25, 0.5, 0.45], [0.6, 0.15, 0.8, 0.25]]
    assert record_extent(referring_record()) is not None


def test_query_points_bound_the_shift_and_must_be_written_in_their_turns():
    record = referring_record()
    record.extra["query_points"][1] = [0.95, 0.25]
    record.conversations[2] = Turn("human", "What is at (x=0.95, y=0.25)?")
    assert record_extent(record).x1 == 0.95  # so no drawn shift moves the point off the screen
    with pytest.raises(ShiftError, match="leaves the screen"):
        shift_record(record, 0.1, 0.0)
    record.conversations[2] = Turn("human", "What is here?")
    with pytest.raises(ShiftError, match="query point 1"):
        record_extent(record)


def instruction_point_record():
    """A planning step whose low-level instruction writes its click's point, after a step on another screen."""
    return Record(
        ["s.png"],
        [
            Turn("human", "<image>Instruction: Click OK.\nPrevious actions:\nClick 'Next' at (x=0.3, y=0.4)"),
            Turn("gpt", "Action: Click the 'OK' button at (x=0.3, y=0.4)", recipient="all", end_turn=False),
            Turn("gpt", "pyautogui.click(x=0.3, y=0.4)", recipient="os", end_turn=True),
        ],
        extra={"bbox": [0.2, 0.3, 0.4, 0.5], "reply_points": [[0.3, 0.4]]},
    )


def test_a_point_written_in_the_monologue_moves_with_the_screen_and_the_click():
    moved = shift_record(instruction_point_record(), 0.1, -0.05)
    assert [t.value for t in moved.conversations] == [
        "<image>Instruction: Click OK.\nPrevious actions:\nClick 'Next' at (x=0.3, y=0.4)",  # an earlier screen's
        "Action: Click the 'OK' button at (x=0.4, y=0.35)",
        "pyautogui.click(x=0.4, y=0.35)",
    ]
    assert moved.extra["reply_points"] == [[0.4, 0.35]]
    record = instruction_point_record()
    record.extra["reply_points"] = [[0.95, 0.4]]
    with pytest.raises(ShiftError, match="reply point 0"):
        record_extent(record)


def test_a_named_point_moves_with_the_screen_and_a_missing_name_is_refused():
    record = Record(
        ["s.png"],
        [
            Turn("human", "<image>OK button"),
            Turn("gpt", "Point: OK3 OK4", recipient="all", end_turn=False),
            Turn("gpt", "pyautogui.click(x=0.3, y=0.4)", recipient="os", end_turn=True),
        ],
        extra={"reply_points": [[0.3, 0.4]], "reply_names": ["OK"]},
    )
    moved = shift_record(record, 0.1, -0.05)
    assert [t.value for t in moved.conversations[1:]] == ["Point: OK4 OK35", "pyautogui.click(x=0.4, y=0.35)"]
    record.extra["reply_names"] = ["Cancel"]
    with pytest.raises(ShiftError, match="Cancel3 Cancel4"):
        record_extent(record)
    record.extra["reply_names"] = []
    with pytest.raises(ShiftError, match="must name each"):
        record_extent(record)


def _password_record(password="8aiX"):
    return Record(
        images=["shot.png"],
        conversations=[
            Turn("human", f'<image>Instruction: Enter the password "{password}" into both text fields.\n'
                 f"Previous actions:\nStep 1: Type '{password}' into the password field\n"),
            Turn(
                "gpt", f"Thought: I type '{password}'.\nAction: Type '{password}' into the verify field", recipient="all"
            ),
            Turn("gpt", f"pyautogui.write(message='{password}')", recipient="os", end_turn=True),
        ],
        extra={"hidden_text": [password], "source": "test"},
    )


def test_retyping_swaps_a_hidden_string_everywhere_for_one_of_the_same_kinds():
    from aguvis.data.augment import retype_record

    record = _password_record("8aiX")
    retyped = retype_record(record, random.Random(0))
    (new,) = retyped.extra["hidden_text"]
    assert new != "8aiX" and len(new) == 4
    assert new[0].isdigit() and new[1].islower() and new[2].islower() and new[3].isupper()
    for before, after in zip(record.conversations, retyped.conversations):
        assert "8aiX" not in after.value
        assert after.value == before.value.replace("8aiX", new)  # nothing else changed
        assert (after.role, after.recipient, after.end_turn) == (before.role, before.recipient, before.end_turn)
    assert parse(retyped.conversations[2].value)[0].args == {"message": new}
    assert retype_record(record, random.Random(0)) == retyped  # seeded
    assert record.extra["hidden_text"] == ["8aiX"]  # the original is left alone


def test_retyping_touches_only_quoted_occurrences_and_leaves_records_without_hidden_text():
    from aguvis.data.augment import retype_record

    record = _password_record("a")
    retyped = retype_record(record, random.Random(1))
    (new,) = retyped.extra["hidden_text"]
    assert "Enter the password" in retyped.conversations[0].value  # the bare letter a elsewhere is kept
    assert f'"{new}"' in retyped.conversations[0].value and f"message='{new}'" in retyped.conversations[2].value
    plain = grounding_record()
    assert retype_record(plain, random.Random(0)) is plain


def test_a_malformed_hidden_text_is_refused():
    import dataclasses

    from aguvis.data.augment import retype_record

    bad = dataclasses.replace(_password_record(), extra={"hidden_text": "8aiX"})
    with pytest.raises(ValueError, match="hidden_text must be a list of non-empty strings"):
        retype_record(bad, random.Random(0))
