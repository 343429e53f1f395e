"""Can a small random Qwen2-VL learn to point, and does ``aguvis train`` teach it as a plain loop does?

The screens hold one black 20 px square in one of 8 x 8 cells of a white
224 x 224 image (``--placement anywhere``: at any pixel, so that its centre
falls anywhere inside a merged image token and the answer's later digits
vary too; ``snapped``: at any pixel, answered with the centre of the merged
token that holds its centre, so that only the picture differs from the
cells'); ``--look button`` draws a 40 x 20 button in Chromium's style with a
short word on it instead, what MiniWoB++ screens show and pointing stalls
on (``blank-button``: without the word; ``box``: a black box of its size;
``button-pair``: two such buttons with different words, one asked for by
its word, so that finding buttons is not enough: the probe also counts the
screens where the other button is named; ``--buttons N`` draws N buttons
instead of two; ``--ask-by side`` asks for the left or the right one
instead of by its word, ``--ask-by first`` always for one fixed word;
``--words`` picks the words; ``--refer`` adds a question for the word at a
button's centre; ``--parse`` has every answer list the buttons, word and
centre in reading order, to ``all``, before the click, so that the click
can be copied from that list, and ``--listed`` puts that list in the
question (``--list-last``: after the asking; ``--no-screen``: and no screen
at all, recall in plain text); ``--questions N`` asks N times per training screen, so that the
screen alone does not tell the answer; button pairs are also scored on the
model's own greedy replies (``score_generated``);
``--also-look`` draws half the training screens in a second look;
``--init`` starts from a given model, e.g. one whose tower
``scripts/reading_check.py --save-model`` trained to read). The
answer to "Click the square" is the click at its centre. A model that
reads no position off the image ends at the no-information loss, the
entropy of the square's written place (ln 64 nats; anywhere: 2 ln 205,
less with ``--decimals`` under 4) spread over the answer's label tokens.
Two trainings start from the same random model and see the same screens:

- ``reference``: the model's own Hugging Face forward, batches of whole
  samples, AdamW at the trainer's rate schedule (constant after a warm-up
  unless ``--min-lr-ratio`` is below 1);
- ``packed``: ``aguvis train`` with ``configs/miniwob/stage1.yaml`` (packing,
  preloading, mixed precision on a GPU), the same rate, steps and batch size;
  ``--packed NAME:KEY=VALUE,...`` adds more such trainings with config
  overrides (e.g. ``fp32:precision=fp32``, ``sdpa:data.packing.attention=sdpa``),
  to find which part of the training path a difference comes from.

Both are scored by the reference forward on held-out screens: the loss per
answer token, against the no-information loss, and the share of screens
whose teacher-forced first decimals of x and y are those of the square's
centre (each of the 8 cell centres has its own first decimal, so with
cells this is the share of cells named). Whether a run learns to point in
700 steps depends on its seed (``--seed``: the order of the screens), for
both loops: compare seeds, not single runs.

Two checks say whether ``aguvis train`` computes what it should, step by step:

- ``--compare``: on the trained reference model (the initial one if none is
  trained), the loss and gradient of ``packed_forward`` with each attention
  kernel, in fp32 and bf16, against the model's own forward;
- ``--compare-trainer``: for each packed training, its first
  ``--compare-steps`` steps, each checked against a plain fp32 copy started
  from the trainer's weights: the screens' patches against freshly drawn
  ones, the gradient and the optimizer's update (:func:`compare_trainer`).

    python scripts/pointing_check.py --out runs/pointing-check --steps 700 --shape absolute_position_grid=16 \\
        --packed fp32:precision=fp32 --packed no-preload:data.preload=false
    python scripts/pointing_check.py --out runs/pointing-check --shape absolute_position_grid=16 \\
        --compare --compare-trainer --compare-steps 300 --no-train
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import yaml

SIDE, CELLS, SQUARE = 224, 8, 20
CELL = SIDE // CELLS
PLACEMENTS = ("cells", "anywhere", "snapped")
# what is pointed at: width and height in pixels. ``button``: Chromium's default button (light grey,
# a 1 px grey border, a short black word), as on MiniWoB++ screens, where pointing stalls and squares do not;
# ``blank-button``: the same without the word; ``box``: a black box of the button's size
LOOKS = {
    "square": (SQUARE, SQUARE),
    "button": (40, 20),
    "blank-button": (40, 20),
    "box": (40, 20),
    "button-pair": (40, 20),
}
BUTTON_WORDS = ("OK", "Yes", "No", "Go", "Save", "Send", "Next", "Stop", "Add", "Cut")
# ``--words tokens``: ten words the tiny tokenizer keeps whole after a space (" cancel" is one token, where
# " No" is " ", "N", "o" and "Next" shares its "N"), so that a word is one token in the question and the list
WHOLE_TOKEN_WORDS = ("add", "back", "cancel", "close", "delete", "edit", "next", "open", "save", "submit")
# ``one-two``: MiniWoB++'s click-test-2 and click-button-sequence, where the same word is always asked for
WORDS = {"mixed": BUTTON_WORDS, "tokens": WHOLE_TOKEN_WORDS, "one-two": ("ONE", "TWO")}


class ButtonPair(NamedTuple):
    """How a ``button-pair`` screen is asked about (see :func:`_button_pair`)."""

    questions: int = 1
    buttons: int = 2
    by: str = "word"
    refer: bool = False
    parse: bool = False
    listed: bool = False
    words: str = "mixed"
    screen: bool = True
    list_last: bool = False


WARMUP = 0.07  # share of the steps warming the rate up, in both loops
SHAPE = {
    "hidden_size": 128,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "intermediate_size": 256,
    "mrope_section": [8, 12, 12],
    "vision_depth": 3,
    "vision_embed_dim": 64,
    "vision_num_heads": 2,
    "vision_mlp_ratio": 2,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for screens, models and check.json")
    parser.add_argument("--steps", type=int, default=700, help="optimizer steps of each training (default 700)")
    parser.add_argument("--batch", type=int, default=32, help="screens per step (default 32)")
    parser.add_argument("--lr", type=float, default=2e-3, help="learning rate after the warm-up (default 2e-3)")
    parser.add_argument(
        "--min-lr-ratio",
        type=float,
        default=1.0,
        help="the rate's cosine decay ends at lr times this (default 1: constant after the warm-up)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="order of the training screens: the reference's batches and the trainer's run.seed",
    )
    parser.add_argument("--screens", type=int, default=3000, help="training screens (default 3000)")
    parser.add_argument(
        "--decimals",
        type=int,
        choices=(1, 2, 3, 4),
        default=4,
        help="decimals of the answer's coordinates (default 4, as everywhere; fewer: the centre rounded)",
    )
    parser.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="cells",
        help="cells (default), anywhere, or snapped (anywhere, answered with its cell's centre)",
    )
    parser.add_argument(
        "--look",
        choices=tuple(LOOKS),
        default="square",
        help="a black square (default), a button with a word on it, a blank button, a black box, or two buttons "
        "with different words, one asked for (40 x 20; not with --placement cells)",
    )
    parser.add_argument(
        "--also-look",
        choices=tuple(LOOKS),
        help="draw half the training screens with this look instead (held-out screens keep --look): "
        "does pointing at an easy look carry over to a hard one?",
    )
    parser.add_argument(
        "--questions",
        type=int,
        default=1,
        metavar="N",
        help="button-pair: N questions per training screen, one turn each, the later ones each for either "
        "button at even odds, so that the screen alone does not tell the answer (held-out screens ask once)",
    )
    parser.add_argument(
        "--buttons",
        type=int,
        default=2,
        metavar="N",
        help="button-pair: N buttons with different words per screen (default 2), so that choosing one "
        "blindly costs ln N nats per answer",
    )
    parser.add_argument(
        "--ask-by",
        choices=("word", "side", "first"),
        default="word",
        help="button-pair: ask for a button by its word (default); with two buttons, as the left or the "
        "right one (whether the decoder uses the question at all, without reading); or always for the "
        "vocabulary's first word, on every screen (a fixed look to find, as in click-test-2: reading without "
        "matching)",
    )
    parser.add_argument(
        "--refer",
        action="store_true",
        help="button-pair: each training screen's record ends with a referring question, the word at the "
        "centre of a button not asked for first (held-out screens are not asked)",
    )
    parser.add_argument(
        "--words",
        choices=tuple(WORDS),
        default="mixed",
        help="button-pair: the buttons' words: mixed (default; short capitalised words the tiny tokenizer splits "
        "into letters) or tokens (ten lower-case words it keeps whole after a space)",
    )
    parser.add_argument(
        "--parse",
        action="store_true",
        help="button-pair: every answer (held-out ones too) first lists the buttons to `all`, each word with "
        "its centre in reading order, then clicks: reading becomes naming what is at each button, and "
        "choosing becomes finding the asked word in that list",
    )
    parser.add_argument(
        "--listed",
        action="store_true",
        help="button-pair: the question itself lists the buttons, word and centre, before asking (held-out "
        "ones too), so that the click can be copied from the text: whether the decoder matches words at all",
    )
    parser.add_argument(
        "--list-last",
        action="store_true",
        help="with --listed: the question first, then the list, so that each listed word can be compared with "
        "the asked one as it is read (one step less for the decoder to compose)",
    )
    parser.add_argument(
        "--no-screen",
        dest="screen",
        action="store_false",
        help="button-pair with --listed: records without the screen, so recall is asked in plain text only "
        "(whether the screen's tokens get in the way)",
    )
    parser.add_argument(
        "--image-mean",
        type=float,
        metavar="M",
        help="normalise every channel with this mean (and --image-std) instead of Qwen2-VL's: with M=1, white "
        "is zero and a light grey patch no longer looks like white after the bias-free patch embedding",
    )
    parser.add_argument("--image-std", type=float, default=0.27, metavar="S", help="with --image-mean (default 0.27)")
    parser.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="TinyConfig override of the model, e.g. absolute_position_grid=16",
    )
    parser.add_argument(
        "--init",
        type=Path,
        metavar="DIR",
        help="start from this model instead of a random one of --shape (e.g. reading_check.py --save-model's, "
        "whose tower reads the buttons' words)",
    )
    parser.add_argument(
        "--packed",
        dest="variants",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="one more packed training, with these config overrides",
    )
    parser.add_argument("--only", choices=("reference", "packed"), help="run only the reference or the packed ones")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also compare, on the trained reference model (the initial one if none is trained), the packed "
        "forward's loss and gradients (each attention kernel, fp32 and bf16) with the model's own forward",
    )
    parser.add_argument(
        "--compare-trainer",
        action="store_true",
        help="before training, check each packed training's data, gradients and updates on its "
        "first batches against a plain model (see compare_trainer)",
    )
    parser.add_argument(
        "--compare-steps",
        type=int,
        default=3,
        metavar="N",
        help="steps of --compare-trainer (default 3); each starts from the trainer's weights",
    )
    parser.add_argument("--no-train", action="store_true", help="only the comparisons that need no training")
    args = parser.parse_args(argv)
    if args.compare_trainer and args.placement != "cells":
        parser.error("--compare-trainer redraws screens from their cells: it needs --placement cells")
    pair = {
        "buttons": args.buttons,
        "by": args.ask_by,
        "parse": args.parse,
        "listed": args.listed,
        "words": args.words,
        "screen": args.screen,
        "list_last": args.list_last,
    }
    more = {"also_look": args.also_look, "questions": args.questions, "refer": args.refer}
    pairs = args.look == "button-pair" and not args.also_look  # the options below draw button-pair screens
    if not pairs and ButtonPair(questions=args.questions, refer=args.refer, **pair) != ButtonPair():
        parser.error("--questions, --buttons, --ask-by, --refer, --parse, --listed, --words: --look button-pair only")
    if args.list_last and not args.listed:
        parser.error("--list-last: with --listed")
    if not args.screen and not args.listed:
        parser.error("--no-screen: with --listed (without the list nothing tells where the buttons are)")
    if args.questions < 1:
        parser.error("--questions N: N of at least 1")
    if not 2 <= args.buttons <= 6:
        parser.error("--buttons N: N from 2 to 6")
    if args.ask_by == "side" and args.buttons != 2:
        parser.error("--ask-by side: two buttons")
    for look in filter(None, (args.look, args.also_look)):
        if look != "square" and args.placement == "cells":
            parser.error(f"a {look} is wider than a cell: use --placement anywhere or snapped")
    trainings: dict[str, list[str]] = {}
    if args.only != "packed":
        trainings["reference"] = []
    if args.only != "reference":
        trainings["packed"] = []
        for variant in args.variants:
            name, _, overrides = variant.partition(":")
            if not name or name in trainings or not all("=" in o for o in overrides.split(",") if o):
                parser.error(f"--packed {variant!r}: expected a new NAME:KEY=VALUE,KEY=VALUE")
            trainings[name] = [o for o in overrides.split(",") if o]
    args.out.mkdir(parents=True, exist_ok=True)
    shape = {**SHAPE, **shape_overrides(args.shape)}
    drawing = {"placement": args.placement, "decimals": args.decimals, "look": args.look}
    train = draw(args.out / "train", args.screens, seed=0, **drawing, **more, **pair)
    heldout = draw(args.out / "heldout", 500, seed=1, **drawing, **pair)
    pixels = {} if args.image_mean is None else {"image_mean": [args.image_mean] * 3, "image_std": [args.image_std] * 3}
    if args.init:
        shutil.copytree(args.init, args.out / "init", dirs_exist_ok=True)
    else:
        random_model(args.out, shape, pixels)
    results: dict = {
        "shape": shape,
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "placement": args.placement,
        "decimals": args.decimals,
        "look": args.look,
        "also_look": args.also_look,
        "init": str(args.init) if args.init else "random",
        "questions": args.questions,
        "buttons": args.buttons,
        "ask_by": args.ask_by,
        "refer": args.refer,
        "parse": args.parse,
        "listed": args.listed,
        "words": args.words,
        "screen": args.screen,
        "list_last": args.list_last,
        **pixels,
    }

    def save() -> None:
        (args.out / "check.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    def record(key: str, value: dict, shown: dict | None = None) -> None:
        """Keep ``value`` in check.json at once (a long run may be cut short) and print ``shown`` of it."""
        results[key] = value
        save()
        print(json.dumps({key: value if shown is None else shown}), flush=True)

    save()  # the settings, before any training

    if args.compare_trainer:
        compared: dict = {}
        for name, overrides in trainings.items():
            if name != "reference":
                compared[name] = compare_trainer(args, train, overrides, args.compare_steps)
                record("compare_trainer", compared, {n: c["summary"] for n, c in compared.items()})
    for name, overrides in {} if args.no_train else trainings.items():
        start = time.monotonic()
        model_dir = train_reference(args, train) if name == "reference" else train_packed(args, train, name, overrides)
        scored = score(model_dir, heldout, args.placement, args.decimals, args.look, args.parse)
        if pairs:
            scored["generated"] = score_generated(model_dir, heldout)
        record(name, {"train_s": round(time.monotonic() - start, 1), **scored})
        if name == "reference" and args.compare:
            record("compare", compare_forward(model_dir, heldout))
    if args.compare and "compare" not in results:  # no reference trained: compare on the initial model
        record("compare", compare_forward(args.out / "init", heldout))
    return 0


def shape_overrides(pairs: list[str]) -> dict:
    """``--shape FIELD=VALUE`` arguments as a dict, each value read as YAML."""
    return {k: yaml.safe_load(v) for k, v in (pair.split("=", 1) for pair in pairs)}


def random_model(out: Path, shape: dict, pixels: dict, seed: int = 0) -> Path:
    """Write ``out/model.yaml`` and the random model it describes to ``out/init`` (scripts/miniwob_init_model.py)."""
    spec = out / "model.yaml"
    spec.write_text(yaml.safe_dump({"seed": seed, "shape": shape, **pixels}), encoding="utf-8")
    init_model = Path(__file__).resolve().parent / "miniwob_init_model.py"
    subprocess.run([sys.executable, str(init_model), "--config", str(spec), "--output", str(out / "init")], check=True)
    return out / "init"


def draw(
    folder: Path,
    n: int,
    seed: int,
    placement: str = "cells",
    decimals: int = 4,
    look: str = "square",
    also_look: str | None = None,
    **pair,
) -> Path:
    """``n`` screens and ``records.jsonl`` in ``folder`` (kept when already there); with ``also_look``,
    each screen has that look instead at even odds; ``pair``: the fields of :class:`ButtonPair`."""
    records = folder / "records.jsonl"
    if records.is_file():
        return records
    folder.mkdir(parents=True, exist_ok=True)
    asking = ButtonPair(**pair)
    rng, lines, given = random.Random(seed), [], look
    for k in range(n):
        if also_look is not None:  # no draw without it, so that the one-look screens stay as they were
            look = rng.choice((given, also_look))
        width, height = LOOKS[look]
        if look == "button-pair":
            lines.append(json.dumps(_button_pair(folder, k, rng, placement, decimals, asking)))
            continue
        if placement == "cells":
            row, col = rng.randrange(CELLS), rng.randrange(CELLS)
            left, top = cell_corner(col), cell_corner(row)
            where = {"cell": [row, col]}
        else:
            left, top = rng.randrange(SIDE - width + 1), rng.randrange(SIDE - height + 1)
            where = {}
        if look in ("square", "box"):
            image = square_at(left, top, (width, height))
        else:  # the word is drawn only for a button, so that the squares' screens stay as they were
            image = button_at(left, top, rng.choice(BUTTON_WORDS) if look == "button" else "")
        image.save(folder / f"{k}.png")
        centre = [
            answer_coordinate(left, placement, decimals, width),
            answer_coordinate(top, placement, decimals, height),
        ]
        lines.append(json.dumps(_click_record(k, f"Click the {look}", centre, decimals, **where)))
    records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def _button_pair(
    folder: Path,
    k: int,
    rng: random.Random,
    placement: str,
    decimals: int,
    asking: ButtonPair,
) -> dict:
    """Screen ``k`` with ``buttons`` buttons of different words (from ``WORDS[words]``) apart from each
    other, and the record asking for one by its word (the fields of ``asking``). ``by="side"``: as the left
    or the right one; ``by="first"``: always the one showing the word set's first word. ``questions`` > 1:
    as many turns, the later ones each for any button at even odds. ``refer``: a last turn asks for the word at another
    button's centre. ``parse``: the first answer lists every button's word and centre, top to bottom and
    left to right, to ``all`` before its click. ``listed``: the first question carries that list."""
    width, height = LOOKS["button"]
    buttons, by = asking.buttons, asking.by
    vocabulary = WORDS[asking.words]
    words = rng.sample(vocabulary if by != "first" else vocabulary[1:], buttons - (by == "first"))
    corners = [(rng.randrange(SIDE - width + 1), rng.randrange(SIDE - height + 1))]
    while len(corners) < buttons:  # each at least 4 px away from the others
        left, top = rng.randrange(SIDE - width + 1), rng.randrange(SIDE - height + 1)
        if all(abs(left - x) >= width + 4 or abs(top - y) >= height + 4 for x, y in corners):
            corners.append((left, top))
    asked = rng.randrange(buttons)
    if by == "first":  # the asked button shows the first word, wherever it is drawn
        words.insert(asked, vocabulary[0])
    image = button_at(*corners[0], words[0])
    for corner, word in zip(corners[1:], words[1:], strict=True):
        button_at(*corner, word, image)
    image.save(folder / f"{k}.png")
    centres = [
        [answer_coordinate(left, placement, decimals, width), answer_coordinate(top, placement, decimals, height)]
        for left, top in corners
    ]
    others = [centre for i, centre in enumerate(centres) if i != asked]

    def name(i: int) -> str:  # by its word, or (two buttons, ``by="side"``) by the side its centre is on
        return words[i] if by != "side" else ("left" if centres[i][0] <= centres[1 - i][0] else "right")

    record = _click_record(k, f"Click the {name(asked)} button", centres[asked], decimals, others=others)
    order = sorted(range(buttons), key=lambda i: (centres[i][1], centres[i][0]))
    listing = "Buttons: " + ", ".join(f"{words[i]} at {_point(centres[i], decimals)}" for i in order) + "."
    if asking.parse:  # " word" after a space: one token with --words tokens
        record["conversations"].insert(1, {"from": "gpt", "value": listing, "recipient": "all", "end_turn": False})
    if asking.listed:
        asked_for = f"Click the {name(asked)} button"
        text = f"{asked_for}. {listing}" if asking.list_last else f"{listing} {asked_for}"
        record["conversations"][0]["value"] = f"<image>{text}"
    if not asking.screen:  # plain text: the list is all there is to go by
        del record["image"]
        record["conversations"][0]["value"] = record["conversations"][0]["value"].removeprefix("<image>")
    turns = random.Random(k)  # its own draws, so that the screens are those of one question
    for _ in range(asking.questions - 1):  # more questions, each for any button: the screen alone cannot tell
        which = turns.randrange(buttons)
        question = {"from": "human", "value": f"Click the {name(which)} button"}
        record["conversations"] += [question, _click(centres[which], decimals)]
    if asking.refer:  # the word of a button not asked for first: the text so far does not hold it
        which = turns.choice([i for i in range(buttons) if i != asked])
        record["conversations"] += [
            {"from": "human", "value": f"What is at {_point(centres[which], decimals)}?"},
            {"from": "gpt", "value": f"button '{words[which]}'", "recipient": "all", "end_turn": True},
        ]
    return record


def _click_record(k: int, query: str, centre: list[float], decimals: int, **extra) -> dict:
    """Screen ``k``'s record: ``query``, answered with a click at ``centre``, which it also keeps."""
    conversations = [{"from": "human", "value": f"<image>{query}"}, _click(centre, decimals)]
    return {"image": f"{k}.png", "conversations": conversations, "centre": centre, **extra}


