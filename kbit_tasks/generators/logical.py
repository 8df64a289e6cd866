"""Logical reasoning: syllogism chains, rule chaining under classical logic, transitive ordering.

Syllogism and rule labels are computed by exhaustive model checking (all Venn regions, all truth
assignments), never read off the construction; an ordering states one chain of adjacent
comparisons, whose order is its only model. Every maker also returns the answer's inference
depth (premises chained, rules in the proof, comparisons chained), and an item of level d has
depth d exactly. The distractor knob (`distractors`), per subtask: ordering, people beyond the
two above the taller and two below the shorter asked person that every item has, each at the
top or the bottom of the chain at random (default 1); rules, chains as long as the proof
concluding other attributes, beyond the three every item has (default 0).
The constructions are built so that the surface cues that gave v1 away carry no information
about the label (tests/test_labels_logical.py measures each of them).
"""
from __future__ import annotations

import itertools
from functools import lru_cache

from .base import Subtask, question_split
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


@lru_cache(maxsize=None)
def _valid_chains(n_premises):
    """Every valid chain: premises linking terms 0..n_premises in turn (either way round) and a
    conclusion about the two end terms."""
    n_terms = n_premises + 1
    chains = []
    for forms in itertools.product("AEIO", repeat=n_premises):
        for flips in itertools.product((False, True), repeat=n_premises):
            premises = tuple((f, i + 1, i) if flip else (f, i, i + 1) for i, (f, flip) in enumerate(zip(forms, flips)))
            for form, end in itertools.product("AEIO", ((0, n_terms - 1), (n_terms - 1, 0))):
                if syllogism_valid(premises, (form,) + end, n_terms):
                    chains.append((premises, (form,) + end))
    return chains


def _syllogism(s, target):
    rng, level, split = s.rng, s.level, s.split
    # A valid chain of k = level + 1 premises from the conclusion's subject S to its predicate P,
    # plus a dead-end arm of k premises off S and one off P, through fresh terms (branches of a
    # tree never change what follows about S and P). Each arm starts with the end term in the
    # same role (subject or predicate) as in the chain's link, so exchanging the forms of a link
    # and its arm's first premise keeps everything a reader sees without chaining: the forms
    # (the mood), each premise's form and where S and P stand in it, the roles every term
    # takes, how often each term is mentioned. Telling the link from the arm takes following
    # them for k steps, as the inference does. Of the four exchanges, one with the target
    # label is drawn, and only when both labels occur among them.
    k = level + 1
    n_terms = 3 * k + 1
    chain, conclusion = rng.choice(_valid_chains(k))
    first = {0: 0, k: k - 1}  # end term -> index of its link premise in the chain
    arms, fresh = [], iter(range(k + 1, n_terms))
    for end, link in first.items():
        term = end
        for step in range(k):
            new = next(fresh)
            forward = chain[link][1] == end if step == 0 else rng.random() < 0.5
            arms.append((rng.choice("AEIO"),) + ((term, new) if forward else (new, term)))
            term = new
    variants = []
    for swaps in itertools.product((False, True), repeat=2):
        statements = list(chain) + arms
        for (_end, link), arm_start, swap in zip(first.items(), (k, 2 * k), swaps):
            if swap:
                statements[link], statements[arm_start] = (
                    statements[arm_start][:1] + statements[link][1:], statements[link][:1] + statements[arm_start][1:])
        variants.append((statements, 0 if syllogism_valid(statements, conclusion, n_terms) else 1))
    if len({label for _, label in variants}) < 2:
        return None
    statements = rng.choice([st for st, label in variants if label == target])
    terms = [w + "s" for w in sample(rng, split, n_terms)]
    said = [_FORMS[f].format(s=terms[s], p=terms[p]) for f, s, p in statements]
    rng.shuffle(said)
    f, s, p = conclusion
    question = (
        "Assume that there is at least one of each kind of thing mentioned, and that the "
        "statements below are all true.\n"
        + "\n".join(said)
        + f"\nConclusion: {_FORMS[f].format(s=terms[s], p=terms[p])}\n"
        "Does the conclusion follow from the statements above (must it be true whenever they are)?\nAnswer:"
    )
    return question, YES_NO, target, k


# --- rule chaining (classical logic, open world) -------------------------------------------
# A literal is (attribute, positive); a rule is (body literals, head literal) and holds for
# everyone. Statements about a person only involve that person's attributes, so entailment is
# decided per person by enumerating every truth assignment of the attributes involved.
@lru_cache(maxsize=None)
def _assignment_masks(n_atoms):
    """Bitmask over the 2**n_atoms truth assignments of those where atom k is true."""
    total, masks = 1 << n_atoms, []
    for k in range(n_atoms):
        mask, width = ((1 << (1 << k)) - 1) << (1 << k), 2 << k
        while width < total:
            mask |= mask << width
            width *= 2
        masks.append(mask)
    return masks


