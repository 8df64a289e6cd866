"""The shortcut battery must find leaks where they are and report chance where there are none.

Every cue and the learned probe are run on toy item sets with one leak planted (gold is the
longest choice, the choice on the last line, a keyword predicts the label, a rule concludes the
statement, ...): each must score >= chance + 0.3 with 200 training and 200 evaluation items,
more than 8 binomial standard deviations (sd <= 0.036 at n = 200), so a broken cue cannot pass
by luck. With the same items and random labels each must stay <= chance + 0.15 (>= 4 sd).
Train toys use the train lexicon and eval toys the eval lexicon, as the battery does.
"""
import functools
import math
import random

import pytest

from kbit_tasks.generators import SUBTASKS, generate, task_name
from kbit_tasks.generators.lexicon import names, sample
from kbit_tasks.shortcuts.battery import FOREST, OPEN_LEAKS, PROBE, confirm, run, score_items
from kbit_tasks.shortcuts.cues import GENERIC, cue_accuracy, deeper
from kbit_tasks.shortcuts.probe import probe_accuracy
from kbit_tasks.shortcuts.task_cues import TASK_CUES
from kbit_tasks.tasks.utils import content_free

N = 200
COLORS = ["red", "blue", "green", "gray", "white", "black"]


def _place(gold_choice, others, target):
    choices = list(others)
    choices.insert(target, gold_choice)
    return choices, target


def _filler(rng, who, k):
    return [f"{a} meets {b}." for a, b in (rng.sample(who, 2) for _ in range(k))]


# ---- toy builders: (rng, split, target) -> (question, choices, gold) -------------------------

def leak_position(rng, split, target):
    who = names(rng, split, 6)
    lines = _filler(rng, who, 4)
    return "\n".join(lines + ["Who is it?", "Answer:"]), who[:4], 0


def leak_identity(rng, split, target):
    target %= 2
    a = names(rng, split, 3)
    choices = ["Yes", "No"] if target else ["No", "Yes"]
    return "\n".join(_filler(rng, a, 3) + [f"Is {a[0]} here?", "Answer:"]), choices, choices.index("No")


def leak_length(rng, split, target):
    who = names(rng, split, 9)
    others = [" ".join(who[i:i + 1 + (i % 2)]) for i in (0, 2, 4)]
    choices, gold = _place(" and ".join(who[6:9]), others, target % 4)
    return "\n".join(_filler(rng, who, 3) + ["Who is it?", "Answer:"]), choices, gold


def _mentions_builder(order):
    """Each choice named on one line of a shuffled context; the gold's line first, last or thrice."""
    def build(rng, split, target):
        who = names(rng, split, 8)
        gold, others = who[0], who[1:4]
        rows = [f"{x} sings." for x in others] + _filler(rng, who[4:], 3)
        rng.shuffle(rows)
        if order == "first":
            rows.insert(0, f"{gold} sings.")
        elif order == "last":
            rows.append(f"{gold} sings.")
        else:
            for _ in range(3):
                rows.insert(rng.randrange(len(rows) + 1), f"{gold} sings.")
        choices, g = _place(gold, others, target % 4)
        return "\n".join(rows + ["Who is it?", "Answer:"]), choices, g
    return build


def leak_in_query(rng, split, target):
    who = names(rng, split, 6)
    choices, g = _place(who[0], who[1:4], target % 4)
    return "\n".join(_filler(rng, who, 4) + [f"Is it {who[0]} rather than {who[1]}?", "Answer:"]), choices, g


def leak_near_query(rng, split, target):
    who = names(rng, split, 8)
    rows = [f"{x} waits." for x in who[1:4]] + _filler(rng, who[5:], 4)
    rng.shuffle(rows)
    at = rng.randrange(len(rows) + 1)
    rows[at:at] = [f"{who[4]} stands here.", f"{who[0]} waits."]
    choices, g = _place(who[0], who[1:4], target % 4)
    return "\n".join(rows + [f"Who waits next to {who[4]}?", "Answer:"]), choices, g


