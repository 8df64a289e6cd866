"""Logical tasks v2: every gold label re-derived from the PROMPT TEXT by a solver that shares no
code or algorithm with the generator (SAT calls for rules and for syllogisms, whose models are
subsets of a small universe, not Venn regions; every linear order for orderings); no premise line repeats;
depth grows with the level; and each surface cue that gave v1 away scores within chance + 0.05.

    python -m pytest tests/test_labels_logical.py -q          # the figures: python tests/test_labels_logical.py
"""
import re
from collections import Counter

import networkx as nx
import numpy as np
import pytest
from sympy import Not, Symbol, satisfiable
from sympy.logic.boolalg import And, Implies, Or

from kbit_tasks.generators import SUBTASKS, generate

N = 300  # items per task for the cue checks and the label checks
DEEP_N = 150  # label checks on rungs deeper than 3, where the SAT calls cost more
LEVELS = {name: levels for family, name, levels in SUBTASKS if family == "logical"}  # the shipped rungs
SLACK = 0.05  # a cue may beat chance by at most this much


def eval_items(subtask, level, n=N, seed=0):
    return generate("logical", subtask, level, n, seed=seed)


def gold_text(item):
    return item["choices"][item["gold"]]


# --- syllogisms: set models over a small universe, searched by a SAT solver --------------------
STATEMENT = re.compile(r"^(All|No|Some) (\w+) are (not )?(\w+)\.$")
UNIVERSE = 3  # elements; a term is any subset of them (a Boolean variable per term and element)


def parse_syllogism(question):
    lines = question.splitlines()
    premises = [STATEMENT.match(x).groups() for x in lines[1:-3]]
    conclusion = STATEMENT.match(lines[-3].removeprefix("Conclusion: ")).groups()
    return premises, conclusion


def in_set(term, element):
    return Symbol(f"{term}@{element}")


def says(statement, tag):
    """Clauses saying a categorical statement about subsets of the universe; a particular
    statement names its witness element by a fresh variable per element (tagged)."""
    q, s, neg, p = statement
    pairs = [(in_set(s, e), in_set(p, e)) for e in range(UNIVERSE)]
    if q == "All":
        return [Or(Not(x), y) for x, y in pairs]
    if q == "No":
        return [Or(Not(x), Not(y)) for x, y in pairs]
    witness = [Symbol(f"{tag}#{e}") for e in range(UNIVERSE)]
    return [Or(*witness)] + [c for w, (x, y) in zip(witness, pairs)
                             for c in (Or(Not(w), x), Or(Not(w), Not(y) if neg else y))]


NEGATED = {("All", None): ("Some", "not "), ("No", None): ("Some", None), ("Some", None): ("No", None),
           ("Some", "not "): ("All", None)}


def syllogism_follows(premises, conclusion):
    """True iff no set model (every term a non-empty subset of a 3-element universe, the
    premises true) makes the conclusion false."""
    q, s, neg, p = conclusion
    counter = NEGATED[(q, neg)]
    terms = {t for _, a, _, b in premises + [conclusion] for t in (a, b)}
    clauses = [Or(*[in_set(t, e) for e in range(UNIVERSE)]) for t in sorted(terms)]
    for i, st in enumerate(premises + [(counter[0], s, counter[1], p)]):
        clauses += says(st, i)
    return not satisfiable(And(*clauses))


def test_syllogism_solver_knows_the_textbook_cases():
    barbara = [("All", "m", None, "p"), ("All", "s", None, "m")]
    assert syllogism_follows(barbara, ("All", "s", None, "p"))
    assert syllogism_follows(barbara, ("Some", "s", None, "p"))  # existential import
    assert not syllogism_follows(barbara, ("All", "p", None, "s"))
    assert not syllogism_follows([("Some", "m", None, "p"), ("Some", "s", None, "m")], ("Some", "s", None, "p"))
    assert syllogism_follows([("No", "m", None, "p"), ("Some", "s", None, "m")], ("Some", "s", "not ", "p"))  # Ferio


# --- rules: a SAT call on the stated facts and rules ----------------------------------------------
FACT = re.compile(r"^(\w+) is (not )?(\w+)\.$")
RULE = re.compile(r"^If someone is (.+) then they are (not )?(\w+)\.$")


def parse_rules(question):
    lines = question.splitlines()
    facts, rules = [], []
    for line in lines[1:-3]:
        if m := RULE.match(line):
            body = [(b.removeprefix("not "), not b.startswith("not ")) for b in m[1].split(" and ")]
            rules.append((body, (m[3], not m[2])))
        else:
            m = FACT.match(line)
            facts.append((m[1], (m[3], not m[2])))
    who, neg, what = FACT.match(lines[-3].removeprefix("Statement: ")).groups()
    return facts, rules, (who, (what, not neg))


