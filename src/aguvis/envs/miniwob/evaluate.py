"""Online evaluation on MiniWoB++: seeded episodes, success rate, report, screenshot strips.

Metric (MiniWoB++ convention): an episode succeeds when its raw reward is 1.0;
a task's success rate is the fraction of its episodes that succeed, its mean
reward the mean raw reward (-1 for a failure, 1 for a success, partial
rewards in between). An episode also fails when it reaches the task's step
limit (:data:`~aguvis.envs.miniwob.tasks.TASKS`) without ending. The headline
number is the unweighted mean of the per-task success rates.

A policy sees only the screenshot, the instruction and its own earlier steps
(as "Previous actions"). Its reply is text; the actions are parsed from it
and performed through :class:`~aguvis.envs.miniwob.adapter.MiniWoBEnv`. A reply
without a usable action wastes the step. The scripted experts run through the
same path (their code is formatted, parsed, performed), which is how the action
path itself is checked.

Episodes run in *lanes*, one browser per task, and each tick asks the policy
for all lanes at once so a model generates in batches. Every finished episode
is appended to ``episodes.jsonl``; a rerun skips the (task, seed) pairs found
there and refuses to mix results of a different model or mode.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from aguvis.actions import Action, format_action, format_actions, parse
from aguvis.chat.template import strip_reserved_tokens
from aguvis.envs.miniwob.atomic import write_text
from aguvis.envs.miniwob.experts import EXPERTS, ExpertError, ExpertStep
from aguvis.envs.miniwob.images import PALETTE_COLOURS, compact
from aguvis.envs.miniwob.monologue import history_entry_from_reply
from aguvis.envs.miniwob.strips import Frame, render_strip, save_strip
from aguvis.envs.miniwob.tasks import EVAL_SEED_START, TASKS
from aguvis.envs.miniwob.transition import SUCCESS_REWARD

EPISODES_FILE = "episodes.jsonl"
MAX_HISTORY_ENTRY = 200
RUN_FILE = "run.json"


@dataclass
class Decision:
    """A policy's reply for one step: its raw text, the parsed actions and how later steps list it."""

    raw: str
    actions: list[Action]
    history_entry: str
    thought: str | None = None
    error: str | None = None


@dataclass
class PolicyInput:
    """What a policy is asked for one lane: the screen, the instruction, the earlier steps."""

    task: str
    env: Any
    observation: Any
    history: list[str]


class Policy(Protocol):
    """Chooses the next move of several lanes at once."""

    def start(self, task: str) -> None:
        """A new episode of ``task`` starts (policies with per-episode state reset it)."""
        ...

    def decide(self, turns: Sequence[PolicyInput]) -> list[Decision]: ...


class ExpertPolicy:
    """The scripted DOM oracle, speaking pyautogui text like a model."""

    def __init__(self) -> None:
        self._history: dict[str, list[ExpertStep]] = {}

    def start(self, task: str) -> None:
        self._history[task] = []

    def decide(self, turns: Sequence[PolicyInput]) -> list[Decision]:
        decisions = []
        for turn in turns:
            history = self._history.setdefault(turn.task, [])
            try:
                step = EXPERTS[turn.task](turn.observation.utterance, turn.env.page(), turn.env.frame, history)
            except ExpertError as err:  # the oracle is being measured: its failure is a result, not a crash
                decisions.append(Decision(raw="", actions=[], history_entry="", error=f"expert: {err}"))
                continue
            history.append(step)
            code = format_action(step.action)
            decisions.append(Decision(raw=code, actions=parse(code), history_entry=step.instruction))
        return decisions


class ModelPolicy:
    """A model behind :class:`aguvis.agent.Agent`; the agent's mode and system prompt apply.

    The model sees each screenshot as the training data stores it
    (:func:`aguvis.envs.miniwob.images.compact`: a palette of
    ``colours`` colours), so that evaluation screens look exactly like the
    training screens; ``colours=None`` passes the raw capture.
    """

    def __init__(self, agent: Any, colours: int | None = PALETTE_COLOURS) -> None:
        self.agent = agent
        self.colours = colours

    def start(self, task: str) -> None:
        pass

    def observe(self, image: Any) -> Any:
        return image if self.colours is None else compact(image, self.colours).convert("RGB")

    def decide(self, turns: Sequence[PolicyInput]) -> list[Decision]:
        from aguvis.agent import Request

        requests = [
            Request(self.observe(t.observation.image), t.observation.utterance, list(t.history), mode=self.agent.mode)
            for t in turns
        ]
        decisions = []
        for prediction in self.agent.predict_batch(requests):
            # A reply without actions is remembered as what it said, cut short so it cannot flood the prompt,
            # and without template tokens, which no prompt may contain.
            entry = history_entry_from_reply(prediction.thought, prediction.code or prediction.raw.strip())
            entry = strip_reserved_tokens(entry)[:MAX_HISTORY_ENTRY]
            decisions.append(
                Decision(prediction.raw, list(prediction.actions), entry, prediction.thought, prediction.error)
            )
        return decisions


