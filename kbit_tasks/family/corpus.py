"""The training corpus: generator items from the TRAIN lexicon, rendered as lm-eval scores them.

lm-eval scores a multiple-choice item by the log-likelihood of
`target_delimiter + choice` after `doc_to_text(doc)`, so each training document
is exactly that pair with the gold choice, and the loss falls on the choice. Evaluation stays held out three
ways: the train split draws names from a lexicon disjoint from the eval one,
seeds start far from the evaluation seed, and any item whose question equals an
evaluation question (seed 0, the tasks' default n) is dropped anyway (purely
numeric items, such as sequences, carry no lexicon words; the generators keep
them apart by a hash of the question text, and this filter does not rely on it).
"""
from __future__ import annotations

import functools
import hashlib
import random

from kbit_tasks.family.presets import Preset

CHUNK = 100


def prompt_and_answer(item: dict) -> tuple[str, str]:
    """lm-eval's context (doc_to_text, the question) and scored continuation (" " + gold choice).

    tests/test_family.py checks this against the kbit task configs, so the two cannot drift apart.
    """
    return item["question"], f" {item['choices'][item['gold']]}"


def render(item: dict) -> str:
    """The whole text lm-eval scores for the gold answer."""
    return "".join(prompt_and_answer(item))


def task_keys() -> list[tuple[str, str, int]]:
    """Every (family, subtask, level) the generators provide, in a stable order."""
    from kbit_tasks.generators import SUBTASKS

    return sorted((fam, sub, lvl) for fam, sub, levels in SUBTASKS for lvl in levels)


@functools.lru_cache(maxsize=4)
def eval_questions(heldout_n: int, keys: tuple[tuple[str, str, int], ...] | None = None) -> frozenset[str]:
    """Questions of the evaluation items (seed 0) at up to `heldout_n` items per task (`keys`: all)."""
    from kbit_tasks.generators import generate

    return frozenset({it["question"] for fam, sub, lvl in (keys or task_keys())
            for it in generate(fam, sub, lvl, n=heldout_n, seed=0, split="eval")})


def train_items(fam: str, sub: str, lvl: int, n: int, first_seed: int, held_out: frozenset[str]) -> list[dict]:
    """Up to n train-split items, CHUNK per generator seed from `first_seed` on, minus any held-out question.

    Some subtasks have only a few hundred distinct items per split, so one large call could
    not be served; repeats across chunks are simply repeated training text.
    """
    from kbit_tasks.generators import generate

    items = []
    for c in range(0, n, CHUNK):
        items += generate(fam, sub, lvl, n=min(CHUNK, n - c), seed=first_seed + c // CHUNK, split="train")
    return [it for it in items if it["question"] not in held_out]


def build_corpus(preset: Preset) -> list[tuple[str, str]]:
    """Training (prompt, answer) pairs, shuffled once with the preset's seed (the same order for every size).

    Each (family, subtask, level) gives the preset's items for its family (the data mix).
    """
    per_family = dict(preset.items_per_task)
    held_out = eval_questions(preset.heldout_n)
    docs = []
    for i, (fam, sub, lvl) in enumerate(task_keys()):
        items = train_items(fam, sub, lvl, per_family.get(fam, 0), preset.corpus_seed + 1000 * i, held_out)
        docs.extend(prompt_and_answer(it) for it in items)
    random.Random(preset.seed).shuffle(docs)
    return docs


def corpus_hash(docs: list[tuple[str, str]]) -> str:
    return hashlib.sha256("\x00".join(q + a for q, a in docs).encode()).hexdigest()
