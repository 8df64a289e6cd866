"""Causal reasoning told in text: interventions (directed reachability), d-separation with
explaining away, and Corr2Cause-style correlation-to-causation inference (Jin et al., ICLR 2024).

Every label is computed from the whole graph (reachability; d-separation on the moralized
ancestral graph; for `correlation`, every DAG on the variables), never read off the
construction. Levels add inference depth, not distractors: intervention and dsep items rest
on a chain of 2 / 3 / 4 links between the asked pair; correlation items on 3 / 4 / 5 variables.

Shortcuts are removed at the root: the asked x and y always have exactly one cause and one
effect and every graph of a level has the same number of links; No items rest on near misses
of the same length (a reversed link, a path into the cause, a common cause; a blocked common
effect). What construction cannot fix is balanced by matched sampling (`_matched`): an item
of the wanted label is kept only when an item of the other label with the same cheap signature
(shared neighbours, observed-set size, an observed common effect, which fact types appear, ...)
was also found, so each signature has the same distribution under both labels.
tests/test_labels_causal.py measures the cues; at level 1 (two links, three variables) a few
cues are the level's whole inference and stay informative (listed there).

depth (the 4th element each maker returns): intervention and dsep, the links on the shortest
x-y chain, which for a Yes is the directed / d-connecting path the answer rests on;
correlation, the stated facts that must be combined (_facts_needed).
"""
from __future__ import annotations

import itertools
from functools import lru_cache

from .base import Subtask
from .lexicon import names

YES_NO = ["Yes", "No"]
CHAIN = {1: 2, 2: 3, 3: 4}  # links between the asked pair (intervention, dsep)
N_VARS = {1: 6, 2: 8, 3: 10}
N_EDGES = {1: 7, 2: 10, 3: 13}
MATCH_TRIES = 60


def _bits(mask):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _union(masks) -> int:
    out = 0
    for m in masks:
        out |= m
    return out


def _ancestors(parents):
    """Strict ancestors of every node, as bitmasks (parents[v] is the bitmask of v's parents)."""
    anc = [None] * len(parents)

    def of(v):
        if anc[v] is None:
            anc[v] = 0  # a DAG never revisits v while computing it
            found = parents[v]
            for p in _bits(parents[v]):
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
    for g in _bits(given):
        keep |= anc[g]
    keep |= given
    links = [0] * len(parents)
    for v in _bits(keep):
        ps = parents[v]
        links[v] |= ps
        for p in _bits(ps):
            links[p] |= (1 << v) | (ps & ~(1 << p))
    reached = frontier = 1 << x
    while frontier:
        new = 0
        for v in _bits(frontier):
            new |= links[v]
        frontier = new & keep & ~given & ~reached
        reached |= frontier
    return not reached >> y & 1


# --- graphs with a planted chain: intervention and dsep --------------------------------------
def _linear_extension(rng, orient):
    """A random topological order of a path whose link i points forward iff orient[i]."""
    nodes = list(range(len(orient) + 1))
    before = {v: set() for v in nodes}  # who must come before v
    for i, forward in enumerate(orient):
        a, b = (i, i + 1) if forward else (i + 1, i)
        before[b].add(a)
    order = []
    while len(order) < len(nodes):
        ready = [v for v in nodes if v not in order and before[v] <= set(order)]
        order.append(rng.choice(ready))
    return order


def _planted_graph(rng, level, orient):
    """A random DAG with a chain of len(orient) links from x to y, link i pointing towards y iff
    orient[i]; then one more link at each end so that x and y have exactly one cause and one
    effect in every item (their degrees tell nothing); then distractor links among the other
    variables that keep x and y len(orient) links apart. Returns (n, edges, parents, path),
    path from x to y, or None when no such graph was found."""
    n, d = N_VARS[level], len(orient)
    path = rng.sample(range(n), d + 1)
    rest = [v for v in range(n) if v not in path]
    rng.shuffle(rest)
    rank = [0] * n
    inner = sorted(rng.sample(range(1, n - 1), d + 1))  # never first or last in causal order
    for pos, i in enumerate(_linear_extension(rng, orient)):
        rank[path[i]] = inner[pos]
    for v, r in zip(rest, sorted(set(range(n)) - set(inner))):
        rank[v] = r
    x, y = path[0], path[-1]
    edges = [(a, b) if rank[a] < rank[b] else (b, a) for a, b in zip(path, path[1:])]
    for end, link in ((x, edges[0]), (y, edges[-1])):
        has_cause = link[1] == end
        spare = [v for v in rest if (rank[v] > rank[end]) == has_cause and all(v not in e for e in edges)]
        if not spare:
            return None
        v = rng.choice(spare)
        edges.append((end, v) if has_cause else (v, end))
    parents = [0] * n
    for a, b in edges:
        parents[b] |= 1 << a
    if _distances(parents, x)[y] != d:
        return None
    others = [(a, b) for a in range(n) for b in range(n)
              if rank[a] < rank[b] and (a, b) not in edges and not {a, b} & {x, y}]
    rng.shuffle(others)
    from_x, from_y = _distances(parents, x), _distances(parents, y)
    for a, b in others:
        if len(edges) == N_EDGES[level]:
            break
        if min(from_x[a] + from_y[b], from_x[b] + from_y[a]) + 1 >= d:
            edges.append((a, b))
            parents[b] |= 1 << a
            from_x, from_y = _distances(parents, x), _distances(parents, y)
    return n, sorted(edges), parents, path


