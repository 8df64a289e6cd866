"""Inductive reasoning: number-sequence rules, list functions from examples, and property
induction (bAbI task 16 style). Level = rule complexity or story size."""
from __future__ import annotations

import itertools
from fractions import Fraction
from functools import lru_cache

from .base import Subtask
from .lexicon import names, sample

# --- sequences ------------------------------------------------------------------------------
def _arithmetic(rng):
    a, d = rng.randint(1, 60), rng.choice([x for x in range(-9, 10) if x])
    return lambda i: a + d * i


def _geometric(rng):
    a, r = rng.randint(1, 20), rng.choice((2, 3, -2))
    return lambda i: a * r**i


def _quadratic(rng):
    a, b, c = rng.choice((1, 2, -1)), rng.randint(-5, 5), rng.randint(0, 20)
    return lambda i: a * i * i + b * i + c


def _interleaved(rng):
    f, g = _arithmetic(rng), _arithmetic(rng)
    return lambda i: f(i // 2) if i % 2 == 0 else g(i // 2)


def _fibonacci(rng):
    a, b = rng.randint(1, 9), rng.randint(1, 9)

    @lru_cache(maxsize=None)
    def term(i):
        return a if i == 0 else b if i == 1 else term(i - 1) + term(i - 2)

    return term


# level -> (rule families, terms shown)
_SEQUENCE_LEVELS = {1: ((_arithmetic,), 5), 2: ((_geometric, _quadratic), 6), 3: ((_interleaved, _fibonacci), 8)}


def next_candidates(terms):
    """Next terms predicted by every simple rule family that fits all shown terms; an item
    is kept only when all of them agree, so the answer is unambiguous."""
    preds = set()
    diffs = [b - a for a, b in zip(terms, terms[1:])]
    if len(set(diffs)) == 1:
        preds.add(terms[-1] + diffs[0])
    second = [b - a for a, b in zip(diffs, diffs[1:])]
    if len(set(second)) == 1:
        preds.add(terms[-1] + diffs[-1] + second[0])
    ratio = Fraction(terms[1], terms[0]) if terms[0] else None
    if ratio and all(b == a * ratio for a, b in zip(terms, terms[1:])) and (terms[-1] * ratio).denominator == 1:
        preds.add(int(terms[-1] * ratio))
    if all(c == a + b for a, b, c in zip(terms, terms[1:], terms[2:])):
        preds.add(terms[-1] + terms[-2])
    evens, odds = terms[0::2], terms[1::2]
    if len(set(b - a for a, b in zip(evens, evens[1:]))) == 1 and len(set(b - a for a, b in zip(odds, odds[1:]))) == 1:
        half = evens if len(terms) % 2 == 0 else odds  # the subsequence the next term continues
        preds.add(terms[-2] + (half[1] - half[0]))
    return preds


def _place(rng, gold, target, n_choices, spread):
    """Choices in ascending order with the gold one at position `target`."""
    below = rng.sample(range(gold - spread, gold), target)
    above = rng.sample(range(gold + 1, gold + spread + 1), n_choices - 1 - target)
    return [str(v) for v in sorted(below) + [gold] + sorted(above)]


def _sequence(rng, level, split, target):
    families, shown = _SEQUENCE_LEVELS[level]
    rule = rng.choice(families)(rng)
    terms = [rule(i) for i in range(shown + 1)]
    *terms, gold = terms
    if next_candidates(terms) != {gold}:
        return None
    choices = _place(rng, gold, target, 4, spread=max(6, abs(gold) // 4))
    question = f"What number comes next in the sequence {', '.join(map(str, terms))}, ...?\nAnswer:"
    return question, choices, target


# --- list functions --------------------------------------------------------------------------
PRIMITIVES = {
    "reverse": lambda xs: xs[::-1],
    "sort": lambda xs: sorted(xs),
    "add1": lambda xs: [x + 1 for x in xs],
    "double": lambda xs: [2 * x for x in xs],
    "drop_first": lambda xs: xs[1:],
    "drop_last": lambda xs: xs[:-1],
    "rotate": lambda xs: xs[1:] + xs[:1],
    "evens": lambda xs: [x for x in xs if x % 2 == 0],
}
_EXAMPLES = {1: 3, 2: 4, 3: 5}


def compose(names_, xs):
    for name in names_:
        xs = PRIMITIVES[name](xs)
    return xs


@lru_cache(maxsize=None)
def programs(depth):
    return tuple(p for k in range(1, depth + 1) for p in itertools.product(sorted(PRIMITIVES), repeat=k))


def _list(rng):
    return [rng.randint(0, 9) for _ in range(rng.randint(4, 7))]


def _show(xs):
    return "[" + ", ".join(map(str, xs)) + "]"


def _listfn(rng, level, split, target):
    program = rng.choice([p for p in programs(level) if len(p) == level])
    inputs = [_list(rng) for _ in range(_EXAMPLES[level] + 1)]
    *examples, query = inputs
    outputs = [compose(program, xs) for xs in examples]
    fits = [p for p in programs(level) if all(compose(p, xs) == out for xs, out in zip(examples, outputs))]
    answers = {_show(compose(p, query)) for p in fits}
    gold = _show(compose(program, query))
    if answers != {gold}:
        return None
    wrong = sorted({_show(compose(p, query)) for p in programs(level)} - {gold})
    if len(wrong) < 3:
        return None
    choices = rng.sample(wrong, 3)
    choices.insert(target, gold)
    lines = [f"Input: {_show(xs)} Output: {_show(out)}" for xs, out in zip(examples, outputs)]
    question = (
        "Every example applies the same rule to a list of numbers.\n"
        + "\n".join(lines)
        + f"\nInput: {_show(query)} Output:"
    )
    return question, choices, target


# --- property induction (bAbI 16) --------------------------------------------------------------
COLORS = ("red", "blue", "green", "yellow", "white", "black", "gray", "purple")
_KINDS = {1: 4, 2: 6, 3: 8}  # at least four, so every wrong choice is a color the story uses


def _property(rng, level, split, target):
    n_kinds = _KINDS[level]
    kinds = sample(rng, split, n_kinds)
    colors = rng.sample(COLORS, n_kinds)
    people = names(rng, split, 2 * n_kinds + 1)
    lines = []
    for k in range(n_kinds):
        for person in people[2 * k: 2 * k + rng.choice((1, 2))]:
            lines += [f"{person} is a {kinds[k]}.", f"{person} is {colors[k]}."]
    query, kind = people[-1], rng.randrange(n_kinds)
    gold = colors[kind]
    others = [c for c in colors if c != gold]
    choices = rng.sample(others, 3)
    choices.insert(target, gold)
    pairs = [lines[i: i + 2] for i in range(0, len(lines), 2)]
    rng.shuffle(pairs)
    question = (
        "\n".join(line for pair in pairs for line in pair)
        + f"\n{query} is a {kinds[kind]}.\nWhat color is {query}?\nAnswer:"
    )
    return question, choices, target


SUBTASKS = (
    Subtask("inductive", "sequence", (1, 2, 3), 4, _sequence),
    Subtask("inductive", "listfn", (1, 2, 3), 4, _listfn),
    Subtask("inductive", "property", (1, 2, 3), 4, _property),
)