def _numbers_builder(kind):
    def build(rng, split, target):
        values = rng.sample(range(1, 60), 4)
        if kind == "largest":
            values.sort()
            gold, others = values[-1], values[:-1]
        else:  # the only even number
            gold, others = 2 * values[0], [2 * v + 1 for v in values[1:]]
        rng.shuffle(others)
        choices, g = _place(str(gold), [str(v) for v in others], target % 4)
        return f"Which number is it, {rng.randrange(10, 99)} or another?\nAnswer:", choices, g
    return build


def _yes_no_builder(kind):
    """Yes/No items whose label shows in a cheap question feature."""
    def build(rng, split, target):
        target %= 2
        yes = target == 0
        who = names(rng, split, 5)
        rows = _filler(rng, who, 4 if yes or kind != "lines" else 6)
        if kind == "negation" and yes:
            rows[rng.randrange(len(rows))] = f"{who[0]} does not sing."
        query = f"Is {who[0]} {'happy' if yes or kind != 'query' else 'sad'}?"
        return "\n".join(rows + [query, "Answer:"]), ["Yes", "No"], target
    return build


def leak_rules(rng, split, target):
    """A rule concludes the statement's literal (True), its negation (False), or neither (Unknown)."""
    target %= 3
    person = names(rng, split, 2)
    p = sample(rng, split, 8)
    neg = rng.random() < 0.5
    rows = [f"{person[0]} is {p[1]}.", f"{person[1]} is {p[2]}."]
    rows += [f"If someone is {p[3 + k]} then they are {'not ' if rng.random() < 0.5 else ''}{p[5 + k]}."
             for k in range(2)]
    if target < 2:
        concl_neg = neg if target == 0 else not neg
        rows.append(f"If someone is {p[1]} then they are {'not ' if concl_neg else ''}{p[0]}.")
    rng.shuffle(rows)
    rows += [f"Statement: {person[0]} is {'not ' if neg else ''}{p[0]}.", "Answer True, False or Unknown.", "Answer:"]
    return "\n".join(rows), ["True", "False", "Unknown"], target


FORMS = {"A": "All {} are {}.", "E": "No {} are {}.", "I": "Some {} are {}.", "O": "Some {} are not {}."}


def leak_syllogism(rng, split, target):
    """The label is Yes exactly when some premise is an E ("No ...") statement."""
    target %= 2
    t = [w + "s" for w in sample(rng, split, 4)]
    forms = [rng.choice("AIO") for _ in range(2)]
    if target == 0:
        forms[rng.randrange(2)] = "E"
    rows = [FORMS[f].format(t[k], t[k + 1]) for k, f in enumerate(forms)]
    rows += ["Conclusion: " + FORMS[rng.choice("AEIO")].format(t[0], t[2]), "Does it follow?", "Answer:"]
    return "\n".join(rows), ["Yes", "No"], target


def leak_ordering(rng, split, target):
    """v1 ordering: the two ends of a chain are asked about."""
    target %= 2
    who = names(rng, split, 4)
    rows = [f"{a} is taller than {b}." if rng.random() < 0.5 else f"{b} is shorter than {a}."
            for a, b in zip(who, who[1:])]
    rng.shuffle(rows)
    word = rng.choice(["taller", "shorter"])
    gold = who[0] if word == "taller" else who[-1]
    other = who[-1] if word == "taller" else who[0]
    choices, g = _place(gold, [other], target)
    return "\n".join(rows + [f"Who is {word}: {choices[0]} or {choices[1]}?", "Answer:"]), choices, g