@dataclass
class EpisodeResult:
    """One finished episode, as a line of ``episodes.jsonl``."""

    task: str
    seed: int
    success: bool
    reward: float
    steps: int
    goal: str
    replies: list[str]
    codes: list[str]
    errors: list[str | None]

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EpisodeResult:
        return cls(**{f.name: obj[f.name] for f in dataclasses.fields(cls)})


@dataclass
class _Lane:
    """One task's browser and the episode it is playing."""

    task: str
    env: Any
    seeds: list[int]
    seed: int | None = None
    goal: str = ""
    observation: Any = None
    history: list[str] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    step_errors: list[str | None] = field(default_factory=list)


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation run is: who plays, how, on which seeds."""

    policy: str
    mode: str | None
    episodes: int
    seed_start: int = EVAL_SEED_START

    @property
    def seeds(self) -> range:
        return range(self.seed_start, self.seed_start + self.episodes)


def read_results(out_dir: Path) -> list[EpisodeResult]:
    """Finished episodes in ``out_dir`` (a torn last line from an interrupted run is ignored)."""
    path = out_dir / EPISODES_FILE
    if not path.is_file():
        return []
    results = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            results.append(EpisodeResult.from_json(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number}: not an episode result: {err}") from None
    return results


def check_run(out_dir: Path, settings: EvalSettings) -> None:
    """Record ``settings`` in ``run.json``, or refuse when the folder holds another policy's or mode's results."""
    path = out_dir / RUN_FILE
    wanted = {"policy": settings.policy, "mode": settings.mode}
    if path.is_file():
        found = json.loads(path.read_text(encoding="utf-8"))
        differing = [k for k in wanted if found.get(k) != wanted[k]]
        if differing:
            details = ", ".join(f"{k}: {found.get(k)!r} there, {wanted[k]!r} now" for k in differing)
            raise ValueError(f"{out_dir} holds results of another run ({details}); use another output folder")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(wanted, indent=2) + "\n")


def evaluate(
    out_dir: str | os.PathLike[str],
    tasks: Sequence[str],
    settings: EvalSettings,
    policy: Policy,
    *,
    make_env: Callable[[str], Any],
    progress: bool = True,
) -> dict[str, Any]:
    """Play every (task, seed) not yet in ``out_dir``, then write and return the report."""
    out = Path(out_dir)
    check_run(out, settings)
    done = {(r.task, r.seed) for r in read_results(out)}
    todo = {task: [s for s in settings.seeds if (task, s) not in done] for task in tasks}
    total = sum(len(seeds) for seeds in todo.values())
    lanes = [_Lane(task, None, seeds) for task, seeds in todo.items() if seeds]
    with tqdm(total=total, desc="miniwob episodes", unit="episode", disable=not progress) as bar:
        try:
            for lane in lanes:
                lane.env = make_env(lane.task)
                _next_episode(lane, policy)
            while active := [lane for lane in lanes if lane.seed is not None]:
                decisions = policy.decide(
                    [PolicyInput(lane.task, lane.env, lane.observation, lane.history) for lane in active]
                )
                for lane, decision in zip(active, decisions, strict=True):
                    result = _advance(lane, decision)
                    if result is not None:
                        _finish(out, lane, result)
                        bar.update(1)
                        _next_episode(lane, policy)
        finally:
            for lane in lanes:
                if lane.env is not None:
                    lane.env.close()
    return write_report(out, tasks, settings)


def _next_episode(lane: _Lane, policy: Policy) -> None:
    lane.history, lane.frames, lane.decisions, lane.step_errors = [], [], [], []
    if not lane.seeds:
        lane.seed = None
        return
    lane.seed = lane.seeds.pop(0)
    lane.observation = lane.env.reset(lane.seed)
    lane.goal = lane.observation.utterance
    policy.start(lane.task)


def _advance(lane: _Lane, decision: Decision) -> EpisodeResult | None:
    """Perform one decision; the episode's result when it is over, else None."""
    lane.decisions.append(decision)
    lane.frames.append(Frame(lane.observation.image, decision.actions, _caption(decision)))
    error = decision.error
    reward, done = 0.0, False
    if decision.actions:
        transition = lane.env.step(decision.actions)
        reward, done = transition.reward, transition.done
        error = error or transition.error
        if not done:
            lane.observation = transition.observation
    lane.step_errors.append(error)
    lane.history.append(decision.history_entry)
    if not done and len(lane.decisions) < TASKS[lane.task].max_steps:
        return None
    if not done:
        error = f"step limit {TASKS[lane.task].max_steps} reached"
        lane.step_errors[-1] = lane.step_errors[-1] or error
        reward = -1.0
    assert lane.seed is not None
    return EpisodeResult(
        task=lane.task,
        seed=lane.seed,
        success=done and reward >= SUCCESS_REWARD,
        reward=reward,
        steps=len(lane.decisions),
        goal=lane.goal,
        replies=[d.raw for d in lane.decisions],
        codes=[format_actions(d.actions) for d in lane.decisions],
        errors=lane.step_errors,
    )


