"""Cues aimed at one subtask: the shortcuts the v1 items allowed, read from the item text.

Each one is shallow on purpose: it reads single statements (a rule's conclusion, a premise's
mood, who stands on which side of a comparison, one edge or a two-edge path), never a chain of
them. Parsing is by pattern over the prompt wording; where a pattern finds nothing the key is
None, which the battery shows as "-" (and the tests require every cue to parse real items).
"""
from __future__ import annotations

import math
import re
from collections import Counter

from .cues import Cue, _choice_names, _question_names, rank
from .text import TOKEN, as_list, choice_identity, context_and_query, delex_tokens, mentions, nonce_stem, numbers

CONDITIONAL = re.compile(r"\b(?:if|then|every|everyone|everything|whoever|who|all|any)\b", re.I)
NOT = re.compile(r"\b(?:not|no|never)\b", re.I)


def _literal(text: str) -> tuple[bool, str | None]:
    """(negated?, the last invented word): "Kusif is not pozap" -> (True, "pozap")."""
    names = _question_names(text)
    return bool(NOT.search(text)), (names[-1] if names else None)


# ---- logical/rules -------------------------------------------------------------------------

def _statement(query: str) -> str:
    """The claim a query asks about: quoted, or after "Statement:"/"Hypothesis:"/"Conclusion:"."""
    quoted = re.search(r'"([^"]+)"', query)
    if quoted:
        return quoted[1]
    return re.sub(r"^(?:statement|hypothesis|conclusion|claim)\s*:\s*", "", query, flags=re.I)


def _conclusion(rule: str) -> str:
    """The part of a rule that it concludes: after "then", else after the last comma or "is/are"."""
    if re.search(r"\bthen\b", rule, re.I):
        return re.split(r"\bthen\b", rule, flags=re.I)[-1]
    if "," in rule:
        return rule.rsplit(",", 1)[-1]
    return re.split(r"\b(?:is|are)\b", rule)[-1]


def _rule_conclusions(it, i):
    """Whether some rule concludes the statement's literal, its negation; whether a fact states
    either; crossed with the answer. v1: literal -> True, negation -> False, both -> Unknown."""
    context, query = context_and_query(it["question"])
    neg, pred = _literal(_statement(query))
    concl, facts = set(), set()
    for line in context:
        if CONDITIONAL.search(line):
            concl.add(_literal(_conclusion(line)))
        elif pred in _question_names(line) and _question_names(_statement(query))[:1] == _question_names(line)[:1]:
            facts.add(_literal(line))
    if pred is None:
        return None
    return ((neg, pred) in concl, (not neg, pred) in concl, (neg, pred) in facts, (not neg, pred) in facts,
            choice_identity(it, i))


# ---- logical/syllogism ---------------------------------------------------------------------

def _form(sentence: str) -> str | None:
    """A, E, I or O of a categorical statement, from its quantifier."""
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", sentence)]
    words = words[1:] if words[:1] == ["conclusion"] else words
    if not words:
        return None
    if words[0] in ("all", "every", "each"):
        return "A"
    if words[0] in ("no", "none", "nothing"):
        return "E"
    if words[0] == "some":
        return "O" if "not" in words else "I"
    return None


def _categorical(it):
    """(premises, conclusion) as (form, terms) pairs; the conclusion is the "Conclusion:" or
    quoted statement, else the last categorical line."""
    context, query = context_and_query(it["question"])
    stated = [x for x in (*context, query) if _form(x) and len(_question_names(x)) >= 2]
    marked = [x for x in (*context, query) if x.lower().startswith("conclusion") or '"' in x]
    conclusion = _statement(marked[-1]) if marked else (stated[-1] if stated else None)
    if conclusion is None or _form(conclusion) is None:
        return None
    premises = [x for x in stated if _statement(x) != conclusion and not x.lower().startswith("conclusion")]
    return [(_form(p), _question_names(p)) for p in premises], (_form(conclusion), _question_names(conclusion))