def leak_ordering_subject(rng, split, target):
    """The gold is the subject of its comparison with the other asked name; the other asked
    name is never a subject."""
    target %= 2
    top, a, b, bottom = names(rng, split, 4)
    word = rng.choice(["taller", "shorter"])
    link, gold, other = (f"{a} is taller than {b}.", a, b) if word == "taller" else (f"{b} is shorter than {a}.", b, a)
    rows = [f"{top} is taller than {a}.", link, f"{bottom} is shorter than {b}."]
    rng.shuffle(rows)
    choices, g = _place(gold, [other], target)
    return "\n".join(rows + [f"Who is {word}: {choices[0]} or {choices[1]}?", "Answer:"]), choices, g


def _graph_question(rows, query):
    return "\n".join(["These are all of its direct causal links:"] + rows + [query, "Answer:"])


def leak_two_hop(rng, split, target):
    target %= 2
    x, z, y, a, b = names(rng, split, 5)
    rows = [f"{a} directly causes {b}.", f"{b} directly causes {x}."]
    rows += [f"{x} directly causes {z}.", f"{z} directly causes {y}."] if target == 0 else [f"{y} directly causes {z}."]
    rng.shuffle(rows)
    return _graph_question(rows, f"If someone sets {x} to a new value, will {y} change?"), ["Yes", "No"], target


def leak_degrees(rng, split, target):
    target %= 2
    x, y, a, b = names(rng, split, 4)
    rows = [f"{a} directly causes {x}.", f"{a} directly causes {b}."]
    rows += [f"{b} directly causes {y}."] if target == 0 else [f"{y} directly causes {b}."]
    rng.shuffle(rows)
    return _graph_question(rows, f"If someone sets {x} to a new value, will {y} change?"), ["Yes", "No"], target


def leak_two_levels(rng, split, target):
    """X has a cause of a cause exactly in the Yes items; no path links X and Y in either."""
    target %= 2
    x, y, a, b, c = names(rng, split, 5)
    rows = [f"{a} directly causes {x}.", f"{y} directly causes {c}."]
    rows += [f"{b} directly causes {a}."] if target == 0 else [f"{b} directly causes {y}."]
    rng.shuffle(rows)
    return _graph_question(rows, f"If someone sets {x} to a new value, will {y} change?"), ["Yes", "No"], target


def leak_three_levels(rng, split, target):
    """X's causes go three levels up exactly in the Yes items, two in the No items; no path
    links X and Y in either."""
    target %= 2
    x, y, a, b, c, e = names(rng, split, 6)
    rows = [f"{a} directly causes {x}.", f"{b} directly causes {a}.", f"{e} directly causes {y}."]
    rows += [f"{c} directly causes {b}."] if target == 0 else [f"{c} directly causes {e}."]
    rng.shuffle(rows)
    return _graph_question(rows, f"If someone sets {x} to a new value, will {y} change?"), ["Yes", "No"], target


def leak_colliders(rng, split, target):
    target %= 2
    x, z, y, w = names(rng, split, 4)
    rows = [f"{x} directly causes {z}.", f"{z} directly causes {y}." if target == 0 else f"{y} directly causes {z}.",
            f"{w} directly causes {x}."]
    rng.shuffle(rows)
    return _graph_question(rows, f"Are {x} and {y} statistically dependent?"), ["Yes", "No"], target


def leak_observed_collider(rng, split, target):
    """The observed variable has two causes exactly in the Yes items, wherever it stands."""
    target %= 2
    x, y, z, a, b = names(rng, split, 5)
    rows = [f"{x} directly causes {a}.", f"{b} directly causes {y}."]
    rows += [f"{a} directly causes {z}.", f"{b} directly causes {z}."] if target == 0 else \
        [f"{z} directly causes {a}.", f"{z} directly causes {b}."]
    rng.shuffle(rows)
    return _graph_question(rows, f"Suppose we observe only the units with the same value of {z}. "
                                 f"Are {x} and {y} statistically dependent?"), ["Yes", "No"], target