def rules_label(question):
    """Classical entailment by satisfiability: the rules are instantiated for every person."""
    facts, rules, (who, literal) = parse_rules(question)
    people = {p for p, _ in facts} | {who}

    def atom(person, literal):
        sym = Symbol(f"{person}_{literal[0]}")
        return sym if literal[1] else Not(sym)

    theory = And(*[atom(p, lit) for p, lit in facts],
                 *[Implies(And(*[atom(p, b) for b in body]), atom(p, head)) for p in people for body, head in rules])
    assert satisfiable(theory), "the facts contradict the rules"
    statement = atom(who, literal)
    if not satisfiable(And(theory, Not(statement))):
        return "True"
    if not satisfiable(And(theory, statement)):
        return "False"
    return "Unknown"


def test_rules_solver_uses_contraposition():
    q = ("Header.\nKusif is pozap.\nIf someone is rinaz then they are not pozap.\n"
         "Statement: Kusif is not rinaz.\nInstructions.\nAnswer:")
    assert rules_label(q) == "True"
    assert rules_label(q.replace("Kusif is not rinaz", "Kusif is rinaz")) == "False"
    assert rules_label(q.replace("Kusif is pozap.", "Kusif is not pozap.")) == "Unknown"


# --- ordering: every linear order that fits the comparisons -------------------------------------
COMPARISON = re.compile(r"^(\w+) is (taller|shorter) than (\w+)\.$")


def parse_ordering(question):
    *facts, ask, _ = question.splitlines()
    graph = nx.DiGraph()  # edge: taller -> shorter
    for fact in facts:
        a, rel, b = COMPARISON.match(fact).groups()
        graph.add_edge(*((a, b) if rel == "taller" else (b, a)))
    rel, x, y = re.match(r"^Who is (taller|shorter): (\w+) or (\w+)\?$", ask).groups()
    return graph, rel, x, y


def ordering_answer(question):
    """The asked name if it is on the asked side in EVERY order of the people that the stated
    comparisons allow (networkx enumerates them: all topological sorts)."""
    graph, rel, x, y = parse_ordering(question)
    x_first = {order.index(x) < order.index(y) for order in nx.all_topological_sorts(graph)}
    assert len(x_first) == 1, "the comparisons do not settle the question"
    taller = x if x_first.pop() else y
    return taller if rel == "taller" else ({x, y} - {taller}).pop()


SOLVE = {
    "syllogism": lambda q: "Yes" if syllogism_follows(*parse_syllogism(q)) else "No",
    "rules": rules_label,
    "ordering": ordering_answer,
}


@pytest.mark.slow
@pytest.mark.parametrize(("subtask", "level"), [(s, lv) for s in sorted(SOLVE) for lv in LEVELS[s]])
def test_independent_solver_agrees_with_every_gold_label(subtask, level):
    items = eval_items(subtask, level, n=N if level <= 3 else DEEP_N)
    wrong = [it["question"] for it in items if SOLVE[subtask](it["question"]) != gold_text(it)]
    assert not wrong, wrong[:1]


@pytest.mark.parametrize("subtask", sorted(SOLVE))
def test_solver_catches_a_wrong_label(subtask):
    """Mutation check: every gold label moved to another choice is flagged, so the agreement
    test above can fail."""
    for item in eval_items(subtask, 2, n=12):
        wrong = item["choices"][(item["gold"] + 1) % len(item["choices"])]
        assert SOLVE[subtask](item["question"]) != wrong


def test_rules_solver_reads_the_facts():
    """Dropping the asked person's facts from a True/False item leaves the statement Unknown."""
    for item in eval_items("rules", 3, n=12):
        facts, _, (who, _) = parse_rules(item["question"])
        if gold_text(item) != "Unknown":
            kept = [x for x in item["question"].splitlines() if not x.startswith(f"{who} is")]
            assert rules_label("\n".join(kept)) == "Unknown"


# --- no repeated lines, depth grows with the level ---------------------------------------------
@pytest.mark.parametrize("subtask", sorted(SOLVE))
def test_no_premise_line_repeats(subtask):
    for level in LEVELS[subtask]:
        for item in eval_items(subtask, level, n=100):
            lines = item["question"].splitlines()
            assert len(set(lines)) == len(lines)