def _distances(parents, source):
    """Links on the shortest path from source to every node, ignoring directions (n if none)."""
    n = len(parents)
    adj = _adjacency(parents)
    dist = [n] * n
    dist[source] = 0
    reached = frontier = 1 << source
    for steps in range(1, n):
        frontier = _union(adj[v] for v in _bits(frontier)) & ~reached
        if not frontier:
            break
        for v in _bits(frontier):
            dist[v] = steps
        reached |= frontier
    return dist


def _adjacency(parents):
    adj = list(parents)
    for v, ps in enumerate(parents):
        for p in _bits(ps):
            adj[p] |= 1 << v
    return adj


def _degrees(parents, *nodes, cap=2):
    """(effects, causes) of each node, capped."""
    effects = [sum(ps >> u & 1 for ps in parents) for u in range(len(parents))]
    return tuple((min(effects[v], cap), min(bin(parents[v]).count("1"), cap)) for v in nodes)


def _matched(rng, draw, target, tries=MATCH_TRIES):
    """An item of label `target` from draw(rng) -> (signature, resolve) or None, where resolve()
    -> (label, item) or None is called only for the signatures wanted (labels can cost more).
    The item is kept only once a draw of the other label with the same signature turns up too.
    The signature is that of a first unconditional draw, and acceptance is symmetric in the two
    labels, so each signature has the same distribution among Yes and among No items."""
    first = draw(rng)
    first = first and first[1]()
    if first is None:
        return None
    signature = first[2]
    found = {first[0]: first}
    for _ in range(tries):
        if len(found) == 2:
            return found[target][1]
        other = draw(rng)
        if other is not None and other[0] == signature and (resolved := other[1]()) is not None:
            found.setdefault(resolved[0], resolved)
    return found[target][1] if len(found) == 2 else None


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


# --- intervention ----------------------------------------------------------------------------
def _near_miss(rng, d):
    """Orientation of a chain of d links that is not a directed path from x to y: one link
    reversed, a path into the cause (y -> ... -> x), or a common cause inside the chain."""
    kind = rng.choice(("reversed", "into cause", "common cause"))
    if kind == "reversed":
        flip = rng.randrange(d)
        return [i != flip for i in range(d)]
    if kind == "into cause":
        return [False] * d
    cause = rng.randrange(1, d)
    return [i >= cause for i in range(d)]


def _intervention_draw(level):
    d = CHAIN[level]

    def draw(rng):
        orient = [True] * d if rng.random() < 0.5 else _near_miss(rng, d)
        graph = _planted_graph(rng, level, orient)
        if graph is None:
            return None
        n, edges, parents, path = graph
        x, y = path[0], path[-1]
        label = 0 if _ancestors(parents)[y] >> x & 1 else 1
        adj = _adjacency(parents)
        signature = (
            _degrees(parents, x, y),
            min(bin(adj[x] & adj[y]).count("1"), 2),
            # How many variables cause something and how many are caused: a probe over per-name
            # n-grams sums "W3 directly" / ". W3" and "causes W3" / "W3 ." into these counts,
            # which a directed 4-link chain shifts (more variables inside it are both; 0.59 at
            # four links, n = 800, before they were matched).
            level == 3 and _causes_and_effects(parents),
        )
        return signature, lambda: (label, (n, edges, x, y), signature)

    return draw


def _causes_and_effects(parents) -> tuple[int, int, int]:
    """How many variables have an effect, how many have a cause, and how many neither."""
    causing, caused = _union(parents), sum(1 << v for v, ps in enumerate(parents) if ps)
    return bin(causing).count("1"), bin(caused).count("1"), len(parents) - bin(causing | caused).count("1")


