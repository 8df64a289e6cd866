"""Causal reasoning over random DAGs told in text: intervention, d-separation, and
correlation versus causation (Corr2Cause / CLadder style). Level = number of variables."""
from __future__ import annotations

from .base import Subtask
from .lexicon import names

YES_NO = ["Yes", "No"]
N_VARS = {1: 4, 2: 6, 3: 8}


def random_dag(rng, n):
    """Edges (i, j), i < j, over n variables in causal order; about 1.3 edges per variable."""
    p = min(1.0, 2.6 / (n - 1))
    return sorted((i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < p)


def ancestors(edges, node):
    found, stack = set(), [node]
    while stack:
        child = stack.pop()
        for i, j in edges:
            if j == child and i not in found:
                found.add(i)
                stack.append(i)
    return found


def descendants(edges, node):
    return ancestors([(j, i) for i, j in edges], node)


def d_separated(edges, x, y, given) -> bool:
    """x and y d-separated by `given`: separated in the moral graph of their ancestral set
    (Lauritzen's criterion), with the conditioning nodes removed."""
    keep = {x, y, *given}
    for v in list(keep):
        keep |= ancestors(edges, v)
    sub = [(i, j) for i, j in edges if i in keep and j in keep]
    links = {frozenset(e) for e in sub}
    for child in keep:
        parents = [i for i, j in sub if j == child]
        links |= {frozenset((a, b)) for a in parents for b in parents if a != b}
    reached, stack = {x}, [x]
    while stack:
        v = stack.pop()
        for link in links:
            if v in link:
                (w,) = link - {v}
                if w not in reached and w not in given:
                    reached.add(w)
                    stack.append(w)
    return y not in reached


def _pair_hides_answer(edges, x, y) -> bool:
    """A pair worth asking about: not directly linked (the answer would be stated outright)
    and neither variable isolated (an isolated variable is trivially independent)."""
    touched = {v for e in edges for v in e}
    return x in touched and y in touched and (x, y) not in edges and (y, x) not in edges


def _describe(rng, edges, labels) -> str:
    lines = [f"{labels[i]} directly causes {labels[j]}." for i, j in edges]
    rng.shuffle(lines)
    shown = list(labels)
    rng.shuffle(shown)
    return (
        f"A system has the variables {', '.join(shown)}. These are all of its direct causal links:\n"
        + "\n".join(lines)
        + "\nAssume every causal link produces a real statistical dependence.\n"
    )


def _graph(rng, level, split):
    n = N_VARS[level]
    edges = random_dag(rng, n)
    perm = list(range(n))
    rng.shuffle(perm)  # names must not reveal the causal order
    labels = [None] * n
    for name, i in zip(names(rng, split, n), perm):
        labels[i] = name
    return n, edges, labels


def _intervention(rng, level, split, target):
    n, edges, labels = _graph(rng, level, split)
    x, y = rng.sample(range(n), 2)
    # x must cause something and y be caused by something, whatever the label: otherwise
    # "does x have an effect at all?" would answer most items
    has_effect = any(i == x for i, _ in edges) and any(j == y for _, j in edges)
    if not (has_effect and _pair_hides_answer(edges, x, y)) or (y in descendants(edges, x)) != (target == 0):
        return None
    question = (
        _describe(rng, edges, labels)
        + f"If someone intervenes and sets {labels[x]} to a new value, will {labels[y]} change?\nAnswer:"
    )
    return question, YES_NO, target


def _dsep(rng, level, split, target):
    n, edges, labels = _graph(rng, level, split)
    x, y, *given = rng.sample(range(n), 2 + rng.choice((0, 1, 1, 2) if level > 1 else (0, 1)))
    if not _pair_hides_answer(edges, x, y) or (not d_separated(edges, x, y, set(given))) != (target == 0):
        return None
    held = (
        f"Suppose we observe only the units with the same value of {' and of '.join(labels[g] for g in given)}. "
        if given else "Suppose we observe all units, without selecting on anything. "
    )
    question = (
        _describe(rng, edges, labels) + held
        + f"Are {labels[x]} and {labels[y]} statistically dependent?\nAnswer:"
    )
    return question, YES_NO, target


def _correlation(rng, level, split, target):
    n, edges, labels = _graph(rng, level, split)
    x, y = rng.sample(range(n), 2)
    if not _pair_hides_answer(edges, x, y):
        return None
    anc_x, anc_y = ancestors(edges, x), ancestors(edges, y)
    if x in anc_y:
        relation = 0
    elif y in anc_x:
        relation = 1
    else:
        relation = 2 if anc_x & anc_y else 3
    if relation != target:
        return None
    a, b = labels[x], labels[y]
    choices = [
        f"{a} causes {b}, directly or through other variables.",
        f"{b} causes {a}, directly or through other variables.",
        "Neither causes the other, but they share a common cause.",
        "Neither causes the other and they share no common cause, so they are independent.",
    ]
    question = _describe(rng, edges, labels) + f"Which statement about {a} and {b} is correct?\nAnswer:"
    return question, choices, target


SUBTASKS = (
    Subtask("causal", "intervention", (1, 2, 3), 2, _intervention),
    Subtask("causal", "dsep", (1, 2, 3), 2, _dsep),
    Subtask("causal", "correlation", (1, 2, 3), 4, _correlation),
)