@pytest.mark.parametrize("subtask", ["ordering", "rules"])
def test_every_item_of_a_rung_has_its_depth(subtask):
    """Level = depth: every item of rung d rests on exactly d inference steps."""
    for level in LEVELS[subtask]:
        assert {it["depth"] for it in eval_items(subtask, level, n=100)} == {level}


def test_depth_is_what_the_text_needs():
    """Syllogisms chain the premises on the path between the conclusion's terms (two dead-end
    arms as long branch off it); orderings need as many comparisons as the shortest path."""
    for level in LEVELS["syllogism"]:
        for item in eval_items("syllogism", level, n=50):
            premises, (_, s, _, p) = parse_syllogism(item["question"])
            terms = nx.Graph([(a, b) for _, a, _, b in premises])
            assert nx.is_tree(terms) and len(premises) == 3 * (level + 1)
            assert item["depth"] == nx.shortest_path_length(terms, s, p) == level + 1
    for level in LEVELS["ordering"]:
        for item in eval_items("ordering", level, n=50):
            graph, _, x, y = parse_ordering(item["question"])
            ends = (x, y) if nx.has_path(graph, x, y) else (y, x)
            assert item["depth"] == nx.shortest_path_length(graph, *ends) == level


def test_ordering_wording_is_balanced_per_answer():
    """At distance 1 the one comparison between the asked two is the whole inference, so which
    of them it names first and the question's polarity must say nothing about the answer's
    position: for each gold position every (polarity, wording) pair occurs equally often, to
    within one block (of eight: the wording above the taller one is balanced too)."""
    for level in (1, 2):
        counts = Counter()
        for item in eval_items("ordering", level):
            graph, rel, x, y = parse_ordering(item["question"])
            taller = ordering_answer(item["question"]) if rel == "taller" else ({x, y} - {gold_text(item)}).pop()
            below = next(graph.successors(taller))
            line = next(x for x in item["question"].splitlines() if {taller, below} <= set(x[:-1].split()))
            counts[item["gold"], rel, line.startswith(taller)] += 1
        for gold in (0, 1):
            cells = [counts[gold, rel, first] for rel in ("taller", "shorter") for first in (False, True)]
            assert max(cells) - min(cells) <= 2, (level, counts)


def test_ordering_distractors_add_people_not_depth():
    """`distractors` puts that many more people at the ends of the chain; depth and the asked
    pair's own comparisons stay."""
    for k in (0, 3):
        for item in generate("logical", "ordering", 2, 40, distractors=k):
            graph, _, x, y = parse_ordering(item["question"])
            assert len(graph) == 2 + 1 + 2 * 2 + k and item["depth"] == 2 and item["distractors"] == k
            assert all(graph.degree(v) == 2 for v in (x, y))


def test_rules_distractors_add_chains_not_depth():
    """`distractors` adds that many chains as long as the proof, concluding other attributes;
    the depth stays and the independent solver still agrees."""
    for k in (0, 2):
        for item in generate("logical", "rules", 3, 30, distractors=k):
            _, rules, _ = parse_rules(item["question"])
            assert len(rules) == (3 + k) * 3 and item["depth"] == 3
            assert rules_label(item["question"]) == gold_text(item)


def test_rules_depth_is_the_shortest_implication_path():
    """True/False items: depth is the fewest rules linking a fact of the person to what follows,
    in the implication graph (each one-literal rule gives body -> head and, by contraposition,
    not head -> not body), found by networkx, not by the generator's rule deletion."""
    for level in LEVELS["rules"]:
        for item in eval_items("rules", level, n=60):
            facts, rules, (who, (attr, positive)) = parse_rules(item["question"])
            if gold_text(item) == "Unknown":
                continue
            graph = nx.DiGraph()
            for (body,), head in rules:
                graph.add_edge(body, head)
                graph.add_edge((head[0], not head[1]), (body[0], not body[1]))
            target = (attr, positive == (gold_text(item) == "True"))
            lengths = [nx.shortest_path_length(graph, lit, target) for p, lit in facts
                       if p == who and lit in graph and nx.has_path(graph, lit, target)]
            assert min(lengths) == item["depth"]


# --- the v1 cues --------------------------------------------------------------------------------
def syllogism_forms(q):
    """v1's mood: which forms occur in the premises (a set), and the conclusion's form."""
    premises, (cq, _, cneg, _) = parse_syllogism(q)
    return tuple(sorted({f"{x}{n or ''}" for x, _, n, _ in premises})), f"{cq}{cneg or ''}"


