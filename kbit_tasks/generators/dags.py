"""Directed acyclic graphs as bitmasks: a graph on n variables is the tuple `parents`, where
bit p of parents[v] says p directly causes v, and sets of variables are ints. Reachability,
d-separation (Lauritzen's criterion and a breadth-first Bayes ball for path lengths), and the
table of every DAG on up to five variables with the independences it implies, which
Corr2Cause-style labels are read from."""
from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np


def bits(mask):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def union(masks) -> int:
    out = 0
    for m in masks:
        out |= m
    return out


def ancestors(parents):
    """Strict ancestors of every node, as bitmasks (parents[v] is the bitmask of v's parents)."""
    anc = [None] * len(parents)

    def of(v):
        if anc[v] is None:
            anc[v] = 0  # a DAG never revisits v while computing it
            found = parents[v]
            for p in bits(parents[v]):
                found |= of(p)
            anc[v] = found
        return anc[v]

    return [of(v) for v in range(len(parents))]


def d_separated(parents, anc, x, y, given) -> bool:
    """x and y d-separated by the node set `given` (a bitmask): Lauritzen's criterion, x and y
    disconnected in the moral graph of the ancestral set of {x, y} and `given`, once the
    observed nodes are removed. Hand-written on bitmasks because it runs millions of times
    when all DAGs on five variables are tabulated (networkx's takes ~45 us a call)."""
    keep = (1 << x) | (1 << y) | anc[x] | anc[y]
    for g in bits(given):
        keep |= anc[g]
    keep |= given
    links = [0] * len(parents)
    for v in bits(keep):
        ps = parents[v]
        links[v] |= ps
        for p in bits(ps):
            links[p] |= (1 << v) | (ps & ~(1 << p))
    reached = frontier = 1 << x
    while frontier:
        new = 0
        for v in bits(frontier):
            new |= links[v]
        frontier = new & keep & ~given & ~reached
        reached |= frontier
    return not reached >> y & 1


def distances(parents, source, adj=None):
    """Links on the shortest path from source to every node, ignoring directions (n if none);
    `adj`, the graph's adjacency() when the caller keeps it, saves recomputing it."""
    n = len(parents)
    adj = adjacency(parents) if adj is None else adj
    dist = [n] * n
    dist[source] = 0
    reached = frontier = 1 << source
    for steps in range(1, n):
        ring = 0  # union() inlined: this search is the generators' hottest loop (1.7x faster so)
        for v in bits(frontier):
            ring |= adj[v]
        frontier = ring & ~reached
        if not frontier:
            break
        for v in bits(frontier):
            dist[v] = steps
        reached |= frontier
    return dist


def children(parents):
    kids = [0] * len(parents)
    for v, ps in enumerate(parents):
        for p in bits(ps):
            kids[p] |= 1 << v
    return kids


def adjacency(parents, kids=None):
    return [ps | ks for ps, ks in zip(parents, children(parents) if kids is None else kids)]


def acyclic(parents) -> bool:
    placed = 0
    while placed != (1 << len(parents)) - 1:
        ready = [v for v in range(len(parents)) if not placed >> v & 1 and not parents[v] & ~placed]
        if not ready:
            return False
        placed |= union(1 << v for v in ready)
    return True


def shortest_active_path(parents, anc, x, y, given, kids=None) -> int:
    """Links on the shortest d-connecting path from x to y (Bayes ball, breadth first), or -1:
    the inference depth of a dependence. A non-collider passes the ball if unobserved; a
    collider passes it if it or one of its descendants is observed."""
    opens = given | union(anc[g] for g in bits(given))  # observed or ancestor of the observed
    kids = children(parents) if kids is None else kids
    up, down = parents[x], kids[x]  # nodes entered from a child / from a parent
    seen_up, seen_down = up, down
    for steps in itertools.count(1):
        if (up | down) >> y & 1:
            return steps
        nxt_up = nxt_down = 0
        for v in bits(up & ~given):
            nxt_up |= parents[v]
            nxt_down |= kids[v]
        for v in bits(down):
            if not given >> v & 1:
                nxt_down |= kids[v]
            if opens >> v & 1:
                nxt_up |= parents[v]
        up, down = nxt_up & ~seen_up, nxt_down & ~seen_down
        if not up | down:
            return -1
        seen_up |= up
        seen_down |= down


@lru_cache(maxsize=None)
def facts(n):
    """The facts an item states: (x, y, z) for every pair x < y, marginally (z None) and given
    each single third variable z."""
    return tuple(
        (x, y, z) for x, y in itertools.combinations(range(n), 2)
        for z in (None, *(v for v in range(n) if v not in (x, y)))
    )


