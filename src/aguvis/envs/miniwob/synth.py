"""Training data from MiniWoB++: expert trajectories (stage 2) and grounding queries (stage 1).

For each task and seed the expert plays one episode. Its actions go through
the same path as a model's (one line of pyautogui code, parsed, executed), and
every screen it acts on is kept as a compact PNG (:mod:`.images`). Only won
episodes are kept. Per task, the episodes land in ``trajectories/<task>.json``
(written atomically once the task is done; a rerun with the same settings
skips finished tasks). From the trajectories, :func:`build_records` writes::

    <out>/stage1.jsonl        one record per screen: grounding queries on it, packed
    <out>/stage1-referring.jsonl  one record per screen: "what is at this point?" for its elements that show text
    <out>/stage2-l1.jsonl     one record per step, action only
    <out>/stage2-l2.jsonl     one record per step, low-level instruction + action
    <out>/stage2-l3.jsonl     one record per step, observation + thought + instruction + action
    <out>/stage1.yaml, stage2.yaml    mixtures over them (paths relative to <out>)
    <out>/manifest.json       settings, counts, sizes and the vocabulary (goals, words per role)

Stage 1 and stage 2 share the screenshots. The model sees each screen as
captured: the 160 x 210 CSS-pixel task area at device scale 2, i.e. 320 x 420
pixels, which Qwen2-VL resizes to 308 x 420 (multiples of 28): 11 x 15 = 165
image tokens. At scale 2 the task's 10-13 px text is drawn with 20-26 px glyphs,
about two 14-px patches high, legible to a small vision tower; at scale 1 a
line of text would fit inside one patch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from tqdm import tqdm

from aguvis.actions import Action, format_action, parse
from aguvis.data.augment import named_point_text, point_text
from aguvis.data.records import Record, Turn, write_records
from aguvis.envs.miniwob.atomic import write_text
from aguvis.envs.miniwob.experts import EXPERTS, ExpertError, ExpertStep, hidden_text
from aguvis.envs.miniwob.geometry import TaskFrame
from aguvis.envs.miniwob.grounding import ORDINAL_WORDS, GroundingQuery, grounding_queries
from aguvis.envs.miniwob.images import PALETTE_COLOURS, save_png
from aguvis.envs.miniwob.monologue import POINT_PREFIX, LEVELS, describe_page, history_entry, step_turns
from aguvis.envs.miniwob.tasks import EVAL_SEED_START, TASKS

FORMAT_VERSION = 2  # 2: grounding queries keep the element's text (referring records)
SOURCE = "miniwob"
PointStyle = Literal["none", "instruction", "named"]
POINT_STYLES: tuple[str, ...] = get_args(PointStyle)


@dataclass(frozen=True)
class SynthSettings:
    """How the data is made (the episode counts are per task, apart); a rerun skips tasks made alike."""

    seed_start: int = 0
    queries_per_screen: int = 8
    colours: int = PALETTE_COLOURS
    scale: int = 2
    version: int = FORMAT_VERSION

    def seeds(self, episodes: int) -> range:
        """The seeds of ``episodes`` episodes; refuses to reach the evaluation seeds."""
        if episodes < 1:
            raise ValueError(f"episodes must be positive, got {episodes}")
        if self.seed_start < 0 or self.seed_start + episodes > EVAL_SEED_START:
            raise ValueError(
                f"data seeds {self.seed_start}..{self.seed_start + episodes - 1} must lie in "
                f"[0, {EVAL_SEED_START}): seeds from {EVAL_SEED_START} on are kept for evaluation"
            )
        return range(self.seed_start, self.seed_start + episodes)


@dataclass(frozen=True)
class Step:
    """One expert step: the screen it saw, what it did and why, and grounding queries on that screen."""

    image: str
    code: str
    instruction: str
    thought: str
    observation: str
    box: list[float] | None
    queries: list[GroundingQuery]


@dataclass(frozen=True)
class Episode:
    """A won expert episode of ``task`` with ``seed``."""

    task: str
    seed: int
    goal: str
    reward: float
    steps: list[Step]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Episode:
        steps = [Step(**{**s, "queries": [_query_from_json(q) for q in s["queries"]]}) for s in obj["steps"]]
        return cls(obj["task"], obj["seed"], obj["goal"], obj["reward"], steps)


def _query_from_json(obj: dict[str, Any]) -> GroundingQuery:
    return GroundingQuery(obj["instruction"], tuple(obj["point"]), tuple(obj["box"]), obj["role"], obj["text"])


@dataclass
class TaskResult:
    """Episodes kept for one task and how many the expert lost (those are dropped)."""

    task: str
    episodes: list[Episode]
    lost: list[int] = field(default_factory=list)


def trajectory_path(out_dir: Path, task: str) -> Path:
    return out_dir / "trajectories" / f"{task}.json"


def _made_with(settings: SynthSettings, episodes: int) -> dict[str, Any]:
    return {**dataclasses.asdict(settings), "episodes": episodes}


def load_task(out_dir: Path, task: str, settings: SynthSettings, episodes: int) -> TaskResult | None:
    """The finished trajectories of ``task`` when they were made with ``settings`` and ``episodes``, else None."""
    path = trajectory_path(out_dir, task)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("settings") != _made_with(settings, episodes):
        return None
    return TaskResult(task, [Episode.from_json(e) for e in data["episodes"]], data["lost"])


def save_task(out_dir: Path, result: TaskResult, settings: SynthSettings, episodes: int) -> None:
    payload = {
        "settings": _made_with(settings, episodes),
        "lost": result.lost,
        "episodes": [e.to_json() for e in result.episodes],
    }
    write_text(trajectory_path(out_dir, result.task), json.dumps(payload))


def play_episode(env: Any, task: str, seed: int, settings: SynthSettings, out_dir: Path) -> Episode | None:
    """Let the expert play ``seed``; keep its screens and steps. None (and no files) when it loses
    or finds the page beyond it."""
    if env.frame.scale != settings.scale:
        raise ValueError(f"the browser renders at scale {env.frame.scale}, the settings say {settings.scale}")
    expert = EXPERTS[task]
    observation = env.reset(seed)
    goal = observation.utterance
    history: list[ExpertStep] = []
    steps: list[Step] = []
    written: list[Path] = []
    transition = None
    for index in range(TASKS[task].max_steps):
        page = env.page()
        try:
            move = expert(observation.utterance, page, env.frame, history)
        except ExpertError:
            transition = None
            break
        history.append(move)
        code = format_action(move.action)
        image = Path("images") / task / f"{seed:07d}-{index:02d}.png"
        save_png(observation.image, out_dir / image, settings.colours)
        written.append(out_dir / image)
        rng = random.Random(f"miniwob-grounding:{task}:{seed}:{index}")
        box = move.target.normalised_box(env.frame) if move.target is not None else None
        steps.append(
            Step(
                image=image.as_posix(),
                code=code,
                instruction=move.instruction,
                thought=move.thought,
                observation=describe_page(page),
                box=list(box) if box is not None else None,
                queries=grounding_queries(page, env.frame, rng, settings.queries_per_screen),
            )
        )
        transition = env.step(parse(code))
        if transition.error is not None:
            raise RuntimeError(f"{task} seed {seed} step {index}: the expert's action failed: {transition.error}")
        if transition.done:
            break
        observation = transition.observation
    if transition is None or not transition.success:
        for path in written:
            path.unlink(missing_ok=True)
        return None
    return Episode(task, seed, goal, transition.reward, steps)


def synthesise(
    out_dir: str | os.PathLike[str],
    episodes: Mapping[str, int],
    settings: SynthSettings,
    *,
    make_env: Callable[[str], Any],
    progress: bool = True,
    points: PointStyle = "none",
) -> list[TaskResult]:
    """Play ``episodes[task]`` seeds of every task with its expert (finished tasks are reused), then write
    the records of all of them (``points``: see :func:`planning_records`)."""
    out = Path(out_dir)
    for task, count in episodes.items():
        if task not in EXPERTS:
            raise ValueError(f"no expert for task {task!r}; supported: {', '.join(EXPERTS)}")
        settings.seeds(count)
    results = []
    for task, count in episodes.items():
        done = load_task(out, task, settings, count)
        if done is not None:
            results.append(done)
            continue
        result = TaskResult(task, [])
        # screens of an earlier count of this task would stay unreferenced and travel in the archive
        shutil.rmtree(out / "images" / task, ignore_errors=True)
        with make_env(task) as env:
            for seed in tqdm(settings.seeds(count), desc=task, unit="episode", disable=not progress):
                episode = play_episode(env, task, seed, settings, out)
                if episode is None:
                    result.lost.append(seed)
                else:
                    result.episodes.append(episode)
        save_task(out, result, settings, count)
        results.append(result)
    build_records(out, results, settings, points=points)
    return results


def grounding_record(episode: Episode, step_index: int, frame: TaskFrame, *, named: bool = False) -> Record | None:
    """The packed stage-1 record of one screen (None when it has no query); ``named``: each click
    comes after a ``Point:`` line, as in :func:`planning_records` with named points."""
    step = episode.steps[step_index]
    if not step.queries:
        return None
    extra = _screen_extra(episode, step_index, frame, step.queries)
    if named:
        extra |= named_replies(step.queries)
    return Record(images=[step.image], conversations=grounding_turns(step.queries, named=named), extra=extra)


def named_replies(queries: Sequence[GroundingQuery]) -> dict[str, list]:
    """The record fields that let ``data.augment`` move each ``Point:`` line with the screen."""
    return {"reply_points": [list(q.point) for q in queries], "reply_names": [query_name(q) for q in queries]}


def grounding_turns(queries: Sequence[GroundingQuery], *, named: bool = False) -> list[Turn]:
    """One screen's queries as a packed conversation: each instruction answered by its click
    (``named``: by a ``Point:`` line to ``all`` first)."""
    turns = []
    for i, query in enumerate(queries):
        turns.append(Turn("human", ("<image>" if i == 0 else "") + query.instruction))
        x, y = query.point
        if named:
            point = POINT_PREFIX + named_point_text(query_name(query), x, y)
            turns.append(Turn("gpt", point, recipient="all", end_turn=False))
        code = format_action(Action("pyautogui.click", {"x": x, "y": y}))
        turns.append(Turn("gpt", code, recipient="os", end_turn=True))
    return turns


def query_name(query: GroundingQuery) -> str:
    """The name a named point of a stage-1 query writes: the words the element shows, else what the
    query calls it ("first text field", "close" for a dialog's close button)."""
    if query.text:
        return query.text
    if query.role == "textbox":
        ordinal = next((w for w in query.instruction.split() if w in ORDINAL_WORDS), None)
        if ordinal is not None:
            return f"{ordinal} text field"
    if query.role == "button":
        return "close"
    raise ValueError(f"no name for the point of query {query.instruction!r} ({query.role})")


def target_name(instruction: str) -> str:
    """The name a named point of a low-level instruction writes: its last quoted words, else the
    instruction after its verb ("Click the first text box" -> "first text box").

    >>> target_name("Click the 'okay' button"), target_name("Click the first text box")
    ('okay', 'first text box')
    """
    quoted = re.findall(r"'([^']+)'", instruction)
    if quoted:
        return quoted[-1]
    words = instruction.split()[1:]
    if words[:1] == ["the"]:
        words = words[1:]
    if not words:
        raise ValueError(f"no name in the instruction {instruction!r}")
    return " ".join(words)


def referring_record(episode: Episode, step_index: int, frame: TaskFrame) -> Record | None:
    """The stage-1 referring record of one screen: for each queried element that shows text, its
    click point as the question and its role and text as the answer (None when there is none).

    A record of its own, not turns of the grounding record: there, the answer to "Click the
    'Cancel' button" could be copied from an earlier "what is at (x, y)?" -> "button 'Cancel'".
    """
    step = episode.steps[step_index]
    shown = [q for q in step.queries if q.text]
    if not shown:
        return None
    extra = _screen_extra(episode, step_index, frame, shown)
    extra["query_points"] = [list(q.point) for q in shown]  # moved with the screen by data.augment
    return Record(images=[step.image], conversations=referring_turns(shown), extra=extra)


def referring_turns(queries: Sequence[GroundingQuery]) -> list[Turn]:
    """Queries of elements that show text, asked the other way round: their point as the question,
    their role and text as the answer."""
    turns = []
    for i, query in enumerate(queries):
        turns.append(Turn("human", ("<image>" if i == 0 else "") + f"What is at {point_text(*query.point)}?"))
        turns.append(Turn("gpt", f"{query.role} '{query.text}'", recipient="all", end_turn=True))
    return turns


def _screen_extra(episode: Episode, step_index: int, frame: TaskFrame, queries: Sequence[GroundingQuery]) -> dict:
    """A stage-1 record's fields beside its conversation: where it comes from and its queries' boxes."""
    return {
        "source": SOURCE,
        "task": episode.task,
        "episode_id": f"{episode.task}/{episode.seed}",
        "step_id": step_index,
        "image_size": list(frame.image_size),
        "bbox": [list(q.box) for q in queries],
    }


def planning_records(episode: Episode, level: str, *, points: PointStyle = "none") -> Iterator[Record]:
    """The stage-2 records of an episode at one reasoning level, one per step.

    ``points`` writes a click's point in its ``l2``/``l3`` monologue too, listed in
    ``reply_points`` so that shift augmentation moves it:

    - ``instruction``: at the end of the low-level instruction ("Click the 'OK'
      button at (x=0.4031, y=0.5357)"), a few tokens after the element's word
      (benchmarks/README.md, "A five-token gap");
    - ``named``: on a line of its own after it, each coordinate's decimals right
      after the element's name ("Point: OK4031 OK5357", :func:`target_name`),
      so the deciding digit follows the name with nothing between.
    """
    if points not in POINT_STYLES:
        raise ValueError(f"unknown points {points!r}; expected one of {POINT_STYLES}")
    previous: list[str] = []
    hidden = hidden_text(episode.task, episode.goal)  # the goal's, the same for every step
    for index, step in enumerate(episode.steps):
        instruction, point, name = step.instruction, None, None
        action = parse(step.code)[0]
        if points != "none" and level != "l1" and "x" in action.args and "y" in action.args:
            point = [action.args["x"], action.args["y"]]
            if points == "instruction":
                instruction = f"{instruction} at {point_text(*point)}"
            else:
                name = target_name(step.instruction)
        turns = step_turns(
            level,  # type: ignore[arg-type]
            episode.goal,
            previous,
            observation=step.observation,
            thought=step.thought,
            instruction=instruction,
            code=step.code,
            point=None if name is None else named_point_text(name, *point),
        )
        extra = {
            "source": SOURCE,
            "task": episode.task,
            "episode_id": f"{episode.task}/{episode.seed}",
            "step_id": index,
            "level": level,
            "action_type": action.name,
        }
        if point is not None:
            extra["reply_points"] = [point]
        if name is not None:
            extra["reply_names"] = [name]
        if step.box is not None:  # typing has no target box; a null one would fail `aguvis data check`
            extra["bbox"] = step.box
        if hidden:
            extra["hidden_text"] = list(hidden)
        yield Record(images=[step.image], conversations=turns, extra=extra)
        previous.append(history_entry(level, instruction, step.code))  # type: ignore[arg-type]


def build_records(
    out: Path, results: Sequence[TaskResult], settings: SynthSettings, *, points: PointStyle = "none"
) -> dict[str, Any]:
    """Write the record files, mixtures and manifest from finished trajectories; returns the manifest
    (``points``: see :func:`planning_records`; ``named`` names the stage-1 clicks' points too)."""
    frame = TaskFrame(scale=settings.scale)
    episodes = [e for r in results for e in r.episodes]
    screens = [(e, i) for e in episodes for i in range(len(e.steps))]
    named = points == "named"
    grounding = [r for r in (grounding_record(e, i, frame, named=named) for e, i in screens) if r is not None]
    write_records(out / "stage1.jsonl", grounding)
    referring = [r for r in (referring_record(e, i, frame) for e, i in screens) if r is not None]
    write_records(out / "stage1-referring.jsonl", referring)
    for level in LEVELS:
        records = (r for e in episodes for r in planning_records(e, level, points=points))
        write_records(out / f"stage2-{level}.jsonl", records)
    write_mixture(out / "stage1.yaml", ["stage1.jsonl", "stage1-referring.jsonl"])
    write_mixture(out / "stage2.yaml", [f"stage2-{level}.jsonl" for level in LEVELS])
    image_bytes = sum((out / e.steps[i].image).stat().st_size for e, i in screens)
    manifest = {
        "source": SOURCE,
        "settings": dataclasses.asdict(settings),
        "points": points,
        "image_size": list(frame.image_size),
        "tasks": {
            r.task: {
                "episodes": len(r.episodes),
                "lost": len(r.lost),
                "steps": sum(len(e.steps) for e in r.episodes),
            }
            for r in results
        },
        "screens": len(screens),
        "stage1_records": len(grounding),
        "grounding_queries": sum(len(r.conversations) // 2 for r in grounding),
        "referring_records": len(referring),
        "referring_queries": sum(len(r.conversations) // 2 for r in referring),
        "stage2_records_per_level": sum(len(e.steps) for e in episodes),
        "image_bytes": image_bytes,
        "vocabulary": vocabulary(episodes),
    }
    write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def vocabulary(episodes: Sequence[Episode]) -> dict[str, Any]:
    """The goals and, per role, the words that elements showed in ``episodes``: what the
    look-alike screens (:mod:`.lookalike`) are drawn with."""
    texts: dict[str, set[str]] = {}
    for episode in episodes:
        for step in episode.steps:
            for query in step.queries:
                if query.text:
                    texts.setdefault(query.role, set()).add(query.text)
    return {
        "goals": sorted({e.goal for e in episodes}),
        "texts": {role: sorted(words) for role, words in sorted(texts.items())},
    }


def write_mixture(path: Path, files: list[str]) -> None:
    """A mixture of record ``files`` beside it, each sampled whole, its image paths relative to its folder."""
    lines = ["datasets:"]
    for name in files:
        lines += [f"  - json_path: {name}", "    images_folder: .", '    sampling_strategy: "all"']
    write_text(path, "\n".join(lines) + "\n")
