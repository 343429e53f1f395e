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

ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
MAX_TEXT_WORDS = 3


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
        return f"{role}:{element.text}", phrasings(role, element.text)
    if role in ("checkbox", "radio"):
        label = page.label_for(element)
        if not label:
            return None
        return f"{role}:{label}", phrasings(role, label)
    if role == "textbox":
        label = page.label_for(element)
        if label:
            return f"textbox:{label}", phrasings(role, label)
        boxes = [e.index for e in page.find("textbox")]
        position = boxes.index(element.index)
        if position >= len(ORDINAL_WORDS):
            return None
        return f"textbox#{position}", ordinal_phrasings(position)
    if role == "text" and 0 < len(element.text.split()) <= MAX_TEXT_WORDS:
        return f"text:{element.text}", phrasings(role, element.text)
    return None


def phrasings(role: str, text: str) -> list[str]:
    """The ways a query names the element of ``role`` that shows (or is labelled) ``text``."""
    t = text
    forms = {
        "button": [f"Click the '{t}' button", f"{t} button", t],
        "link": [f"Click the link '{t}'", f"{t} link", t],
        "tab": [f"Click '{t}'", f"Open {t}", t],
        "checkbox": [f"Click the checkbox '{t}'", f"Tick {t}", f"checkbox {t}"],
        "radio": [f"Select the option '{t}'", f"{t} option", f"radio button {t}"],
        "textbox": [f"Click the {t} field", f"{t} input"],
        "text": [f"Click the text '{t}'", t],
    }
    return forms[role]


def ordinal_phrasings(position: int) -> list[str]:
    """The ways a query names the unlabelled text field at ``position`` (0-based) among the page's fields."""
    word = ORDINAL_WORDS[position]
    return [f"Click the {word} text field", f"{word} text box"]


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
