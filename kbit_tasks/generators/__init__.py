"""Seeded, pure-Python generators of reasoning items for the kbit lm-eval tasks.

`generate(family, subtask, level, n, seed=0, split="eval", distractors=None)` returns n
distinct items, each a dict with question, choices, gold, family, subtask, level, distractors,
chance and depth. The level is the rung of the subtask's ladder (the inference depth its items
need); distractors is the load of irrelevant material, a knob of its own (None: the subtask's
default). The same arguments give byte-identical items on any machine. `split="train"` draws from a lexicon disjoint
from the "eval" one, so training text never contains evaluation item text.
"""
from __future__ import annotations

import hashlib
import json
import re

from . import causal, inductive, logical
from .base import Subtask, build
from .lexicon import check_split

FAMILIES = ("logical", "causal", "inductive")
_REGISTRY: dict[tuple[str, str], Subtask] = {
    s.key: s for module in (logical, causal, inductive) for s in module.SUBTASKS
}
# (family, subtask, levels) for everything that exists, in a stable order.
SUBTASKS: tuple[tuple[str, str, tuple[int, ...]], ...] = tuple(
    (s.family, s.name, s.levels) for s in _REGISTRY.values()
)
MAX_N = 10_000
MAX_DISTRACTORS = 64
DEFAULT_N = 200  # items per task unless `--metadata '{"n": ...}'` says otherwise


def task_name(family: str, subtask: str, level: int) -> str:
    return f"kbit_{family}_{subtask}_l{level}"


def parse_task_name(name: str) -> tuple[str, str, int] | None:
    """(family, subtask, level) of a kbit task's name at any level, shipped or deeper; None for
    any other name (the inverse of task_name)."""
    for family, subtask, _ in SUBTASKS:
        if match := re.fullmatch(rf"kbit_{family}_{subtask}_l([1-9]\d*)", name):
            return family, subtask, int(match[1])
    return None


def get_subtask(family: str, subtask: str) -> Subtask:
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not valid; choose one of {FAMILIES}")
    names = tuple(name for fam, name in _REGISTRY if fam == family)
    if (family, subtask) not in _REGISTRY:
        raise ValueError(f"subtask={subtask!r} is not valid for family {family!r}; choose one of {names}")
    return _REGISTRY[(family, subtask)]


def check_level(sub: Subtask, level) -> int:
    """Validate a level: any rung from the subtask's first to the deepest its generator builds,
    shipped as an lm-eval task or not."""
    first = min(sub.levels)
    if isinstance(level, bool) or not isinstance(level, int) or not first <= level <= sub.deepest:
        raise ValueError(f"level={level!r} is not valid for {sub.family}/{sub.name}; "
                         f"use an integer from {first} to {sub.deepest}")
    return level


def check_distractors(distractors) -> int | None:
    if distractors is not None and (isinstance(distractors, bool) or not isinstance(distractors, int)
                                    or not 0 <= distractors <= MAX_DISTRACTORS):
        raise ValueError(f"distractors={distractors!r} is not valid; use an integer from 0 to {MAX_DISTRACTORS}")
    return distractors


def check_n_seed(n, seed) -> tuple[int, int]:
    """Validate the item count and seed (they also arrive as strings from `--metadata`)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ValueError(f"n={n!r} is not valid; use an integer from 1 to {MAX_N}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} is not valid; use an integer >= 0")
    return n, seed


def generate(family: str, subtask: str, level: int, n: int, seed: int = 0, split: str = "eval",
             distractors: int | None = None) -> list[dict]:
    """n distinct items of one (family, subtask, level), balanced over the gold positions."""
    sub = get_subtask(family, subtask)
    level = check_level(sub, level)
    n, seed = check_n_seed(n, seed)
    return build(sub, level, n, seed, check_split(split), check_distractors(distractors))


def content_hash(items: list[dict]) -> str:
    """sha256 of the items as canonical JSON (sorted keys, no whitespace, UTF-8)."""
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = ["FAMILIES", "SUBTASKS", "DEFAULT_N", "generate", "content_hash", "check_n_seed", "check_level",
           "check_distractors", "task_name", "get_subtask"]
