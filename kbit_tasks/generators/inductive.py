"""Inductive reasoning: number-sequence rules, list functions from examples, and property
induction (bAbI task 16 style).

Every maker returns (question, choices, gold, depth). Depth is the number of inference steps
the answer rests on, and the level sets it:
  sequence  the order of the simplest linear recurrence (with a constant) that fits all shown
            terms: how many earlier terms each next term combines (the level; the ladder
            starts at level 2, see the comment on sequences for why there is no order-1 rung);
  listfn    the length of the shortest composition of list moves that fits all examples (the
            search proves that none shorter fits): one primitive on rung 1, deeper a chain of
            rotations by the entry the previous one brought to an end (see CHAINED);
  property  the category links from the queried entity to the kind whose member's color decides
            (level 1: "X is a K"; each level above adds one "Every K is a J" hop).
Distractors (`Stream.distractors`), per subtask:
  sequence  extra terms beyond the 2 k + 3 shown for order k (redundant equations); default 0.
            Terms stay within 3000: a load of 4 builds every level, 8 no longer builds level 5.
  listfn    extra examples beyond the level + 2 shown (redundant evidence); default 0.
  property  extra groups (a person, a chain of the level's kinds, a member colored outside the
            choices), each level + 2 lines; default 0 (the three groups of the wrong choice
            colors are always there, so that every choice color is mentioned once).
Choices are built so that surface properties do not single out the gold answer: for
sequences, the gold rule's next term with its constant slipped (an evenly spaced ladder of
one parity, sign and gcd class of the terms and their differences, one residue class mod 24
of the step from the last term, the gold at a random rung, every rough continuation outside
the ladder); list outputs of other programs with exactly the gold's values in another order
(deeper than rung 1, the gold's rule with another first move);
for property, one group of the same shape per choice color, lines shuffled.
"""
from __future__ import annotations

import math
from fractions import Fraction

from .base import Subtask, question_split
from .lexicon import sample

N_CHOICES = 4


# --- sequences ------------------------------------------------------------------------------
# The level is the recurrence order, and the ladder starts at 2. Order 1 (x -> r x + c) cannot
# be made cue-free with integer choices: its differences are geometric, so the gold's step
# from the last term is r times the last difference D, and unless every choice shares that (a
# ladder with rungs of at least |D|) "the step is a multiple of the last difference" picks the
# gold (1.00 against 0.25 in the v2.0 release). With such rungs, the rough guesses sit a fixed
# number of D from the gold: the last difference continued (r - 1) D, the second differences
# (r - 1)^2 / r D, the third (r - 1)^3 / r^2 D, the last ratio c D / x[n-1]. For r = 2 and 3
# some guess is within 2 D, inside the ladder, so the choice nearest it is the gold far more
# often than a quarter of the time; for r = -2 the last difference is 3 D off, inside the 3.5
# rungs a guess must keep; r = -3 is left only when the rung is |D| itself (D even and a
# multiple of every class the ladder keeps) and |x[n-1]| < |c| / 3.5, a narrow family that is
# a cue of its own (|r| = 1 is arithmetic or alternating, continued exactly by a guess). From
# order 2 on, the next difference combines several earlier ones, so the ladder only needs
# their gcd and the guesses stay off it.
# Levels 2-6 are shipped (the brute-force label check's reach); level 7 is built on request.


def _shown(order, distractors):
    """Terms shown: the order-k rule with a constant has k + 1 unknowns and the shown terms give
    len - k equations, so 2 k + 3 terms leave two equations to confirm the rule; each distractor
    shows one more (a redundant equation: the prompt grows, the depth does not)."""
    return 2 * order + 3 + distractors


_MAX_TERM = 3000
# The gold's step from the last term is skewed mod small numbers (integer combinations of
# differences with small coefficients: at order 3 in v2.0, a choice whose step was 4 mod 8 was
# the gold 34 % of the time). Rungs that are multiples of 24 put every choice in the gold's
# class mod 2, 3, 4, 6, 8, 12 and 24, so no residue read from the step can tell them apart.
_RESIDUES = 24


def _run(coeffs, const, start, count):
    """Terms of x[n] = coeffs[0] * x[n-1] + ... + coeffs[k-1] * x[n-k] + const."""
    terms = list(start)
    while len(terms) < count:
        terms.append(sum(a * t for a, t in zip(coeffs, reversed(terms[-len(coeffs):]))) + const)
    return terms