def _intervention(rng, level, split, target):
    """Will y change if x is set by intervention: Yes iff a directed path x -> ... -> y exists.
    depth = links on the shortest chain between x and y (2 / 3 / 4 by level): for Yes items the
    shortest directed path; for No items every chain of that length is a near miss (a link
    reversed, a path into the cause, or a common cause), as are the distractor paths."""
    made = _matched(rng, _intervention_draw(level), target)
    if made is None:
        return None
    n, edges, x, y = made
    labels = names(rng, split, n)
    question = (
        _describe(rng, edges, labels)
        + f"If someone intervenes and sets {labels[x]} to a new value, will {labels[y]} change?\nAnswer:"
    )
    return question, YES_NO, target, CHAIN[level]


# --- d-separation ----------------------------------------------------------------------------
OBSERVED = {1: (1, 2), 2: (1, 2, 3), 3: (1, 2, 3)}


def _shortest_active_path(parents, anc, x, y, given) -> int:
    """Links on the shortest d-connecting path from x to y (Bayes ball, breadth first), or -1:
    the inference depth of a dependence. A non-collider passes the ball if unobserved; a
    collider passes it if it or one of its descendants is observed."""
    opens = given | _union(anc[g] for g in _bits(given))  # observed or ancestor of the observed
    children = [sum(1 << v for v, ps in enumerate(parents) if ps >> u & 1) for u in range(len(parents))]
    up, down = parents[x], children[x]  # nodes entered from a child / from a parent
    seen_up, seen_down = up, down
    for steps in itertools.count(1):
        if (up | down) >> y & 1:
            return steps
        nxt_up = nxt_down = 0
        for v in _bits(up & ~given):
            nxt_up |= parents[v]
            nxt_down |= children[v]
        for v in _bits(down):
            if not given >> v & 1:
                nxt_down |= children[v]
            if opens >> v & 1:
                nxt_up |= parents[v]
        up, down = nxt_up & ~seen_up, nxt_down & ~seen_down
        if not up | down:
            return -1
        seen_up |= up
        seen_down |= down


def _open_trek(parents, x, y, given) -> bool:
    """A directed path or a common cause connecting x and y that avoids the observed nodes:
    the dependence a reader who ignores colliders would see."""

    def up_closure(v):
        reached = frontier = 1 << v
        while frontier:
            frontier = _union(parents[u] for u in _bits(frontier)) & ~given & ~reached
            reached |= frontier
        return reached

    return bool(up_closure(x) & up_closure(y))


def _dsep_draw(level):
    d = CHAIN[level]

    def draw(rng):
        colliders = []
        while not colliders:  # a chain with a common effect on it
            orient = [rng.random() < 0.5 for _ in range(d)]
            colliders = [i + 1 for i in range(d - 1) if orient[i] and not orient[i + 1]]
        graph = _planted_graph(rng, level, orient)
        if graph is None:
            return None
        n, edges, parents, path = graph
        x, y = path[0], path[-1]
        anc = _ancestors(parents)
        rest = [v for v in range(n) if v not in (x, y)]
        size = rng.choice(OBSERVED[level])
        pool = set()
        common = [v for v in rest if anc[v] >> x & 1 and anc[v] >> y & 1]
        plan = rng.random()
        if plan < 0.4 - 0.1 * (level == 1):  # observe a common effect on the chain, or an effect of it
            collider = path[rng.choice(colliders)]
            pool.add(rng.choice([v for v in rest if v == collider or anc[v] >> collider & 1]))
            if size > 1 and rng.random() < 0.5:  # and a link of the chain that may block it again
                pool.add(rng.choice(path[1:-1]))
        elif plan < 0.8 and common and level > 1:  # any common effect, maybe a link towards it
            effect = rng.choice(common)
            pool.add(effect)
            between = [v for v in rest if anc[effect] >> v & 1 and (anc[v] >> x & 1 or anc[v] >> y & 1)]
            if size > 1 and between:
                pool.add(rng.choice(between))
        while len(pool) < size:
            pool.add(rng.choice(rest))
        given = sum(1 << v for v in pool)
        if _open_trek(parents, x, y, given):
            return None  # dependence would not need explaining away: see _dsep
        dependent = not d_separated(parents, anc, x, y, given)
        length = _shortest_active_path(parents, anc, x, y, given)
        assert dependent == (length > 0)
        if dependent and length != d:
            return None
        adj = _adjacency(parents)
        signature = (
            size,
            # A common effect of x and y observed; at two links it decides (almost) every item.
            level > 1 and any(anc[g] >> x & 1 and anc[g] >> y & 1 for g in pool),
            bool(adj[x] & given) + bool(adj[y] & given),
            _ancestors_meet(anc, x, y),
            # Whether a common effect on the chain has effects of its own (else only it can be
            # observed to open it), and how many observed variables have no cause (never a common
            # effect or an effect of one): a probe over per-name n-grams reads what they change,
            # how many variables are named as a cause ("W3 directly") and which observed ones
            # never as an effect (0.63 at two links before they were matched).
            level == 1 and any(_union(parents) >> path[c] & 1 for c in colliders),
            level == 1 and _observed_roots(parents, given),
        )
        return signature, lambda: ((0 if dependent else 1), (n, edges, x, y, sorted(pool)), signature)

    return draw