def leak_lines_naming_choice(rng, split, target):
    who = names(rng, split, 6)
    rows = [f"{who[0]} won the race."] + [f"{x} lost the race." for x in who[1:4]] + _filler(rng, who[4:], 2)
    rng.shuffle(rows)
    choices, g = _place(who[0], who[1:4], target % 4)
    return "\n".join(rows + ["Who is it?", "Answer:"]), choices, g


def leak_pair_findings(rng, split, target):
    target %= 2
    a, b, c = names(rng, split, 3)
    rows = [f"{a} and {b} are {'correlated' if target == 0 else 'independent'}.", f"{a} and {c} are correlated.",
            f"{b} and {c} are correlated."]
    rng.shuffle(rows)
    return ("\n".join(rows + [f"Hypothesis: {a} directly causes {b}.", "Must it hold?", "Answer:"]), ["Yes", "No"],
            target)


def leak_gcd(rng, split, target):
    g = rng.choice([3, 7, 11])
    shown = sorted(rng.sample(range(1, 12), 4))
    gold = g * rng.choice([k for k in range(1, 15) if k not in shown])
    others = rng.sample([v for v in range(10, 160) if v % g], 3)
    choices, gi = _place(str(gold), [str(v) for v in others], target % 4)
    return f"What number comes next in the sequence {', '.join(str(g * k) for k in shown)}, ...?\nAnswer:", choices, gi


def _sequence_builder(kind):
    """Arithmetic sequences; the gold's step from the last term has the planted property and no
    distractor's has."""
    def build(rng, split, target):
        d = rng.choice([3, 5, 7])
        start = rng.randrange(1, 30)
        terms = [start + d * k for k in range(5)]
        last = terms[-1]
        if kind == "divisibility":
            gold, pool = last + d * rng.choice([2, 3, 4]), [last + v for v in range(1, 60) if v % d]
        elif kind == "mod 8":
            gold, pool = last + 8 * rng.randrange(1, 7), [last + v for v in range(1, 60) if v % 8]
        elif kind == "mod 3":
            gold, pool = last + 3 * rng.randrange(1, 7), [last + v for v in range(1, 60) if v % 3]
        else:  # the arithmetic continuation itself, distractors far from it
            gold, pool = last + d, [last + d + v for v in range(10, 60)]
        others = [str(v) for v in rng.sample([v for v in pool if v != gold], 3)]
        choices, g = _place(str(gold), others, target % 4)
        return f"What number comes next in the sequence {', '.join(map(str, terms))}, ...?\nAnswer:", choices, g
    return build


def _list_rule_builder(rule):
    """Examples apply `rule` to lists of several lengths; the gold applies it to the query, the
    distractors are other orders of the same values. Sorting leaks through a coarse invariant
    (only the gold is sorted); reversing through where the end entries go; moving the largest
    to the front through where the extremes stand; rotating by the first entry through how far
    the choice is turned."""
    def build(rng, split, target):
        rows = ["Every example applies the same rule to a list of numbers."]
        for n in (5, 6, 7):
            xs = rng.sample(range(10), n)
            rows.append(f"Input: {xs} Output: {rule(xs)}")
        xs = rng.sample(range(10), 5)
        others = []
        while len(others) < 3:
            ys = rng.sample(xs, 5)
            if ys != rule(xs) and str(ys) not in others:
                others.append(str(ys))
        choices, g = _place(str(rule(xs)), others, target % 4)
        return "\n".join(rows + [f"Input: {xs} Output:", "Answer:"]), choices, g
    return build


def leak_adjacent(rng, split, target):
    """v1 property: "X is a K." is always followed by "X is C."; the query's kind-mate is copied."""
    who = names(rng, split, 5)
    kinds = sample(rng, split, 4)
    colors = rng.sample(COLORS, 4)
    rows = []
    for j, x in enumerate(who[:4]):
        rows += [f"{x} is a {kinds[j]}.", f"{x} is {colors[j]}."]
    rows += [f"{who[4]} is a {kinds[0]}.", f"What color is {who[4]}?", "Answer:"]
    choices, g = _place(colors[0], colors[1:], target % 4)
    return "\n".join(rows), choices, g


