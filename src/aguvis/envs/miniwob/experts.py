"""Scripted DOM-oracle policies, one per supported MiniWoB++ task.

An expert reads the instruction and the DOM (:class:`~aguvis.envs.miniwob.elements.Page`)
and returns the next :class:`ExpertStep`: the action in our action space
(normalised coordinates aimed at the centre of the target's visible part), a
low-level instruction ("Click the 'okay' button") and a short thought saying
why. Experts decide from the page's current state (which fields hold what,
which boxes are ticked), so they recover from any state; only
``click-button-sequence``, whose page does not change, also counts earlier
steps.

Experts are the oracle of the acceptance test (their actions go through the
same text -> parse -> execute path as a model's) and the teachers of the
stage-2 trajectories.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aguvis.actions import Action
from aguvis.envs.miniwob.elements import Element, Page
from aguvis.envs.miniwob.geometry import TaskFrame


class ExpertError(RuntimeError):
    """The expert cannot act: the instruction or the page is not what it knows."""


@dataclass(frozen=True)
class ExpertStep:
    """One move of an expert.

    ``instruction`` is the low-level instruction (what to do, in words),
    ``thought`` the reasoning that leads to it; ``target`` is the element
    acted on (None for typing).
    """

    action: Action
    instruction: str
    thought: str
    target: Element | None = None


Expert = Callable[[str, Page, TaskFrame, Sequence[ExpertStep]], ExpertStep]
"""``expert(utterance, page, frame, history) -> next step``."""


def _match(pattern: str, utterance: str) -> re.Match[str]:
    found = re.fullmatch(pattern, utterance)
    if found is None:
        raise ExpertError(f"instruction {utterance!r} does not match {pattern!r}")
    return found


def _click(element: Element, frame: TaskFrame, instruction: str, thought: str) -> ExpertStep:
    x, y = element.click_point(frame)
    return ExpertStep(Action("pyautogui.click", {"x": x, "y": y}), instruction, thought, element)


def _write(text: str, instruction: str, thought: str) -> ExpertStep:
    return ExpertStep(Action("pyautogui.write", {"message": text}), instruction, thought)


def _first(elements: list[Element], what: str) -> Element:
    if not elements:
        raise ExpertError(f"no visible {what} on the page")
    return elements[0]


def _fill(page: Page, frame: TaskFrame, field: Element, value: str, name: str, rest: str) -> ExpertStep | None:
    """Focus ``field`` and type ``value`` into it; None once it holds ``value``.

    ``name`` names the field in words ("the username field"); ``rest`` says
    what the task still needs afterwards, for the thought.
    """
    if field.value == value:
        return None
    if not field.focused:
        return _click(field, frame, f"Click {name}", f"To type '{value}' into {name}, I first click it.")
    return _write(
        value, f"Type '{value}' into {name}", f"{name[0].upper()}{name[1:]} has the focus, so I type '{value}'; {rest}"
    )


def _fill_then_press(
    page: Page, frame: TaskFrame, expected: str, fills: list[tuple[str, str, str]], button: str, thought: str
) -> ExpertStep:
    """Fill the page's text fields in order, one ``(value, name, rest)`` each (see
    :func:`_fill`), then click the ``button``; ``expected`` describes the fields
    for the error when the page has another number of them."""
    fields = page.find("textbox")
    if len(fields) != len(fills):
        raise ExpertError(f"expected {expected}, found {len(fields)} text fields")
    for field, (value, name, rest) in zip(fields, fills, strict=True):
        step = _fill(page, frame, field, value, name, rest)
        if step is not None:
            return step
    target = _first(page.find("button", text=button), f"{button} button")
    return _click(target, frame, f"Click the '{button}' button", thought)


# -- single clicks ----------------------------------------------------------------------


def click_button(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    word = _match(r'Click on the "(.+)" button\.', utterance)[1]
    button = _first(page.find("button", text=word), f"button {word!r}")
    return _click(
        button, frame, f"Click the '{word}' button", f"The task asks for the '{word}' button; clicking it completes it."
    )


def click_link(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    word = _match(r'Click on the link "(.+)"\.', utterance)[1]
    link = _first(page.find("link", text=word), f"link {word!r}")
    return _click(
        link, frame, f"Click the link '{word}'", f"The link '{word}' is in the text; clicking it completes the task."
    )


def click_dialog_2(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    label = _match(r'Click the button in the dialog box labeled "(.+)"\.', utterance)[1]
    if label == "x":
        close = [e for e in page.find("button") if "ui-dialog-titlebar-close" in e.classes]
        button = _first(close, "close button")
        return _click(
            button,
            frame,
            "Click the 'x' button of the dialog",
            "The button labeled 'x' is the close button at the top right of the dialog; I click it.",
        )
    button = _first(page.find("button", text=label), f"button {label!r}")
    return _click(
        button,
        frame,
        f"Click the '{label}' button in the dialog",
        f"The dialog has a '{label}' button at the bottom; clicking it completes the task.",
    )


def click_tab(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    number = _match(r"Click on Tab #(\d+)\.", utterance)[1]
    tab = _first(page.find("tab", text=f"Tab #{number}"), f"tab #{number}")
    return _click(
        tab, frame, f"Click 'Tab #{number}'", f"The tabs are at the top; I click the one labeled 'Tab #{number}'."
    )


_ORDINALS = {"1st": "first", "2nd": "second", "3rd": "third", "4th": "fourth", "5th": "fifth"}


def focus_text_2(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    ordinal = _match(r"Focus into the (\d+(?:st|nd|rd|th)) input textbox\.", utterance)[1]
    boxes = page.find("textbox")
    position = int(ordinal[:-2])
    if not 1 <= position <= len(boxes):
        raise ExpertError(f"asked for text box {ordinal} but the page has {len(boxes)}")
    word = _ORDINALS.get(ordinal, ordinal)
    return _click(
        boxes[position - 1],
        frame,
        f"Click the {word} text box",
        f"Counting the text boxes from the top, the {word} one is the target; I click into it.",
    )


_WIDGETS = {
    "button": ("button", None),
    "checkbox": ("checkbox", None),
    "radio": ("radio", None),
    "text": ("textbox", "input"),
    "textarea": ("textbox", "textarea"),
}
_WIDGET_WORDS = {
    "button": "button",
    "checkbox": "checkbox",
    "radio": "radio button",
    "text": "text field",
    "textarea": "text area",
}


def click_widget(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    kind = _match(r'Click on a "(\w+)" widget\.', utterance)[1]
    if kind not in _WIDGETS:
        raise ExpertError(f"unknown widget kind {kind!r}")
    role, tag = _WIDGETS[kind]
    widget = _first(page.find(role, tag=tag), f"{kind} widget")  # type: ignore[arg-type]
    word = _WIDGET_WORDS[kind]
    return _click(
        widget, frame, f"Click the {word}", f"Among the widgets, the first {word} is a '{kind}' widget; I click it."
    )


def click_test_2(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    word = _match(r"Click button (\w+)\.", utterance)[1]
    button = _first(page.find("button", text=word), f"button {word!r}")
    return _click(button, frame, f"Click the '{word}' button", f"The task asks for button {word}; I click it.")


# -- several steps ----------------------------------------------------------------------


def click_button_sequence(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    first, second = _match(r"Click button (\w+), then click button (\w+)\.", utterance).groups()
    if not history:
        button = _first(page.find("button", text=first), f"button {first!r}")
        return _click(
            button, frame, f"Click the '{first}' button", f"Button {first} comes first; I click it, then {second}."
        )
    button = _first(page.find("button", text=second), f"button {second!r}")
    return _click(
        button, frame, f"Click the '{second}' button", f"Button {first} is done; now I click button {second}."
    )


def enter_text(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    text = _match(r'Enter "(.+)" into the text field and press Submit\.', utterance)[1]
    field = _first(page.find("textbox"), "text field")
    step = _fill(page, frame, field, text, "the text field", "then I press Submit.")
    if step is not None:
        return step
    submit = _first(page.find("button", text="Submit"), "Submit button")
    return _click(submit, frame, "Click the 'Submit' button", f"The field holds '{text}'; I press Submit to finish.")


_LOGIN_GOAL = r'Enter the username "(.+)" and the password "(.+)" into the text fields and press login\.'
_PASSWORD_GOAL = r'Enter the password "(.+)" into both text fields and press submit\.'


def login_user(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    user, password = _match(_LOGIN_GOAL, utterance).groups()
    return _fill_then_press(
        page,
        frame,
        "a username and a password field",
        [
            (user, "the username field", "the password comes next."),
            (password, "the password field", "then I press Login."),
        ],
        "Login",
        "Both fields are filled in; I press Login.",
    )


def enter_password(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    password = _match(_PASSWORD_GOAL, utterance)[1]
    return _fill_then_press(
        page,
        frame,
        "a password and a verify field",
        [
            (password, "the password field", "the verify field comes next."),
            (password, "the verify password field", "then I press Submit."),
        ],
        "Submit",
        "Both fields hold the password; I press Submit.",
    )


def click_option(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    name = _match(r"Select (.+) and click Submit\.", utterance)[1]
    options = [e for e in page.find("radio") if page.label_for(e) == name]
    option = _first(options, f"option {name!r}")
    if not option.checked:
        return _click(
            option, frame, f"Select the '{name}' option", f"The option '{name}' is not selected yet; I click it."
        )
    submit = _first(page.find("button", text="Submit"), "Submit button")
    return _click(submit, frame, "Click the 'Submit' button", f"'{name}' is selected; I press Submit.")


def click_checkboxes(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    listed = _match(r"Select (.*) and click Submit\.", utterance)[1]
    wanted = set() if listed == "nothing" else set(listed.split(", "))
    for box in page.find("checkbox"):
        name = page.label_for(box)
        if bool(box.checked) != (name in wanted):
            verb = "Check" if name in wanted else "Uncheck"
            why = "is in the list" if name in wanted else "is not in the list"
            return _click(box, frame, f"{verb} the '{name}' checkbox", f"'{name}' {why}; I click its checkbox.")
    submit = _first(page.find("button", text="Submit"), "Submit button")
    return _click(submit, frame, "Click the 'Submit' button", "Exactly the listed boxes are checked; I press Submit.")


def navigate_tree(utterance: str, page: Page, frame: TaskFrame, history: Sequence[ExpertStep]) -> ExpertStep:
    """Click the name when it is visible, else open the first closed folder: what a user without
    the DOM would do (the expert does not peek into closed folders)."""
    name = _match(r'Navigate through the file tree\. Find and click on the folder or file named "(.+)"\.', utterance)[1]
    items = [e for e in page.find(tag="span") if {"file", "folder"} & set(e.classes)]
    named = [e for e in items if e.text == name]
    if named:
        kind = "folder" if "folder" in named[0].classes else "file"
        return _click(
            named[0], frame, f"Click the {kind} '{name}'", f"The {kind} '{name}' is visible in the tree; I click it."
        )
    closed = [
        e
        for e in items
        if "folder" in e.classes and e.parent is not None and "expandable" in page.elements[e.parent].classes
    ]
    folder = _first(closed, f"item {name!r} or closed folder")
    return _click(
        folder,
        frame,
        f"Open the folder '{folder.text}'",
        f"'{name}' is not visible; I open the folder '{folder.text}' to look inside.",
    )


# task -> its goal's pattern and the group typed into password fields: shown as dots, never as letters,
# so a record may swap it for other letters of the same length (``aguvis.data.augment.retype_record``)
_HIDDEN = {"login-user": (_LOGIN_GOAL, 2), "enter-password": (_PASSWORD_GOAL, 1)}


def hidden_text(task: str, goal: str) -> list[str]:
    """The strings of ``goal`` that ``task``'s screens never show (typed into password fields)."""
    pattern, group = _HIDDEN.get(task, (None, 0))
    match = re.fullmatch(pattern, goal) if pattern is not None else None
    return [match[group]] if match else []


EXPERTS: dict[str, Expert] = {
    "click-button": click_button,
    "click-link": click_link,
    "click-dialog-2": click_dialog_2,
    "click-tab": click_tab,
    "focus-text-2": focus_text_2,
    "click-widget": click_widget,
    "click-test-2": click_test_2,
    "click-button-sequence": click_button_sequence,
    "enter-text": enter_text,
    "login-user": login_user,
    "enter-password": enter_password,
    "click-option": click_option,
    "click-checkboxes": click_checkboxes,
    "navigate-tree": navigate_tree,
}
"""Task name -> expert."""
