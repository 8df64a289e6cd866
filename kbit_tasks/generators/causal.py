"""Causal reasoning over random DAGs told in text: intervention, d-separation, and
correlation versus causation (Corr2Cause / CLadder style). Level = number of variables."""
from __future__ import annotations

from .base import Subtask
from .lexicon import names

YES_NO = ["Yes", "No"]
N_VARS = {1: 5, 2: 7, 3: 9}  # five is the fewest in which every answer occurs


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
    """A pair worth asking about: not directly linked (the answer would be stated outright),
    and each with a cause and an effect of its own, so that whether a variable is a root, a
    leaf or isolated (a lookup on these guessed most labels) says nothing about the answer."""
    parents = {j for _, j in edges}
    children = {i for i, _ in edges}
    inner = parents & children
    return x in inner and y in inner and (x, y) not in edges and (y, x) not in edges


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


def _pick_pair(rng, edges, nodes, answer, target):
    """A random ordered pair of `nodes` that hides its answer and whose answer(x, y) is
    target, or None. Choosing among all pairs of one graph, rather than rejecting random
    pairs, keeps rare answers (long causal paths in small graphs) affordable."""
    pairs = [(x, y) for x in nodes for y in nodes
             if x != y and _pair_hides_answer(edges, x, y) and answer(x, y) == target]
    return rng.choice(pairs) if pairs else None


def _relation(edges, x, y) -> int:
    """0: x causes y; 1: y causes x; 2: a common cause only; 3: independent."""
    anc_x, anc_y = ancestors(edges, x), ancestors(edges, y)
    if x in anc_y:
        return 0
    if y in anc_x:
        return 1
    return 2 if anc_x & anc_y else 3


def _intervention(rng, level, split, target):
    n, edges, labels = _graph(rng, level, split)
    pair = _pick_pair(rng, edges, range(n), lambda x, y: 0 if y in descendants(edges, x) else 1, target)
    if pair is None:
        return None
    x, y = pair
    question = (
        _describe(rng, edges, labels)
        + f"If someone intervenes and sets {labels[x]} to a new value, will {labels[y]} change?\nAnswer:"
    )
    return question, YES_NO, target


def _dsep(rng, level, split, target):
    # The number of observed variables is drawn before the graphs, which are redrawn until a
    # pair with the target answer exists: whether anything is observed says nothing about it.
    size = rng.choice((0, 1, 1, 2) if level > 1 else (0, 1))
    for _ in range(2000):
        n, edges, labels = _graph(rng, level, split)
        given = rng.sample(range(n), size)
        rest = [v for v in range(n) if v not in given]
        pair = _pick_pair(rng, edges, rest, lambda x, y: 1 if d_separated(edges, x, y, set(given)) else 0, target)
        if pair is not None:
            break
    else:
        return None
    x, y = pair
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
    pair = _pick_pair(rng, edges, range(n), lambda x, y: _relation(edges, x, y), target)
    if pair is None:
        return None
    a, b = labels[pair[0]], labels[pair[1]]
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
