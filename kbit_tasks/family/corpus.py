"""The training corpus: generator items from the TRAIN lexicon, rendered as lm-eval scores them.

lm-eval scores a multiple-choice item by the log-likelihood of
`target_delimiter + choice` after `doc_to_text(doc)`, so each training document
is exactly that string with the gold choice. Evaluation stays held out three
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


def render(item: dict) -> str:
    """The text lm-eval scores for the gold answer: doc_to_text (the question) + " " + gold choice.

    tests/test_family.py checks this against the kbit task configs, so the two cannot drift apart.
    """
    return f"{item['question']} {item['choices'][item['gold']]}"


def task_keys() -> list[tuple[str, str, int]]:
    """Every (family, subtask, level) the generators provide, in a stable order."""
    from kbit_tasks.generators import SUBTASKS

    return sorted((fam, sub, lvl) for fam, sub, levels in SUBTASKS for lvl in levels)


@functools.lru_cache(maxsize=4)
def eval_questions(heldout_n: int) -> frozenset[str]:
    """Questions of the evaluation items (seed 0) at up to `heldout_n` items per task."""
    from kbit_tasks.generators import generate

    return frozenset({it["question"] for fam, sub, lvl in task_keys()
            for it in generate(fam, sub, lvl, n=heldout_n, seed=0, split="eval")})


def build_corpus(preset: Preset) -> list[str]:
    """Training documents, shuffled once with the preset's seed (the same order for every size).

    Items come in chunks of CHUNK, one generator seed per chunk: some subtasks have only a few
    hundred distinct items per split, so one large call could not be served; repeats across
    chunks are simply repeated training text.
    """
    from kbit_tasks.generators import generate

    held_out = eval_questions(preset.heldout_n)
    docs = []
    for i, (fam, sub, lvl) in enumerate(task_keys()):
        for c in range(0, preset.items_per_task, CHUNK):
            seed = preset.corpus_seed + 1000 * i + c // CHUNK
            items = generate(fam, sub, lvl, n=min(CHUNK, preset.items_per_task - c), seed=seed, split="train")
            docs.extend(render(it) for it in items if it["question"] not in held_out)
    random.Random(preset.seed).shuffle(docs)
    return docs


def corpus_hash(docs: list[str]) -> str:
    return hashlib.sha256("\x00".join(docs).encode()).hexdigest()