def leak_kind_mates(rng, split, target):
    """The gold colour is the majority among the members of the asked entity's own kind."""
    who = names(rng, split, 8)
    kinds = sample(rng, split, 2)
    colors = rng.sample(COLORS, 4)
    rows = [f"{x} is a {kinds[0]}." for x in who[:3]] + [f"{x} is a {kinds[1]}." for x in who[3:6]]
    rows += [f"{x} is {colors[0]}." for x in who[:3]] + [f"{x} is {colors[1 + j]}." for j, x in enumerate(who[3:6])]
    rng.shuffle(rows)
    rows += [f"{who[6]} is a {kinds[0]}.", f"What color is {who[6]}?", "Answer:"]
    choices, g = _place(colors[0], colors[1:], target % 4)
    return "\n".join(rows), choices, g


def leak_group_shape(rng, split, target):
    """Property: only the asked entity's group has a chain of kinds above its member's kind."""
    who = names(rng, split, 6)
    kinds = sample(rng, split, 5)
    colors = rng.sample(COLORS, 4)
    rows = [f"{who[4]} is a {kinds[4]}.", f"Every {kinds[4]} is a {kinds[0]}."]
    for j, x in enumerate(who[:4]):
        rows += [f"{x} is a {kinds[j]}.", f"{x} is {colors[j]}."]
    rows += [f"{who[5]} is a {kinds[rng.randrange(1, 4)]}."]  # an entity without a chain, in another group
    rng.shuffle(rows)
    choices, g = _place(colors[0], colors[1:], target % 4)
    return "\n".join(rows + [f"What color is {who[4]}?", "Answer:"]), choices, g


LEAKS = {
    "position": leak_position,
    "answer identity": leak_identity,
    "length rank": leak_length,
    "mention count": _mentions_builder("thrice"),
    "first mention": _mentions_builder("first"),
    "last mention": _mentions_builder("last"),
    "in query": leak_in_query,
    "near query words": leak_near_query,
    "value rank": _numbers_builder("largest"),
    "parity, divisibility": _numbers_builder("even"),
    "lines x answer": _yes_no_builder("lines"),
    "negations x answer": _yes_no_builder("negation"),
    "query x answer": _yes_no_builder("query"),
    "rule concludes literal": leak_rules,
    "mood": leak_syllogism,
    "mood + positions": leak_syllogism,
    "net side count": leak_ordering,
    "said first, per comparison word": leak_ordering_subject,
    "edge or 2-hop path": leak_two_hop,
    "in/out edges": leak_degrees,
    "causes and effects two links out": leak_two_levels,
    "causes and effects three links out": leak_three_levels,
    "path ignoring colliders": leak_colliders,
    "observed variables' causes and effects": leak_observed_collider,
    "lines naming the choice": leak_lines_naming_choice,
    "lines naming the asked words": leak_pair_findings,
    "gcd, not shown": leak_gcd,
    "step divisibility": _sequence_builder("divisibility"),
    "step mod 8": _sequence_builder("mod 8"),
    "step mod 3": _sequence_builder("mod 3"),
    "closest rough continuation": _sequence_builder("continuation"),
    "coarse invariants": _list_rule_builder(sorted),
    "where the end entries come from": _list_rule_builder(lambda xs: xs[::-1]),
    "where the extremes stand": _list_rule_builder(lambda xs: [max(xs)] + sorted(xs)[:-1]),
    "how far the choice is turned": _list_rule_builder(lambda xs: xs[xs[0] % len(xs):] + xs[:xs[0] % len(xs)]),
    "adjacent-line copy": leak_adjacent,
    "kind-mates' majority": leak_kind_mates,
    "group shape": leak_group_shape,
}
CUES = {c.name: c for c in GENERIC + TASK_CUES}


