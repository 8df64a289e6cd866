"""Reading an item's surface: lines, the query, nonce words, numbers, and where a choice is
mentioned. Everything here is deliberately shallow (no fact is chained to another): it is the
vocabulary the shortcut cues and the probe are allowed to use."""
from __future__ import annotations

import math
import re
from functools import lru_cache

from kbit_tasks.generators.lexicon import SPLITS, words

TOKEN = re.compile(r"[A-Za-z]+|-?\d+|[^\sA-Za-z\d]")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@lru_cache(maxsize=None)
def _nonce_words() -> frozenset[str]:
    return frozenset(w for split in SPLITS for w in words(split))


def nonce_stem(token: str) -> str | None:
    """The lexicon word behind an invented word or name of either split ("Medazs" -> "medaz"),
    or None for any other token."""
    t = token.lower()
    nonce = _nonce_words()
    if t in nonce:
        return t
    return t[:-1] if t.endswith("s") and t[:-1] in nonce else None


@lru_cache(maxsize=4096)
def lines(question: str) -> tuple[str, ...]:
    """The question's non-empty lines without the trailing "Answer:" prompt."""
    out = tuple(x.strip() for x in question.splitlines() if x.strip())
    return out[:-1] if out and out[-1].rstrip(":") == "Answer" else out


@lru_cache(maxsize=4096)
def context_and_query(question: str) -> tuple[tuple[str, ...], str]:
    """The lines before the query, and the query: the last line that names something invented
    (the statement, hypothesis or question about named things; instructions after it are
    dropped), else the last line."""
    body = lines(question)
    named = [i for i, x in enumerate(body) if any(nonce_stem(t) for t in TOKEN.findall(x))]
    at = named[-1] if named else len(body) - 1
    return body[:max(at, 0)], (body[at] if body else "")


def number_bucket(text: str) -> str:
    """Numbers lose their value but keep their size: 7 -> <10, 42 -> <100, -3 -> neg."""
    value = float(text)
    if value < 0:
        return "<NUMneg>"
    return f"<NUM{10 ** max(1, math.ceil(math.log10(value + 1)))}>"


def delex_tokens(text: str, names: dict[str, str] | None = None) -> list[str]:
    """Tokens with nonce words replaced by W1, W2, ... in order of first appearance (sharing
    `names` across calls keeps one numbering per item) and numbers bucketed."""
    names = {} if names is None else names
    out = []
    for tok in TOKEN.findall(text):
        stem = nonce_stem(tok)
        if stem is not None:
            out.append(names.setdefault(stem, f"W{len(names) + 1}"))
        elif NUMBER.fullmatch(tok):
            out.append(number_bucket(tok))
        else:
            out.append(tok.lower())
    return out


def ngrams(tokens: list[str], n_max: int = 2) -> list[str]:
    return [" ".join(tokens[i:i + n]) for n in range(1, n_max + 1) for i in range(len(tokens) - n + 1)]


@lru_cache(maxsize=4096)
def choice_pattern(choice: str) -> re.Pattern:
    """The choice's text as a whole word or number (not inside one)."""
    return re.compile(rf"(?<![\w-]){re.escape(choice.strip().rstrip('.'))}(?![\w])")


@lru_cache(maxsize=200_000)
def mentions(line: str, choice: str) -> bool:
    return choice_pattern(choice).search(line) is not None


def choice_identity(item: dict, i: int) -> str:
    """What a choice is, without its invented words: Yes/No/Unknown, a colour, or a template whose
    nonce words say where they stand in the query ("Q1 causes Q2 ...", "W" if not in the query)."""
    _, query = context_and_query(item["question"])
    in_query = {}
    for tok in TOKEN.findall(query):
        if nonce_stem(tok):
            in_query.setdefault(nonce_stem(tok), f"Q{len(in_query) + 1}")
    out = []
    for tok in TOKEN.findall(item["choices"][i]):
        if nonce_stem(tok):
            out.append(in_query.get(nonce_stem(tok), "W"))
        elif NUMBER.fullmatch(tok):
            out.append("<NUM>")
        else:
            out.append(tok.lower())
    return " ".join(out)


def numbers(text: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(text)]


def as_number(choice: str) -> float | None:
    """The choice's value if the choice is one number."""
    return float(choice) if NUMBER.fullmatch(choice.strip()) else None


def as_list(choice: str) -> list[int] | None:
    """The choice as a list of integers if it is written "[1, 2, 3]"."""
    m = re.fullmatch(r"\[\s*(-?\d+(?:\s*,\s*-?\d+)*)?\s*\]", choice.strip())
    return None if m is None else [int(x) for x in re.findall(r"-?\d+", choice)]
