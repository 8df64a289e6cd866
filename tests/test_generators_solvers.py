"""Every gold label re-derived from the question TEXT by a solver written here, independently
of the generators: truth tables for syllogisms, forward chaining for rules, networkx for
orderings and causal graphs, executing candidate rules for the inductive items."""
import itertools
import re
from fractions import Fraction

import networkx as nx
import numpy as np
import pytest

from kbit_tasks.generators import SUBTASKS, generate

N = 60


def items_of(family, subtask):
    levels = next(lv for f, s, lv in SUBTASKS if (f, s) == (family, subtask))
    return [it for level in levels for it in generate(family, subtask, level, N, seed=3)]


def lines_of(item):
    return item["question"].splitlines()


# --- logical ----------------------------------------------------------------------------------
STATEMENT = re.compile(r"^(All|No|Some) (\w+) are (not )?(\w+)\.$")


def syllogism_follows(premises, conclusion):
    """Truth tables over the terms: a 'type' is one row (which terms an individual belongs to).
    Universal statements forbid types; each particular statement, the negated conclusion and
    each term (existential import) must be witnessed by some allowed type."""
    terms = sorted({t for _, s, _, p in premises + [conclusion] for t in (s, p)})

    def universal(q, s, neg, p):
        if q == "All":
            return lambda row: not row[s] or row[p]
        if q == "No":
            return lambda row: not (row[s] and row[p])
        return None

    def witness(q, s, neg, p):
        return lambda row: row[s] and (not row[p] if neg else row[p])

    q, s, neg, p = conclusion
    negated = {("All", None): ("Some", s, "not ", p), ("No", None): ("Some", s, None, p),
               ("Some", None): ("No", s, None, p), ("Some", "not "): ("All", s, None, p)}[(q, neg)]
    statements = premises + [negated]
    rows = [dict(zip(terms, bits)) for bits in itertools.product((False, True), repeat=len(terms))]
    forbid = [f for f in (universal(*st) for st in statements) if f]
    allowed = [r for r in rows if all(f(r) for f in forbid)]
    needs = [witness(*st) for st in statements if st[0] == "Some"]
    needs += [(lambda t: lambda row: row[t])(t) for t in terms]
    countermodel = all(any(need(r) for r in allowed) for need in needs)
    return not countermodel


def test_syllogism_solver_sanity():
    barbara = [("All", "m", None, "p"), ("All", "s", None, "m")]
    assert syllogism_follows(barbara, ("All", "s", None, "p"))
    assert syllogism_follows(barbara, ("Some", "s", None, "p"))  # existential import
    assert not syllogism_follows(barbara, ("All", "p", None, "s"))
    assert not syllogism_follows([("Some", "m", None, "p"), ("Some", "s", None, "m")], ("Some", "s", None, "p"))


def test_syllogism_labels():
    for item in items_of("logical", "syllogism"):
        lines = lines_of(item)
        premises = [STATEMENT.match(x).groups() for x in lines[1:-3]]
        conclusion = STATEMENT.match(lines[-3].removeprefix("Conclusion: ")).groups()
        assert len(premises) == item["level"] + 1
        assert item["choices"][item["gold"]] == ("Yes" if syllogism_follows(premises, conclusion) else "No")


FACT = re.compile(r"^(\w+) is (not )?(\w+)\.$")
RULE = re.compile(r"^If someone is (.+) then they are (not )?(\w+)\.$")


def test_rules_labels_and_proof_depth():
    for item in items_of("logical", "rules"):
        facts, rules = set(), []
        for line in lines_of(item)[:-2]:
            if m := RULE.match(line):
                rules.append((m[1].split(" and "), not m[2], m[3]))
            else:
                m = FACT.match(line)
                facts.add((m[1], m[3], not m[2]))
        who, neg, what = FACT.match(re.search(r'"(.+)"', lines_of(item)[-2])[1]).groups()
        known, rounds = set(facts), {}
        for depth in itertools.count(1):  # forward chaining, one round per proof step
            people = {f[0] for f in known}
            new = {(p, head, pos) for p in people for body, pos, head in rules
                   if all((p, b, True) in known for b in body)} - known
            if not new:
                break
            rounds.update({lit: depth for lit in new})
            known |= new
        if (who, what, True) in known:
            label, lit = ("False" if neg else "True"), (who, what, True)
        elif (who, what, False) in known:
            label, lit = ("True" if neg else "False"), (who, what, False)
        else:
            label, lit = "Unknown", None
        assert item["choices"][item["gold"]] == label
        if lit is not None:
            assert rounds.get(lit, 0) == item["level"]


def test_ordering_labels():
    for item in items_of("logical", "ordering"):
        graph = nx.DiGraph()  # edge: taller -> shorter
        *facts, question, _ = lines_of(item)
        for fact in facts:
            a, rel, b = re.match(r"^(\w+) is (taller|shorter) than (\w+)\.$", fact).groups()
            graph.add_edge(*((a, b) if rel == "taller" else (b, a)))
        assert graph.number_of_nodes() == 2 * item["level"] + 1
        rel, x, y = re.match(r"^Who is (taller|shorter): (\w+) or (\w+)\?$", question).groups()
        taller = x if nx.has_path(graph, x, y) else y
        assert nx.has_path(graph, x, y) != nx.has_path(graph, y, x)
        assert item["choices"][item["gold"]] == (taller if rel == "taller" else ({x, y} - {taller}).pop())


# --- causal -----------------------------------------------------------------------------------
def causal_graph(item):
    lines = lines_of(item)
    graph = nx.DiGraph()
    graph.add_nodes_from(re.search(r"the variables (.+)\. These", lines[0])[1].split(", "))
    for line in lines:
        if m := re.match(r"^(\w+) directly causes (\w+)\.$", line):
            graph.add_edge(m[1], m[2])
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() == {1: 5, 2: 7, 3: 9}[item["level"]]
    return graph, lines[-2]


def test_intervention_labels():
    for item in items_of("causal", "intervention"):
        graph, question = causal_graph(item)
        x, y = re.search(r"sets (\w+) to a new value, will (\w+) change", question).groups()
        assert item["choices"][item["gold"]] == ("Yes" if y in nx.descendants(graph, x) else "No")


def test_dsep_labels():
    for item in items_of("causal", "dsep"):
        graph, question = causal_graph(item)
        m = re.search(r"same value of (.+?)\. ", question)
        given = set(m[1].split(" and of ")) if m else set()
        x, y = re.search(r"Are (\w+) and (\w+) statistically dependent", question).groups()
        dependent = not nx.is_d_separator(graph, {x}, {y}, given)
        assert item["choices"][item["gold"]] == ("Yes" if dependent else "No")


def test_correlation_labels():
    for item in items_of("causal", "correlation"):
        graph, question = causal_graph(item)
        a, b = re.search(r"statement about (\w+) and (\w+) is correct", question).groups()
        gold = item["choices"][item["gold"]]
        if nx.has_path(graph, a, b):
            assert gold.startswith(f"{a} causes {b}")
        elif nx.has_path(graph, b, a):
            assert gold.startswith(f"{b} causes {a}")
        elif nx.ancestors(graph, a) & nx.ancestors(graph, b):
            assert "share a common cause" in gold
        else:
            assert "independent" in gold


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
