"""The generator contract: validated arguments, determinism across processes, balanced gold
labels, no duplicates, and evaluation text kept out of the training split."""
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kbit_tasks.generators import SUBTASKS, content_hash, generate, get_subtask, task_name
from kbit_tasks.generators.base import Subtask, build, question_split
from kbit_tasks.generators.lexicon import words

ALL = [(f, s, lv) for f, s, levels in SUBTASKS for lv in levels]
KEYS = {"question", "choices", "gold", "family", "subtask", "level", "distractors", "chance", "depth"}


def test_at_least_three_subtasks_of_three_levels_per_family():
    per_family = Counter(f for f, _, levels in SUBTASKS if len(levels) >= 3)
    assert per_family == {"logical": 3, "causal": 3, "inductive": 3}


@pytest.mark.parametrize("family,subtask,level", ALL)
def test_items_balanced_distinct_and_well_formed(family, subtask, level):
    items = generate(family, subtask, level, 120)
    assert len(items) == 120
    assert len({it["question"] for it in items}) == 120
    k = len(items[0]["choices"])
    assert 2 <= k <= 5
    for it in items:
        assert set(it) == KEYS and (it["family"], it["subtask"], it["level"]) == (family, subtask, level)
        assert len(it["choices"]) == k and len(set(it["choices"])) == k and it["chance"] == 1 / k
    counts = Counter(it["gold"] for it in items)
    assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == k
    # a prefix (what --limit keeps) is balanced too: gold positions come in shuffled blocks
    first = Counter(it["gold"] for it in items[: 4 * k])
    assert set(first.values()) == {4}


# A dozen items a task is several label blocks and pairs of every paired generator: enough for
# any dependence on the process (hash seed, set order) to show, at a third of 30 items' cost.
N_HASHED = 12
HASH_SCRIPT = f"""
import json
from kbit_tasks.generators import SUBTASKS, content_hash, generate, task_name
print(json.dumps({{task_name(f, s, lv): content_hash(generate(f, s, lv, {N_HASHED}, seed=7))
                  for f, s, levels in SUBTASKS for lv in levels}}))
"""
PINNED = Path(__file__).with_name("item_hashes.json")


def pinned_now() -> dict:
    """{task: [version, hash of its first N_HASHED items, seed 7]} for every shipped rung."""
    return {task_name(f, s, lv): [get_subtask(f, s).version, content_hash(generate(f, s, lv, N_HASHED, seed=7))]
            for f, s, lv in ALL}


@pytest.mark.slow  # generates every task's items (the correlation ones dominate)
def test_same_seed_same_bytes_in_other_processes():
    """Another process with another string-hash seed makes the same bytes (this one's seed is
    another still: the test asserts it differs)."""
    assert os.environ.get("PYTHONHASHSEED") != "4242"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run([sys.executable, "-c", HASH_SCRIPT], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {task: digest for task, (_, digest) in pinned_now().items()}


def test_items_change_only_with_their_version():
    """Records and benchmark cells are reused by task version: items that changed under an
    unchanged version would be read as the old ones. The first items of every rung hash to
    what was pinned for its version, so a refactor that makes other items fails here."""
    pinned, now = json.loads(PINNED.read_text()), pinned_now()
    stale = sorted(t for t, (version, digest) in now.items() if pinned.get(t, [None])[0] == version
                   and pinned[t][1] != digest)
    assert not stale, f"items of {stale} changed under an unchanged version: bump their Subtask.version"
    assert pinned == now, "versions or rungs changed: pin their items with `python tests/test_generators.py`"


def test_seed_changes_items_and_hash_is_canonical():
    a = generate("logical", "rules", 1, 20, seed=0)
    b = generate("logical", "rules", 1, 20, seed=1)
    assert content_hash(a) != content_hash(b)
    reordered = [dict(reversed(list(it.items()))) for it in a]
    assert content_hash(reordered) == content_hash(a)
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash(a))


@pytest.mark.slow  # generates every task's items (the correlation ones dominate)
def test_train_split_shares_no_word_or_question_with_eval():
    assert not set(words("eval")) & set(words("train"))
    eval_words = set(words("eval"))
    for family, subtask, level in ALL:
        train = generate(family, subtask, level, 30, split="train")
        evals = generate(family, subtask, level, 30)
        assert not {it["question"] for it in train} & {it["question"] for it in evals}
        train_tokens = {w.lower().rstrip("s") for it in train for w in re.findall(r"[A-Za-z]+", it["question"])}
        assert not train_tokens & eval_words, (family, subtask)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"family": "deductive"}, r"family='deductive'.*logical"),
        ({"subtask": "nope"}, r"subtask='nope'.*syllogism"),
        ({"level": 13}, r"level=13.*from 1 to 12"),
        ({"distractors": -1}, r"distractors=-1.*0 to 64"),
        ({"n": 0}, r"n=0.*1 to 10000"),
        ({"n": "50"}, r"n='50'"),
        ({"seed": -1}, r"seed=-1"),
        ({"split": "test"}, r"split='test'.*'eval', 'train'"),
    ],
)
def test_bad_arguments_name_the_value_and_the_choices(kwargs, message):
    args = {"family": "logical", "subtask": "syllogism", "level": 1, "n": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(**args)


def test_too_many_items_for_a_small_space_is_a_clear_error():
    """A maker with only five distinct questions (no real subtask's space is that small)."""
    small = [q for q in (f"Is {k} small?\nAnswer:" for k in range(40)) if question_split(q) == "eval"][:5]

    def make(s, target):
        return s.rng.choice(small), ["Yes", "No"], target, 1

    with pytest.raises(ValueError, match=r"only 5 distinct items found; ask for fewer \(n <= 5\)"):
        build(Subtask("toy", "small", (1,), 2, make), 1, 10, 0, "eval")


if __name__ == "__main__":  # pin the items of the current versions (after a version bump)
    rows = [f"  {json.dumps(task)}: {json.dumps(pin)}" for task, pin in sorted(pinned_now().items())]
    PINNED.write_text("{\n" + ",\n".join(rows) + "\n}\n")
