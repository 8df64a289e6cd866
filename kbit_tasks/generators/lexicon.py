"""Pronounceable nonce words, split into two disjoint lexicons: "eval" and "train".

Items are built from invented words so that world knowledge cannot answer them.
A word belongs to exactly one split (chosen by a hash of the word), so a training
corpus generated with `split="train"` never names anything an evaluation item names.
"""
from __future__ import annotations

import hashlib
import itertools
import re
from functools import lru_cache

SPLITS = ("eval", "train")
_ONSETS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_CODAS = "fkpz"  # rare word endings in English keep real words out of the lexicon
# Any word of either split, capitalised or with a plural "s": the nonce words in an item's text.
NONCE = re.compile(rf"\b[{_ONSETS}][{_VOWELS}][{_ONSETS}][{_VOWELS}][{_CODAS}]s?\b", re.IGNORECASE)


def word_split(word: str) -> str:
    """The split a word belongs to: a stable hash, the same on every machine."""
    return SPLITS[hashlib.sha256(word.encode()).digest()[0] & 1]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not valid; choose one of {SPLITS}")
    return split


@lru_cache(maxsize=None)
def words(split: str) -> tuple[str, ...]:
    """All CVCVC nonce words of one split, sorted (about 9,800 per split)."""
    check_split(split)
    every = ("".join(w) for w in itertools.product(_ONSETS, _VOWELS, _ONSETS, _VOWELS, _CODAS))
    return tuple(w for w in every if word_split(w) == split)


def sample(rng, split: str, k: int) -> list[str]:
    """k distinct lower-case nonce words of the split."""
    return rng.sample(words(split), k)


def names(rng, split: str, k: int) -> list[str]:
    """k distinct capitalised nonce words, used as names of people or variables."""
    return [w.capitalize() for w in sample(rng, split, k)]