def toy(build, split, n=N, random_labels=False, seed=None):
    """n toy items; the k-th is built with target k (builders take it modulo their choice count,
    so gold positions are balanced), or with gold drawn at random. Another `seed`, other items."""
    rng = random.Random(f"toy/{build.__name__}/{split}" + ("" if seed is None else f"/{seed}"))
    items = []
    for k in range(n):
        question, choices, gold = build(rng, split, k)
        if random_labels:
            gold = rng.randrange(len(choices))
        items.append({"question": question, "choices": choices, "gold": gold, "chance": 1 / len(choices),
                      "subtask": "toy"})
    return items


def test_every_cue_has_a_planted_leak():
    assert set(LEAKS) == set(CUES)


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_cue_finds_its_planted_leak_and_nothing_in_random_labels(name):
    cue, build = CUES[name], LEAKS[name]
    train, test = toy(build, "train"), toy(build, "eval")
    chance = test[0]["chance"]
    assert cue_accuracy(cue, train, test) >= chance + 0.3
    shuffled = cue_accuracy(cue, toy(build, "train", random_labels=True), toy(build, "eval", random_labels=True))
    assert shuffled is None or shuffled <= chance + 0.15


@pytest.mark.slow
@pytest.mark.parametrize("forest", [False, True], ids=["linear", "forest"])
@pytest.mark.parametrize("name", ["length rank", "last mention", "negations x answer", "rule concludes literal"])
def test_probe_finds_planted_leaks_and_nothing_in_random_labels(name, forest):
    build = LEAKS[name]
    train, test = toy(build, "train"), toy(build, "eval")
    chance = test[0]["chance"]
    assert probe_accuracy(train, test, forest=forest) >= chance + 0.3
    assert probe_accuracy(toy(build, "train", random_labels=True),
                          toy(build, "eval", random_labels=True), forest=forest) <= chance + 0.15


def test_the_forest_probe_is_scored_only_when_asked():
    train, test = toy(LEAKS["length rank"], "train", 40), toy(LEAKS["length rank"], "eval", 40)
    assert FOREST not in {s.cue for s in score_items("toy", train, test)}
    assert [s.cue for s in score_items("toy", train, test, forest=True)][-2:] == [PROBE, FOREST]
    assert [s.cue for s in score_items("toy", train, test, only={FOREST})] == [FOREST]


@functools.cache
def twenty_items(family, subtask, level):
    """Generated once per process for all the task cues (correlation's cost ~1 s an item)."""
    return tuple(generate(family, subtask, level, 20))


@pytest.mark.parametrize("cue", [c for c in TASK_CUES if c.subtasks], ids=lambda c: c.name)
def test_task_cues_parse_the_real_prompts(cue):
    """A cue whose patterns no longer match the generators' wording would read None and score
    chance silently: every task cue must parse >= 90 % of real items of its subtasks."""
    for family, subtask, levels in SUBTASKS:
        if not cue.applies(subtask):
            continue
        for level in levels:
            parsed = sum(cue.key(it, 0) is not None for it in twenty_items(family, subtask, level))
            assert parsed >= 18, (cue.name, subtask, level, parsed)


def test_battery_rows_cover_every_cue_and_the_probe():
    train, test = toy(LEAKS["length rank"], "train", 40), toy(LEAKS["length rank"], "eval", 40)
    scores = score_items("toy", train, test)
    assert [s.cue for s in scores] == [c.name for c in GENERIC + TASK_CUES if c.applies("toy")] + ["learned probe"]
    longest = next(s for s in scores if s.cue == "length rank")
    assert longest.flagged and longest.z > 5