def _draw_rule(rng, order):
    """(coeffs, const) of an order-`order` recurrence with small integer coefficients. Rules
    that a rough guess continues exactly (arithmetic, geometric, polynomial) are rejected later
    by `_rough_guesses`."""
    coeffs = [rng.choice((-3, -2, -1, 1, 2, 3))]
    return tuple(coeffs + [rng.randint(-2, 2) for _ in range(order - 1)]), rng.randint(-19, 19)


def _solve_exact(rows, rhs):
    """Gauss-Jordan elimination in integers (exact, fast, and the generators stay pure Python;
    each row is kept divided by its gcd). Returns (consistent, the unique solution as Fractions
    or None when some unknown is left free)."""
    n = len(rows[0])
    aug = [list(row) + [b] for row, b in zip(rows, rhs)]
    pivots = []
    for col in range(n):
        r0 = len(pivots)
        pivot = next((r for r in range(r0, len(aug)) if aug[r][col]), None)
        if pivot is None:
            continue
        aug[r0], aug[pivot] = aug[pivot], aug[r0]
        p = aug[r0]
        for r in range(len(aug)):
            if r != r0 and aug[r][col]:
                row = [v * p[col] - q * aug[r][col] for v, q in zip(aug[r], p)]
                g = math.gcd(*row) or 1
                aug[r] = [v // g for v in row]
        pivots.append(col)
    if any(row[-1] for row in aug[len(pivots):]):
        return False, None
    if len(pivots) < n:
        return True, None
    return True, [Fraction(row[-1], row[col]) for row, col in zip(aug, pivots)]


def _system(terms, order, constant=True):
    rows = [[terms[n - j] for j in range(1, order + 1)] + ([1] if constant else []) for n in range(order, len(terms))]
    return rows, terms[order:]


def _fit(terms, order, constant=True):
    """(coeffs, const) of the unique order-`order` recurrence fitting every given term, or None."""
    rows, rhs = _system(terms, order, constant)
    if len(rows) < order + constant:
        return None
    _, sol = _solve_exact(rows, rhs)
    return None if sol is None else (sol[:order], sol[order] if constant else 0)


def _fits_some_rule(terms, order):
    """Whether some recurrence of order <= `order` with a constant reproduces all terms."""
    return order == 0 and len(set(terms)) == 1 or order > 0 and _solve_exact(*_system(terms, order))[0]


def _famous_windows():
    """Every run of at least 5 terms in textbook sequences (squares, cubes, triangular numbers,
    powers, Fibonacci, Lucas, tribonacci, Pell): those can be recalled instead of induced."""
    seqs = [[n * n for n in range(30)], [n**3 for n in range(20)], [n * (n + 1) // 2 for n in range(40)],
            [2**n for n in range(16)], [3**n for n in range(10)], _run((1, 1), 0, (0, 1), 25),
            _run((1, 1), 0, (2, 1), 25), _run((1, 1, 1), 0, (0, 0, 1), 25), _run((2, 1), 0, (0, 1), 15)]
    return {tuple(s[i: j]) for s in seqs for i in range(len(s)) for j in range(i + 5, len(s) + 1)}


_FAMOUS = _famous_windows()


def _rough_guesses(terms, order):
    """Next terms a reader gets without finding the rule: the last difference, the last ratio
    and the last second and third differences continued (`_trend_guesses`), and the
    lower-order affine rules fitted to the last terms (`_fitted_guesses`)."""
    return _trend_guesses(terms) + _fitted_guesses(terms, order)


def _trend_guesses(terms):
    a, b, c, d = terms[-4:]
    return [2 * d - c, 3 * d - 3 * c + b, 4 * d - 6 * c + 4 * b - a] + ([Fraction(d * d, c)] if c else [])


def _fitted_guesses(terms, order):
    guesses = []
    for lower in range(1, order):
        fitted = _fit(terms[-2 * lower - 1:], lower)
        guesses += [] if fitted is None else [
            sum(x * t for x, t in zip(fitted[0], reversed(terms[-lower:]))) + fitted[1]]
    return guesses


def _rung(terms, order):
    """The lcm of 24 (`_RESIDUES`) and twice the lcm of the gcd of the terms and, for each
    difference order up to the recurrence's, of the gcd of the last `order` differences: the
    next difference of each order is an integer combination of the last `order` ones (the
    constant drops out), so their gcd divides it; a ladder with this step keeps every choice in
    the gold's class for each of these gcds, for parity and mod 24."""
    rows, gcds = list(terms), [math.gcd(*terms)]
    for _ in range(order):
        rows = [b - a for a, b in zip(rows, rows[1:])]
        gcds.append(math.gcd(*rows[-order:]) or 1)
    return math.lcm(2 * math.lcm(*gcds), _RESIDUES)


def _sequence_question(terms):
    return f"What number comes next in the sequence {', '.join(map(str, terms))}, ...?\nAnswer:"


def _sequence(s, target):
    """The choices are the gold and the next terms of the gold rule with its constant slipped by
    multiples of a rung (`_rung`): an evenly spaced ladder with the gold at a uniformly random
    rung. All choices share parity, the gcd classes of the terms and of their differences, the
    residue of the step from the last term mod 24, sign and (nearly) digit count, so those say
    nothing; whether an item is made does not depend on the gold's rung, so the largest,
    smallest or middle choice is the gold a quarter of the time. Every
    rough guess (`_rough_guesses`) lies outside the ladder whatever the gold's rung (more than
    3.5 rungs from the gold), so distances to it see only the ladder's order: the nearest choice
    is the gold exactly when the gold is the ladder's end on the guess's side, a quarter of the
    time. Items where some guess comes closer are not made; arithmetic, geometric and
    polynomial sequences are among them (a guess continues them exactly). The item's depth is
    the recurrence's order, the level."""
    rng, split = s.rng, s.split
    order = s.level
    coeffs, const = _draw_rule(rng, order)
    sign = rng.choice((1, -1))  # a sequence and its negation equally likely: residue classes balance
    start = [sign * rng.randint(-5, 25) for _ in range(order)]
    terms = _run(coeffs, const, start, _shown(order, s.distractors))
    if max(map(abs, terms)) > _MAX_TERM or len(set(terms)) < len(terms) - 1 or tuple(terms) in _FAMOUS:
        return None
    # The cheap checks first (the drawn rule's next term, the ladder, the guesses that need no
    # fit), the exact fits only for what passes them.
    gold = _run(coeffs, const, terms[-order:], order + 1)[-1]
    step = _rung(terms, order)
    rung = rng.randrange(N_CHOICES)
    choices = [gold + step * (i - rung) for i in range(N_CHOICES)]
    # every value a ladder through the gold may take, whatever its rung: what is checked must
    # not depend on the rung, or the gold's rank among the choices would not be uniform
    span = [gold + step * i for i in range(1 - N_CHOICES, N_CHOICES)]

    def near(guesses):
        return any(abs(guess - gold) * 2 <= (2 * N_CHOICES - 1) * step for guess in guesses)

    if (abs(gold) > _MAX_TERM or span[0] * span[-1] <= 0 or set(span) & set(terms)
            or near(_trend_guesses(terms))):
        return None
    question = _sequence_question(terms)
    if question_split(question) != split or _fits_some_rule(terms, order - 1):
        return None  # the wrong split, or a simpler rule fits: not an order-`order` item
    if _fit(terms, order) is None or near(_fitted_guesses(terms, order)):
        return None  # the shown terms leave the rule open, or a lower-order fit lands near the gold
    wrong = choices[:rung] + choices[rung + 1:]
    rng.shuffle(wrong)
    wrong.insert(target, gold)
    return question, [str(v) for v in wrong], target, order


# --- list functions --------------------------------------------------------------------------
PRIMITIVES = {
    "reverse": lambda xs: xs[::-1],
    "sort": lambda xs: tuple(sorted(xs)),
    "sort_desc": lambda xs: tuple(sorted(xs, reverse=True)),
    "rotate_left": lambda xs: xs[1:] + xs[:1],
    "rotate_right": lambda xs: xs[-1:] + xs[:-1],
    "swap_ends": lambda xs: xs[-1:] + xs[1:-1] + xs[:1] if len(xs) > 1 else xs,
    "add1": lambda xs: tuple(x + 1 for x in xs),
    "add2": lambda xs: tuple(x + 2 for x in xs),
    "add3": lambda xs: tuple(x + 3 for x in xs),
    "double": lambda xs: tuple(2 * x for x in xs),
    "drop_first": lambda xs: xs[1:],
    "drop_last": lambda xs: xs[:-1],
    "evens": lambda xs: tuple(x for x in xs if x % 2 == 0),
    "odds": lambda xs: tuple(x for x in xs if x % 2),
}


def _rotate(xs, k):
    k %= len(xs)
    return xs[k:] + xs[:k]


# Deeper rungs chain rotations by an end entry of the list as it stands, on lists of all ten
# digits (so an entry is a rotation amount as it is). The choices share their values, so only
# the order is open, and a chain of fixed moves (reverse, rotate by one, swap the ends, ...) is
# itself one fixed move: one look at where the examples send their end entries read the gold at
# 0.82 on rung 2 when rungs chained PRIMITIVES. A fixed move before or after a rotation by an
# entry is one move too ("reverse, then rotate by the first entry" is "rotate the reversal by
# the last entry"). A rotation by the entry that the previous rotation brought to an end is
# not: it needs that rotation's result, so d of them chain d look-ups one after another.
CHAINED = {  # an empty list (a filter's output, met by the search) stays empty
    "rotate_left_by_first": lambda xs: xs and _rotate(xs, xs[0]),
    "rotate_left_by_last": lambda xs: xs and _rotate(xs, xs[-1]),
    "rotate_right_by_first": lambda xs: xs and _rotate(xs, -xs[0]),
    "rotate_right_by_last": lambda xs: xs and _rotate(xs, -xs[-1]),
}
# Every rung's label is proved against all of them: no shorter rule and no other rule of its
# length, from either set, fits the examples with another answer.
MOVES = {**PRIMITIVES, **CHAINED}


def _examples(level, distractors):
    """Examples shown: level + 2 (enough to pin a composition of `level` primitives down often
    enough to find items), plus one more per distractor (redundant evidence: the prompt grows,
    the depth does not)."""
    return level + 2 + distractors


def compose(program, xs):
    xs = tuple(xs)
    for name in program:
        xs = MOVES[name](xs)
    return xs


def _viable(xs, want):
    """Whether some composition can still turn the list xs into `want`: no primitive lengthens
    a list or lowers its smallest value (the values are never negative)."""
    return len(xs) >= len(want) and (not want or min(xs) <= min(want))


def _search(examples, outputs, query, depth, moves):
    """{query output: length} of the shortest programs, of at most `depth` `moves`, that fit
    every example: breadth-first, so a fit at a shorter length ends the search and proves that
    none shorter exists. Programs that agree on these inputs are one function, so a duplicate
    state is expanded once; a state from which some example's output is out of reach
    (`_viable`) is not expanded; the last layer is only checked, not stored (most of the cost)."""
    start = tuple(examples) + (query,)
    if list(examples) == outputs:
        return {query: 0}
    states, frontier = {start}, [start]
    for length in range(1, depth + 1):
        fits, nxt = {}, []
        for state in frontier:
            for fn in moves.values():
                if all(fn(xs) == want for xs, want in zip(state, outputs)):
                    fits.setdefault(fn(state[-1]), length)
                elif length < depth:
                    new = tuple(fn(xs) for xs in state)
                    if new not in states and all(_viable(xs, want) for xs, want in zip(new, outputs)):
                        states.add(new)
                        nxt.append(new)
        if fits:
            return fits
        frontier = nxt
    return {}


def _reorderings(query, gold, depth):
    """{output: fewest primitives that make it from the query} for every output of at most
    `depth` primitives with the gold's values (`signature`): the distractor pool. Breadth-first
    over single lists, pruned like `_search` (an output with the gold's values has its length
    and smallest value)."""
    found, frontier = {query: 0}, [query]
    for length in range(1, depth + 1):
        nxt = []
        for xs in frontier:
            for fn in PRIMITIVES.values():
                out = fn(xs)
                if out not in found and _viable(out, gold):
                    found[out] = length
                    nxt.append(out)
        frontier = nxt
    key = signature(gold)
    return {out: n for out, n in found.items() if signature(out) == key}


def signature(out):
    """What the choices share: the multiset of output values (so the length, which input values
    survive, parities, the largest, smallest and total all agree) and sortedness. Only the
    order differs, and only running the inferred program gives it."""
    return tuple(sorted(out)), list(out) == sorted(out), list(out) == sorted(out, reverse=True)


def _show(xs):
    return "[" + ", ".join(map(str, xs)) + "]"


def _listfn(s, target):
    """Rung 1: one of PRIMITIVES on 4-7 distinct digits; its three other choices are the query's
    outputs under other primitives with the gold's values. Deeper rungs: `level` CHAINED moves
    on all ten digits; the other choices are the same rule with another first move, so every
    choice agrees with the examples on the last level - 1 moves, and only running the whole
    chain from the query tells them apart. Either way the item is kept only if the shortest
    rule over MOVES that fits the examples has exactly `level` moves and every fitting rule of
    that length gives the query the gold output."""
    rng, level, split = s.rng, s.level, s.split
    moves = PRIMITIVES if level == 1 else CHAINED
    program = [rng.choice(sorted(moves)) for _ in range(level)]
    inputs = [tuple(rng.sample(range(10), rng.randint(4, 7) if level == 1 else 10))
              for _ in range(_examples(level, s.distractors) + 1)]
    *examples, query = inputs
    outputs = [compose(program, xs) for xs in examples]
    gold = compose(program, query)
    if len(gold) < 2 or any(signature(gold)[1:]):
        return None  # a sorted output has no same-valued distractor that is also sorted
    lines = [f"Input: {_show(xs)} Output: {_show(out)}" for xs, out in zip(examples, outputs)]
    question = (
        "Every example applies the same rule to a list of numbers.\n"
        + "\n".join(lines)
        + f"\nInput: {_show(query)} Output:"
    )
    if question_split(question) != split:
        return None  # the item loop would drop it; checked here before the costly search
    # Another answer fits the examples, or a shorter rule does: among the rung's own moves first
    # (cheap, and a fit there is one in MOVES), then among all of them once the item is complete.
    if _search(examples, outputs, query, level, moves) != {gold: level}:
        return None
    if moves is PRIMITIVES:  # as short from the query alone as the gold
        shortest = _reorderings(query, gold, level)
        pool = sorted(out for out, length in shortest.items() if out != gold and length == shortest[gold])
    else:
        pool = sorted({compose([first, *program[1:]], query) for first in CHAINED} - {gold})
    if len(pool) < N_CHOICES - 1 or _search(examples, outputs, query, level, MOVES) != {gold: level}:
        return None
    choices = [_show(out) for out in rng.sample(pool, N_CHOICES - 1)]
    choices.insert(target, _show(gold))
    return question, choices, target, level


# --- property induction (bAbI 16) --------------------------------------------------------------
COLORS = ("red", "blue", "green", "yellow", "white", "black", "gray", "purple")


def _group(kinds, subject, member, color):
    """Story lines of one group: `subject` is a kinds[0], every kinds[i] is a kinds[i+1], and
    `member`, a kinds[-1], has the color."""
    lines = [f"{subject} is a {kinds[0]}."]
    lines += [f"Every {a} is a {b}." for a, b in zip(kinds, kinds[1:])]
    return lines + [f"{member} is a {kinds[-1]}.", f"{member} is {color}."]


def _property(s, target):
    """One group per choice color, all of one shape: a person, a chain of `depth` kinds, and
    one member of the last kind with the group's color (bAbI 16's one member per kind). The
    query asks about the person of the gold's group; every choice color is mentioned once and
    every group has a person, a chain and a member alike, so only following the query's chain
    tells the groups apart. `s.distractors` more groups of the same shape take the colors that
    are not choices. The lines are shuffled (kind and color lines apart)."""
    rng, depth, split = s.rng, s.level, s.split
    palette = rng.sample(COLORS, len(COLORS))
    choices, spare = palette[:N_CHOICES], palette[N_CHOICES:]
    colors = choices + [rng.choice(spare) for _ in range(s.distractors)]
    words = sample(rng, split, len(colors) * (depth + 2))
    kinds, people = words[: len(colors) * depth], [w.capitalize() for w in words[len(colors) * depth:]]
    lines = []
    for g, color in enumerate(colors):
        lines += _group(kinds[g * depth: (g + 1) * depth], people[2 * g], people[2 * g + 1], color)
    rng.shuffle(lines)
    gold = rng.randrange(N_CHOICES)  # which group the query asks about
    question = (
        "Things of the same kind are usually the same color.\n"
        + "\n".join(lines)
        + f"\nWhat color is {people[2 * gold]} most likely?\nAnswer:"
    )
    shown = choices[:gold] + choices[gold + 1:]
    rng.shuffle(shown)
    shown.insert(target, choices[gold])
    return question, shown, target, depth


SUBTASKS = (
    Subtask("inductive", "sequence", (2, 3, 4, 5, 6), N_CHOICES, _sequence, max_level=7, version=3.0),
    # listfn: an item costs about 0.1 s of CPU at level 4 and 1 s at 5 (the search), too slow for
    # the test suite's and the battery's hundreds of items per rung: level 5 is built on request
    # only; deeper, four rotations rarely leave a rule of that length the shortest that fits.
    Subtask("inductive", "listfn", (1, 2, 3, 4), N_CHOICES, _listfn, max_level=5, version=3.2),
    Subtask("inductive", "property", tuple(range(1, 7)), N_CHOICES, _property, max_level=12, version=3.0),
)
