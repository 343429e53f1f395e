"""MiniWoB++ look-alike screens drawn with PIL: as many stage-1 layouts as training wants.

A model trained on the real screens clicks where a task's targets usually sit
rather than on the named one (benchmarks/README.md): 9,000 screens of 14
tasks hold few layouts, a browser here makes
about 500 screens a minute, and the archive that travels to the GPU machine
holds about 13,000. These screens cost nothing to ship: they are drawn where
training runs, tens of thousands in seconds, in MiniWoB's look. The 160 x 210
CSS-pixel task area at the data's device scale; the yellow instruction bar
with a real goal in it; below it, rows of what MiniWoB pages are made of
(lines of text, Chromium's default buttons, links in running text, check boxes
and radio buttons with labels, text fields with or without a label, and
buttons scattered anywhere), in Liberation Sans (Arial's metric twin, what
Chromium draws for MiniWoB's ``font-family: Arial``) at MiniWoB's sizes, with
the words that elements showed in the real data (its manifest's
``vocabulary``). They are saved as drawn: compacting them to the real screens'
palette (:mod:`.images`) would cost 30 ms a screen, five times the drawing, and
change a pixel by 0.2 of 255 on average. Every element's box is known,
so the queries are the real data's, phrased alike
(:func:`aguvis.envs.miniwob.grounding.phrasings`) and unambiguous::

    <out>/images/<index>.png   the screens
    <out>/stage1.jsonl         one record per screen, its grounding queries packed; ``augment: false``
                               (a layout drawn at random gains nothing from a shifted copy)
    <out>/stage1-referring.jsonl  with ``referring``: one record per screen, "what is at this point?"
                               for its queried elements that show text, as the real data's
    <out>/stage1.yaml          a mixture over them
    <out>/manifest.json        settings and counts; a rerun with the same settings does nothing

``scripts/miniwob_stage1_sweep.py`` trains on them (variants ``lookalike``,
``lookalike-only``, ``pointing`` on the ``one-button`` layout, ``squares`` on ``square``) and probes on
drawn held-out screens; benchmarks/README.md has what was measured.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import random
import shutil
import string
import subprocess
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from aguvis.data.records import Record, write_records
from aguvis.envs.miniwob.atomic import write_text
from aguvis.envs.miniwob.geometry import TaskFrame
from aguvis.envs.miniwob.grounding import MAX_TEXT_WORDS, ORDINAL_WORDS, GroundingQuery, ordinal_phrasings, phrasings
from aguvis.envs.miniwob.synth import grounding_turns, named_replies, referring_turns, write_mixture

SOURCE = "miniwob-lookalike"
FONT_ENV = "AGUVIS_FONT"
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
)

# MiniWoB's CSS, in CSS pixels: the bar is 44 px high with 3 px padding, the area has 2 px padding and
# 10 px text; Chromium's form controls use 13.33 px text, 1 px grey borders and light grey buttons.
_BAR_HEIGHT = 50
_BAR_PADDING = 3
_AREA_PADDING = 2
_TEXT_SIZE = 10.0
_CONTROL_SIZE = 13.333
_LINE = 1.15  # "line-height: normal" of Arial, in font sizes
_YELLOW = (255, 255, 0)
_BORDER = (118, 118, 118)
_BUTTON = (239, 239, 239)
_LINK = (0, 0, 238)
_BLACK = (0, 0, 0)
_WHITE = (255, 255, 255)
_LABEL_CHARACTERS = string.ascii_letters + string.digits


Layout = Literal["page", "one-button", "square"]
LAYOUTS: tuple[Layout, ...] = ("page", "one-button", "square")
"""``page``: rows of mixed elements, or buttons scattered (3 screens in 10); ``one-button``: a single
button at a random place, the plainest pointing task (a diagnosis: can the model point at all?);
``square``: a black square on a blank screen, centred on a cell of the model's image-token grid
(:func:`_square`), pointing made as easy as it gets, for a model to learn first."""

MERGED_TOKEN_PX = 28
"""Side in screenshot pixels of the image area behind one of Qwen2-VL's merged image tokens (14-px
patches merged 2 x 2); the processor resizes each side to a multiple of it, rounding."""


class LookalikeError(ValueError):
    """Settings or a vocabulary the look-alike screens cannot be drawn from; names the file or setting."""


@dataclass(frozen=True)
class LookalikeSettings:
    """What is drawn; a rerun with equal settings (and vocabulary) reuses the output."""

    screens: int
    seed: int = 0
    queries_per_screen: int = 16
    scale: int = 2
    layout: Layout = "page"
    points: Literal["none", "named"] = "none"  # "named": each click after a "Point:" line, as the real data's
    # also ask each shown word back ("what is at (x, y)?"): on the real screens the model learns to answer
    # that for the screens it saw and not for new ones (benchmarks/README.md, "What the model remembers");
    # labels drawn afresh on every screen cannot be remembered, only read
    referring: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """Goals for the instruction bar and, per role, the words elements show. ``random_labels``: the
    share of check-box and radio labels drawn as fresh random strings of letters and digits, the labels
    of click-option and click-checkboxes, which no vocabulary can list: a model must read them."""

    goals: tuple[str, ...]
    texts: dict[str, tuple[str, ...]]
    random_labels: float = 0.0

    @classmethod
    def from_manifest(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """The ``vocabulary`` of a MiniWoB++ data set's manifest (``aguvis data synth miniwob``)."""
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise LookalikeError(f"{path}: cannot read the data set's manifest: {err}") from err
        vocabulary = manifest.get("vocabulary") if isinstance(manifest, dict) else None
        if not isinstance(vocabulary, dict):
            raise LookalikeError(
                f"{path}: no 'vocabulary' field; rebuild the data set with this version of "
                "'aguvis data synth miniwob' (a rerun of the same command rewrites the manifest)"
            )
        texts = {role: tuple(words) for role, words in vocabulary.get("texts", {}).items() if words}
        goals = tuple(vocabulary.get("goals", ()))
        if not goals or not texts:
            raise LookalikeError(f"{path}: the vocabulary has no {'goals' if not goals else 'words'} to draw with")
        return cls(goals, texts)

    def words(self, role: str) -> tuple[str, ...]:
        """Words for ``role``; for a role the data never showed, the short texts, or else every word."""
        found = self.texts.get(role) or self.texts.get("text")
        return found or tuple(sorted({w for words in self.texts.values() for w in words}))


