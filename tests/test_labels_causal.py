"""Causal labels re-derived from the PROMPT TEXT by solvers written here (networkx reachability
and d-separation, a Bayes ball, and DAG enumeration with networkx for Corr2Cause items), never
from generator internals; plus each level's inference depth, the explaining-away share of
d-separation items, and the surface cues of issue 10 against chance.

    python -m pytest tests/test_labels_causal.py -q            # fast checks
    python -m pytest tests/test_labels_causal.py -q -m slow    # n = 300 per task
    python tests/test_labels_causal.py                         # prints the report figures
"""
import itertools
import re
import statistics
from collections import Counter
from functools import lru_cache

import networkx as nx
import pytest

from kbit_tasks.generators import generate

LEVELS = {"intervention": (1, 2, 3, 4, 5, 6), "dsep": (1, 2, 3, 4, 5, 6), "correlation": (2, 3, 4, 5, 6)}
N_FAST = 100
N_SLOW = 300


@lru_cache(maxsize=None)
def items(subtask, level, n, seed=0):
    return tuple(generate("causal", subtask, level, n, seed=seed))


# --- reading the prompt -----------------------------------------------------------------------
def graph_of(question):
    graph = nx.DiGraph()
    graph.add_nodes_from(re.search(r"the variables (.+)\. These", question)[1].split(", "))
    graph.add_edges_from(re.findall(r"^(\w+) directly causes (\w+)\.$", question, re.M))
    assert nx.is_directed_acyclic_graph(graph)
    return graph


def intervention_query(question):
    return re.search(r"sets (\w+) to a new value, will (\w+) change", question).groups()


def dsep_query(question):
    observed = set(re.search(r"same value of (.+?)\. Are", question)[1].split(" and of "))
    x, y = re.search(r"Are (\w+) and (\w+) statistically dependent", question).groups()
    return x, y, observed


FACT = re.compile(r"^(\w+) and (\w+) are (correlated|independent)(?: given (\w+))?\.$", re.M)
HYPOTHESES = {  # kind: (pattern, holds(graph, a, b, c))
    "parent": (r"(\w+) directly causes (\w+)\.", lambda g, a, b, c: g.has_edge(a, b)),
    "child": (r"(\w+) is directly caused by (\w+)\.", lambda g, a, b, c: g.has_edge(b, a)),
    "ancestor": (r"(\w+) causes (\w+), directly or through other variables\.", lambda g, a, b, c: nx.has_path(g, a, b)),
    "descendant": (r"(\w+) is caused by (\w+), directly or through other variables\.",
                   lambda g, a, b, c: nx.has_path(g, b, a)),
    # The reading the prompt states: any other variable that causes both, also through each other.
    "confounder": (r"(\w+) and (\w+) have a common cause: another of the variables causes both of them, directly "
                   r"or through other variables \(also when it causes one of them only through the other\)\.",
                   lambda g, a, b, c: bool((nx.ancestors(g, a) & nx.ancestors(g, b)) - {a, b})),
    "collider": (r"(\w+) is a common effect of (\w+) and (\w+): both directly cause it\.",
                 lambda g, c, a, b: g.has_edge(a, c) and g.has_edge(b, c)),
}


def correlation_query(question):
    variables = re.search(r"measures the variables (.+?)\. Assume", question)[1].split(", ")
    facts = [(a, b, z or None, word == "independent") for a, b, word, z in FACT.findall(question)]
    line = re.search(r"^Hypothesis: (.+)$", question, re.M)[1]
    for kind, (pattern, holds) in HYPOTHESES.items():
        if m := re.fullmatch(pattern, line):
            return variables, facts, kind, m.groups() + (None,) * (3 - len(m.groups())), holds
    raise AssertionError(f"unparsed hypothesis: {line}")