def _observed_roots(parents, given) -> int:
    """How many observed variables have no cause."""
    return sum(not parents[g] for g in _bits(given))


def _ancestors_meet(anc, x, y) -> bool:
    """x and y are linked by a trek (ignoring what is observed)."""
    return bool((anc[x] | 1 << x) & (anc[y] | 1 << y))


def _dsep(rng, level, split, target):
    """Are x and y dependent given the observed variables (d-separation)? Every item observes
    1-3 variables and no directed path or common cause links x and y while avoiding them, so
    every dependence is explaining away (an observed common effect, or an effect of it): a
    reader who ignores colliders answers No to every item and is right only on the No half.
    depth = links on the shortest x-y chain (2 / 3 / 4 by level); for Yes items the shortest
    d-connecting path has that length, for No items every chain is blocked."""
    made = _matched(rng, _dsep_draw(level), target)
    if made is None:
        return None
    n, edges, x, y, given = made
    labels = names(rng, split, n)
    observed = [labels[g] for g in given]
    rng.shuffle(observed)
    question = (
        _describe(rng, edges, labels)
        + f"Suppose we observe only the units with the same value of {' and of '.join(observed)}. "
        + f"Are {labels[x]} and {labels[y]} statistically dependent?\nAnswer:"
    )
    return question, YES_NO, target, CHAIN[level]


# --- correlation: Corr2Cause -----------------------------------------------------------------
CORR_VARS = {1: 3, 2: 4, 3: 5}
KINDS = ("parent", "child", "ancestor", "descendant", "confounder", "collider")


@lru_cache(maxsize=None)
def _facts(n):
    """The facts an item states: (x, y, z) for every pair x < y, marginally (z None) and given
    each single third variable z."""
    return tuple(
        (x, y, z) for x, y in itertools.combinations(range(n), 2)
        for z in (None, *(v for v in range(n) if v not in (x, y)))
    )


@lru_cache(maxsize=None)
def all_dags(n):
    """Every DAG on n labelled variables, as (parents, ancestors) bitmask tuples, and for each
    a bitmask over _facts(n) of the independences it implies (n = 5: 29,281 DAGs).
    d-separation is computed once per shape in causal order (2**(n(n-1)/2) of them) and
    relabelled: every DAG is such a shape under a permutation."""
    facts = _facts(n)
    index = {f: i for i, f in enumerate(facts)}
    pairs = list(itertools.combinations(range(n), 2))
    shapes = {}
    for present in itertools.product((0, 1), repeat=len(pairs)):
        parents = [0] * n
        for (a, b), on in zip(pairs, present):
            if on:
                parents[b] |= 1 << a
        anc = _ancestors(parents)
        vec = 0
        for i, (x, y, z) in enumerate(facts):
            if d_separated(parents, anc, x, y, 0 if z is None else 1 << z):
                vec |= 1 << i
        shapes[tuple(parents)] = vec
    dags = {}
    for perm in itertools.permutations(range(n)):  # shape node i is variable perm[i]
        moved = [index[(min(perm[x], perm[y]), max(perm[x], perm[y]), None if z is None else perm[z])]
                 for x, y, z in facts]
        for shape, vec in shapes.items():
            parents = [0] * n
            for i, ps in enumerate(shape):
                parents[perm[i]] = sum(1 << perm[p] for p in _bits(ps))
            key = tuple(parents)
            if key not in dags:
                dags[key] = sum(1 << moved[i] for i in _bits(vec))
    return tuple((parents, tuple(_ancestors(list(parents))), vec) for parents, vec in sorted(dags.items()))


def _mask(indices) -> int:
    """A bitmask with the given bits set, built as bytes (OR-ing tens of thousands of bits one
    by one into a Python int is quadratic)."""
    indices = list(indices)
    buf = bytearray(max(indices, default=0) // 8 + 1)
    for i in indices:
        buf[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buf, "little")


@lru_cache(maxsize=None)
def _fact_masks(n):
    """For each fact, the bitmask over all_dags(n) of the DAGs in which it is an independence."""
    hits = [[] for _ in _facts(n)]
    for j, (_, _, vec) in enumerate(all_dags(n)):
        for i in _bits(vec):
            hits[i].append(j)
    return tuple(_mask(h) for h in hits)


@lru_cache(maxsize=None)
def _relation_masks(n):
    """edge[a][b] and ancestor[a][b]: bitmasks over all_dags(n) of the DAGs in which a directly
    causes b, and in which a causes b directly or through other variables."""
    edge = [[[] for _ in range(n)] for _ in range(n)]
    ancestor = [[[] for _ in range(n)] for _ in range(n)]
    for j, (parents, anc, _) in enumerate(all_dags(n)):
        for b in range(n):
            for a in _bits(parents[b]):
                edge[a][b].append(j)
            for a in _bits(anc[b]):
                ancestor[a][b].append(j)
    return [[_mask(e) for e in row] for row in edge], [[_mask(e) for e in row] for row in ancestor]


@lru_cache(maxsize=None)
def _hypothesis_mask(n, kind, a, b, c):
    """The DAGs in which a hypothesis of Corr2Cause's kinds about a, b (c: the common effect)
    holds."""
    edge, ancestor = _relation_masks(n)
    if kind == "parent":
        return edge[a][b]
    if kind == "child":
        return edge[b][a]
    if kind == "ancestor":
        return ancestor[a][b]
    if kind == "descendant":
        return ancestor[b][a]
    if kind == "confounder":
        return _union(ancestor[w][a] & ancestor[w][b] for w in range(n) if w not in (a, b))
    return edge[a][c] & edge[b][c]  # collider


def _status(n, consistent, hyp) -> str:
    mask = _hypothesis_mask(n, *hyp)
    return "must" if not consistent & ~mask else ("cannot" if not consistent & mask else "open")


def _consistent(n, stated, subset) -> int:
    """DAGs whose independences agree with the stated ones on the facts in `subset` (a bitmask)."""
    masks = _fact_masks(n)
    found = (1 << len(all_dags(n))) - 1
    for i in _bits(subset):
        found &= masks[i] if stated >> i & 1 else ~masks[i]
    return found


def _profile(n, stated, subset, a, b):
    """What the facts settle about how a and b are causally related: the status (must hold,
    cannot hold, open) of every hypothesis kind about them."""
    consistent = _consistent(n, stated, subset)
    hyps = [(k, a, b, None) for k in KINDS[:5]] + [("collider", a, b, c) for c in range(n) if c not in (a, b)]
    return tuple(_status(n, consistent, h) for h in hyps)


def _facts_needed(n, stated, shown, a, b) -> int:
    """Inference depth of a correlation item: how many of the shown facts must be combined to
    settle everything they say about how a and b are related (the hypothesis's status among
    it), found by greedily dropping facts that are not needed (an irreducible, not always
    smallest, set)."""
    target = _profile(n, stated, shown, a, b)
    needed = shown
    for i in _bits(shown):
        if _profile(n, stated, needed & ~(1 << i), a, b) == target:
            needed &= ~(1 << i)
    return bin(needed).count("1")


@lru_cache(maxsize=None)
def _patterns(n):
    """The distinct sets of stated facts that some DAG on n variables implies, each with the
    indices of its DAGs (n = 5: the DAGs fall into far fewer patterns, most of them sparse)."""
    groups = {}
    for j, (_, _, vec) in enumerate(all_dags(n)):
        groups.setdefault(vec, []).append(j)
    return tuple(sorted(groups.items()))


def _correlation_draw(level):
    n = CORR_VARS[level]
    facts = _facts(n)
    pair_fact = {(x, y): i for i, (x, y, z) in enumerate(facts) if z is None}

    marginal = _union(1 << i for i, f in enumerate(facts) if f[2] is None)
    conditional = [i for i, f in enumerate(facts) if f[2] is not None]

    def draw(rng):
        # A pattern drawn uniformly, not a DAG: dense DAGs share one uninformative pattern.
        stated, members = rng.choice(_patterns(n))
        j = rng.choice(members)
        for _ in range(20):  # half the time, a hypothesis true of one consistent graph
            kind = rng.choice(KINDS)
            a, b, c = rng.sample(range(n), 3)
            hyp = (kind, a, b, c if kind == "collider" else None)
            if _hypothesis_mask(n, *hyp) >> j & 1 or rng.random() < 0.5:
                break
        # Every marginal fact, every fact about the hypothesis's pair given a third variable,
        # and all (three variables) or half of the other conditional facts.
        about_pair = [i for i in conditional if {facts[i][0], facts[i][1]} == {a, b}]
        others = [i for i in conditional if i not in about_pair]
        shown = marginal | _union(1 << i for i in about_pair + rng.sample(others, len(others) // (1 + (n > 3))))
        keep_refuted = rng.random() < 0.1
        indep = [bool(stated >> i & 1) for i in range(len(facts))]
        cond = [i for i in _bits(shown) if facts[i][2] is not None]
        signature = (
            kind,
            indep[pair_fact[(min(a, b), max(a, b))]],  # a and b marginally independent
            sum(indep[i] for i in about_pair),  # a and b independent given a third
            sum(indep[i] for i in _bits(marginal)),
            sum(indep[i] for i in cond) // (1 + (n > 4)),  # (in pairs at five variables: speed)
        )

        def resolve():
            status = _status(n, _consistent(n, stated, shown), hyp)
            if status == "cannot" and n > 3 and not keep_refuted:
                # Mostly open No items, so that "possible, hence must" does not pay. (Three
                # variables force a hypothesis only in a collider pattern, which settles every
                # hypothesis.)
                return None
            return (0 if status == "must" else 1), (stated, shown, hyp), signature

        return signature, resolve

    return draw


_HYPOTHESES = {
    "parent": "{a} directly causes {b}.",
    "child": "{a} is directly caused by {b}.",
    "ancestor": "{a} causes {b}, directly or through other variables.",
    "descendant": "{a} is caused by {b}, directly or through other variables.",
    "confounder": "{a} and {b} have a common cause: another of the variables causes both of them.",
    "collider": "{c} is a common effect of {a} and {b}: both directly cause it.",
}


def _correlation(rng, level, split, target):
    """Corr2Cause-style (Jin et al., ICLR 2024): from which pairs are correlated or independent,
    marginally and given some single third variables, must a causal hypothesis hold? Labels by
    enumerating every DAG on the 3 / 4 / 5 variables and keeping those whose d-separations
    match the stated facts (faithfulness, no hidden common causes): Yes iff the hypothesis
    holds in all of them. depth = stated facts that must be combined (_facts_needed)."""
    made = _matched(rng, _correlation_draw(level), target, tries=4 * MATCH_TRIES)
    if made is None:
        return None
    stated, shown, (kind, a, b, c) = made
    n = CORR_VARS[level]
    labels = names(rng, split, n)

    def line(x, y, z):
        word = "independent" if stated >> _facts(n).index((x, y, z)) & 1 else "correlated"
        first, second = sorted((labels[x], labels[y]))
        return f"{first} and {second} are {word}" + (f" given {labels[z]}." if z is not None else ".")

    listed = [f for i, f in enumerate(_facts(n)) if shown >> i & 1]
    marginal = [line(*f) for f in listed if f[2] is None]
    conditional = [line(*f) for f in listed if f[2] is not None]
    rng.shuffle(marginal)
    rng.shuffle(conditional)
    question = (
        f"A study measures the variables {', '.join(sorted(labels))}. Assume their causal relations form a "
        "directed acyclic graph over exactly these variables (no hidden common causes), and that "
        "the data are faithful to it: two variables are independent, marginally or given a third, "
        "only when the graph implies it. These are the findings (pairs not listed given a "
        "variable were not tested given it):\n"
        + "\n".join(marginal + conditional)
        + f"\nHypothesis: {_HYPOTHESES[kind].format(a=labels[a], b=labels[b], c=labels[c] if c is not None else '')}\n"
        "Must the hypothesis hold in every causal graph that agrees with these findings?\nAnswer:"
    )
    return question, YES_NO, target, _facts_needed(n, stated, shown, a, b)


SUBTASKS = (
    Subtask("causal", "intervention", (1, 2, 3), 2, _intervention),
    Subtask("causal", "dsep", (1, 2, 3), 2, _dsep),
    Subtask("causal", "correlation", (1, 2, 3), 2, _correlation),
)