def _mood(it, i):
    """Which A/E/I/O forms occur (ignoring which terms they link) and the conclusion's form."""
    parsed = _categorical(it)
    if parsed is None:
        return None
    premises, (cform, _) = parsed
    return tuple(sorted(f for f, _ in premises)), cform, choice_identity(it, i)


def _mood_positions(it, i):
    """The mood plus where the conclusion's subject and predicate stand in each premise."""
    parsed = _categorical(it)
    if parsed is None:
        return None
    premises, (cform, cterms) = parsed

    def role(term, terms):
        return "S" if terms[:1] == [term] else "P" if term in terms[1:] else "-"

    shape = tuple(sorted((f, *(role(t, terms) for t in cterms[:2])) for f, terms in premises))
    return shape, cform, choice_identity(it, i)


# ---- logical/ordering ----------------------------------------------------------------------

COMPARISON = re.compile(r"(\w+) is (\w+) than (\w+)")


def _side_counts(it):
    """For each name: mentions on the side the query asks about minus the other side, counted
    line by line (no chaining), and the query's comparison word."""
    context, query = context_and_query(it["question"])
    words = Counter(m[2] for x in context for m in COMPARISON.finditer(x))
    asked = next((w.lower() for w in re.findall(r"[A-Za-z]+", query) if w.lower() in words), None)
    net = Counter()
    for line in context:
        for a, word, b in COMPARISON.findall(line):
            sign = 1 if word == asked else -1
            net[nonce_stem(a)] += sign
            net[nonce_stem(b)] -= sign
    return net, asked, query


def _net_side(it, i):
    """v1 ordering cue: the name most often on the asked-about side. For a yes/no query
    "Is A taller than B?": whether A's count beats B's, crossed with the answer."""
    net, asked, query = _side_counts(it)
    if asked is None:
        return None
    names = [_choice_names(it, j) for j in range(len(it["choices"]))]
    if all(len(n) == 1 for n in names):
        return rank([net[n[0]] for n in names], i)
    pair = _question_names(query)[:2]
    if len(pair) < 2:
        return None
    return (net[pair[0]] > net[pair[1]], net[pair[0]] == net[pair[1]], choice_identity(it, i))


def _subject_side(it, i):
    """How often the choice is the sentence subject (the name said first) of a comparison, per
    comparison word, line by line, crossed with the query's word. At distance 1 the comparison
    between the asked two decides alone, so which of them it names first must not recur as a
    pattern over the other lines."""
    _, asked, _ = _side_counts(it)
    names = _choice_names(it, i)
    if asked is None or len(names) != 1:
        return None
    context, _ = context_and_query(it["question"])
    said = Counter(word for x in context for a, word, _ in COMPARISON.findall(x) if nonce_stem(a) == names[0])
    return asked, tuple(sorted(said.items()))


# ---- causal --------------------------------------------------------------------------------

EDGE = re.compile(r"^(\w+) (?:directly )?causes (\w+)\b|^(\w+) -> (\w+)|^(\w+) is a direct cause of (\w+)")


def _graph(context):
    """Directed edges stated line by line, as (cause, effect) stems."""
    out = set()
    for line in context:
        m = EDGE.search(line)
        if m:
            a, b = [g for g in m.groups() if g]
            out.add((nonce_stem(a), nonce_stem(b)))
    return out


def _reach(edges, start, blocked=frozenset()) -> set:
    """Nodes reachable from start along directed edges, not passing through blocked nodes."""
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in seen and b not in blocked:
                seen.add(b)
                todo.append(b)
    return seen


def _asked_pair(it):
    context, query = context_and_query(it["question"])
    names = _question_names(query)
    return _graph(context), names


def _two_hop(it, i):
    """v1 intervention cue: an edge X->Y, or some Z with X->Z->Y (X set, Y asked about)."""
    edges, names = _asked_pair(it)
    if len(names) < 2 or not edges:
        return None
    x, y = names[0], names[1]
    middle = {b for a, b in edges if a == x} & {a for a, b in edges if b == y}
    return (x, y) in edges, bool(middle), choice_identity(it, i)