# --- solvers ----------------------------------------------------------------------------------
def bayes_ball_dependent(graph, x, y, observed):
    """Koller & Friedman's reachability (Algorithm 3.1): can an active trail reach y from x?"""
    opens = set(observed).union(*(nx.ancestors(graph, o) for o in observed))
    seen, stack = set(), [(x, "up")]
    while stack:
        node, direction = stack.pop()
        if (node, direction) in seen:
            continue
        seen.add((node, direction))
        if node == y and node != x:
            return True
        if direction == "up" and node not in observed:  # arrived from a child
            stack += [(p, "up") for p in graph.predecessors(node)] + [(c, "down") for c in graph.successors(node)]
        if direction == "down":  # arrived from a parent
            if node not in observed:
                stack += [(c, "down") for c in graph.successors(node)]
            if node in opens:
                stack += [(p, "up") for p in graph.predecessors(node)]
    return False


def intervention_answer(question):
    graph = graph_of(question)
    x, y = intervention_query(question)
    return "Yes" if nx.has_path(graph, x, y) else "No"


def dsep_answer(question):
    graph = graph_of(question)
    x, y, observed = dsep_query(question)
    dependent = not nx.is_d_separator(graph, {x}, {y}, observed)
    assert dependent == bayes_ball_dependent(graph, x, y, observed)
    return "Yes" if dependent else "No"


def consistent_dags(variables, facts):
    """Every DAG on the variables whose d-separations (networkx) match every stated fact. Pairs
    stated independent in any context cannot be adjacent (adjacent variables are dependent
    given anything), so only the other pairs are oriented (each: absent, ->, <-)."""
    barred = {frozenset((a, b)) for a, b, _, indep in facts if indep}
    free = [p for p in itertools.combinations(variables, 2) if frozenset(p) not in barred]
    ordered = sorted(facts, key=lambda f: not f[3])  # independences first: they fail fastest
    found = []
    for choice in itertools.product((0, 1, 2), repeat=len(free)):
        graph = nx.DiGraph()
        graph.add_nodes_from(variables)
        graph.add_edges_from((a, b) if c == 1 else (b, a) for (a, b), c in zip(free, choice) if c)
        if not nx.is_directed_acyclic_graph(graph):
            continue
        if all(nx.is_d_separator(graph, {a}, {b}, {z} if z else set()) == indep for a, b, z, indep in ordered):
            found.append(graph)
    return found


@lru_cache(maxsize=None)
def hypothesis_holds(question):
    """Whether the hypothesis holds in each DAG that agrees with the findings (five variables:
    about a second of networkx an item, so the label and cue checks share it)."""
    variables, facts, kind, (p, q, r), holds = correlation_query(question)
    graphs = consistent_dags(variables, facts)
    assert graphs, "the stated facts must come from some DAG"
    return tuple(holds(g, p, q, r) for g in graphs)


def correlation_answer(question):
    return "Yes" if all(hypothesis_holds(question)) else "No"


SOLVERS = {"intervention": intervention_answer, "dsep": dsep_answer, "correlation": correlation_answer}


def disagreements(subtask, batch):
    return [it for it in batch if SOLVERS[subtask](it["question"]) != it["choices"][it["gold"]]]


# --- depth and cues ---------------------------------------------------------------------------
def chain_depth_ok(subtask, item):
    """The depth an item reports is its rung's: for intervention the x-y distance in the graph,
    which for a Yes is the shortest directed path; for dsep the variables inside the shortest x-y
    chain (its links less one), which for a Yes is the shortest d-connecting path's length."""
    graph = graph_of(item["question"])
    x, y = (intervention_query if subtask == "intervention" else dsep_query)(item["question"])[:2]
    links = item["depth"] + (subtask == "dsep")
    ok = item["depth"] == item["level"] and nx.shortest_path_length(graph.to_undirected(), x, y) == links
    if subtask == "intervention" and item["gold"] == 0:
        ok &= nx.shortest_path_length(graph, x, y) == links
    return ok