@dataclass(frozen=True)
class Drawn:
    """An element on a drawn screen: what a query would call it and where it is, in CSS pixels."""

    role: str
    text: str
    box: tuple[float, float, float, float]  # left, top, width, height
    identity: str = ""
    phrasings: tuple[str, ...] = ()


def find_font(path: str | os.PathLike[str] | None = None) -> Path:
    """Liberation Sans Regular: ``path``, ``$AGUVIS_FONT``, fontconfig's match for Arial, or a usual location."""
    if path is None:
        path = os.environ.get(FONT_ENV)
    if path is not None:
        if not Path(path).is_file():
            raise LookalikeError(f"font file {path} does not exist")
        return Path(path)
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", "Arial"], capture_output=True, text=True).stdout
        if found and "Liberation" in found and Path(found).is_file():
            return Path(found)
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise LookalikeError(
        "no Liberation Sans font found (the Arial twin Chromium uses for MiniWoB++); install Debian's "
        f"fonts-liberation, or pass --font / set {FONT_ENV} to LiberationSans-Regular.ttf"
    )


class _Painter:
    """Draws MiniWoB-styled elements at the device scale; positions and sizes in CSS pixels."""

    def __init__(self, font: Path, frame: TaskFrame) -> None:
        self.frame = frame
        self.image = Image.new("RGB", frame.image_size, _WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.text_font = _font(font, _TEXT_SIZE * frame.scale)
        self.control_font = _font(font, _CONTROL_SIZE * frame.scale)

    def width(self, text: str, control: bool = False) -> float:
        return (self.control_font if control else self.text_font).getlength(text) / self.frame.scale

    def text(self, x: float, y: float, text: str, colour=_BLACK, control: bool = False, underline=False) -> None:
        s = self.frame.scale
        font = self.control_font if control else self.text_font
        size = _CONTROL_SIZE if control else _TEXT_SIZE
        # PIL puts the ascender at y; Chromium centres the glyphs in the line box.
        ascent, descent = font.getmetrics()
        top = y * s + (size * _LINE * s - (ascent + descent)) / 2
        self.draw.text((x * s, top), text, font=font, fill=colour)
        if underline:
            base = top + ascent + s
            self.draw.line([(x * s, base), (x * s + font.getlength(text), base)], fill=colour, width=s)

    def rect(self, box: tuple[float, float, float, float], fill, outline=_BORDER, radius: float = 2) -> None:
        s = self.frame.scale
        left, top, width, height = box
        self.draw.rounded_rectangle(
            [left * s, top * s, (left + width) * s - 1, (top + height) * s - 1],
            radius=radius * s,
            fill=fill,
            outline=outline,
            width=s,
        )


@functools.cache
def _font(path: Path, size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size=size)


def _line_height(size: float = _TEXT_SIZE) -> float:
    return size * _LINE


def _words(rng: random.Random, vocabulary: Vocabulary, role: str) -> str:
    # no draw at a share of 0, so that screens drawn before random labels existed come out the same
    if role in ("checkbox", "radio") and vocabulary.random_labels and rng.random() < vocabulary.random_labels:
        return random_label(rng)
    return rng.choice(vocabulary.words(role))


def random_label(rng: random.Random) -> str:
    """2 to 7 letters and digits, as MiniWoB++'s click-option and click-checkboxes label their choices."""
    return "".join(rng.choice(_LABEL_CHARACTERS) for _ in range(rng.randint(2, 7)))


def _bar(p: _Painter, goal: str) -> None:
    p.rect((0, 0, p.frame.width, _BAR_HEIGHT), _YELLOW, outline=None, radius=0)
    lines, line = [], ""
    for word in goal.split():
        trial = f"{line} {word}".strip()
        if line and p.width(trial) > p.frame.width - 2 * _BAR_PADDING:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    for i, text in enumerate(lines[:3]):
        p.text(_BAR_PADDING, _BAR_PADDING + i * _line_height(), text)


_BUTTON_HEIGHT = _CONTROL_SIZE * _LINE + 4  # 1 px padding and 1 px border above and below
_FIELD_HEIGHT = _CONTROL_SIZE * _LINE + 6


def _button_width(p: _Painter, text: str) -> float:
    return p.width(text, control=True) + 14  # 6 px padding and 1 px border each side


def _button(p: _Painter, x: float, y: float, text: str) -> Drawn:
    box = (x, y, _button_width(p, text), _BUTTON_HEIGHT)
    p.rect(box, _BUTTON)
    p.text(x + 7, y + 2, text, control=True)
    return Drawn("button", text, box)


def _row_buttons(p: _Painter, rng: random.Random, v: Vocabulary, x: float, y: float, right: float) -> list[Drawn]:
    drawn = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        text = _words(rng, v, "button")
        if x + _button_width(p, text) > right:
            break
        drawn.append(_button(p, x, y, text))
        x += drawn[-1].box[2] + 4
    return drawn


def _row_text(p: _Painter, rng: random.Random, v: Vocabulary, x: float, y: float, right: float) -> list[Drawn]:
    text = _words(rng, v, "text")
    while p.width(text) > right - x and " " in text:
        text = text.rsplit(" ", 1)[0]
    if p.width(text) > right - x:
        return []
    p.text(x, y, text)
    return [Drawn("text", text, (x, y, p.width(text), _line_height()))]


def _row_links(p: _Painter, rng: random.Random, v: Vocabulary, x: float, y: float, right: float) -> list[Drawn]:
    """Running text with links in it: words of plain text and link words, one line."""
    drawn, cursor, space = [], x, p.width(" ")
    for _ in range(rng.randint(2, 6)):
        is_link = rng.random() < 0.45
        word = _words(rng, v, "link" if is_link else "text").split()[0]
        if cursor + p.width(word) > right:
            break
        p.text(cursor, y, word, colour=_LINK if is_link else _BLACK, underline=is_link)
        if is_link:
            drawn.append(Drawn("link", word, (cursor, y, p.width(word), _line_height())))
        cursor += p.width(word) + space
    return drawn


def _row_choice(p: _Painter, rng: random.Random, v: Vocabulary, x: float, y: float, right: float) -> list[Drawn]:
    """A check box or a radio button (13 x 13, margins 3 3 3 4) and its label; clicking either toggles it."""
    role = rng.choice(("checkbox", "radio"))
    label = _words(rng, v, role)
    if x + 20 + p.width(label) > right:
        return []
    box = (x + 4, y + 3, 13, 13)
    if role == "checkbox":
        p.rect(box, _WHITE)
    else:
        s = p.frame.scale
        p.draw.ellipse(
            [box[0] * s, box[1] * s, (box[0] + 13) * s - 1, (box[1] + 13) * s - 1],
            fill=_WHITE,
            outline=_BORDER,
            width=s,
        )
    p.text(x + 20, y + 3.5, label)
    return [Drawn(role, label, box)]


def _row_field(p: _Painter, rng: random.Random, v: Vocabulary, x: float, y: float, right: float) -> list[Drawn]:
    """A text field, after a label ("word:") half of the time; 120 px wide (MiniWoB's), or less."""
    label = _words(rng, v, "textbox").rstrip(":") if rng.random() < 0.5 else ""
    field_x = x + p.width(f"{label}:") + 4 if label else x
    width = min(rng.choice((124, 124, 90, 60)), right - field_x)
    if width < 30:
        return []
    if label:
        p.text(x, y + 4, f"{label}:")
    box = (field_x, y, width, _FIELD_HEIGHT)
    p.rect(box, _WHITE)
    return [Drawn("textbox", label, box)]


_ROWS = ((_row_text, 3), (_row_buttons, 3), (_row_links, 2), (_row_choice, 2), (_row_field, 2))


def _flow(p: _Painter, rng: random.Random, v: Vocabulary) -> list[Drawn]:
    """Rows down the area, each indented by chance, until it is full."""
    drawn: list[Drawn] = []
    y = _BAR_HEIGHT + _AREA_PADDING
    bottom, right = p.frame.height - _AREA_PADDING, p.frame.width - _AREA_PADDING
    kinds, weights = zip(*_ROWS, strict=True)
    while True:
        row = rng.choices(kinds, weights)[0]
        height = _FIELD_HEIGHT if row in (_row_buttons, _row_field) else _line_height() + 4
        if y + height > bottom:
            return drawn
        x = _AREA_PADDING + (rng.uniform(0, 60) if rng.random() < 0.4 else 0)
        drawn += row(p, rng, v, x, y, right)
        y += height + rng.choice((0, 0, 2, 6, 12))


def _scattered(p: _Painter, rng: random.Random, v: Vocabulary) -> list[Drawn]:
    """Buttons at random places (as click-test-2, click-button-sequence, click-widget place them)."""
    drawn: list[Drawn] = []
    for _ in range(rng.randint(1, 6) * 4):  # tries
        if len(drawn) >= 6:
            break
        text = _words(rng, v, "button")
        width = _button_width(p, text)
        place = _random_place(p, rng, width, _BUTTON_HEIGHT)
        if place is None or any(_overlap((*place, width, _BUTTON_HEIGHT), d.box, margin=2) for d in drawn):
            continue
        drawn.append(_button(p, *place, text))
    return drawn


def _one_button(p: _Painter, rng: random.Random, v: Vocabulary) -> list[Drawn]:
    """A single button anywhere below the bar: pointing with nothing else to tell apart."""
    while True:
        text = _words(rng, v, "button")
        place = _random_place(p, rng, _button_width(p, text), _BUTTON_HEIGHT)
        if place is not None:
            return [_button(p, *place, text)]


def _square(p: _Painter, rng: random.Random) -> list[Drawn]:
    """A black 10-px square (20 screenshot pixels) centred on a random cell of the merged-token grid.

    With the square inside one image token at the same place in it, the answer is a function of which
    token it is: a small model with the position code learns that in about 100 steps, where it stalls
    for thousands on a button placed anywhere (benchmarks/README.md). Mixed into stage 1, it teaches
    the decoder to write a place it reads off the image before grounding needs that.
    """
    columns, rows = (max(1, round(side / MERGED_TOKEN_PX)) for side in p.frame.image_size)
    x = (rng.randrange(columns) + 0.5) * p.frame.width / columns
    y = (rng.randrange(rows) + 0.5) * p.frame.height / rows
    box = (x - 5, y - 5, 10.0, 10.0)
    p.rect(box, _BLACK, outline=None, radius=0)
    return [Drawn("square", "", box, identity="square", phrasings=("Click the square", "the black square"))]


def _random_place(p: _Painter, rng: random.Random, width: float, height: float) -> tuple[float, float] | None:
    """A random top-left corner for a ``width`` x ``height`` box in the area below the bar; None if it is too wide."""
    if width > p.frame.width - 2 * _AREA_PADDING:
        return None
    x = rng.uniform(_AREA_PADDING, p.frame.width - _AREA_PADDING - width)
    y = rng.uniform(_BAR_HEIGHT + _AREA_PADDING, p.frame.height - _AREA_PADDING - height)
    return x, y


def _overlap(a, b, margin: float) -> bool:
    return not (
        a[0] + a[2] + margin <= b[0]
        or b[0] + b[2] + margin <= a[0]
        or a[1] + a[3] + margin <= b[1]
        or b[1] + b[3] + margin <= a[1]
    )


def draw_screen(
    vocabulary: Vocabulary, rng: random.Random, font: Path, frame: TaskFrame, layout: Layout = "page"
) -> tuple[Image.Image, list[Drawn]]:
    """One look-alike screen and its elements, each with its identity and phrasings."""
    p = _Painter(font, frame)
    if layout == "square":
        return p.image, _square(p, rng)
    _bar(p, rng.choice(vocabulary.goals))
    if layout == "one-button":
        drawn = _one_button(p, rng, vocabulary)
    else:
        drawn = _scattered(p, rng, vocabulary) if rng.random() < 0.3 else _flow(p, rng, vocabulary)
    named = []
    fields = 0
    for element in drawn:
        if element.role == "textbox" and not element.text:
            if fields < len(ORDINAL_WORDS):
                named.append(
                    dataclasses.replace(
                        element, identity=f"textbox#{fields}", phrasings=tuple(ordinal_phrasings(fields))
                    )
                )
            fields += 1
        elif element.role != "text" or len(element.text.split()) <= MAX_TEXT_WORDS:
            named.append(
                dataclasses.replace(
                    element,
                    identity=f"{element.role}:{element.text}",
                    phrasings=tuple(phrasings(element.role, element.text)),
                )
            )
    return p.image, named


def screen_queries(drawn: Sequence[Drawn], frame: TaskFrame, rng: random.Random, limit: int) -> list[GroundingQuery]:
    """Queries for the unambiguous elements (an identity met once), shuffled, at most ``limit``: a click
    at the centre CSS pixel of each, as the real data clicks."""
    counts: dict[str, int] = {}
    for element in drawn:
        counts[element.identity] = counts.get(element.identity, 0) + 1
    queries = []
    for element in drawn:
        if counts[element.identity] != 1:
            continue
        left, top, width, height = element.box
        box = frame.normalised_box(left, top, width, height)
        if box is None:
            continue
        point = frame.normalised_point(int(left + width / 2), int(top + height / 2))
        queries.append(GroundingQuery(rng.choice(element.phrasings), point, box, element.role, element.text))
    rng.shuffle(queries)
    return queries[:limit]


def _make(job: tuple[int, int, Vocabulary, LookalikeSettings, Path, Path]) -> tuple[list[Record], list[Record]]:
    """Draw, save and describe screens ``start..stop-1`` (in a worker process): their grounding records
    and, with ``settings.referring``, their referring records."""
    start, stop, vocabulary, settings, font, out = job
    frame = TaskFrame(scale=settings.scale)
    (out / "images").mkdir(parents=True, exist_ok=True)
    named = settings.points == "named"
    records, referring = [], []
    for index in range(start, stop):
        rng = random.Random(f"miniwob-lookalike:{settings.seed}:{index}")
        image, drawn = draw_screen(vocabulary, rng, font, frame, settings.layout)
        queries = screen_queries(drawn, frame, rng, settings.queries_per_screen)
        if not queries:
            continue
        name = f"images/{index:07d}.png"
        image.save(out / name, format="PNG", compress_level=1)
        screen = {"source": SOURCE, "screen_id": index, "image_size": list(frame.image_size), "augment": False}
        extra = screen | {"bbox": [list(q.box) for q in queries]}
        if named:
            extra |= named_replies(queries)
        records.append(Record(images=[name], conversations=grounding_turns(queries, named=named), extra=extra))
        shown = [q for q in queries if q.text]
        if settings.referring and shown:
            about = screen | {"bbox": [list(q.box) for q in shown], "query_points": [list(q.point) for q in shown]}
            referring.append(Record(images=[name], conversations=referring_turns(shown), extra=about))
    return records, referring


def synthesise_lookalike(
    out_dir: str | os.PathLike[str],
    vocabulary: Vocabulary,
    settings: LookalikeSettings,
    *,
    font: str | os.PathLike[str] | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Draw ``settings.screens`` screens into ``out_dir`` with ``workers`` processes; returns the manifest."""
    if settings.screens < 1:
        raise LookalikeError(f"screens must be positive, got {settings.screens}")
    if settings.layout not in LAYOUTS:
        raise LookalikeError(f"layout must be one of {', '.join(LAYOUTS)}, got {settings.layout!r}")
    if settings.queries_per_screen < 1:
        raise LookalikeError(f"queries per screen must be positive, got {settings.queries_per_screen}")
    if settings.points not in ("none", "named"):
        raise LookalikeError(f"points must be 'none' or 'named', got {settings.points!r}")
    if not 0.0 <= vocabulary.random_labels <= 1.0:
        raise LookalikeError(f"the share of random labels must lie in [0, 1], got {vocabulary.random_labels}")
    out = Path(out_dir)
    made_with = {"settings": dataclasses.asdict(settings), "vocabulary": dataclasses.asdict(vocabulary)}
    made_with = json.loads(json.dumps(made_with))  # as the manifest stores it: tuples become lists
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("made_with") == made_with:
            return manifest
    font_path = find_font(font)
    shutil.rmtree(out / "images", ignore_errors=True)  # screens of other settings would linger unlisted
    chunk = 250
    jobs = [
        (start, min(start + chunk, settings.screens), vocabulary, settings, font_path, out)
        for start in range(0, settings.screens, chunk)
    ]
    records: list[Record] = []
    referring: list[Record] = []
    with (
        ProcessPoolExecutor(max(1, workers)) as pool,
        tqdm(total=settings.screens, desc="look-alike screens", unit="screen", disable=not progress) as bar,
    ):
        for (start, stop, *_), (made, asked_back) in zip(jobs, pool.map(_make, jobs), strict=True):
            records += made
            referring += asked_back
            bar.update(stop - start)
    write_records(out / "stage1.jsonl", records)
    files = ["stage1.jsonl"]
    if settings.referring:
        write_records(out / "stage1-referring.jsonl", referring)
        files.append("stage1-referring.jsonl")
    else:
        (out / "stage1-referring.jsonl").unlink(missing_ok=True)  # of earlier settings: not this set's
    write_mixture(out / "stage1.yaml", files)
    manifest = {
        "source": SOURCE,
        "made_with": made_with,
        "font": font_path.name,
        "screens": len(records),
        "grounding_queries": sum(len(r.conversations) // 2 for r in records),
    }
    if settings.referring:
        manifest["referring_queries"] = sum(len(r.conversations) // 2 for r in referring)
    write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest
