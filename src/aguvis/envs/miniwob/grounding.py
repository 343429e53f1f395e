"""Stage-1 grounding queries for a rendered screen, from its DOM.

The SeeClick / OS-Atlas recipe for web grounding data: every visible element
a user could point at becomes an instruction (its text, its role, its label,
its position among its kind) paired with a click at the centre of its visible
part and its box. Two elements that would get the same description (two
'okay' buttons) are both left out: the query would have two right answers.

Each query also keeps the words the element shows (its text or label), for
the referring direction of the same recipe (a point -> what is there), which
supervises reading every visible word rather than only the coordinate digits
of the grounding answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from aguvis.envs.miniwob.elements import Element, Page
from aguvis.envs.miniwob.geometry import Box, TaskFrame

_ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
_MAX_TEXT_WORDS = 3


@dataclass(frozen=True)
class GroundingQuery:
    """One instruction and where it points: ``point`` to click and ``box`` of the target, both normalised;
    ``text`` is what the element shows (its text or label; empty when it shows none, e.g. an
    unlabelled text field found by its position)."""

    instruction: str
    point: tuple[float, float]
    box: Box
    role: str
    text: str = ""


def descriptions(page: Page, element: Element) -> tuple[str, list[str], str] | None:
    """``(identity, phrasings, text)`` of an element worth a query, else None.

    ``identity`` is what the phrasings say about the element (role and text);
    elements sharing it are ambiguous. ``text`` is the words it shows.
    """
    described = _describe(page, element)
    if described is None:
        return None
    identity, phrasings = described
    role, _, words = identity.partition(":")
    return identity, phrasings, words if role in _SHOWN_TEXT_ROLES else ""


# Roles whose identity's words are on screen, on the element or as its label.
_SHOWN_TEXT_ROLES = frozenset({"button", "link", "tab", "checkbox", "radio", "textbox", "text"})


def _describe(page: Page, element: Element) -> tuple[str, list[str]] | None:
    role = element.role
    if role == "button" and "ui-dialog-titlebar-close" in element.classes:
        return "close", ["Click the close button of the dialog", "Close the dialog", "x"]
    if role in ("button", "link", "tab") and element.text:
        t = element.text
        forms = {
            "button": [f"Click the '{t}' button", f"{t} button", t],
            "link": [f"Click the link '{t}'", f"{t} link", t],
            "tab": [f"Click '{t}'", f"Open {t}", t],
        }
        return f"{role}:{t}", forms[role]
    if role in ("checkbox", "radio"):
        label = page.label_for(element)
        if not label:
            return None
        if role == "checkbox":
            return f"checkbox:{label}", [f"Click the checkbox '{label}'", f"Tick {label}", f"checkbox {label}"]
        return f"radio:{label}", [f"Select the option '{label}'", f"{label} option", f"radio button {label}"]
    if role == "textbox":
        label = page.label_for(element)
        if label:
            return f"textbox:{label}", [f"Click the {label} field", f"{label} input"]
        boxes = [e.index for e in page.find("textbox")]
        position = boxes.index(element.index)
        if position >= len(_ORDINAL_WORDS):
            return None
        word = _ORDINAL_WORDS[position]
        return f"textbox#{position}", [f"Click the {word} text field", f"{word} text box"]
    if role == "text" and 0 < len(element.text.split()) <= _MAX_TEXT_WORDS:
        t = element.text
        return f"text:{t}", [f"Click the text '{t}'", t]
    return None


def grounding_queries(
    page: Page, frame: TaskFrame, rng: random.Random, limit: int | None = None
) -> list[GroundingQuery]:
    """Queries for the visible elements of ``page``, unambiguous ones only, shuffled, at most ``limit``."""
    found: dict[str, list[tuple[Element, list[str], str]]] = {}
    for element in page.find():
        described = descriptions(page, element)
        if described is not None:
            identity, phrasings, text = described
            found.setdefault(identity, []).append((element, phrasings, text))
    queries = []
    for matches in found.values():
        if len(matches) != 1:
            continue
        element, phrasings, text = matches[0]
        box = element.normalised_box(frame)
        if box is None:
            continue
        queries.append(GroundingQuery(rng.choice(phrasings), element.click_point(frame), box, element.role, text))
    rng.shuffle(queries)
    return queries if limit is None else queries[:limit]