def _degrees(it, i):
    """Whether each asked variable has causes and effects (roots and leaves), crossed with the answer."""
    edges, names = _asked_pair(it)
    if len(names) < 2 or not edges:
        return None
    deg = tuple((any(a == v for a, _ in edges), any(b == v for _, b in edges)) for v in names[-2:])
    return deg, choice_identity(it, i)


OBSERVED = re.compile(r"same value of (.+?)\.\s")


def _observed_degrees(it, i):
    """How many causes and how many effects each observed variable has (capped at 2), never
    where it stands between the asked two, crossed with the answer: an observed variable with
    two causes has the shape of explaining away. It reads one variable at a time, one step;
    on a depth-1 dsep item (one observed common effect of the asked two) that is the inference."""
    context, _ = context_and_query(it["question"])
    observed = OBSERVED.search(it["question"])
    edges = _graph(context)
    if not observed or not edges:
        return None
    stems = [nonce_stem(w) for w in re.split(r"\s+and of\s+", observed[1])]
    return (tuple(sorted((min(2, sum(b == v for _, b in edges)), min(2, sum(a == v for a, _ in edges)))
                         for v in stems)), choice_identity(it, i))


def _reach_out(links: int):
    """How far the asked variables' causes and effects go, up to `links` links out: for each,
    how many levels of causes above it and of effects below it, and how many variables those
    levels hold (capped at 4), crossed with the answer. Searches outward from each variable
    separately and never joins the two (a Yes item's X tends to sit high in the causal order
    and its Y low); it performs `links` steps, so it only counts on deeper items."""

    def key(it, i):
        edges, names = _asked_pair(it)
        if len(names) < 2 or not edges:
            return None

        def reach(v, up):
            seen, front, levels = {v}, {v}, 0
            while front and levels < links:
                front = {a if up else b for a, b in edges if (b if up else a) in front} - seen
                seen |= front
                levels += bool(front)
            return levels, min(len(seen) - 1, 4)

        return tuple((reach(v, True), reach(v, False)) for v in names[-2:]), choice_identity(it, i)

    return key


def _open_without_colliders(it, i):
    """v1 dsep cue: dependent iff a directed path or a common cause links the last two names of
    the query avoiding the other (observed) names: d-separation with collider logic ignored."""
    edges, names = _asked_pair(it)
    if len(names) < 2 or not edges:
        return None
    x, y, observed = names[-2], names[-1], frozenset(names[:-2])
    linked = y in _reach(edges, x, observed) or x in _reach(edges, y, observed)
    ancestors = {a for a, _ in edges} - observed
    common = any({x, y} <= _reach(edges, c, observed) for c in ancestors)
    return linked or common, len(observed), choice_identity(it, i)


# ---- any subtask with named choices: the lines that name them ------------------------------

def _lines_naming(it, i):
    """Corr2Cause-style cue: the templates of the context lines that name all of the choice's
    words (correlated? independent? given what?), without chaining them, plus the answer."""
    context, _ = context_and_query(it["question"])
    own = set(_choice_names(it, i))
    if not own:
        return None
    shapes = set()
    for line in context:
        if own <= set(_question_names(line)):
            names = {n: "C" for n in own}
            shapes.add(" ".join(delex_tokens(line, names)))
    return tuple(sorted(shapes)), choice_identity(it, i)


def _lines_naming_asked(it, i):
    """Corr2Cause-style cue: the statement's own shape and the templates of the context lines that
    name all of its invented words (the pair's own findings or edges), not chained, plus the answer."""
    context, query = context_and_query(it["question"])
    statement = _statement(query)
    asked = _question_names(statement)
    if not asked:
        return None
    roles = {n: f"Q{j + 1}" for j, n in enumerate(asked)}

    def shape(line):
        return re.sub(r"\bW\d+\b", "W", " ".join(delex_tokens(line, dict(roles))))

    # Lines naming many more things (a list of all variables) say nothing about these ones.
    found = sorted({shape(x) for x in context
                    if set(asked) <= set(_question_names(x)) and len(_question_names(x)) <= len(asked) + 1})
    return shape(statement), tuple(found), choice_identity(it, i)