# The battery's open leaks (`OPEN_LEAKS`, documented in docs/validity.md) are tolerated by the
# screen below; every other (task, cue) must stay within the bound. None of the earlier ones is
# left: the sequence l1 step cues of v2.0 (order 1), intervention's "causes and effects two /
# three links out" (0.92-0.97 before its No items became rewired twins of Yes items;
# tests/test_labels_causal.py holds its own version of that search), listfn's "where the end
# entries come from" (0.82 on l2 before deeper rungs chained rotations by an entry) and dsep's
# "observed variables' causes and effects" (0.76-0.80 on l2-l6 before it was matched) all read
# chance now.


SCREEN_N, SCREEN_Z = 60, 2.0  # stage 1: every score on 60 train and 60 eval items, flagged above 2 sd
CONFIRM_N, FAIL_Z = 150, 4.0  # stage 2: a flagged score on 150 fresh items a split fails above 4 sd


def _content_free(items):
    return [{**it, "question": content_free(it["question"], it["choices"])} for it in items]


VIEWS = {"real": lambda items: items, "content-free": _content_free}


def screened(family, subtask, level):
    """Every cue and the probe on the rung's items and on their content-free versions (choices
    and gold kept: `acc_calibrated`'s prompt must not create a cue of its own), as a two-stage
    screen: a score over chance + 2 sd on 60 items a split is measured again on 150 fresh ones
    (seed 1) and kept if it is over chance + 4 sd there too. Returns (scores of stage 1, kept)."""
    name = task_name(family, subtask, level)

    def splits(n, seed):
        return [generate(family, subtask, level, n, seed=seed, split=split) for split in ("train", "eval")]

    first, kept = [], []
    items = splits(SCREEN_N, 0)
    flagged = {}
    for view, make in VIEWS.items():
        scores = score_items(name, *map(make, items))
        first += [(view, s) for s in scores]
        flagged[view] = {s.cue for s in scores if s.accuracy is not None and s.z > SCREEN_Z}
    if any(flagged.values()):
        fresh = splits(CONFIRM_N, 1)
        for view, make in VIEWS.items():
            if flagged[view]:
                kept += [(view, s) for s in score_items(name, *map(make, fresh), only=flagged[view])
                         if s.accuracy is not None and s.z > FAIL_Z]
    return first, kept


@pytest.mark.slow
@pytest.mark.parametrize("family,subtask,levels", SUBTASKS, ids=[f"{f}-{s}" for f, s, _ in SUBTASKS])
def test_real_tasks_have_no_shortcut(family, subtask, levels):
    """Every cue and the probe on every rung, on the real items and on their content-free
    versions, read as a two-stage screen (`screened`): chance + 4 sd at 150 items is 0.16 above
    chance at 0.5 and 0.14 at 0.25; with about 900 scores the chance of a false failure is far
    under 1 % (2 sd on 60 items, then 4 sd on 150), while v1's leaks (+0.25 to +0.75) fail both
    stages (+0.25 is 3.9 sd at 60 items). `scripts/task_shortcuts.py --n 300 --confirm` applies
    the stricter +0.05."""
    over, first = [], []
    for level in levels:
        scores, kept = screened(family, subtask, level)
        first += scores
        over += [f"{s.task} {s.cue} ({view}): {s.accuracy:.2f} at n = {s.n}, z = {s.z:.1f}" for view, s in kept
                 if view != "real" or (s.task, s.cue) not in OPEN_LEAKS]
    assert not over, "\n".join(over)
    applied = [s for _, s in first if s.accuracy is not None]
    assert len(applied) > 3 * 2 * len(levels) and not any(math.isnan(s.z) for s in applied)


@pytest.mark.slow
def test_sequence_tasks_have_no_shortcut_at_n_300():
    """The bar on every sequence rung: each cue and the probe <= chance + 0.05 with 300 train and
    300 eval items, as the battery's two-stage screen reads it (a score over the bar at n = 300 is
    measured again on 1000 fresh items a split, and only one over it twice is a leak: with ~60
    scores here, about one crosses at n = 300 by luck). v2.0's order-1 rung failed both stages:
    the gold's step from the last term is always a multiple of the last difference ("step
    divisibility" 1.00, "step mod 8" 0.39, "step mod 3" 0.42, chance 0.25)."""
    flagged = []
    for task, scores, _, _, error in run(300, only=["sequence"]):
        assert error is None, f"{task}: {error}"
        assert scores, task
        flagged += [s for s in scores if s.flagged]
    leaks = [s for s in confirm(flagged) if s.flagged]
    assert not leaks, "\n".join(f"{s.task} {s.cue}: {s.accuracy:.3f} (chance {s.chance:.2f})" for s in leaks)