def _point(centre: list[float], decimals: int) -> str:
    x, y = centre
    return f"(x={x:.{decimals}f}, y={y:.{decimals}f})"


def _click(centre: list[float], decimals: int) -> dict:
    """The answer turn: a click at ``centre``."""
    return {
        "from": "gpt",
        "value": f"pyautogui.click{_point(centre, decimals)}",
        "recipient": "os",
        "end_turn": True,
    }


def answer_coordinate(corner: int, placement: str, decimals: int, extent: int = SQUARE) -> float:
    """The answer's x (or y) for a thing ``extent`` wide (or high) whose left (or top) pixel is ``corner``."""
    centre = corner + extent // 2
    if placement == "snapped":
        centre = (centre // CELL) * CELL + CELL / 2
    return round(centre / SIDE, decimals)


def cell_corner(index: int) -> int:
    """The left (or top) pixel of a square in the middle of column (or row) ``index``."""
    return index * CELL + (CELL - SQUARE) // 2


def square_screen(row: int, col: int):
    """A white screen with the black square in the middle of cell ``(row, col)``."""
    return square_at(cell_corner(col), cell_corner(row))


def square_at(left: int, top: int, size: tuple[int, int] = (SQUARE, SQUARE)):
    """A white screen with a black square (or box of ``size``) whose top-left pixel is at ``(left, top)``."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIDE, SIDE), "white")
    ImageDraw.Draw(image).rectangle([left, top, left + size[0] - 1, top + size[1] - 1], fill="black")
    return image


@functools.cache
def _button_font():
    """Liberation Sans at a button's 13 px (found once: finding may ask fontconfig), else PIL's own font."""
    from PIL import ImageFont

    from aguvis.envs.miniwob.lookalike import LookalikeError, find_font

    try:
        return ImageFont.truetype(str(find_font()), size=13)
    except LookalikeError:
        return ImageFont.load_default(size=13)


def button_at(left: int, top: int, word: str, image=None):
    """A Chromium-styled button, ``word`` on it, its top-left pixel at ``(left, top)``, drawn on ``image``
    (default: a new white screen), which is returned."""
    from PIL import Image, ImageDraw

    # the look-alike screens' button colours, so that the toy's button is MiniWoB's
    from aguvis.envs.miniwob.lookalike import _BORDER, _BUTTON

    width, height = LOOKS["button"]
    image = Image.new("RGB", (SIDE, SIDE), "white") if image is None else image
    draw = ImageDraw.Draw(image)
    box = [left, top, left + width - 1, top + height - 1]
    draw.rounded_rectangle(box, radius=2, fill=_BUTTON, outline=_BORDER)
    if word:
        draw.text((left + width / 2, top + height / 2), word, font=_button_font(), fill="black", anchor="mm")
    return image


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tokenised(loaded, records: Path, limit: int | None = None) -> list:
    """``(Tokenised, Record)`` of the first ``limit`` (default: all) records."""
    import itertools

    from aguvis.chat.tokenize import RecordTokenizer
    from aguvis.data.records import read_records

    tokens = RecordTokenizer(loaded.tokenizer, loaded.image_processor, max_length=512)
    return [(tokens(r, records.parent), r) for r in itertools.islice(read_records(records), limit)]


def _batch(model, items: list, device) -> dict:
    """A padded batch: samples of different lengths (a query's word) are padded on the right, where a causal
    model's real tokens never look, with labels -100."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    pad = model.config.get_text_config().pad_token_id or 0
    ids = pad_sequence([t.input_ids for t in items], batch_first=True, padding_value=pad).to(device)
    batch = {
        "input_ids": ids,
        "labels": pad_sequence([t.labels for t in items], batch_first=True, padding_value=-100).to(device),
        "mm_token_type_ids": (ids == model.config.image_token_id).int(),
    }
    if items[0].pixel_values is not None:  # --no-screen records have none
        batch["pixel_values"] = torch.cat([t.pixel_values for t in items]).to(device)
        batch["image_grid_thw"] = torch.cat([t.image_grid_thw for t in items]).to(device)
    return batch


def train_reference(args, records: Path) -> Path:
    import torch

    from aguvis.model.load import load_model
    from aguvis.train.schedule import WarmupCosine, warmup_steps_for

    device = _device()
    loaded = load_model(args.out / "init", dtype=torch.float32, device=device)
    model = loaded.model.train()
    items = [t for t, _ in _tokenised(loaded, records)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    rate = WarmupCosine(args.steps, warmup_steps_for(args.steps, WARMUP), "cosine", args.min_lr_ratio)
    rng = random.Random(1 + args.seed)
    for step in range(1, args.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = args.lr * rate(step - 1)
        loss = model(**_batch(model, rng.sample(items, args.batch), device)).loss
        loss.backward()
        if step % 50 == 0:
            print(json.dumps({"reference_step": step, "loss": round(float(loss.detach()), 4)}), flush=True)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    out = args.out / "reference"
    model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    loaded.image_processor.save_pretrained(out)  # its pixel normalisation, for scoring
    return out


def packed_overrides(args, records: Path, name: str) -> list[str]:
    """``--set`` overrides of ``configs/miniwob/stage1.yaml`` for a packed training on ``records``."""
    mixture = args.out / "mixture.yaml"
    mixture.write_text(
        yaml.safe_dump(
            {
                "datasets": [
                    {
                        "json_path": str(records.resolve()),
                        "images_folder": str(records.parent.resolve()),
                        "sampling_strategy": "all",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    from aguvis.model.load import load_model

    # every screen's sample has the same length, so this budget packs --batch screens per step
    tokens_per_screen = len(_tokenised(load_model(args.out / "init"), records, limit=1)[0][0].input_ids)
    overrides = {
        "model.path": args.out / "init",
        "data.mixture": mixture,
        "data.augment": "null",
        "data.packing.token_budget": tokens_per_screen * args.batch,
        "data.num_workers": 2,
        "optim.lr": args.lr,
        "schedule.min_lr_ratio": args.min_lr_ratio,
        "schedule.warmup_ratio": WARMUP,
        "run.max_steps": args.steps,
        "run.seed": args.seed,
        "run.log_every": 50,
        "run.resume": "none",
        "run.output_dir": args.out / name,
    }
    return [f"{key}={value}" for key, value in overrides.items()]


def train_packed(args, records: Path, name: str, extra: list[str]) -> Path:
    command = [sys.executable, "-m", "aguvis.cli", "train", "--config", "configs/miniwob/stage1.yaml"]
    for override in packed_overrides(args, records, name) + extra:
        command += ["--set", override]
    subprocess.run(command, check=True)
    return args.out / name / "model"


def compare_trainer(args, records: Path, extra: list[str], steps: int = 3) -> dict:
    """What ``aguvis train`` computes on its first ``steps`` batches, checked
    against a plain fp32 copy of the same model:

    - ``pixels_wrong``: screens in the batch whose patches differ from those
      of a freshly drawn screen with the square in the cell its answer names
      (the data path, preloading and the copy to the device included);
    - ``loss`` and ``grad_cosine``: the trainer's wrapped (sharded, maybe
      mixed-precision) model against the plain model's packed forward;
    - ``update_cosine``: the trainer's optimizer step against a plain AdamW
      step (same groups, clipping and rate) from the plain gradient.
    """
    import re

    import torch
    import torch.nn.functional as F

    from aguvis.model.load import load_model
    from aguvis.packing.attention import enable_packed_attention
    from aguvis.packing.forward import packed_forward
    from aguvis.train.config import load_config
    from aguvis.train.trainer import Trainer

    config = load_config(
        "configs/miniwob/stage1.yaml",
        packed_overrides(args, records, "compare-trainer") + ["schedule.warmup_ratio=0"] + extra,
    )
    trainer = Trainer(config)
    device = trainer.dist.device
    plain = load_model(args.out / "init", dtype=torch.float32, device=device).model.train()
    enable_packed_attention(plain)
    backend = trainer.packing.attention
    tokenizer = trainer.loaded.tokenizer
    optim = config.optim
    decay = [p for p in plain.parameters() if p.ndim > 1]
    no_decay = [p for p in plain.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=optim.lr,
        betas=optim.betas,
        eps=optim.eps,
    )
    expected: dict[tuple[int, int], torch.Tensor] = {}

    def screen(row: int, col: int, tokens: int) -> torch.Tensor:
        if (row, col) not in expected:
            pixels = trainer.record_tokenizer.vision_inputs([square_screen(row, col)], [tokens])[0]
            expected[(row, col)] = pixels.float()
        return expected[(row, col)]

    def full(t: torch.Tensor) -> torch.Tensor:
        return (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().float()

    def cosine(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
        return round(
            float(F.cosine_similarity(torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b]), dim=0)),
            5,
        )

    merge = plain.config.vision_config.spatial_merge_size**2
    stream = trainer.micro_batch_stream()
    results = []
    try:
        for _ in range(steps):
            batch = next(stream)
            trainer.position = trainer.sampler.advance(trainer.position)
            filled = batch.with_pixels(trainer.patch_pool) if trainer.patch_pool is not None else batch
            patches = filled.pixel_values.float().split([int(g.prod()) for g in filled.image_grid_thw])
            sequence, labels = filled.sequence_ids.flatten(), filled.labels.flatten()
            wrong = 0
            for k, pixels in enumerate(patches):
                answer = tokenizer.decode(labels[(sequence == k) & (labels != -100)].tolist())
                x, y = (float(v) for v in re.search(r"x=([\d.]+), y=([\d.]+)", answer).groups())
                want = screen(int(y * CELLS), int(x * CELLS), pixels.shape[0] // merge).to(pixels.device)
                wrong += int((pixels - want).abs().max() > 0.05)

            # the plain gradient and update, from the trainer's current weights
            with torch.no_grad():
                for (name, mine), (other, theirs) in zip(
                    plain.named_parameters(), trainer.hf_model.named_parameters(), strict=True
                ):
                    assert name == other, (name, other)
                    mine.copy_(full(theirs))
            before = [p.detach().clone() for p in plain.parameters()]
            optimizer.zero_grad(set_to_none=True)
            logits = plain.lm_head(packed_forward(plain, filled, backend)).float()
            plain_loss = F.cross_entropy(logits, filled.label_targets, reduction="sum")
            (plain_loss / filled.num_label_tokens).backward()
            plain_grads = [p.grad.detach().clone() for p in plain.parameters()]
            torch.nn.utils.clip_grad_norm_(list(plain.parameters()), optim.grad_clip or float("inf"))
            for group in optimizer.param_groups:
                group["lr"] = trainer.optimizer.param_groups[0]["lr"]
            optimizer.step()
            plain_update = [p.detach() - b for p, b in zip(plain.parameters(), before, strict=True)]

            trainer_before = [full(p).clone() for p in trainer.hf_model.parameters()]
            loss_sum = trainer.forward_backward_step(batch, batch.num_label_tokens)
            trainer_grads = [full(p.grad) for p in trainer.hf_model.parameters()]
            grad_norm = trainer.clip_gradients()
            trainer.optimizer.step()
            trainer.scheduler.step()
            trainer.optimizer.zero_grad(set_to_none=True)
            trainer_update = [full(p) - b for p, b in zip(trainer.hf_model.parameters(), trainer_before, strict=True)]
            results.append(
                {
                    "screens": len(patches),
                    "pixels_wrong": wrong,
                    "loss": round(float(loss_sum) / batch.num_label_tokens, 5),
                    "plain_loss": round(float(plain_loss.detach()) / batch.num_label_tokens, 5),
                    "grad_norm": round(float(grad_norm), 5),
                    "plain_grad_norm": round(float(torch.cat([g.flatten() for g in plain_grads]).norm()), 5),
                    "grad_cosine": cosine(trainer_grads, plain_grads),
                    "update_cosine": cosine(trainer_update, plain_update),
                }
            )
    finally:
        trainer.close()
    summary = {
        "steps": len(results),
        "pixels_wrong": sum(r["pixels_wrong"] for r in results),
        "min_grad_cosine": min(r["grad_cosine"] for r in results),
        "min_update_cosine": min(r["update_cosine"] for r in results),
        "loss_every_25": [r["loss"] for r in results[::25]],
    }
    return {"overrides": extra, "summary": summary, "steps": results}


def answer_entropy(placement: str = "cells", decimals: int = 4, look: str = "square") -> float:
    """Nats of information in an answer: the entropy of the thing's written centre, x and y
    (independent), over the places it is drawn at uniformly."""
    total = 0.0
    for extent in LOOKS[look]:
        if placement == "cells":
            corners = [cell_corner(c) for c in range(CELLS)]
        else:
            corners = list(range(SIDE - extent + 1))
        counts = Counter(answer_coordinate(c, placement, decimals, extent) for c in corners)
        total -= sum(n / len(corners) * math.log(n / len(corners)) for n in counts.values())
    return total


def score(
    model_dir: Path,
    records: Path,
    placement: str = "cells",
    decimals: int = 4,
    look: str = "square",
    parse: bool = False,
) -> dict:
    """Held-out answer-token loss, the no-information loss (not with ``parse``: the list holds more than the
    click), and the share of screens whose square's first decimals (with cells: whose cell) the model names,
    teacher-forced (with ``parse``: after the true list)."""
    import torch

    from aguvis.model.load import load_model

    device = _device()
    loaded = load_model(model_dir, dtype=torch.float32, device=device)
    model = loaded.model.eval()
    items = _tokenised(loaded, records)
    total, tokens, named, other = 0.0, 0, 0, 0
    with torch.inference_mode():
        for k in range(0, len(items), 50):
            chunk = items[k : k + 50]
            batch = _batch(model, [t for t, _ in chunk], device)
            logits = model(**{n: v for n, v in batch.items() if n != "labels"}).logits[:, :-1].float()
            labels = batch["labels"][:, 1:]
            mask = labels != -100
            total += torch.nn.functional.cross_entropy(logits[mask], labels[mask], reduction="sum").item()
            tokens += int(mask.sum())
            predicted = logits.argmax(-1)
            for i, (_, record) in enumerate(chunk):
                said = _first_decimals(loaded.tokenizer, predicted[i][mask[i]], labels[i][mask[i]])
                named += int(said == tuple(_first_decimal(c) for c in record.extra["centre"]))
                others = record.extra.get("others", [])  # button-pair: the buttons not asked for
                other += any(said == tuple(_first_decimal(c) for c in centre) for centre in others)
    per_answer = tokens / len(items)
    return {
        "loss": round(total / tokens, 4),
        **({} if parse else {"no_information_loss": round(answer_entropy(placement, decimals, look) / per_answer, 4)}),
        "cells_named" if placement == "cells" else "first_decimals_named": round(named / len(items), 3),
        **({"other_named": round(other / len(items), 3)} if look == "button-pair" else {}),
    }


def score_generated(model_dir: Path, records: Path, n: int = 200) -> dict:
    """The model's own greedy replies to the first ``n`` button-pair records (not teacher-forced: with
    ``--parse`` it writes its list, then clicks after it): the share of clicks inside the asked button and
    inside another one, and, for ``--parse`` records, the share of replies whose list has the screen's
    words in the right order, each at a point inside its button."""
    import itertools

    import torch
    from PIL import Image

    from aguvis.agent.local import LocalBackend
    from aguvis.agent.prompt import ChatPrompt
    from aguvis.chat.prompts import GROUNDING_SYSTEM_PROMPT
    from aguvis.chat.template import Mode
    from aguvis.data.records import Turn, read_records

    backend = LocalBackend(model_dir, device=str(_device()), dtype=torch.float32, batch_size=50)
    chosen = list(itertools.islice(read_records(records), n))
    system = Turn("system", GROUNDING_SYSTEM_PROMPT)  # what a record without a system turn is trained with
    images = [[Image.open(records.parent / name).convert("RGB") for name in r.images] for r in chosen]
    prompts = [ChatPrompt(ims, [system, r.conversations[0]], Mode.SELF_PLAN) for ims, r in zip(images, chosen)]
    judged = [
        judge(record, prompt.reply_head + generation.text)
        for record, prompt, generation in zip(
            chosen, prompts, backend.generate_prompts(prompts, max_new_tokens=160), strict=True
        )
    ]
    shares = {key: round(sum(j[key] for j in judged) / len(judged), 3) for key in judged[0]}
    return {"screens": len(chosen), **shares}


def judge(record, reply: str) -> dict:
    """One reply to a button-pair ``record``: whether its click is inside the asked button, inside another,
    and (``--parse`` records) whether its list has the screen's words in order, each at a point inside its
    button."""
    from aguvis.agent.prediction import prediction_from_reply

    width, height = LOOKS["button"]

    def inside(point: tuple[float, float], centre: list[float]) -> bool:
        return abs(point[0] - centre[0]) * SIDE <= width / 2 and abs(point[1] - centre[1]) * SIDE <= height / 2

    prediction = prediction_from_reply(reply, SIDE, SIDE)
    clicks = [(a.args["x"], a.args["y"]) for a in prediction.actions or [] if "x" in a.args and "y" in a.args]
    judged = {
        "clicked_asked": bool(clicks) and inside(clicks[0], record.extra["centre"]),
        "clicked_other": bool(clicks) and any(inside(clicks[0], c) for c in record.extra["others"]),
    }
    listing = next((t.value for t in record.conversations[1:] if t.recipient == "all"), None)
    if listing is not None:
        truth, said = _listing(listing), _listing(prediction.thought or "")
        judged["lists_right"] = [w for w, _ in said] == [w for w, _ in truth] and all(
            inside(p, q) for (_, p), (_, q) in zip(said, truth, strict=True)
        )
    return judged


def _listing(text: str) -> list[tuple[str, tuple[float, float]]]:
    """The ``word at (x=..., y=...)`` entries of a ``--parse`` list, in order."""
    import re

    found = re.findall(r"(\w+) at \(x=([0-9.]+), y=([0-9.]+)\)", text)
    return [(word, (float(x), float(y))) for word, x, y in found]


def compare_forward(model_dir: Path, records: Path, n: int = 32) -> dict:
    """Loss per answer token of ``n`` held-out screens, and the cosine of the
    whole gradient with the fp32 reference's, through the model's own forward
    and through ``packed_forward`` with each attention kernel, in fp32 and bf16.
    The packed forward of a trained model must match the reference: this is
    where a kernel that is wrong only on a GPU shows."""
    import torch
    import torch.nn.functional as F

    from aguvis.model.load import load_model
    from aguvis.packing.attention import disable_packed_attention, enable_packed_attention
    from aguvis.packing.forward import packed_forward
    from aguvis.packing.sequence import PackingSpec, pack_batch

    device = _device()
    loaded = load_model(model_dir, dtype=torch.float32, device=device)
    items = [t for t, _ in _tokenised(loaded, records, limit=n)]
    model = loaded.model.train()

    def reference():
        batch = _batch(model, items, device)
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[:, :-1].float()
        labels = batch["labels"][:, 1:]
        return F.cross_entropy(logits[labels != -100], labels[labels != -100])

    def packed(backend):
        batch = pack_batch(items, PackingSpec.from_config(model.config)).to(device)
        logits = model.lm_head(packed_forward(model, batch, backend)).float()
        return F.cross_entropy(logits, batch.label_targets)

    def run(fn):
        model.zero_grad(set_to_none=True)
        loss = fn()
        loss.backward()
        grad = torch.cat([p.grad.float().flatten() for p in model.parameters() if p.grad is not None])
        return float(loss.detach()), grad

    results, baseline = {}, None
    for dtype in (torch.float32, torch.bfloat16):
        model.to(dtype)
        label = str(dtype).removeprefix("torch.")
        disable_packed_attention(model)
        for name, fn in [("reference", reference)] + [(b, lambda b=b: packed(b)) for b in ("varlen", "sdpa")]:
            if name != "reference":
                enable_packed_attention(model)
            loss, grad = run(fn)
            baseline = grad if baseline is None else baseline
            results[f"{label} {name}"] = {
                "loss": round(loss, 5),
                "grad_cosine": round(float(F.cosine_similarity(grad, baseline, dim=0)), 5),
            }
        disable_packed_attention(model)
    return results


def _first_decimal(value: float) -> int:
    return int(f"{value:.4f}"[2])


def _first_decimals(tokenizer, predicted, truth) -> tuple[int, ...]:
    """The predicted digit at the first decimal of each coordinate of the answer's click (its last point:
    with ``--parse`` the list before it has points too)."""
    pieces = [tokenizer.decode([int(t)]) for t in truth]
    found, digits = [], []
    for i, piece in enumerate(pieces[:-1]):
        if piece == "." and pieces[i - 1] == "0":
            found.append(i + 1)
    for i in found[-2:]:
        guess = tokenizer.decode([int(predicted[i])])
        digits.append(int(guess) if guess.isdigit() else -1)
    return tuple(digits)


if __name__ == "__main__":
    sys.exit(main())