class _Theory:
    """One person's facts and the rules as bitmasks over every truth assignment of the
    attributes involved (one part of the rules, `_parts`: at most 2 d + 1 attributes, so
    2**(2 d + 1)-bit integers): a rule's mask holds the assignments it allows, and entailment is
    a subset test."""

    def __init__(self, facts, rules, literal=None):
        atoms = sorted({literal[0] for literal in [literal] if literal} | {a for a, _ in facts}
                       | {a for body, head in rules for a, _ in body + (head,)})
        self._index = {a: k for k, a in enumerate(atoms)}
        self._masks = _assignment_masks(len(atoms))
        self.full = (1 << (1 << len(atoms))) - 1
        self.facts = self.full
        for f in facts:
            self.facts &= self._lit(f)
        self.rules = {rule: self._rule(rule) for rule in rules}
        self.holds = self._lit(literal) if literal else self.full

    def _lit(self, literal):
        a, positive = literal
        return self._masks[self._index[a]] if positive else self.full & ~self._masks[self._index[a]]

    def _rule(self, rule):
        body, head = rule
        fires = self.full
        for b in body:
            fires &= self._lit(b)
        return (self.full & ~fires) | self._lit(head)

    def label(self, rules=None):
        """0 (True: the literal holds in every model), 1 (False: in none), 2 (Unknown), or None
        if there is no model (the facts contradict the rules)."""
        models = self.facts
        for rule in self.rules if rules is None else rules:
            models &= self.rules[rule]
        if not models:
            return None
        return 0 if not models & ~self.holds else 1 if not models & self.holds else 2

    def proof_size(self):
        """Rules left after dropping, one at a time, every rule the label does not need: the
        number of rules the answer rests on."""
        label, needed = self.label(), list(self.rules)
        for rule in self.rules:
            rest = [r for r in needed if r != rule]
            if self.label(rest) == label:
                needed = rest
        return len(needed)


def _attrs(rule):
    body, head = rule
    return {a for a, _ in body + (head,)}


def _parts(rules):
    """The rules split into parts that share no attribute (each with its attributes). A model of
    each part with the facts on its attributes joins into a model of all, so entailment is
    checked exhaustively per part, over 2**(its attributes) assignments instead of all."""
    parts, left = [], list(rules)
    while left:
        part, attrs, grew = [], set(), True
        attrs |= _attrs(left[0])
        while grew:
            linked = [r for r in left if _attrs(r) & attrs]
            grew = len(linked) > len(part)
            part = linked
            attrs = attrs.union(*map(_attrs, part))
        parts.append((part, attrs))
        left = [r for r in left if r not in part]
    return parts


def _theory(facts, rules, literal):
    """The theory deciding `literal` (its part of the rules and the facts on that part), or None
    if some part contradicts the facts."""
    decides = _Theory([f for f in facts if f[0] == literal[0]], [], literal)
    for part, attrs in _parts(rules):
        theory = _Theory([f for f in facts if f[0] in attrs], part, literal if literal[0] in attrs else None)
        if theory.label() is None:
            return None
        if literal[0] in attrs:
            decides = theory
    return decides


def entailed(facts, rules, literal):
    """Truth label of `literal` for one person under the rules (see _Theory.label)."""
    theory = _theory(facts, rules, literal)
    return None if theory is None else theory.label()


def _chain(rng, attrs, head):
    """Literals start -> ... -> head along `attrs` (the start's polarity and the intermediate
    polarities drawn at random) and the rules linking consecutive literals."""
    lits = [(a, rng.random() < 0.5) for a in attrs] + [head]
    return lits[0], [((lits[i],), lits[i + 1]) for i in range(len(lits) - 1)]


def _negate(literal):
    return (literal[0], not literal[1])