# ---- inductive -----------------------------------------------------------------------------

def _gcd_not_shown(it, i):
    """v1 sequence cue: divisible by the gcd of the shown terms and not one of them."""
    shown = [int(x) for x in numbers(it["question"]) if x == int(x)]
    value = numbers(it["choices"][i])
    if len(value) != 1 or not shown:
        return None
    g = math.gcd(*shown)
    return g > 1 and value[0] % g == 0, value[0] not in shown


def _shown_and_choice(it, i):
    """The shown sequence terms and the choice's value, or None if the choice is not one number."""
    shown = [int(x) for x in numbers(it["question"])]
    value = numbers(it["choices"][i])
    return (shown, int(value[0])) if len(shown) >= 3 and len(value) == 1 else (None, None)


def _step_divisibility(it, i):
    """Is the choice's step from the last term a multiple of the gcd of all shown differences,
    and of the last difference? (A recurrence's next difference is an integer combination of the
    last ones, so the gold's always is a multiple of their gcd.)"""
    shown, v = _shown_and_choice(it, i)
    if shown is None:
        return None
    diffs = [b - a for a, b in zip(shown, shown[1:])]
    step = v - shown[-1]
    g_all, g_last = math.gcd(*diffs) or 1, abs(diffs[-1]) or 1
    return step % g_all == 0, step % g_last == 0


def _step_residue(modulus):
    def key(it, i):
        shown, v = _shown_and_choice(it, i)
        return None if shown is None else (v - shown[-1]) % modulus
    return key


def _rough_continuations(it, i):
    """Rank of the choice's distance to each rough continuation that finds no recurrence: the
    last difference repeated, the last ratio repeated, the second differences continued."""
    shown, _ = _shown_and_choice(it, i)
    if shown is None or any(_shown_and_choice(it, j)[1] is None for j in range(len(it["choices"]))):
        return None
    t = shown
    guesses = [2 * t[-1] - t[-2], t[-1] * t[-1] / t[-2] if t[-2] else t[-1], 3 * t[-1] - 3 * t[-2] + t[-3]]
    values = [_shown_and_choice(it, j)[1] for j in range(len(it["choices"]))]
    return tuple(rank([-abs(v - e) for v in values], i) for e in guesses)


INVARIANTS = (
    lambda a, b: len(b) - len(a),
    lambda a, b: sorted(a) == sorted(b),
    lambda a, b: set(b) <= set(a),
    lambda a, b: b == sorted(b),
    lambda a, b: b == sorted(b, reverse=True),
    lambda a, b: sum(a) % 2 == sum(b) % 2,
)


def _lists(it, i):
    """(the examples' (input, output) pairs, the asked input, choice i) of a list item, or None."""
    context, query = context_and_query(it["question"])
    pairs = [(as_list(a), as_list(b)) for x in context for a, b in re.findall(r"(\[[^\]]*\])\D+(\[[^\]]*\])", x)]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    asked = re.findall(r"\[[^\]]*\]", query)
    choice = as_list(it["choices"][i])
    if not pairs or not asked or choice is None or as_list(asked[-1]) is None:
        return None
    return pairs, as_list(asked[-1]), choice


def _agrees(feature, pairs, asked, choice):
    """Per part of `feature(input, output)`: whether the choice's part is the one every example
    shows (None where the examples differ, or the part is missing)."""
    shown = [feature(a, b) for a, b in pairs]
    mine = feature(asked, choice)
    key = []
    for k, part in enumerate(mine):
        values = {f[k] for f in shown}
        key.append(part == values.pop() if len(values) == 1 and None not in values and part is not None else None)
    return tuple(key)


def _listfn_invariants(it, i):
    """v1 listfn cue: for each coarse invariant (length change, multiset, subset, sortedness,
    sum parity) on which every example agrees, whether the choice agrees too."""
    lists = _lists(it, i)
    return lists and _agrees(lambda a, b: tuple(f(a, b) for f in INVARIANTS), *lists)