def no_collider_dependent(question):
    """Issue 10's collider-blind rule: dependent iff a directed path or a common cause links x
    and y while avoiding the observed variables."""
    graph = graph_of(question)
    x, y, observed = dsep_query(question)
    rest = graph.subgraph(set(graph) - observed)
    return bool((nx.ancestors(rest, x) | {x}) & (nx.ancestors(rest, y) | {y}))


def _degrees(graph, *nodes):
    return tuple((graph.in_degree(v), graph.out_degree(v)) for v in nodes)


def _intervention_cues():
    def parse(q):
        return graph_of(q), intervention_query(q)

    return {
        "X->Z->Y exists (path of 2)": lambda q: (
            lambda g, xy: any(g.has_edge(xy[0], z) and g.has_edge(z, xy[1]) for z in g))(*parse(q)),
        "in/out degrees of X and Y": lambda q: (lambda g, xy: _degrees(g, *xy))(*parse(q)),
        "shared neighbours of X and Y": lambda q: (
            lambda g, xy: len(set(nx.all_neighbors(g, xy[0])) & set(nx.all_neighbors(g, xy[1]))))(*parse(q)),
        "edge lines naming X or Y": lambda q: (
            lambda g, xy: (g.degree(xy[0]), g.degree(xy[1]), g.number_of_edges()))(*parse(q)),
        "rings of causes and effects around X and Y, short of the chain": lambda q: rings(*parse(q)),
        "X has more descendants, Y more ancestors": lambda q: (lambda g, xy: (
            len(nx.descendants(g, xy[0])) > len(nx.descendants(g, xy[1])),
            len(nx.ancestors(g, xy[0])) < len(nx.ancestors(g, xy[1]))))(*parse(q)),
    }


def rings(graph, xy):
    """How many causes lie 1, 2, ... links above X and Y and effects below, searched from each
    separately and stopping one link short of the rung's chain (the rung's depth is known, so
    the x-y distance only sets the cutoff): v1's items put X high in the causal order and Y low
    (0.92-0.97)."""
    short = nx.shortest_path_length(graph.to_undirected(), *xy) - 1
    out = []
    for v in xy:
        for g in (graph, graph.reverse(copy=False)):
            dist = nx.single_source_shortest_path_length(g, v, cutoff=short)
            out.append(tuple(sum(d == k for d in dist.values()) for k in range(1, short + 1)))
    return tuple(out)


def _dsep_cues():
    def parse(q):
        return graph_of(q), dsep_query(q)

    def common_effect_observed(g, q3):
        x, y, obs = q3
        return any(x in nx.ancestors(g, o) and y in nx.ancestors(g, o) for o in obs)

    return {
        "no-collider rule": no_collider_dependent,
        "observed common effect of X and Y": lambda q: common_effect_observed(*parse(q)),
        "in/out degrees of X and Y": lambda q: (lambda g, t: _degrees(g, t[0], t[1]))(*parse(q)),
        "observed variables: count, next to X, next to Y": lambda q: (lambda g, t: (
            len(t[2]), bool(set(nx.all_neighbors(g, t[0])) & t[2]),
            bool(set(nx.all_neighbors(g, t[1])) & t[2])))(*parse(q)),
        "shared neighbours of X and Y": lambda q: (
            lambda g, t: len(set(nx.all_neighbors(g, t[0])) & set(nx.all_neighbors(g, t[1]))))(*parse(q)),
        # every Yes item observes a variable with two causes, before tasks 3.2 only 0.65-0.72 of No items
        "in/out degrees of the observed variables": lambda q: (
            lambda g, t: tuple(sorted((min(2, i), min(2, o)) for i, o in _degrees(g, *t[2]))))(*parse(q)),
    }