def _rules(s, target):
    rng, level, split = s.rng, s.level, s.split
    # Three chains of equal length d: one concludes the statement's attribute Z, one its
    # negation, one another attribute W. For each of the two people exactly one chain fires
    # (they have its start as a fact); for the other chains they have the opposite fact or
    # none, so the asked person's broken chains are near misses (wrong polarity, or only the
    # other person has the fact). True/False: a Z chain fires for the person asked about;
    # Unknown: the W chain. So every item has rules concluding Z and not-Z, and the number of
    # facts, whether the statement is negated, the head polarities and the number of rules are
    # drawn without looking at the label.
    # `s.distractors` more chains as long conclude further attributes; they fire for no one but,
    # at random, the other person.
    d, extra = level, s.distractors
    hero, other = names(rng, split, 2)
    attrs = sample(rng, split, 3 * d + 2 + extra * (d + 1))
    z, w = attrs[0], attrs[1]
    positive = rng.random() < 0.5  # is the statement "hero is Z" (else "hero is not Z")
    heads = [(z, True), (z, False), (w, rng.random() < 0.5)]
    heads += [(a, rng.random() < 0.5) for a in attrs[3 * d + 2::d + 1]]
    fires = {hero: 2 if target == 2 else 0 if positive == (target == 0) else 1, other: rng.randrange(len(heads))}
    facts, rules = [], []
    body_attrs = attrs[2:3 * d + 2] + [a for k, a in enumerate(attrs[3 * d + 2:]) if k % (d + 1)]
    for k, head in enumerate(heads):
        start, links = _chain(rng, body_attrs[k * d: (k + 1) * d], head)
        rules += links
        for person in (hero, other):
            if fires[person] == k:
                facts.append((person, start))
            elif rng.random() < 0.5:
                facts.append((person, _negate(start)))
    rng.shuffle(facts)
    lines = [f"{e} is {'' if pos else 'not '}{a}." for e, (a, pos) in facts]
    lines += [
        f"If someone is {' and '.join(('' if p else 'not ') + b for b, p in body)} "
        f"then they are {'' if head[1] else 'not '}{head[0]}."
        for body, head in rng.sample(rules, len(rules))
    ]
    question = (
        "The facts and rules below hold without exception, for everyone.\n"
        + "\n".join(lines)
        + f"\nStatement: {hero} is {'' if positive else 'not '}{z}.\n"
        "Answer True if the statement must follow from the facts and rules, False if its "
        "negation must follow, and Unknown if neither does.\nAnswer:"
    )
    if question_split(question) != split:
        return None  # the item loop would drop it: skip the model checking
    statement = (z, positive)
    theory = _theory([f for e, f in facts if e == hero], rules, statement)
    if theory is None or entailed([f for e, f in facts if e == other], rules, statement) is None \
            or theory.label() != target:
        return None
    depth = theory.proof_size() if target != 2 else d
    if depth != d:
        return None
    return question, TRUTH, target, depth


# --- transitive ordering ----------------------------------------------------------------
_MARGIN = 2  # people beyond each asked name: neither is the tallest, the shortest, or next to them


def _block(s, target, options):
    """One of `options`, drawn in shuffled blocks per gold label, so that across items of each
    label every option occurs equally often (balanced by construction, not by chance)."""
    block = s.kept.setdefault(("block", target), [])
    if not block:
        block += options
        s.rng.shuffle(block)
    return block.pop()


def _ordering(s, target):
    rng, distance, split = s.rng, s.level, s.split
    # The people form one chain of adjacent comparisons, each said as "taller" or "shorter" at
    # random; the two asked about are `distance` ranks apart, with _MARGIN people above the
    # taller and below the shorter, and `s.distractors` more people at either end at random. So
    # each asked person is on the taller side of exactly one comparison and the shorter side of
    # one: counting mentions tells nothing, and only following the chain does. The question's
    # polarity, the wording of the comparison below the taller asked person (at distance 1, the
    # one between them) and of the one above it come in balanced blocks per gold position. At
    # distance 1 the comparison between them ties the two asked people's wordings (one of them
    # is said first in it), so the comparison below the shorter one is worded like the one above
    # the taller one: then who is said first in how many lines is distributed alike for both.
    ask_taller, link_taller, above_taller = _block(s, target, list(itertools.product((False, True), repeat=3)))
    above = _MARGIN + sum(rng.random() < 0.5 for _ in range(s.distractors))
    n = distance + 1 + 2 * _MARGIN + s.distractors
    i, j = above, above + distance
    while True:  # the split filter inside, so that a rejected draw does not unbalance the blocks
        people = names(rng, split, n)  # tallest first
        said_taller = [rng.random() < 0.5 for _ in range(n - 1)]  # "k is taller than k + 1", else "k + 1 is shorter"
        said_taller[i], said_taller[i - 1] = link_taller, above_taller
        if distance == 1:
            said_taller[j] = above_taller
        facts = [
            f"{people[k]} is taller than {people[k + 1]}." if said_taller[k]
            else f"{people[k + 1]} is shorter than {people[k]}."
            for k in range(n - 1)
        ]
        rng.shuffle(facts)
        answer = people[i] if ask_taller else people[j]
        other = people[j] if ask_taller else people[i]
        choices = [answer, other] if target == 0 else [other, answer]
        question = ("\n".join(facts)
                    + f"\nWho is {'taller' if ask_taller else 'shorter'}: {choices[0]} or {choices[1]}?\nAnswer:")
        if question_split(question) == split:
            return question, choices, target, distance


SUBTASKS = (
    Subtask("logical", "syllogism", (1, 2, 3), 2, _syllogism, version=2.1),
    Subtask("logical", "rules", (1, 2, 3, 4, 5, 6), 3, _rules, max_level=8, version=3.0),
    Subtask("logical", "ordering", (1, 2, 3, 4, 5, 6), 2, _ordering, distractors=1, max_level=40, version=3.0),
)
