"""Logical reasoning: syllogism chains, rule chaining with proof depth, transitive ordering."""
from __future__ import annotations

from functools import lru_cache

from .base import Subtask
from .lexicon import names, sample

YES_NO = ["Yes", "No"]
TRUTH = ["True", "False", "Unknown"]

# --- syllogisms --------------------------------------------------------------------------
# A statement is (form, subject, predicate), form one of A (all), E (no), I (some), O (some not).
_FORMS = {
    "A": "All {s} are {p}.",
    "E": "No {s} are {p}.",
    "I": "Some {s} are {p}.",
    "O": "Some {s} are not {p}.",
}
_NEGATION = {"A": "O", "E": "I", "I": "E", "O": "A"}


@lru_cache(maxsize=None)
def _term_masks(n_terms):
    """Bitmask over the 2**n_terms Venn regions of the regions inside each term."""
    return tuple(
        sum(1 << r for r in range(2**n_terms) if r >> t & 1) for t in range(n_terms)
    )


def syllogism_valid(premises, conclusion, n_terms) -> bool:
    """Validity with existential import, by Venn regions (as bitmasks). A countermodel exists
    iff the model in which every region not forced empty is non-empty satisfies all premises,
    the negated conclusion and non-empty terms (particular statements only gain from more
    regions, universal ones only forbid regions)."""
    masks = _term_masks(n_terms)
    full = (1 << 2**n_terms) - 1
    statements = list(premises) + [(_NEGATION[conclusion[0]],) + tuple(conclusion[1:])]
    region = {  # regions where a statement's subject is (I, E) or is not (O, A) its predicate
        (f, s, p): masks[s] & (masks[p] if f in "IE" else full & ~masks[p]) for f, s, p in statements
    }
    allowed = full
    for st in statements:
        if st[0] in "AE":
            allowed &= ~region[st]
    witnessed = all(allowed & region[st] for st in statements if st[0] in "IO")
    return not (witnessed and all(allowed & m for m in masks))


def _premise_chain(rng, n_terms, all_a):
    """Premise i links terms i and i+1 in either direction; only All-premises if all_a, else at
    least one other form."""
    while True:
        forms = "A" * (n_terms - 1) if all_a else "".join(rng.choices("AEIO", weights=(6, 2, 1, 1), k=n_terms - 1))
        if all_a or forms.strip("A"):
            return [(f,) + ((i, i + 1) if rng.random() < 0.7 else (i + 1, i)) for i, f in enumerate(forms)]


def _syllogism(rng, level, split, target):
    # Surface cues are drawn before the label is looked at, and premises are redrawn until the
    # label matches, so neither the conclusion's form nor "every premise says All" tells the
    # label. Only pairings where both labels occur are drawn: an All-conclusion needs
    # all-All premises, and all-All premises never give a negative conclusion. What the
    # premises' forms and directions say beyond that is the logic itself.
    n_terms = level + 2
    all_a = rng.random() < 0.3
    end = (0, n_terms - 1) if rng.random() < 0.5 else (n_terms - 1, 0)
    conclusion = (rng.choice("AI" if all_a else "EIO"),) + end
    for _ in range(1000):
        premises = _premise_chain(rng, n_terms, all_a)
        if syllogism_valid(premises, conclusion, n_terms) == (target == 0):
            break
    else:
        return None
    terms = [w + "s" for w in sample(rng, split, n_terms)]
    said = {st: _FORMS[st[0]].format(s=terms[st[1]], p=terms[st[2]]) for st in premises + [conclusion]}
    rng.shuffle(premises)
    question = (
        "Assume that there is at least one of each kind of thing mentioned.\n"
        + "\n".join(said[st] for st in premises)
        + f"\nConclusion: {said[conclusion]}\n"
        "Does the conclusion follow from the statements above?\nAnswer:"
    )
    return question, YES_NO, target


