"""The shortcut battery: every cue and the probe on every kbit task, fitted on the training split
and scored on the evaluation split, against chance."""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

from scipy.stats import binom

from kbit_tasks.generators import SUBTASKS, generate, task_name

from .cues import GENERIC, cue_accuracy, deeper
from .probe import probe_accuracy
from .task_cues import TASK_CUES

MARGIN = 0.05  # the bar: no shortcut more than 0.05 above chance
PROBE = "learned probe"
FOREST = "forest probe"  # the same features, a random forest: opt-in (`--forest`), it costs seconds a task
CONFIRM_N = 1000  # items per split when a flagged score is measured again (`confirm`)
# The probe scores each choice by n-grams crossed with how the choice stands in the text, so it
# can read one stated relation: on a rung of depth 1 that is the inference itself. Like a cue
# of one step, it is scored on deeper items only.
PROBE_STEPS = 1
# Leaks confirmed on fresh items and not yet removed (docs/validity.md): (task, cue). A score
# on these rungs does not measure their depth, and the tools that read depth say so. None is
# open in tasks 3.2.
OPEN_LEAKS: frozenset[tuple[str, str]] = frozenset()


def open_leak(task: str) -> bool:
    """Whether the battery has a confirmed, open leak on this task."""
    return any(t == task for t, _ in OPEN_LEAKS)


@dataclass(frozen=True)
class Score:
    task: str
    cue: str
    accuracy: float | None  # None: the cue is constant on these items (not applicable)
    chance: float
    n: int

    @property
    def z(self) -> float:
        return (self.accuracy - self.chance) / math.sqrt(self.chance * (1 - self.chance) / self.n)

    @property
    def flagged(self) -> bool:
        return self.accuracy is not None and self.accuracy > self.chance + MARGIN

    @property
    def null_flag_probability(self) -> float:
        """P(flagged) for a cue with no information at all (binomial at chance): what the bar
        costs in false alarms at this n."""
        return float(binom.sf(math.floor((self.chance + MARGIN) * self.n + 1e-9), self.n, self.chance))


def cues_for(subtask: str):
    return [c for c in GENERIC + TASK_CUES if c.applies(subtask)]


def score_items(task: str, train: list[dict], test: list[dict], only: set[str] | None = None,
                forest: bool = False) -> list[Score]:
    """Every applicable cue and the probe, and the forest probe if `forest` (or those named in
    `only`), fitted on train, scored on test."""
    chance = test[0]["chance"]
    out = []
    for cue in cues_for(test[0]["subtask"]):
        if only is None or cue.name in only:
            out.append(Score(task, cue.name, cue_accuracy(cue, train, test), chance, len(deeper(cue, test))))
    wanted = only if only is not None else {PROBE, FOREST} if forest else {PROBE}
    deep = [it for it in test if it.get("depth", PROBE_STEPS + 1) > PROBE_STEPS]
    for name in (PROBE, FOREST):
        if name in wanted:
            accuracy = probe_accuracy(train, deep, forest=name == FOREST) if deep else None
            out.append(Score(task, name, accuracy, chance, len(deep)))
    return out


def _generate_splits(family: str, subtask: str, level: int, n: int, seed: int):
    return (generate(family, subtask, level, n, seed=seed, split="train"),
            generate(family, subtask, level, n, seed=seed, split="eval"))


def tasks(only: list[str] | None = None):
    """(family, subtask, level) of every task, or of those whose name contains one of `only`."""
    every = [(f, s, lv) for f, s, levels in SUBTASKS for lv in levels]
    return [t for t in every if not only or any(o in task_name(*t) for o in only)]


def run(n: int, seed: int = 0, only: list[str] | None = None, forest: bool = False):
    """Yield (task, scores, eval items, (seconds generating, seconds scoring), error) per task:
    cues fitted on n train-split items, scored on n eval-split items. A task whose items cannot
    be generated yields no scores and the error, and the battery goes on with the next."""
    for family, subtask, level in tasks(only):
        name = task_name(family, subtask, level)
        start = time.perf_counter()
        try:
            train, test = _generate_splits(family, subtask, level, n, seed)
        except Exception as err:  # noqa: BLE001 - reported per task, the battery goes on
            yield name, [], [], (time.perf_counter() - start, 0.0), f"{type(err).__name__}: {err}"
            continue
        generated = time.perf_counter()
        scores = score_items(name, train, test, forest=forest)
        yield name, scores, test, (generated - start, time.perf_counter() - generated), None


def confirm(flagged: list[Score], n: int = CONFIRM_N, seed: int = 1) -> list[Score]:
    """Each flagged score measured again on fresh items (both splits generated with `seed`, n
    items each): the second stage of a two-stage screen. With ~300 scores at n = 300 the bar
    (about 1.7-2 sd above chance) flags a handful by luck alone; at n = 1000 it sits 3.2-3.7 sd
    above chance, so a cue with no information crosses it again with probability under 1e-3
    (`Score.null_flag_probability`), while a leak of +0.08 crosses it again with probability
    about 0.97. A score flagged in both stages is a leak."""
    wanted: dict[str, set[str]] = {}
    for s in flagged:
        wanted.setdefault(s.task, set()).add(s.cue)
    out = []
    for family, subtask, level in tasks(list(wanted)):
        name = task_name(family, subtask, level)
        if name in wanted:
            out += score_items(name, *_generate_splits(family, subtask, level, n, seed), only=wanted[name])
    return out


def depth_counts(items: list[dict]) -> Counter:
    """How many items rest on each inference depth ("?" where the generator gives none)."""
    return Counter(it.get("depth", "?") for it in items)


def format_depths(depths: Counter) -> str:
    total = sum(depths.values())
    return ", ".join(f"{d}: {c / total:.0%}" for d, c in sorted(depths.items(), key=lambda kv: str(kv[0])))
