"""The shared item loop: seeding, balanced gold labels, no duplicates, the split filter."""
from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

from .lexicon import SPLITS

# make(rng, level, split, target) -> (question, choices, gold, depth) with gold == target, or None
# to retry. depth is the number of inference steps the answer rests on (proof depth, directed
# path length, chained comparisons, ...), reported per level in the tasks README.
Maker = Callable[[random.Random, int, str, int], Optional[tuple]]

MAX_ATTEMPTS = 2000


@dataclass(frozen=True)
class Subtask:
    """One kind of item: its family, name, difficulty levels and number of answer choices."""

    family: str
    name: str
    levels: tuple[int, ...]
    n_choices: int
    make: Maker

    @property
    def key(self) -> tuple[str, str]:
        return (self.family, self.name)


def question_split(question: str) -> str:
    """Which split a question text may appear in: keeps eval and train text disjoint even for
    items made only of numbers, where the lexicons cannot."""
    return SPLITS[hashlib.sha256(question.encode()).digest()[0] & 1]


@dataclass
class _Stream:
    """The items made so far for one (subtask, level, seed, split), with the generator's state."""

    rng: random.Random
    items: list[dict] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    pending: list[int] = field(default_factory=list)  # gold positions left in the current block


_STREAMS: dict[tuple, _Stream] = {}
_LOCK = threading.Lock()


def build(sub: Subtask, level: int, n: int, seed: int, split: str) -> list[dict]:
    """n distinct items. Gold labels are drawn in shuffled blocks of one per choice position, so
    every prefix (what `--limit` keeps) is balanced to within one block.

    Items are made one after another from one seeded stream, so the n items are the first n of
    any larger request. The stream is kept per process and extended on demand: lm-eval, the
    tests and the shortcut battery ask for the same task at several n, and the causal items
    cost up to a fifth of a second each."""
    key = (sub.family, sub.name, level, seed, split)
    with _LOCK:
        if key not in _STREAMS:
            # random.Random seeded by a string is stable across processes and machines (sha512 of it).
            _STREAMS[key] = _Stream(random.Random(f"kbit/{sub.family}/{sub.name}/l{level}/seed{seed}/{split}"))
        stream = _STREAMS[key]
        try:
            while len(stream.items) < n:
                if not stream.pending:
                    stream.pending = list(range(sub.n_choices))
                    stream.rng.shuffle(stream.pending)
                target = stream.pending[0]
                stream.items.append(_one(sub, stream.rng, level, split, target, stream.seen, len(stream.items)))
                stream.pending.pop(0)
        except BaseException:
            del _STREAMS[key]  # a stream cut short mid-item is not the seeded one any more
            raise
        return [{**it, "choices": list(it["choices"])} for it in stream.items[:n]]


def _one(sub, rng, level, split, target, seen, index) -> dict:
    for _ in range(MAX_ATTEMPTS):
        made = sub.make(rng, level, split, target)
        if made is None:
            continue
        question, choices, gold, *depth = made  # TODO(tasks v2): every maker returns depth
        if question in seen or question_split(question) != split:
            continue
        assert gold == target and len(choices) == sub.n_choices and len(set(choices)) == len(choices)
        seen.add(question)
        return {
            "question": question,
            "choices": list(choices),
            "gold": gold,
            "family": sub.family,
            "subtask": sub.name,
            "level": level,
            "chance": 1.0 / len(choices),
            **({"depth": depth[0]} if depth else {}),
        }
    raise ValueError(
        f"could not make item {index + 1} of kbit_{sub.family}_{sub.name}_l{level}: "
        f"only {index} distinct items found; ask for fewer (n <= {index})"
    )
