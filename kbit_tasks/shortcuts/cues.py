"""Surface cues and the lookup-table guesser that turns each into a shortcut score.

A cue maps (item, choice index) to a key: something a reader can see without reasoning (the
choice's length, where it is mentioned, the premises' moods crossed with which answer it is).
`fit` learns, on training items, how often a choice with each key is gold; `accuracy` picks, on
evaluation items, the choice whose key was gold most often. A cue that scores well above chance
is a shortcut a model could learn instead of the skill (the hypothesis-only baselines of
Gururangan et al. 2018 and Poliak et al. 2018, applied per cue).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Hashable

from .text import (
    TOKEN, as_list, as_number, choice_identity, context_and_query, delex_tokens, lines, mentions, nonce_stem, numbers,
)

Key = Callable[[dict, int], Hashable]


@dataclass(frozen=True)
class Cue:
    """A named key function; `subtasks` empty means it applies to every task. `steps`: how many
    inference steps the cue itself performs (a two-link path check performs 2); on items whose
    `depth` is no larger it IS the inference, not a shortcut, so it is scored on deeper items only.
    A cue of no steps is a shortcut wherever it reads the answer, so it is scored on every item.
    `steps_on` names the subtasks where the same reading performs another number of steps (the
    lines naming both asked words are a finding in one subtask, the stated relation between them,
    one step, in another)."""

    name: str
    key: Key
    subtasks: tuple[str, ...] = ()
    steps: int = 0
    steps_on: tuple[tuple[str, int], ...] = ()

    def applies(self, subtask: str) -> bool:
        return not self.subtasks or subtask in self.subtasks

    def steps_for(self, subtask: str | None) -> int:
        return dict(self.steps_on).get(subtask, self.steps)


def keys(cue: Cue, items: list[dict]) -> list[list]:
    """The cue's key of every choice of every item."""
    return [[cue.key(it, i) for i in range(len(it["choices"]))] for it in items]


def fit(item_keys: list[list], items: list[dict]) -> dict:
    """Key -> how often a choice with that key is gold (one pseudo-count at chance)."""
    seen, gold = Counter(), Counter()
    for ks, it in zip(item_keys, items):
        for i, k in enumerate(ks):
            seen[k] += 1
            gold[k] += i == it["gold"]
    return {k: (gold[k] + items[0]["chance"]) / (seen[k] + 1) for k in seen}


def accuracy(table: dict, item_keys: list[list], items: list[dict]) -> float:
    """Mean credit of picking the best-rated choice; a tie among m choices earns 1/m if gold is
    among them (the expected score of breaking the tie at random, without its noise)."""
    total = 0.0
    for ks, it in zip(item_keys, items):
        rates = [table.get(k, it["chance"]) for k in ks]
        best = [i for i, r in enumerate(rates) if r == max(rates)]
        total += (it["gold"] in best) / len(best)
    return total / len(items)


def deeper(cue: Cue, items: list[dict]) -> list[dict]:
    """The items that need more inference steps than the cue performs; all of them for a cue that
    performs none (a surface feature scores on every item, whatever its depth)."""
    out = []
    for it in items:
        steps = cue.steps_for(it.get("subtask"))
        if not steps or it.get("depth", steps + 1) > steps:
            out.append(it)
    return out


def cue_accuracy(cue: Cue, train: list[dict], test: list[dict]) -> float | None:
    """Fitted on train, scored on test (the items `deeper` keeps); None if the cue's key is
    constant there (nothing to read) or no item is kept."""
    train, test = deeper(cue, train), deeper(cue, test)
    if not train or not test:
        return None
    train_keys, test_keys = keys(cue, train), keys(cue, test)
    if len({k for ks in train_keys + test_keys for k in ks}) < 2:
        return None
    return accuracy(fit(train_keys, train), test_keys, test)


# ---- helpers shared by the cues ------------------------------------------------------------

def rank(values: list, i: int):
    """Dense rank of values[i] from the largest (0), or None where values[i] is None."""
    if values[i] is None:
        return None
    order = sorted({v for v in values if v is not None}, reverse=True)
    return order.index(values[i])


def _value(choice: str) -> float | None:
    """A number choice's value, or a list choice's sum."""
    number = as_number(choice)
    if number is not None:
        return number
    lst = as_list(choice)
    return None if lst is None else float(sum(lst))


def _question_names(text: str) -> list[str]:
    """The nonce words of a text, in order, each once."""
    return list(dict.fromkeys(s for s in map(nonce_stem, TOKEN.findall(text)) if s))


def _choice_names(item: dict, i: int) -> list[str]:
    return _question_names(item["choices"][i])


# ---- generic cues: every task --------------------------------------------------------------

def _mention_count(it, i):
    context, _ = context_and_query(it["question"])
    return min(6, sum(mentions(x, it["choices"][i]) for x in context))


def _mention_rank(it, i, which):
    """Rank of the choice's first (or last) mentioning context line among the choices' (0: latest)."""
    context, _ = context_and_query(it["question"])
    at = []
    for c in it["choices"]:
        where = [j for j, x in enumerate(context) if mentions(x, c)]
        at.append((where[0] if which == "first" else where[-1]) if where else None)
    return rank(at, i)


def _in_query(it, i):
    """Whether and where (order among the choices) the query line mentions the choice."""
    _, query = context_and_query(it["question"])
    spots = [query.find(c.strip().rstrip(".")) if mentions(query, c) else None for c in it["choices"]]
    return rank([-s if s is not None else None for s in spots], i)


def _near_query(it, i):
    """Rank (0: nearest) of the line distance between the choice and any nonce word of the query."""
    context, query = context_and_query(it["question"])
    asked = _question_names(query)
    near_lines = [j for j, x in enumerate(context) if any(nonce_stem(t) in asked for t in TOKEN.findall(x))]
    dist = []
    for c in it["choices"]:
        own = [j for j, x in enumerate(context) if mentions(x, c)]
        dist.append(-min((abs(a - b) for a in own for b in near_lines), default=99) if own else None)
    return rank(dist, i)


def _divisibility(it, i):
    value = _value(it["choices"][i])
    if value is None or value != int(value):
        return None
    v = int(value)
    shown = [int(x) for x in numbers(it["question"]) if x == int(x)]
    g = math.gcd(*shown) if shown else 0
    return (v % 2, v % 3 == 0, v % 5 == 0, g > 1 and v % g == 0, v in shown)


def _cheap_question_feature(feature):
    return lambda it, i: (feature(it["question"]), choice_identity(it, i))


GENERIC = (
    Cue("position", lambda it, i: i),
    Cue("answer identity", choice_identity),
    Cue("length rank", lambda it, i: rank([len(c) for c in it["choices"]], i)),
    Cue("mention count", _mention_count),
    Cue("first mention", lambda it, i: _mention_rank(it, i, "first")),
    Cue("last mention", lambda it, i: _mention_rank(it, i, "last")),
    Cue("in query", _in_query),
    Cue("near query words", _near_query),
    Cue("value rank", lambda it, i: rank([_value(c) for c in it["choices"]], i)),
    Cue("parity, divisibility", _divisibility),
    Cue("lines x answer", _cheap_question_feature(lambda q: len(lines(q)))),
    Cue("negations x answer", _cheap_question_feature(lambda q: len(re.findall(r"\b(?:not|no|never)\b", q, re.I)))),
    Cue("query x answer", _cheap_question_feature(lambda q: " ".join(delex_tokens(context_and_query(q)[1])))),
)