def _place(xs, j):
    """Index j of a list of len(xs), named from its nearer end."""
    return ("start", j) if j <= len(xs) - 1 - j else ("end", len(xs) - 1 - j)


def _end_sources(it, i):
    """Where the choice's first two and last two entries come from in the asked list (named from
    its nearer end), each compared with where every example's output takes them from. Adding or
    doubling keeps the values' order, so an entry is matched to the input entry of the same rank
    when the lengths agree, else to the same value. It reads where entries go, not the rule that
    moves them: one step, which on depth-1 items is the inference."""
    def sources(a, b):
        def source(v):
            if len(a) == len(b):
                return _place(a, a.index(sorted(a)[sorted(b).index(v)]))
            return _place(a, a.index(v)) if v in a else None
        return tuple(source(b[k]) if len(b) >= 4 else None for k in (0, 1, -2, -1))
    lists = _lists(it, i)
    return lists and _agrees(sources, *lists)


def _extremes(it, i):
    """Where the largest and the smallest entry stand in the choice (first, last or inside),
    each compared with where they stand in every example's output: the answer's shape, copied
    without reading any rule."""
    def stands(b, j):
        return "first" if j == 0 else "last" if j == len(b) - 1 else "inside"

    def shape(_, b):
        return tuple(stands(b, b.index(f(b))) for f in (max, min)) if len(b) >= 3 else (None, None)
    lists = _lists(it, i)
    return lists and _agrees(shape, *lists)


def _turned(a, b):
    """How far b is a left rotation of a, or None."""
    return next((k for k in range(len(a)) if len(a) == len(b) and b == a[k:] + a[:k]), None)


def _turn(it, i):
    """How far the choice is turned from the asked list; whether some example's output is turned
    as far; and which one-move rotations by an end entry of the asked list it is. listfn's deeper
    rungs chain such rotations: this reads one of them and the examples' shape, one step."""
    lists = _lists(it, i)
    if not lists:
        return None
    pairs, asked, choice = lists
    k = _turned(asked, choice)
    if k is None or not asked:
        return ("not a turn of the asked list",)
    n = len(asked)
    return k, k in {_turned(a, b) for a, b in pairs}, tuple((k - sign * v) % n == 0
                                                             for sign in (1, -1) for v in (asked[0], asked[-1]))


def _kind_of(context, entity):
    """The kind an entity is said to be ("X is a K."), as a stem."""
    for line in context:
        m = re.match(rf"{entity} is an? (\w+)", line, re.I)
        if m:
            return nonce_stem(m[1])
    return None


def _adjacent_copy(it, i):
    """v1 property cue: the attribute on the line right after the first other line naming the
    query entity's kind (copying, not induction); and how many lines after a kind line name it."""
    context, query = context_and_query(it["question"])
    asked = _question_names(query)
    if not asked:
        return None
    entity = next(t for t in TOKEN.findall(query) if nonce_stem(t) == asked[0])
    kind = _kind_of(context, entity)
    if kind is None:
        return None
    kind_lines = [j for j, x in enumerate(context)
                  if kind in _question_names(x) and nonce_stem(entity) not in _question_names(x)]
    after = [context[j + 1] for j in kind_lines if j + 1 < len(context)]
    choice = it["choices"][i]
    return bool(after) and mentions(after[0], choice), min(3, sum(mentions(x, choice) for x in after))


def _kind_mates(it, i):
    """Majority attribute among the members of the query entity's own kind, ignoring "Every K is
    a J" links (one hop of the induction, without the hierarchy): rank of the choice's count."""
    context, query = context_and_query(it["question"])
    asked = _question_names(query)
    if not asked:
        return None
    kind = next((k for k in (_kind_of(context, w) for w in TOKEN.findall(query) if nonce_stem(w) == asked[0]) if k),
                None)
    if kind is None:
        return None
    mates = {nonce_stem(m[1]) for x in context
             if (m := re.match(r"(\w+) is an? (\w+)", x)) and nonce_stem(m[2]) == kind}
    mates.discard(asked[0])
    counts = [sum(mentions(x, c) and _question_names(x)[:1] and _question_names(x)[0] in mates
                  and not re.search(r" an? ", x)
                  for x in context) for c in it["choices"]]
    return rank(counts, i)