@lru_cache(maxsize=None)
def all_dags(n):
    """Every DAG on n labelled variables, as (parents, ancestors) bitmask tuples, and for each
    a bitmask over facts(n) of the independences it implies (n = 5: 29,281 DAGs).
    d-separation is computed once per shape in causal order (2**(n(n-1)/2) of them) and
    relabelled: every DAG is such a shape under a permutation."""
    listed = facts(n)
    index = {f: i for i, f in enumerate(listed)}
    pairs = list(itertools.combinations(range(n), 2))
    shapes = {}
    for present in itertools.product((0, 1), repeat=len(pairs)):
        parents = [0] * n
        for (a, b), on in zip(pairs, present):
            if on:
                parents[b] |= 1 << a
        anc = ancestors(parents)
        vec = 0
        for i, (x, y, z) in enumerate(listed):
            if d_separated(parents, anc, x, y, 0 if z is None else 1 << z):
                vec |= 1 << i
        shapes[tuple(parents)] = vec
    dags = {}
    for perm in itertools.permutations(range(n)):  # shape node i is variable perm[i]
        moved = [index[(min(perm[x], perm[y]), max(perm[x], perm[y]), None if z is None else perm[z])]
                 for x, y, z in listed]
        for shape, vec in shapes.items():
            parents = [0] * n
            for i, ps in enumerate(shape):
                parents[perm[i]] = sum(1 << perm[p] for p in bits(ps))
            key = tuple(parents)
            if key not in dags:
                dags[key] = sum(1 << moved[i] for i in bits(vec))
    return tuple((parents, tuple(ancestors(list(parents))), vec) for parents, vec in sorted(dags.items()))


def mask(indices) -> int:
    """A bitmask with the given bits set, built as bytes (OR-ing tens of thousands of bits one
    by one into a Python int is quadratic)."""
    indices = list(indices)
    buf = bytearray(max(indices, default=0) // 8 + 1)
    for i in indices:
        buf[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buf, "little")


@lru_cache(maxsize=None)
def fact_masks(n):
    """For each fact, the bitmask over all_dags(n) of the DAGs in which it is an independence."""
    hits = [[] for _ in facts(n)]
    for j, (_, _, vec) in enumerate(all_dags(n)):
        for i in bits(vec):
            hits[i].append(j)
    return tuple(mask(h) for h in hits)


@lru_cache(maxsize=None)
def relation_masks(n):
    """edge[a][b] and ancestor[a][b]: bitmasks over all_dags(n) of the DAGs in which a directly
    causes b, and in which a causes b directly or through other variables."""
    edge = [[[] for _ in range(n)] for _ in range(n)]
    ancestor = [[[] for _ in range(n)] for _ in range(n)]
    for j, (parents, anc, _) in enumerate(all_dags(n)):
        for b in range(n):
            for a in bits(parents[b]):
                edge[a][b].append(j)
            for a in bits(anc[b]):
                ancestor[a][b].append(j)
    return [[mask(e) for e in row] for row in edge], [[mask(e) for e in row] for row in ancestor]


@lru_cache(maxsize=None)
def patterns(n):
    """The distinct sets of stated facts that some DAG on n variables implies, each with the
    indices of its DAGs (n = 5: the DAGs fall into far fewer patterns, most of them sparse)."""
    groups = {}
    for j, (_, _, vec) in enumerate(all_dags(n)):
        groups.setdefault(vec, []).append(j)
    return tuple(sorted(groups.items()))


@lru_cache(maxsize=None)
def pattern_fact_masks(n):
    """For each fact, the bitmask over patterns(n) of the patterns that state it as an
    independence: the DAGs of one pattern agree on every fact, so consistency with stated facts
    is decided per pattern (n = 5: 2,962 bits instead of 29,281)."""
    return tuple(mask(k for k, (vec, _) in enumerate(patterns(n)) if vec >> i & 1) for i in range(len(facts(n))))


@lru_cache(maxsize=None)
def pattern_matrix(n):
    """patterns(n) as a 0/1 matrix, one row per pattern, one column per fact (1: independent)."""
    vecs = [vec for vec, _ in patterns(n)]
    return np.array([[vec >> i & 1 for i in range(len(facts(n)))] for vec in vecs], dtype=np.int16)


def on_patterns(n, dag_mask):
    """A set of DAGs (a bitmask over all_dags(n)) seen per pattern: the bitmasks over patterns(n)
    of the patterns all of whose DAGs are in it, and of those some of whose DAGs are."""
    size = len(all_dags(n))
    raw = np.frombuffer(dag_mask.to_bytes(size // 8 + 1, "little"), dtype=np.uint8)
    inside = np.unpackbits(raw, bitorder="little")[:size]
    of = _pattern_index(n)
    counts = np.bincount(of, weights=inside, minlength=len(patterns(n)))
    sizes = np.bincount(of, minlength=len(patterns(n)))

    def to_mask(flags):
        return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")

    return to_mask(counts == sizes), to_mask(counts > 0)


@lru_cache(maxsize=None)
def _pattern_index(n):
    of = np.zeros(len(all_dags(n)), dtype=np.int64)
    for k, (_, members) in enumerate(patterns(n)):
        of[members] = k
    return of