def _correlation_cues():
    def pair_facts(q):
        _, facts, kind, (p, q_, r), _ = correlation_query(q)
        a, b = (q_, r) if kind == "collider" else (p, q_)
        return kind, tuple(sorted((z is not None, indep) for x, y, z, indep in facts if {x, y} == {a, b}))

    def given_the_other(q):
        """A third variable's independences with one of the pair given the other, per side."""
        _, facts, kind, (p, q_, r), _ = correlation_query(q)
        a, b = (q_, r) if kind == "collider" else (p, q_)
        return kind, tuple(sum(indep for x, y, z, indep in facts if z == given and asked in (x, y))
                           for asked, given in ((a, b), (b, a)))

    return {
        "fact types: kind, independences marginal/conditional": lambda q: (
            correlation_query(q)[2], q.count("are independent."), q.count("are independent given")),
        "the hypothesis pair's facts": pair_facts,
        "a third variable independent of one of the pair given the other": given_the_other,
    }


def possible(question):
    """Corr2Cause's classic confusion, "possible, hence must": the hypothesis holds in some DAG
    that agrees with the findings. It is the whole enumeration, so it is checked apart from the
    surface cues, on the label checks' items."""
    return any(hypothesis_holds(question))


CUES = {"intervention": _intervention_cues(), "dsep": _dsep_cues(), "correlation": _correlation_cues()}


# The inference steps a cue performs (the others perform none): on items no deeper it is the
# inference itself and is not scored. Comparing closures is the directed search itself where the
# chain is short: at depth 1 the twins are one graph asked both ways round, and x's closure holds
# y's; at depth 2 a No twin's x and y share their one common effect and x reaches nothing else.
STEPS = {
    "X->Z->Y exists (path of 2)": 2,
    "shared neighbours of X and Y": 2,
    "X has more descendants, Y more ancestors": 2,
    "observed common effect of X and Y": 1,  # dsep rung 1: the one common effect, opened or not
    "in/out degrees of the observed variables": 1,  # dsep rung 1: is the one observed variable that effect
}


def lookup_accuracy(cue, fit, test):
    """A guesser that maps each cue value to its majority gold on the fit items (ties and unseen
    values: position 0), scored on the test items."""
    table = Counter((cue(it["question"]), it["gold"]) for it in fit)
    best = {}
    for (value, gold), _count in sorted(table.items(), key=lambda kv: (-kv[1], kv[0][1])):
        best.setdefault(value, gold)
    return sum(best.get(cue(it["question"]), 0) == it["gold"] for it in test) / len(test)


# --- tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("subtask, level", [(s, lv) for s in ("intervention", "dsep") for lv in LEVELS[s]])
def test_labels_agree_with_networkx(subtask, level):
    assert disagreements(subtask, items(subtask, level, N_FAST)) == []


def correlation_n(level):
    """Items a correlation rung's label check enumerates: five variables (l5 up) cost about a
    second of networkx an item."""
    return N_FAST if level <= 4 else 10


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS["correlation"])
def test_correlation_labels_agree_with_dag_enumeration(level):
    """Labels agree with the enumeration, and "possible, hence must" is no rule: on four or
    more variables (l3 up) every No item's hypothesis is open (holds in some agreeing DAG), so
    the rule answers Yes to every item; on three (l2) a forced hypothesis settles every other,
    so the No items are refuted and the rule is the inference itself."""
    batch = items("correlation", level, correlation_n(level))
    assert disagreements("correlation", batch) == []
    assert all(possible(it["question"]) for it in batch) == (level > 2)


@pytest.mark.parametrize("subtask", ["intervention", "dsep", "correlation"])
def test_flipped_label_is_caught(subtask):
    """The agreement check is not vacuous: every item with its gold flipped disagrees."""
    batch = [dict(it, gold=1 - it["gold"]) for it in items(subtask, LEVELS[subtask][0], 12)]
    assert len(disagreements(subtask, batch)) == len(batch)


def confounded(graph, a, b):
    """The causal-inference reading of "common cause": another variable with a directed path to
    each of the pair that avoids the other."""
    def reaches(w, v, avoid):
        return nx.has_path(graph.subgraph(set(graph) - {avoid}), w, v)

    return any(reaches(w, a, b) and reaches(w, b, a) for w in graph if w not in (a, b))