def syllogism_mood(q):
    """The premise forms as a multiset, and the conclusion's form."""
    premises, (cq, _, cneg, _) = parse_syllogism(q)
    return tuple(sorted(f"{x}{n or ''}" for x, _, n, _ in premises)), f"{cq}{cneg or ''}"


def syllogism_end_premises(end):
    """v1's mood with positions, as a lookup can learn it at n = 300: the conclusion's form and,
    for its subject (end 0) or its predicate (end 1), the form of each premise naming it and
    the role (subject or predicate) it takes there."""
    def cue(q):
        premises, (cq, s, cneg, p) = parse_syllogism(q)
        t = (s, p)[end]
        return f"{cq}{cneg or ''}", tuple(sorted((f"{x}{n or ''}", a == t) for x, a, n, b in premises if t in (a, b)))
    return cue


def syllogism_leaf_premises(q):
    """The conclusion's form and the forms of the premises naming a term mentioned only once
    (the ends of dead-end branches: with one-premise decoys, these gave the label away)."""
    premises, (cq, _, cneg, _) = parse_syllogism(q)
    count = Counter(t for _, a, _, b in premises for t in (a, b))
    return f"{cq}{cneg or ''}", tuple(sorted(f"{x}{n or ''}" for x, a, n, b in premises if 1 in (count[a], count[b])))


def rules_concluded(q):
    """v1: does a rule conclude exactly the statement's literal, and its negation?"""
    _, rules, (_, (attr, positive)) = parse_rules(q)
    return (any(h == (attr, positive) for _, h in rules), any(h == (attr, not positive) for _, h in rules))


def rules_cheap(q):
    """Number of rules, negated rule heads, negated statement, facts about the asked person."""
    facts, rules, (who, (_, positive)) = parse_rules(q)
    return {"rules": len(rules), "negated heads": sum(not h[1] for _, h in rules),
            "statement negated": not positive, "facts about the person": sum(p == who for p, _ in facts)}


def rules_body_matches(q):
    """How many rule bodies the asked person's facts match exactly, and how many they contradict."""
    facts, rules, (who, _) = parse_rules(q)
    mine = {lit for p, lit in facts if p == who}
    return (sum(all(b in mine for b in body) for body, _ in rules),
            sum(any((a, not v) in mine for a, v in body) for body, _ in rules))


def ordering_net_mentions(q):
    """v1: each asked name's taller-side minus shorter-side mentions; which choice is higher."""
    graph, rel, x, y = parse_ordering(q)
    net = {v: graph.out_degree(v) - graph.in_degree(v) for v in (x, y)}
    return rel, int(np.sign(net[x] - net[y]))


def ordering_extremes(q):
    """v1 level 1 asked about the tallest and the shortest: is each asked name the top or the
    bottom end (mentioned once, on the taller or the shorter side), or next to one?"""
    graph, rel, x, y = parse_ordering(q)
    top = {v for v in graph if graph.degree(v) == 1 and graph.out_degree(v) == 1}
    bottom = {v for v in graph if graph.degree(v) == 1 and graph.in_degree(v) == 1}

    def near(v):
        return (v in top, v in bottom, bool(set(graph.successors(v)) & bottom),
                bool(set(graph.predecessors(v)) & top))

    return rel, near(x), near(y)


def rules_cheap_cue(name):
    return lambda q: rules_cheap(q)[name]


CUES = {
    "syllogism": {"forms occurring": syllogism_forms, "mood": syllogism_mood,
                  "forms and roles of the premises naming S": syllogism_end_premises(0),
                  "forms and roles of the premises naming P": syllogism_end_premises(1),
                  "forms of the premises naming a term mentioned once": syllogism_leaf_premises},
    "rules": {
        "rule concludes literal / negation": rules_concluded,
        **{name: rules_cheap_cue(name)
           for name in ("rules", "negated heads", "statement negated", "facts about the person")},
        "bodies matched / contradicted by facts": rules_body_matches,
    },
    "ordering": {"net taller-minus-shorter mentions": ordering_net_mentions,
                 "asked names at or next to an end": ordering_extremes},
}


def lookup_accuracy(cue, fit, test):
    """A guesser that answers, for each value of the cue, the gold position most common with it
    in `fit` (ties: the lowest position), scored on `test`."""
    table = Counter((cue(it["question"]), it["gold"]) for it in fit)
    best = {}
    for (value, gold), _ in sorted(table.items(), key=lambda kv: (-kv[1], kv[0][1])):
        best.setdefault(value, gold)
    return float(np.mean([best.get(cue(it["question"]), 0) == it["gold"] for it in test]))


