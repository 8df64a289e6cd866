"""Every gold label re-derived from the question TEXT by a solver written here, independently
of the generators: executing candidate rules for the inductive items (the logical tasks:
tests/test_labels_logical.py; the causal tasks: tests/test_labels_causal.py)."""
import itertools
import re
from fractions import Fraction

import numpy as np
import pytest

from kbit_tasks.generators import SUBTASKS, generate

N = 60


def items_of(family, subtask):
    levels = next(lv for f, s, lv in SUBTASKS if (f, s) == (family, subtask))
    return [it for level in levels for it in generate(family, subtask, level, N, seed=3)]


def lines_of(item):
    return item["question"].splitlines()


# --- logical: tests/test_labels_logical.py (SAT, set models, topological sorts) ---------------


# --- causal: tests/test_labels_causal.py (networkx, a Bayes ball, DAG enumeration) ------------


# --- inductive --------------------------------------------------------------------------------
def sequence_predictions(terms):
    """Next values of every simple rule that reproduces all shown terms exactly."""
    preds, x = set(), np.arange(len(terms))
    for degree in (1, 2):  # arithmetic, quadratic
        coef = np.polyfit(x, terms, degree)
        if np.allclose(np.polyval(coef, x), terms, atol=1e-6):
            preds.add(int(round(np.polyval(coef, len(terms)))))
    ratios = {Fraction(b, a) for a, b in zip(terms, terms[1:]) if a}
    if len(ratios) == 1 and all(terms):
        preds.add(int(terms[-1] * ratios.pop()))
    if all(terms[i] == terms[i - 1] + terms[i - 2] for i in range(2, len(terms))):
        preds.add(terms[-1] + terms[-2])
    half = terms[len(terms) % 2::2]  # the interleaved subsequence the next term continues
    other = terms[1 - len(terms) % 2::2]
    if len(set(np.diff(half))) == 1 and len(set(np.diff(other))) == 1:
        preds.add(half[-1] + half[1] - half[0])
    return preds


def test_sequence_labels():
    for item in items_of("inductive", "sequence"):
        shown = re.search(r"sequence (.+), \.\.\.\?", item["question"])[1]
        terms = [int(t) for t in shown.split(", ")]
        assert sequence_predictions(terms) == {int(item["choices"][item["gold"]])}


LIST_OPS = {
    "reverse": lambda xs: list(reversed(xs)),
    "sort": lambda xs: sorted(xs),
    "add1": lambda xs: [x + 1 for x in xs],
    "double": lambda xs: [x * 2 for x in xs],
    "drop_first": lambda xs: xs[1:],
    "drop_last": lambda xs: xs[: len(xs) - 1],
    "rotate": lambda xs: xs[1:] + xs[:1] if xs else xs,
    "evens": lambda xs: list(filter(lambda x: x % 2 == 0, xs)),
}


def run_program(program, xs):
    for op in program:
        xs = LIST_OPS[op](xs)
    return xs


@pytest.mark.parametrize("level", [1, 2, 3])
def test_listfn_labels(level):
    programs = [p for k in range(1, level + 1) for p in itertools.product(LIST_OPS, repeat=k)]
    parse = lambda s: [int(v) for v in re.findall(r"-?\d+", s)]
    for item in generate("inductive", "listfn", level, 25, seed=3):
        pairs = re.findall(r"Input: (\[.*?\]) Output: (\[.*?\])", item["question"])
        query = parse(re.search(r"Input: (\[.*?\]) Output:$", item["question"])[1])
        fits = [p for p in programs if all(run_program(p, parse(i)) == parse(o) for i, o in pairs)]
        assert fits
        assert {str(run_program(p, query)) for p in fits} == {item["choices"][item["gold"]]}


def test_property_labels():
    for item in items_of("inductive", "property"):
        kind_of, color_of = {}, {}
        *story, question, _ = lines_of(item)
        for line in story:
            if m := re.match(r"^(\w+) is an? (\w+)\.$", line):
                kind_of[m[1]] = m[2]
            else:
                m = re.match(r"^(\w+) is (\w+)\.$", line)
                color_of[m[1]] = m[2]
        query = re.match(r"^What color is (\w+)\?$", question)[1]
        kind_colors = {kind_of[p]: color_of[p] for p in color_of}
        assert item["choices"][item["gold"]] == kind_colors[kind_of[query]]
