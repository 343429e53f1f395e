"""Shift augmentation: move a whole screenshot, and every coordinate that points into it.

A model trained from few layouts (a synthetic environment renders each task
on a handful of grids) can fit its data by remembering where targets usually
sit instead of finding them. Shifting the screen by a random offset moves
every element, and the answer with it: the same page now asks for another
click, which only finding the element gives. The uncovered border repeats
the edge pixels (GUI backgrounds run on), and the offset is chosen so that
every target point and box of the record stays on the screen.

What moves: the coordinates of every action in the assistant's ``gpt``
turns (``x``/``y`` pairs and points such as ``from_coord``, per
:data:`aguvis.actions.SPECS`), the record's ``bbox`` field (one
``[x1, y1, x2, y2]`` box or a list of them) and its ``query_points``: points
on this screen that the user asks about (referring questions, "what is at
(x=0.4031, y=0.5357)?"), the ``i``-th written as :func:`point_text` in the
``i``-th human turn; and its ``reply_points``: points an assistant message
writes in its prose (a low-level instruction "Click the 'OK' button at
(x=0.4031, y=0.5357)"), each where it is first written in the assistant's
turns; with ``reply_names`` beside them, point ``i`` is written next to
name ``i`` by :func:`named_point_text` instead ("OK4031 OK5357"). What does not: any other text of the user's turns, whose
"Previous actions" refer to earlier screens. A turn that holds
prose around its code cannot be rewritten safely, and a record with more
than one image is ambiguous: :func:`shift_record` refuses both
(:class:`ShiftError`), and such records get no shifted copy. Neither does a record whose ``augment``
field is false: one whose layout was drawn at random anyway (the MiniWoB++
look-alike screens), where a copy would cost memory and teach nothing new.

Retyping (:func:`retype_record`): a record may list in ``hidden_text`` strings
of its text that its screenshot never shows (a password typed into a password
field shows as dots). Each copy may carry other letters of the same length
and kinds in their place, in every turn, and stays true to its screenshot: a
model then has to copy such a string from the goal, since recalling one from
training cannot fit thousands of them.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from aguvis.actions import ActionParseError, format_actions, parse
from aguvis.actions.action import Action
from aguvis.actions.formatting import format_value
from aguvis.data.records import Record, Turn


class ShiftError(ValueError):
    """A record whose coordinates cannot be shifted (see the module docstring)."""


@dataclass(frozen=True)
class Extent:
    """The smallest and largest normalised x and y that a shift must keep inside [0, 1]."""

    x0: float
    y0: float
    x1: float
    y1: float

    @classmethod
    def of(cls, points: Iterable[tuple[float, float]]) -> Extent | None:
        xs, ys = zip(*points, strict=True) if points else ((), ())
        return cls(min(xs), min(ys), max(xs), max(ys)) if xs else None

    def union(self, other: Extent | None) -> Extent:
        if other is None:
            return self
        return Extent(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))


def point_text(x: float, y: float) -> str:
    """How a question writes a point of the screen: ``(x=0.4031, y=0.5357)``, the numbers as in actions."""
    return f"(x={format_value(float(x))}, y={format_value(float(y))})"


def named_point_text(name: str, x: float, y: float) -> str:
    """How a monologue writes a point right after the name of what is there: ``OK4031 OK5357`` for
    'OK' at (0.4031, 0.5357), each coordinate's decimals (as in actions) just after the name.

    The token that decides a coordinate (its first decimal) is then predicted at the name's last
    token, with nothing between: the lookup a decoder from random weights learns soonest
    (benchmarks/README.md, MiniWoB++, "Recall needs the answer right after the question").

    >>> named_point_text("OK", 0.4031, 0.5)
    'OK4031 OK5'
    """
    return f"{name}{_decimals(x)} {name}{_decimals(y)}"


def _decimals(value: float) -> str:
    text = format_value(float(value))
    if not text.startswith("0."):
        raise ShiftError(f"a named point needs coordinates in [0, 1), got {value!r}")
    return text[2:]


def record_extent(record: Record) -> Extent | None:
    """Where the record's actions, boxes and query points reach; ``None`` when it has no coordinates.

    Raises :class:`ShiftError` for a record that :func:`shift_record` would refuse.
    """
    _check_shiftable(record)
    points = [p for turn in record.conversations if turn.role == "gpt" for p in _turn_points(turn)]
    points += [p for box in _boxes(record.extra.get("bbox")) for p in ((box[0], box[1]), (box[2], box[3]))]
    points += _query_points(record)
    points += [point for point, _ in _replies(record)]
    return Extent.of(points)


def draw_shift(extent: Extent | None, width: int, height: int, max_shift: float, rng: random.Random) -> tuple[int, int]:
    """A random offset in pixels, at most ``max_shift`` of each side, that keeps ``extent`` on the screen."""
    if extent is None:
        extent = Extent(0.5, 0.5, 0.5, 0.5)
    dx = _draw(rng, max(-max_shift, -extent.x0), min(max_shift, 1.0 - extent.x1), width)
    dy = _draw(rng, max(-max_shift, -extent.y0), min(max_shift, 1.0 - extent.y1), height)
    return dx, dy


def _draw(rng: random.Random, low: float, high: float, size: int) -> int:
    """A whole-pixel offset in [low, high] (fractions of ``size``), rounded inwards."""
    lo, hi = int(np.ceil(low * size)), int(np.floor(high * size))
    return rng.randint(lo, hi) if lo <= hi else 0


def shift_image(image: Image.Image, dx: int, dy: int) -> Image.Image:
    """``image`` moved right by ``dx`` and down by ``dy`` pixels (negative: left/up), same size;
    the uncovered border repeats the nearest edge pixels.

    >>> img = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    >>> np.asarray(shift_image(img, 1, -1)).tolist()
    [[4, 4, 5, 6], [8, 8, 9, 10], [8, 8, 9, 10]]
    """
    pixels = np.asarray(image)
    height, width = pixels.shape[:2]
    if abs(dx) >= width or abs(dy) >= height:
        raise ValueError(f"shift ({dx}, {dy}) moves the whole {width}x{height} image off the screen")
    kept = pixels[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)]
    pad = [(max(0, dy), max(0, -dy)), (max(0, dx), max(0, -dx))] + [(0, 0)] * (pixels.ndim - 2)
    return Image.fromarray(np.pad(kept, pad, mode="edge"), mode=image.mode)


def shift_record(record: Record, dx: float, dy: float) -> Record:
    """A copy of ``record`` whose assistant actions and ``bbox`` are moved by (``dx``, ``dy``),
    normalised; coordinates are written with 4 decimals, as everywhere.

    Raises :class:`ShiftError` when a coordinate would leave the screen or the
    record cannot be shifted (see the module docstring).
    """
    _check_shiftable(record)
    turns = [_shift_turn(turn, dx, dy) if turn.role == "gpt" else turn for turn in record.conversations]
    extra = dict(record.extra)
    if "bbox" in extra:
        extra["bbox"] = _shift_boxes(extra["bbox"], dx, dy)
    points = _query_points(record)
    if points:
        humans = [i for i, turn in enumerate(turns) if turn.role == "human"]  # point i is asked in human turn i
        extra["query_points"] = [_move_point(turns, i, p, dx, dy) for i, p in zip(humans, points, strict=False)]
    replies = _replies(record)
    if replies:
        gpts = [i for i, turn in enumerate(turns) if turn.role == "gpt"]
        written = [next(i for i in gpts if write(*p) in turns[i].value) for p, write in replies]
        extra["reply_points"] = [_move_point(turns, i, p, dx, dy, write) for i, (p, write) in zip(written, replies)]
    return Record(images=list(record.images), conversations=turns, extra=extra)


def retype_record(record: Record, rng: random.Random) -> Record:
    """A copy of ``record`` whose ``hidden_text`` strings are swapped for random ones (see the module docstring).

    Each character is replaced by one of its kind (lower case, upper case,
    digit; anything else is kept), so the new string has the old one's
    length and look; it replaces every quoted occurrence (``"s"`` or
    ``'s'``) in every turn. A record without ``hidden_text`` comes back as it is.
    """
    hidden = record.extra.get("hidden_text") or []
    if not hidden:
        return record
    if not isinstance(hidden, list) or not all(isinstance(h, str) and h for h in hidden):
        raise ValueError(f"hidden_text must be a list of non-empty strings, got {hidden!r}")
    fresh = {old: "".join(_same_kind(c, rng) for c in old) for old in dict.fromkeys(hidden)}
    turns = []
    for turn in record.conversations:
        value = turn.value
        for old, new in fresh.items():
            value = value.replace(f'"{old}"', f'"{new}"').replace(f"'{old}'", f"'{new}'")
        turns.append(dataclasses.replace(turn, value=value))
    extra = {**record.extra, "hidden_text": [fresh[h] for h in hidden]}
    return dataclasses.replace(record, conversations=turns, extra=extra)


def _same_kind(char: str, rng: random.Random) -> str:
    for letters in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        if char in letters:
            return rng.choice(letters)
    return char


def _check_shiftable(record: Record) -> None:
    if record.extra.get("augment") is False:
        raise ShiftError("the record is marked augment: false (its layout is drawn at random already)")
    if len(record.images) != 1:
        raise ShiftError(f"a record with {len(record.images)} images has no single screen to shift")


def _move_point(
    turns: list[Turn],
    index: int,
    point: tuple[float, float],
    dx: float,
    dy: float,
    write: Callable[[float, float], str] = point_text,
) -> list[float]:
    """Rewrite ``point`` where turn ``index`` first writes it (as ``write`` puts it), moved; returns the moved point."""
    new = (_moved(point[0], dx), _moved(point[1], dy))
    text = turns[index].value.replace(write(*point), write(*new), 1)
    turns[index] = dataclasses.replace(turns[index], value=text)
    return list(new)


def _point_list(record: Record, key: str) -> list[tuple[float, float]]:
    """``extra[key]`` as points, checked to be a list of [x, y] (empty when absent)."""
    value = record.extra.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in value
    ):
        raise ShiftError(f"{key} {value!r} is not a list of [x, y] points")
    return [(float(x), float(y)) for x, y in value]


def _query_points(record: Record) -> list[tuple[float, float]]:
    """``extra["query_points"]``, each checked to be written in its human turn."""
    points = _point_list(record, "query_points")
    humans = [turn.value for turn in record.conversations if turn.role == "human"]
    if len(points) > len(humans):
        raise ShiftError(f"{len(points)} query_points for {len(humans)} human turns")
    for i, ((x, y), text) in enumerate(zip(points, humans[: len(points)], strict=True)):
        if point_text(x, y) not in text:
            raise ShiftError(f"query point {i} {point_text(x, y)} is not written in human turn {i}")
    return points


def _replies(record: Record) -> list[tuple[tuple[float, float], Callable[[float, float], str]]]:
    """``extra["reply_points"]`` with how each is written (:func:`point_text`, or :func:`named_point_text`
    with its ``reply_names``), each checked to be written in an assistant turn."""
    points = _point_list(record, "reply_points")
    names = record.extra.get("reply_names")
    if names is None:
        writers = [point_text] * len(points)
    elif isinstance(names, list) and len(names) == len(points) and all(isinstance(n, str) and n for n in names):
        writers = [functools.partial(named_point_text, name) for name in names]
    else:
        raise ShiftError(f"reply_names {names!r} must name each of the {len(points)} reply_points")
    replies = [turn.value for turn in record.conversations if turn.role == "gpt"]
    for i, ((x, y), write) in enumerate(zip(points, writers, strict=True)):
        if not any(write(x, y) in text for text in replies):
            raise ShiftError(f"reply point {i} {write(x, y)} is not written in an assistant turn")
    return list(zip(points, writers, strict=True))


def _actions(turn: Turn) -> list[Action]:
    try:
        return parse(turn.value)
    except ActionParseError as err:
        raise ShiftError(f"an assistant turn does not parse: {err}") from err


def _coordinates(action: Action) -> bool:
    return any(p.coordinate and p.name in action.args for p in action.spec.params)


def _turn_points(turn: Turn) -> list[tuple[float, float]]:
    points = []
    for action in _actions(turn):
        args = action.args
        if "x" in args and "y" in args:
            points.append((args["x"], args["y"]))
        for param in action.spec.params:
            if param.coordinate == "point" and param.name in args:
                points.append(tuple(args[param.name]))
    return points


def _shift_turn(turn: Turn, dx: float, dy: float) -> Turn:
    actions = _actions(turn)
    if not any(_coordinates(a) for a in actions):
        return turn
    if format_actions(actions) != turn.value.strip():
        raise ShiftError("an assistant turn mixes prose with actions that have coordinates")
    moved = [_shift_action(a, dx, dy) for a in actions]
    return dataclasses.replace(turn, value=format_actions(moved))


def _shift_action(action: Action, dx: float, dy: float) -> Action:
    args = dict(action.args)
    for param in action.spec.params:
        if param.name not in args:
            continue
        if param.coordinate == "x":
            args["x"] = _moved(args["x"], dx)
        elif param.coordinate == "y":
            args["y"] = _moved(args["y"], dy)
        elif param.coordinate == "point":
            x, y = args[param.name]
            args[param.name] = [_moved(x, dx), _moved(y, dy)]
    return Action(action.name, args)


def _moved(value: float, delta: float) -> float:
    out = round(value + delta, 4)
    if not 0.0 <= out <= 1.0:
        raise ShiftError(f"coordinate {value} moved by {delta:+.4f} leaves the screen")
    return out


def _boxes(value: object) -> list[Sequence[float]]:
    """``bbox`` as a list of boxes: one box, a list of boxes, or nothing."""
    if value is None:
        return []
    if isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value):
        return [value]
    if isinstance(value, list) and all(isinstance(b, list) and len(b) == 4 for b in value):
        return value
    raise ShiftError(f"bbox {value!r} is neither a box [x1, y1, x2, y2] nor a list of them")


def _shift_boxes(value: object, dx: float, dy: float) -> object:
    moved = [[_moved(b[0], dx), _moved(b[1], dy), _moved(b[2], dx), _moved(b[3], dy)] for b in _boxes(value)]
    single = isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)
    return moved[0] if single else moved