def test_common_cause_reading_is_stated_and_is_the_one_labelled():
    """In W -> A -> B, W causes both A and B but reaches B only through A: a common cause in the
    reading the prompt states, not a confounder. The solver labels by the stated reading, and every
    common-cause hypothesis in the items carries its words."""
    holds = HYPOTHESES["confounder"][1]
    chain = nx.DiGraph([("W", "A"), ("A", "B")])
    assert holds(chain, "A", "B", None) and not confounded(chain, "A", "B")
    fork = nx.DiGraph([("W", "A"), ("W", "B")])
    assert holds(fork, "A", "B", None) and confounded(fork, "A", "B")
    batch = [it for lv in (5, 6) for it in items("correlation", lv, 100)]  # asked on five variables
    asked = [it for it in batch if "have a common cause" in it["question"]]
    assert asked and all(correlation_query(it["question"])[2] == "confounder" for it in asked)


def test_bayes_ball_matches_networkx_on_textbook_graphs():
    g = nx.DiGraph([("a", "c"), ("b", "c"), ("c", "d")])  # collider with a descendant
    assert not bayes_ball_dependent(g, "a", "b", set())
    assert bayes_ball_dependent(g, "a", "b", {"c"}) and bayes_ball_dependent(g, "a", "b", {"d"})
    chain = nx.DiGraph([("a", "m"), ("m", "b")])
    assert bayes_ball_dependent(chain, "a", "b", set()) and not bayes_ball_dependent(chain, "a", "b", {"m"})


@pytest.mark.parametrize("subtask", ["intervention", "dsep"])
def test_depth_is_the_level_and_the_chain_length(subtask):
    for level in LEVELS[subtask]:
        assert all(chain_depth_ok(subtask, it) for it in items(subtask, level, N_FAST))


def test_intervention_rung_1_no_items_state_the_reversed_link():
    """At depth 1 a No item's graph links the asked pair the other way round (no cycle lets x
    reach y): one stated link settles it, as in the Yes items."""
    for it in items("intervention", 1, N_FAST):
        x, y = intervention_query(it["question"])
        assert graph_of(it["question"]).has_edge(*((x, y) if it["gold"] == 0 else (y, x)))


@pytest.mark.parametrize("subtask", ["intervention", "dsep"])
@pytest.mark.parametrize("distractors", [0, 4])
def test_distractors_add_variables_not_depth(subtask, distractors):
    """The distractor knob adds variables (two links each) off the chain; depth and labels hold.
    At rung 3 both subtasks have 7 variables and 7 links before distractors (intervention: the
    chain, x's cause, y's effect and the parallel chain; dsep: the chain, x's and y's other
    links, one more variable and one more link)."""
    batch = generate("causal", subtask, 3, 40, distractors=distractors)
    assert all(chain_depth_ok(subtask, it) for it in batch) and disagreements(subtask, batch) == []
    assert {len(graph_of(it["question"])) for it in batch} == {7 + distractors}
    assert {graph_of(it["question"]).number_of_edges() for it in batch} == {7 + 2 * distractors}


def test_correlation_rungs_are_depths_with_balanced_labels():
    """Every item of a rung has the rung's depth, and every even prefix is half Yes."""
    for level in LEVELS["correlation"][:3]:
        batch = items("correlation", level, 40)
        assert {it["depth"] for it in batch} == {level}
        assert sum(it["gold"] for it in batch) == 20


@pytest.mark.parametrize("level", LEVELS["dsep"])
def test_a_third_of_dsep_items_flip_without_collider_logic(level):
    batch = items("dsep", level, N_FAST)
    flips = sum(no_collider_dependent(it["question"]) != (it["gold"] == 0) for it in batch)
    assert flips >= len(batch) / 3  # every item here observes something


