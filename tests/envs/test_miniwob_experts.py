"""Scripted experts decide from the instruction and the page's current state (pages built in code)."""

from __future__ import annotations

import pytest

from aguvis.envs.miniwob.elements import Page
from aguvis.envs.miniwob.experts import EXPERTS, ExpertError
from aguvis.envs.miniwob.geometry import TaskFrame

FRAME = TaskFrame()


def act(task, utterance, page, history=()):
    return EXPERTS[task](utterance, page, FRAME, list(history))


def test_click_button_clicks_the_centre_of_the_named_button(element):
    page = Page((element(0, "button", "no", box=(2, 60, 30, 20)), element(1, "button", "yes", box=(40, 60, 30, 20))))
    step = act("click-button", 'Click on the "yes" button.', page)
    assert step.target.index == 1
    assert FRAME.page_point(step.action.args["x"], step.action.args["y"]) == (55, 70)
    assert step.instruction == "Click the 'yes' button"


def test_an_instruction_the_expert_does_not_know_is_an_expert_error(element):
    with pytest.raises(ExpertError, match="does not match"):
        act("click-button", "Press any key.", Page((element(0, "button", "ok"),)))


def test_a_missing_target_is_an_expert_error(element):
    with pytest.raises(ExpertError, match="no visible button"):
        act("click-button", 'Click on the "yes" button.', Page((element(0, "button", "no"),)))


def _enter_text_page(element, value, focused):
    return Page(
        (
            element(0, "input", input_type="text", value=value, focused=focused, box=(2, 53, 128, 21)),
            element(1, "button", "Submit", box=(2, 85, 95, 31)),
        )
    )


@pytest.mark.parametrize(
    ("value", "focused", "expected"),
    [
        ("", False, "pyautogui.click"),
        ("", True, "pyautogui.write"),
        ("Agustina", True, "pyautogui.click"),
    ],
)
def test_enter_text_clicks_the_field_types_then_submits_depending_on_the_page(element, value, focused, expected):
    step = act(
        "enter-text",
        'Enter "Agustina" into the text field and press Submit.',
        _enter_text_page(element, value, focused),
    )
    assert step.action.name == expected
    if expected == "pyautogui.write":
        assert step.action.args["message"] == "Agustina"
    if value == "Agustina":
        assert step.target.text == "Submit"


def test_click_checkboxes_fixes_the_first_wrong_box_then_submits(element):
    def page(first_checked):
        return Page(
            (
                element(0, "label", "AU"),
                element(1, "input", input_type="checkbox", parent=0, checked=first_checked),
                element(2, "label", "HF2"),
                element(3, "input", input_type="checkbox", parent=2, checked=False),
                element(4, "button", "Submit"),
            )
        )

    utterance = "Select AU and click Submit."
    assert act("click-checkboxes", utterance, page(False)).instruction == "Check the 'AU' checkbox"
    assert act("click-checkboxes", utterance, page(True)).target.text == "Submit"


def test_click_checkboxes_unticks_a_box_that_is_not_listed(element):
    page = Page(
        (
            element(0, "label", "AU"),
            element(1, "input", input_type="checkbox", parent=0, checked=True),
            element(2, "button", "Submit"),
        )
    )
    assert act("click-checkboxes", "Select nothing and click Submit.", page).instruction == "Uncheck the 'AU' checkbox"


def test_click_button_sequence_clicks_the_second_button_once_the_first_is_done(element):
    page = Page((element(0, "button", "ONE"), element(1, "button", "TWO", box=(60, 120, 40, 40))))
    utterance = "Click button ONE, then click button TWO."
    first = act("click-button-sequence", utterance, page)
    assert first.target.text == "ONE"
    assert act("click-button-sequence", utterance, page, [first]).target.text == "TWO"


def test_navigate_tree_opens_a_closed_folder_when_the_name_is_not_visible(element):
    page = Page(
        (
            element(0, "li", classes=("expandable",)),
            element(1, "span", "Olin", parent=0, classes=("folder",)),
            element(2, "li"),
            element(3, "span", "Alan", parent=2, classes=("file",)),
        )
    )
    step = act(
        "navigate-tree", 'Navigate through the file tree. Find and click on the folder or file named "Rex".', page
    )
    assert step.instruction == "Open the folder 'Olin'"


def test_navigate_tree_clicks_the_name_once_it_is_visible(element):
    page = Page(
        (
            element(0, "li"),
            element(1, "span", "Rex", parent=0, classes=("file",)),
        )
    )
    step = act(
        "navigate-tree", 'Navigate through the file tree. Find and click on the folder or file named "Rex".', page
    )
    assert step.instruction == "Click the file 'Rex'"


def test_click_dialog_2_finds_the_close_button_for_x(element):
    page = Page((element(0, "button", "Close", classes=("ui-dialog-titlebar-close",)), element(1, "button", "OK")))
    step = act("click-dialog-2", 'Click the button in the dialog box labeled "x".', page)
    assert step.target.index == 0


def test_focus_text_2_counts_text_boxes_from_the_top(element):
    page = Page(tuple(element(i, "input", input_type="text", box=(5, 60 + 40 * i, 128, 21)) for i in range(3)))
    assert act("focus-text-2", "Focus into the 2nd input textbox.", page).target.index == 1


def test_passwords_are_the_goals_only_hidden_text():
    from aguvis.envs.miniwob.experts import hidden_text

    login = 'Enter the username "nieves" and the password "8ai" into the text fields and press login.'
    assert hidden_text("login-user", login) == ["8ai"]  # the username shows in its field
    assert hidden_text("enter-password", 'Enter the password "j8a" into both text fields and press submit.') == ["j8a"]
    assert hidden_text("enter-text", 'Enter "Kasie" into the text field and press Submit.') == []
    assert hidden_text("login-user", "a goal of another wording") == []


def test_stage_two_records_of_a_password_task_list_the_password_as_hidden(tmp_path):
    from aguvis.envs.miniwob.synth import Episode, Step, planning_records

    goal = 'Enter the password "yA" into both text fields and press submit.'
    code = "pyautogui.write(message='yA')"
    step = Step("images/enter-password/0.png", code, "Type 'yA'", "I type.", "A page.", None, [])
    records = list(planning_records(Episode("enter-password", 0, goal, 1.0, [step]), "l3"))
    assert [r.extra["hidden_text"] for r in records] == [["yA"]]
    assert "bbox" not in records[0].extra  # typing has no target box
    other = Episode("enter-text", 0, 'Enter "yA" into the text field and press Submit.', 1.0, [step])
    assert "hidden_text" not in next(planning_records(other, "l3")).extra