def test_a_cue_is_not_scored_where_it_is_the_whole_inference():
    """The two-link path check answers depth-2 intervention items by doing the inference; it is
    scored only on deeper items, and on none at all when every item has depth 2."""
    cue = CUES["edge or 2-hop path"]
    train, test = toy(LEAKS["edge or 2-hop path"], "train"), toy(LEAKS["edge or 2-hop path"], "eval")
    assert cue_accuracy(cue, train, test) >= 0.8
    for it in train + test:
        it["depth"] = 2
    assert cue_accuracy(cue, train, test) is None


def test_a_cue_that_performs_no_step_is_scored_on_every_item():
    """Depth-0 items (a correlation item whose facts settle nothing about the pair: all No) stay
    in a surface cue's score. Dropping them had made position read 0.52 on balanced l2 items;
    here half the items whose gold is the second choice rest on nothing, and dropping them would
    make the first position look like the answer."""
    cue = CUES["position"]
    train, test = toy(LEAKS["answer identity"], "train"), toy(LEAKS["answer identity"], "eval")
    for items in (train, test):
        for it in [it for it in items if it["gold"] == 1][::2]:
            it["depth"] = 0
    assert deeper(cue, test) == test
    assert abs(cue_accuracy(cue, train, test) - test[0]["chance"]) < 0.02


def test_a_cue_counts_its_steps_per_subtask():
    """The lines naming both asked words are a finding in correlation but, in ordering and
    syllogism, the stated relation between the asked two: on depth-1 items there the cue is the
    inference and is not scored; elsewhere, and on deeper items, it is."""
    cue = CUES["lines naming the asked words"]
    build = LEAKS["lines naming the asked words"]
    train, test = toy(build, "train"), toy(build, "eval")
    for subtask, depth, scored in [("correlation", 1, True), ("ordering", 1, False), ("syllogism", 1, False),
                                   ("ordering", 2, True)]:
        for it in train + test:
            it["subtask"], it["depth"] = subtask, depth
        accuracy = cue_accuracy(cue, train, test)
        assert (accuracy is not None and accuracy >= 0.8) if scored else accuracy is None, (subtask, depth)
    mood = CUES["mood + positions"]  # at depth 1 it reads the one premise naming both conclusion terms
    train, test = toy(LEAKS["mood + positions"], "train"), toy(LEAKS["mood + positions"], "eval")
    for depth, scored in [(1, False), (2, True)]:
        for it in train + test:
            it["subtask"], it["depth"] = "syllogism", depth
        accuracy = cue_accuracy(mood, train, test)
        assert (accuracy is not None and accuracy >= 0.8) if scored else accuracy is None, depth


def test_the_asked_pairs_own_lines_are_one_step_and_gated_so():
    """On a one-link intervention item the line naming both asked variables ("X directly causes
    Y" or the reverse) is the whole inference: the cue reads it perfectly, so it counts as one
    step and is scored only on deeper items (ungated it had flagged the rung at 1.00)."""
    cue = CUES["lines naming the asked words"]
    train = generate("causal", "intervention", 1, 60, split="train")
    test = generate("causal", "intervention", 1, 60)
    assert cue.steps_for("intervention") == 1 and cue_accuracy(cue, train, test) is None
    deeper_looking = [[dict(it, depth=2) for it in batch] for batch in (train, test)]
    assert cue_accuracy(cue, *deeper_looking) >= 0.95
