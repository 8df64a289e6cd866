"""The shared item loop: seeding, balanced gold labels, no duplicates, the split filter."""
from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

from .lexicon import SPLITS

# make(stream, target) -> (question, choices, gold, depth) with gold == target, or None to retry.
# The stream says what to make (level, distractors, split) and carries the seeded rng and any
# state a maker keeps between items. depth is the number of inference steps the answer rests on
# (proof depth, directed path length, chained comparisons, ...): the level a rung names.
Maker = Callable[["Stream", int], Optional[tuple]]

MAX_ATTEMPTS = 2000


@dataclass(frozen=True)
class Subtask:
    """One kind of item: its family, name, the levels shipped as lm-eval tasks, the number of
    answer choices, and the distractor load its tasks use unless asked for another (in the unit
    its module documents). `max_level` is the deepest level the maker can build; None: no
    deeper than the shipped ones. `version` is the task version in which its items last
    changed (CHANGELOG.md's tasks versions say what changed): a sweep re-runs a subtask's cells
    when it moves."""

    family: str
    name: str
    levels: tuple[int, ...]
    n_choices: int
    make: Maker
    distractors: int = 0
    max_level: Optional[int] = None
    version: float = 0.0

    @property
    def deepest(self) -> int:
        return self.max_level or max(self.levels)

    @property
    def key(self) -> tuple[str, str]:
        return (self.family, self.name)


def question_split(question: str) -> str:
    """Which split a question text may appear in: keeps eval and train text disjoint even for
    items made only of numbers, where the lexicons cannot."""
    return SPLITS[hashlib.sha256(question.encode()).digest()[0] & 1]


@dataclass
class Stream:
    """One (subtask, level, distractors, seed, split): what to make, the seeded generator, the
    items made so far, and `kept`, where a maker keeps state between items (draws made for one
    request and handed out on a later one)."""

    rng: random.Random
    level: int
    distractors: int
    split: str
    items: list[dict] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    pending: list[int] = field(default_factory=list)  # gold positions left in the current block
    kept: dict = field(default_factory=dict)


_STREAMS: dict[tuple, Stream] = {}
_LOCK = threading.Lock()


def build(sub: Subtask, level: int, n: int, seed: int, split: str, distractors: Optional[int] = None) -> list[dict]:
    """n distinct items. Gold labels are drawn in shuffled blocks of one per choice position, so
    every prefix (what `--limit` keeps) is balanced to within one block.

    Items are made one after another from one seeded stream, so the n items are the first n of
    any larger request. The stream is kept per process and extended on demand: lm-eval, the
    tests and the shortcut battery ask for the same task at several n, and the causal items
    cost up to a fifth of a second each."""
    distractors = sub.distractors if distractors is None else distractors
    key = (sub.family, sub.name, level, distractors, seed, split)
    with _LOCK:
        if key not in _STREAMS:
            # random.Random seeded by a string is stable across processes and machines (sha512 of it).
            rng = random.Random(f"kbit/{sub.family}/{sub.name}/l{level}/x{distractors}/seed{seed}/{split}")
            _STREAMS[key] = Stream(rng, level, distractors, split)
        stream = _STREAMS[key]
        try:
            while len(stream.items) < n:
                if not stream.pending:
                    stream.pending = list(range(sub.n_choices))
                    stream.rng.shuffle(stream.pending)
                target = stream.pending[0]
                stream.items.append(_one(sub, stream, target))
                stream.pending.pop(0)
        except BaseException:
            del _STREAMS[key]  # a stream cut short mid-item is not the seeded one any more
            raise
        return [{**it, "choices": list(it["choices"])} for it in stream.items[:n]]


def _one(sub: Subtask, stream: Stream, target: int) -> dict:
    for _ in range(MAX_ATTEMPTS):
        made = sub.make(stream, target)
        if made is None:
            continue
        question, choices, gold, depth = made
        if question in stream.seen or question_split(question) != stream.split:
            continue
        assert gold == target and len(choices) == sub.n_choices and len(set(choices)) == len(choices)
        stream.seen.add(question)
        return {
            "question": question,
            "choices": list(choices),
            "gold": gold,
            "family": sub.family,
            "subtask": sub.name,
            "level": stream.level,
            "distractors": stream.distractors,
            "chance": 1.0 / len(choices),
            "depth": depth,
        }
    index = len(stream.items)
    raise ValueError(
        f"could not make item {index + 1} of kbit_{sub.family}_{sub.name}_l{stream.level}: "
        f"only {index} distinct items found; ask for fewer (n <= {index})"
    )