def _group_shape(it, i):
    """The shape of the choice attribute's groups, never joined to the query: for each member
    with the attribute, how many "Every K is a J" links lead down into its kind and how many
    attribute-less entities hang below it (capped at 4). If the asked entity's group alone had
    a chain or an entity, the shape would name it without the chain being followed."""
    context, _ = context_and_query(it["question"])
    links, under, attribute = {}, {}, {}
    for line in context:
        if m := re.fullmatch(r"Every (\w+) is an? (\w+)\.", line):
            links.setdefault(m[2], []).append(m[1])
        elif m := re.fullmatch(r"(\w+) is an? (\w+)\.", line):
            under.setdefault(m[2], []).append(m[1])
        elif m := re.fullmatch(r"(\w+) is (\w+)\.", line):
            attribute[m[1]] = m[2]

    def below(kind, seen=()):
        found = [below(k, seen + (kind,)) for k in links.get(kind, ()) if k not in seen]
        entities = sum(e not in attribute for e in under.get(kind, ()))
        return max([d + 1 for d, _ in found], default=0), min(4, entities + sum(n for _, n in found))

    kinds = [k for k, es in under.items() for e in es if attribute.get(e) == it["choices"][i]]
    return tuple(sorted(below(k) for k in kinds)) or None


TASK_CUES = (
    Cue("rule concludes literal", _rule_conclusions, ("rules",)),
    Cue("mood", _mood, ("syllogism",)),
    # At depth 1 the one premise naming both conclusion terms, with its form, is the inference.
    Cue("mood + positions", _mood_positions, ("syllogism",), steps_on=(("syllogism", 1),)),
    Cue("net side count", _net_side, ("ordering",)),
    Cue("said first, per comparison word", _subject_side, ("ordering",)),
    Cue("edge or 2-hop path", _two_hop, ("intervention",), steps=2),
    Cue("in/out edges", _degrees, ("intervention", "dsep")),
    Cue("causes and effects two links out", _reach_out(2), ("intervention", "dsep"), steps=2),
    Cue("causes and effects three links out", _reach_out(3), ("intervention", "dsep"), steps=3),
    Cue("path ignoring colliders", _open_without_colliders, ("dsep",)),
    Cue("observed variables' causes and effects", _observed_degrees, ("dsep",), steps=1),
    Cue("lines naming the choice", _lines_naming),
    # In ordering, syllogism, intervention and dsep those lines are the stated relations between
    # the asked two (a one-link intervention item's answer is its one line): one step. In
    # correlation they are a finding.
    Cue("lines naming the asked words", _lines_naming_asked,
        steps_on=(("ordering", 1), ("syllogism", 1), ("intervention", 1), ("dsep", 1))),
    Cue("gcd, not shown", _gcd_not_shown, ("sequence",)),
    Cue("step divisibility", _step_divisibility, ("sequence",)),
    Cue("step mod 8", _step_residue(8), ("sequence",)),
    Cue("step mod 3", _step_residue(3), ("sequence",)),
    Cue("closest rough continuation", _rough_continuations, ("sequence",)),
    Cue("coarse invariants", _listfn_invariants, ("listfn",)),
    Cue("where the end entries come from", _end_sources, ("listfn",), steps=1),
    Cue("where the extremes stand", _extremes, ("listfn",)),
    Cue("how far the choice is turned", _turn, ("listfn",), steps=1),
    Cue("adjacent-line copy", _adjacent_copy, ("property",)),
    Cue("kind-mates' majority", _kind_mates, ("property",), steps=1),
    Cue("group shape", _group_shape, ("property",)),
)