def _caption(decision: Decision) -> str:
    if decision.actions:
        return format_actions(decision.actions).replace("pyautogui.", "")
    return f"(no action) {decision.error or decision.raw}"


def _finish(out: Path, lane: _Lane, result: EpisodeResult) -> None:
    """Save a strip if the task still lacks one of this outcome, then append the result."""
    strip = strip_path(out, lane.task, result.success)
    if not strip.exists():
        outcome = "success" if result.success else "failure"
        title = f"{lane.task} seed {result.seed}: {outcome} (reward {result.reward:g}) - {result.goal}"
        save_strip(render_strip(lane.frames, title, result.success), strip)
    with (out / EPISODES_FILE).open("a", encoding="utf-8") as file:
        file.write(json.dumps(dataclasses.asdict(result)) + "\n")
        file.flush()
        os.fsync(file.fileno())


def strip_path(out: Path, task: str, success: bool) -> Path:
    return out / "strips" / f"{task}-{'success' if success else 'failure'}.png"


@dataclass(frozen=True)
class TaskScore:
    """Success rate and mean raw reward of one task's episodes."""

    task: str
    episodes: int
    successes: int
    mean_reward: float
    mean_steps: float

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def score(results: Sequence[EpisodeResult], tasks: Sequence[str], seeds: range) -> list[TaskScore]:
    """Per-task scores over the episodes of ``seeds`` (results of other seeds are ignored)."""
    scores = []
    for task in tasks:
        mine = [r for r in results if r.task == task and r.seed in seeds]
        n = len(mine)
        scores.append(
            TaskScore(
                task,
                n,
                sum(r.success for r in mine),
                sum(r.reward for r in mine) / n if n else 0.0,
                sum(r.steps for r in mine) / n if n else 0.0,
            )
        )
    return scores


def write_report(out: Path, tasks: Sequence[str], settings: EvalSettings) -> dict[str, Any]:
    """``report.json`` and ``report.md`` from ``episodes.jsonl``; returns the JSON report."""
    scores = score(read_results(out), tasks, settings.seeds)
    rates = [s.success_rate for s in scores]
    report = {
        "settings": dataclasses.asdict(settings),
        "metric": "success = raw reward 1.0; mean_success_rate = unweighted mean over tasks",
        "mean_success_rate": sum(rates) / len(rates) if rates else 0.0,
        "tasks": {
            s.task: {
                "episodes": s.episodes,
                "successes": s.successes,
                "success_rate": s.success_rate,
                "mean_reward": s.mean_reward,
                "mean_steps": s.mean_steps,
            }
            for s in scores
        },
    }
    write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text(out / "report.md", "\n".join(_markdown(out, report, scores)) + "\n")
    return report


def _markdown(out: Path, report: dict[str, Any], scores: Sequence[TaskScore]) -> Iterator[str]:
    settings = report["settings"]
    first, last = settings["seed_start"], settings["seed_start"] + settings["episodes"] - 1
    yield f"# MiniWoB++ online evaluation: {settings['policy']}"
    yield ""
    yield f"Mode {settings['mode'] or '-'}, seeds {first}..{last}, success = raw reward 1.0."
    yield ""
    yield "| task | episodes | success rate | mean reward | mean steps | strips |"
    yield "|---|---:|---:|---:|---:|---|"
    for s in scores:
        strips = " ".join(
            f"[{kind}](strips/{s.task}-{kind}.png)"
            for kind, ok in (("success", True), ("failure", False))
            if strip_path(out, s.task, ok).exists()
        )
        yield (
            f"| {s.task} | {s.episodes} | {s.success_rate:.3f} | {s.mean_reward:.3f} | {s.mean_steps:.2f} | {strips} |"
        )
    episodes = sum(s.episodes for s in scores)
    yield f"| **mean over {len(scores)} tasks** | {episodes} | **{report['mean_success_rate']:.3f}** | | | |"