# --- rule chaining (ProofWriter style, open world) -----------------------------------------
def forward_chain(facts, rules):
    """Minimal proof depth of every derivable literal (entity, attribute, positive).
    facts: set of literals; rules: (premise attributes, conclusion attribute, positive)."""
    depth = {lit: 0 for lit in facts}
    entities = {e for e, _, _ in facts}
    frontier = 0
    while True:
        new = {}
        for e in entities:
            for body, head, positive in rules:
                if all(depth.get((e, a, True), 10**9) <= frontier for a in body):
                    lit = (e, head, positive)
                    if lit not in depth:
                        new[lit] = frontier + 1
        if not new:
            return depth
        depth.update(new)
        frontier += 1


def _rules(rng, level, split, target):
    people = names(rng, split, 2)
    attrs = sample(rng, split, 4 + 2 * level)
    hero = people[0]
    chain = attrs[: level + 1]  # a planted proof of depth `level`
    facts = {(hero, chain[0], True)}
    rules = [((chain[i],), chain[i + 1], True) for i in range(level - 1)]
    rules.append(((chain[level - 1],), chain[level], rng.random() < 0.5))
    for person in people:
        for a in rng.sample(attrs, 2):
            facts.add((person, a, rng.random() < 0.8))
    for _ in range(2 + level):
        body = tuple(rng.sample(attrs, rng.choice((1, 2))))
        head = rng.choice([a for a in attrs if a not in body])
        rules.append((body, head, rng.random() < 0.7))
    depth = forward_chain(facts, rules)
    if any((e, a, not pos) in depth for e, a, pos in depth):
        return None  # contradictory theory
    if target == 2:
        # Unknown statements are about attributes some rule concludes, as the provable ones are,
        # so "is this attribute ever concluded?" does not give the label away.
        heads = {head for _, head, _ in rules}
        open_ = [(e, a) for e in people for a in sorted(heads) if (e, a, True) not in depth and (e, a, False) not in depth]
        if not open_:
            return None
        person, attr = rng.choice(open_)
        positive = rng.random() < 0.5
    else:
        deep = sorted(lit for lit, d in depth.items() if d == level)
        if not deep:
            return None
        person, attr, derived = rng.choice(deep)
        positive = derived if target == 0 else not derived
    rng.shuffle(rules)
    facts = sorted(facts)  # sets iterate in a hash-dependent order: sort, then shuffle
    rng.shuffle(facts)
    lines = [f"{e} is {'' if pos else 'not '}{a}." for e, a, pos in facts]
    lines += [
        f"If someone is {' and '.join(body)} then they are {'' if pos else 'not '}{head}."
        for body, head, pos in rules
    ]
    statement = f"{person} is {'' if positive else 'not '}{attr}."
    question = (
        "\n".join(lines)
        + f"\nBased only on the facts and rules above, is the statement \"{statement}\" "
        "true, false, or unknown?\nAnswer:"
    )
    return question, TRUTH, target


# --- transitive ordering ----------------------------------------------------------------
def _ordering(rng, level, split, target):
    n = 2 * level + 1  # 3, 5, 7 people
    people = names(rng, split, n)  # tallest first
    facts = [
        f"{people[i]} is taller than {people[i + 1]}." if rng.random() < 0.5
        else f"{people[i + 1]} is shorter than {people[i]}."
        for i in range(n - 1)
    ]
    rng.shuffle(facts)
    i, j = sorted(rng.sample(range(n), 2))
    if j - i < 2:
        return None  # adjacent pairs are stated outright
    ask_taller = rng.random() < 0.5
    answer = people[i] if ask_taller else people[j]
    other = people[j] if ask_taller else people[i]
    choices = [answer, other] if target == 0 else [other, answer]
    question = "\n".join(facts) + f"\nWho is {'taller' if ask_taller else 'shorter'}: {choices[0]} or {choices[1]}?\nAnswer:"
    return question, choices, target


SUBTASKS = (
    Subtask("logical", "syllogism", (1, 2, 3), 2, _syllogism),
    Subtask("logical", "rules", (1, 2, 3), 3, _rules),
    Subtask("logical", "ordering", (1, 2, 3), 2, _ordering),
)