def cue_table(n=N):
    """(task, cue, accuracy, chance) for every cue: fitted on n items of seed 1, scored on n
    items of seed 0."""
    rows = []
    for subtask, cues in CUES.items():
        for level in LEVELS[subtask]:
            fit, test = eval_items(subtask, level, n, seed=1), eval_items(subtask, level, n, seed=0)
            for name, cue in cues.items():
                rows.append((f"kbit_logical_{subtask}_l{level}", name, lookup_accuracy(cue, fit, test),
                             test[0]["chance"]))
    return rows


@pytest.mark.slow
def test_no_v1_cue_beats_chance():
    """At n = 1000 a cue with no information stays under chance + 0.05 with probability
    > 0.999 (3 standard errors), so neither a pass nor a fail is luck; the figures at n = 300
    are printed by running this file."""
    high = [row for row in cue_table(n=1000) if row[2] > row[3] + SLACK]
    assert not high, high


@pytest.mark.parametrize("subtask", sorted(CUES))
def test_each_varying_cue_finds_a_planted_leak(subtask):
    """Relabel items so that gold is a function of the cue's value: the lookup guesser must then
    recover it, so a cue that parses nothing cannot pass silently; and the cue must not be
    near-unique per item, which would make that trivial. (Cues that are constant by
    construction are shown to find v1's leaks in the two tests below.)"""
    items = eval_items(subtask, 1)
    k = len(items[0]["choices"])
    for name, cue in CUES[subtask].items():
        values = sorted({repr(cue(it["question"])) for it in items})
        if len(values) > 1:
            assert len(values) <= len(items) / 2, name
            leaky = [{**it, "gold": values.index(repr(cue(it["question"]))) % k} for it in items]
            assert lookup_accuracy(cue, leaky, leaky) == 1.0, name


def test_rule_cue_finds_the_v1_leak():
    """v1 items lacked the decoy: drop the rule concluding the opposite of what follows (and
    keep both for Unknown) and the cue reads the label off."""
    leaky = []
    for item in eval_items("rules", 2, n=120):
        _, _, (_, (attr, positive)) = parse_rules(item["question"])
        follows = {"True": positive, "False": not positive}.get(gold_text(item))
        drop = re.compile(rf"then they are {'' if follows else 'not '}{attr}\.$") if follows is not None else None
        lines = [x for x in item["question"].splitlines() if drop is None or not drop.search(x)]
        leaky.append({**item, "question": "\n".join(lines)})
    assert lookup_accuracy(rules_concluded, leaky[:60], leaky[60:]) == 1.0


def test_ordering_cues_find_the_v1_leak():
    """v1 level 1: five people, asked about the tallest and the shortest."""
    rng = np.random.default_rng(0)
    leaky = []
    for i in range(120):
        people = [f"P{i}x{k}" for k in range(5)]  # tallest first
        facts = [f"{a} is taller than {b}." if rng.random() < 0.5 else f"{b} is shorter than {a}."
                 for a, b in zip(people, people[1:])]
        gold = i % 2
        asked = [people[0], people[-1]] if gold == 0 else [people[-1], people[0]]
        leaky.append({"question": "\n".join(facts) + f"\nWho is taller: {asked[0]} or {asked[1]}?\nAnswer:",
                      "gold": gold})
    for cue in CUES["ordering"].values():
        assert lookup_accuracy(cue, leaky[:60], leaky[60:]) == 1.0


def test_v1_rule_cue_is_constant_by_construction():
    """Every statement's attribute is concluded by rules of both polarities."""
    for level in LEVELS["rules"]:
        assert {rules_concluded(it["question"]) for it in eval_items("rules", level, n=100)} == {(True, True)}


def depth_table(n=N):
    return {f"kbit_logical_{s}_l{lv}": dict(sorted(Counter(it["depth"] for it in eval_items(s, lv, n)).items()))
            for s in CUES for lv in LEVELS[s]}


if __name__ == "__main__":  # the figures for the tasks README
    for task, counts in depth_table().items():
        print(f"{task}: depth {counts}")
    for (task, name, acc, chance), (_, _, acc_1000, _) in zip(cue_table(), cue_table(n=1000)):
        print(f"{task} | {name} | {acc:.3f} (n=300) | {acc_1000:.3f} (n=1000) | chance {chance:.2f}")
    for subtask in SOLVE:
        for level in LEVELS[subtask]:
            items = eval_items(subtask, level)
            agree = sum(SOLVE[subtask](it["question"]) == gold_text(it) for it in items)
            print(f"kbit_logical_{subtask}_l{level}: solver agrees on {agree}/{len(items)}")
