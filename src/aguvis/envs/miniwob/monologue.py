"""Templated inner monologue and the stage-2 conversation of one step.

Aguvis trains planning on a *reasoning mixture*: the same step written at
several levels of detail. Here, for an expert's step:

- ``l1``: the action alone (one ``os`` message);
- ``l2``: the low-level instruction, then the action::

      all: "Action: Click the 'okay' button"
      os:  "pyautogui.click(x=0.1656, y=0.3524)"

- ``l3``: observation and thought, the low-level instruction, then the action::

      all: "Thought: The page shows buttons 'okay', 'next'. The task asks for the 'okay'
            button; clicking it completes it.\\nAction: Click the 'okay' button"
      os:  "pyautogui.click(x=0.1656, y=0.3524)"

``l3`` begins with ``Thought:`` because the enforced-plan mode prefills it.
With a named point (:func:`aguvis.data.augment.named_point_text`) a click's
``l2``/``l3`` message ends with a line ``Point: okay1656 okay3524``: the
click's decimals right after the name of what it clicks.
Later steps see a step as its low-level instruction (``l2``, ``l3``) or its
code (``l1``): :func:`history_entry`, and :func:`history_entry_from_reply` for
a model's reply at evaluation, which reads the same convention back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from aguvis.chat.prompts import agent_system_prompt, user_instruction
from aguvis.data.records import Turn
from aguvis.envs.miniwob.elements import Element, Page

Level = Literal["l1", "l2", "l3"]
LEVELS: tuple[Level, ...] = get_args(Level)

SYSTEM_PROMPT = agent_system_prompt(())
"""Aguvis' agent system prompt with no plugin function: every supported task is
solved with pointer and keyboard actions, and the 150 tokens of
``browser.select_option``'s schema would be a quarter of each training sample."""

_ACTION_PREFIX = "Action: "
_THOUGHT_PREFIX = "Thought: "
POINT_PREFIX = "Point: "
_MAX_LISTED = 6
_MAX_TEXT_WORDS = 3


def monologue(level: Level, observation: str, thought: str, instruction: str, point: str | None = None) -> str | None:
    """The ``all`` message of a step at ``level`` (None for ``l1``); ``point`` adds the ``Point:`` line."""
    if level == "l1":
        return None
    if level == "l2":
        text = _ACTION_PREFIX + instruction
    elif level == "l3":
        text = f"{_THOUGHT_PREFIX}{observation} {thought}\n{_ACTION_PREFIX}{instruction}"
    else:
        raise ValueError(f"unknown reasoning level {level!r}; expected one of {LEVELS}")
    return text if point is None else f"{text}\n{POINT_PREFIX}{point}"


def history_entry(level: Level, instruction: str, code: str) -> str:
    """How later steps list this step under "Previous actions": its instruction, or its code at ``l1``."""
    return code if level == "l1" else instruction


def history_entry_from_reply(thought: str | None, code: str) -> str:
    """The history entry for a model's reply: the monologue's ``Action:`` line, else the code.

    >>> history_entry_from_reply("Thought: ...\\nAction: Click the 'OK' button", "pyautogui.click(x=0.5, y=0.5)")
    "Click the 'OK' button"
    >>> history_entry_from_reply(None, "pyautogui.click(x=0.5, y=0.5)")
    'pyautogui.click(x=0.5, y=0.5)'
    """
    for line in (thought or "").splitlines():
        if line.startswith(_ACTION_PREFIX) and line[len(_ACTION_PREFIX) :].strip():
            return line[len(_ACTION_PREFIX) :].strip()
    return code


def step_turns(
    level: Level,
    goal: str,
    previous: Sequence[str],
    *,
    observation: str,
    thought: str,
    instruction: str,
    code: str,
    point: str | None = None,
) -> list[Turn]:
    """The whole stage-2 conversation of one step: system, screenshot + goal + history, reply."""
    turns = [
        Turn("system", SYSTEM_PROMPT),
        Turn("human", "<image>\n" + user_instruction(goal, list(previous))),
    ]
    inner = monologue(level, observation, thought, instruction, point)
    if inner is not None:
        turns.append(Turn("gpt", inner, recipient="all", end_turn=False))
    turns.append(Turn("gpt", code, recipient="os", end_turn=True))
    return turns


def describe_page(page: Page) -> str:
    """One sentence on what the screen shows, from its visible elements.

    >>> describe_page(Page(()))
    'The page shows nothing to act on.'
    """
    groups: dict[str, list[str]] = {}
    for element in page.find():
        phrase = _phrase(page, element)
        if phrase is not None:
            noun, text = phrase
            groups.setdefault(noun, []).append(text)
    if not groups:
        return "The page shows nothing to act on."
    parts = []
    for noun, items in groups.items():
        shown = items[:_MAX_LISTED]
        more = f" and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
        parts.append(f"{noun} {', '.join(shown)}{more}")
    return f"The page shows {'; '.join(parts)}."


def _phrase(page: Page, element: Element) -> tuple[str, str] | None:
    """``(group noun, item text)`` for an element worth mentioning, else None."""
    role = element.role
    if role == "button" and "ui-dialog-titlebar-close" in element.classes:
        return "buttons", "'x'"
    if role in ("button", "link", "tab") and element.text:
        return {"button": "buttons", "link": "links", "tab": "tabs"}[role], f"'{element.text}'"
    if role in ("checkbox", "radio"):
        label = page.label_for(element)
        state = " (checked)" if element.checked else ""
        return ("checkboxes" if role == "checkbox" else "options"), f"'{label}'{state}"
    if role == "textbox":
        label = page.label_for(element)
        name = f"'{label}'" if label else f"#{_ordinal(page, element)}"
        return "text fields", f"{name} ({'filled' if element.value else 'empty'})"
    if role == "text" and element.tag != "label" and 0 < len(element.text.split()) <= _MAX_TEXT_WORDS:
        return "texts", f"'{element.text}'"
    return None


def _ordinal(page: Page, element: Element) -> int:
    return [e.index for e in page.find("textbox")].index(element.index) + 1