def test_cue_guesser_finds_a_planted_leak():
    """The lookup guesser is able to find a cue: the gold's text copied into the question."""
    fit, test = items("intervention", 1, 60, seed=1), items("intervention", 1, 60)

    def leak(batch):
        return [dict(it, question=it["question"] + it["choices"][it["gold"]]) for it in batch]

    assert lookup_accuracy(lambda q: q.endswith("Yes"), leak(fit), leak(test)) == 1.0
    assert lookup_accuracy(CUES["intervention"]["in/out degrees of X and Y"], fit, test) <= 0.6


def slow_n(level):
    """Items per split for the cue checks: fewer on the deep rungs, whose items cost more."""
    return N_SLOW if level <= 3 else 200


CORRELATION_CUE_N = (200, 600)  # the two stages: a cue over the bar at 200 is measured again at 600


def over_bar(cue, fit, test) -> bool:
    return lookup_accuracy(cue, fit, test) > 0.55


@pytest.mark.slow
@pytest.mark.parametrize("subtask, level", [(s, lv) for s in LEVELS for lv in LEVELS[s]])
def test_cues_at_chance(subtask, level):
    """Each cue of issue 10 within chance + 0.05 (n = 300, 200 on rungs deeper than 3), fitted on
    seed 1, scored on seed 0, on the items deeper than the steps the cue performs (STEPS).
    Correlation is screened in two stages, as the battery's --confirm does: 200 items a split,
    and a cue over the bar there is measured again on 600 fresh ones (seeds 3 and 2) and fails
    only if over it twice (a leak of +0.08 crosses both; a cue at chance crosses both with
    probability under 0.01)."""
    first = CORRELATION_CUE_N[0] if subtask == "correlation" else slow_n(level)
    fit, test = items(subtask, level, first, seed=1), items(subtask, level, first)
    for name, cue in CUES[subtask].items():
        if test[0]["depth"] <= STEPS.get(name, 0) or not over_bar(cue, fit, test):
            continue
        again = CORRELATION_CUE_N[1]
        assert subtask == "correlation" and not over_bar(
            cue, items(subtask, level, again, seed=3), items(subtask, level, again, seed=2)), name


def test_correlation_cue_check_catches_a_planted_leak():
    """The correlation cue check can fail: on the l3 items of its first stage, Yes items that
    state one of their independences twice read as a leak to the fact-type counts."""
    n = CORRELATION_CUE_N[0]
    fit, test = items("correlation", 3, n, seed=1), items("correlation", 3, n)
    cue = CUES["correlation"]["fact types: kind, independences marginal/conditional"]

    def plant(batch):
        out = []
        for it in batch:
            twice = next((x for x in it["question"].splitlines() if x.endswith("are independent.")), None)
            out.append(dict(it, question=it["question"].replace(twice, twice + "\n" + twice))
                       if it["gold"] == 0 and twice else it)
        return out

    assert not over_bar(cue, fit, test) and over_bar(cue, plant(fit), plant(test))


def report(subtasks=("intervention", "dsep", "correlation"), n=N_SLOW):
    """The figures for the tasks README: depth per level, collider flips, cue accuracies."""
    for subtask in subtasks:
        for level in LEVELS[subtask]:
            m = min(n, slow_n(level))
            fit, test = items(subtask, level, m, seed=1), items(subtask, level, m)
            depth = dict(sorted(Counter(it["depth"] for it in test).items()))
            line = f"{subtask} l{level}: depth {depth} mean {statistics.mean(it['depth'] for it in test):.2f}"
            if subtask == "dsep":
                flips = sum(no_collider_dependent(it["question"]) != (it["gold"] == 0) for it in test)
                line += f"; collider flips {flips / m:.2f}"
            bad = len(disagreements(subtask, test))
            line += f"; solver agrees {m - bad}/{m}; cues (chance 0.50): " + "; ".join(
                f"{name} {lookup_accuracy(cue, fit, test):.2f}" for name, cue in CUES[subtask].items())
            print(line, flush=True)


if __name__ == "__main__":
    import sys

    report(*[sys.argv[1:]] if sys.argv[1:] else [])
