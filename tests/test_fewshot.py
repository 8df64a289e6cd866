"""Few-shot examples the lm-eval way: a train split from the generators' disjoint lexicon, shots
balanced over the gold answers, deterministic, and `--num_fewshot` through lm-eval's API, its CLI
and `kbit-eval`."""
import functools
import json
import sys
from collections import Counter

import pytest

import kbit_tasks
from kbit_tasks.generators import SUBTASKS, generate, get_subtask, task_name
from kbit_tasks.generators.base import question_split
from kbit_tasks.generators.lexicon import NONCE, word_split

TASKS = [(f, s, levels[0]) for f, s, levels in SUBTASKS]


def task_manager(**metadata):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=kbit_tasks.tasks_dir(), include_defaults=False, metadata=metadata)


def load_task(name, n=8):
    (task,) = task_manager(n=n).load([name])["tasks"].values()
    return task


def eval_words(text: str) -> set[str]:
    """The invented words of the evaluation lexicon in a text (plural "s" and capitals undone)."""
    found = set()
    for m in NONCE.finditer(text):
        word = m.group(0).lower()
        stem = word if len(word) == 5 else word[:-1]
        if word_split(stem) == "eval":
            found.add(stem)
    return found


def shots_of(task, doc, k):
    """The few-shot part of a document's prompt: the context before the document's own text."""
    ctx = task.fewshot_context(doc, num_fewshot=k)
    text = task.doc_to_text(doc)
    assert ctx.endswith(text)
    return ctx[:-len(text)]


@pytest.mark.parametrize("family,subtask,level", TASKS, ids=[task_name(*t) for t in TASKS])
def test_three_shots_come_from_the_train_lexicon_and_are_balanced(family, subtask, level):
    task = load_task(task_name(family, subtask, level))
    task.set_fewshot_seed(1234)
    pool = list(task.fewshot_docs())
    m = get_subtask(family, subtask).n_choices
    assert pool == generate(family, subtask, level, min(8, 4 * m), split="train")  # never more than n
    assert all(question_split(d["question"]) == "train" for d in pool)
    heavier = Counter()
    for doc in task.test_docs():
        shots = task.sampler.sample(3)
        assert all(s in pool for s in shots) and len({s["question"] for s in shots}) == 3
        golds = Counter(s["gold"] for s in shots)
        assert max(golds.values()) - min(golds.get(g, 0) for g in range(m)) <= 1  # balanced
        heavier.update(g for g, c in golds.items() if c > 3 // m)
        # the prompt lm-eval builds holds three answered shots and no evaluation-lexicon word
        prefix = shots_of(task, doc, 3)
        assert prefix.count("\n\n") == 3 and not eval_words(prefix)
        assert eval_words(doc["question"]) or family == "inductive" and subtask in ("sequence", "listfn")
    if m == 2:  # which answer gets the odd shot is drawn anew for each prompt
        assert set(heavier) == {0, 1}


def test_shots_are_deterministic_and_follow_the_fewshot_seed():
    def contexts(seed):
        task = load_task("kbit_causal_dsep_l1")  # a fresh task: nothing carried over
        task.set_fewshot_seed(seed)
        return [task.fewshot_context(d, num_fewshot=3) for d in task.test_docs()]

    assert contexts(1234) == contexts(1234) != contexts(7)


def test_too_many_shots_is_one_clear_error():
    task = load_task("kbit_logical_syllogism_l1")
    with pytest.raises(ValueError, match=r"num_fewshot=9 is not valid.*0 to 8"):
        task.fewshot_context(task.test_docs()[0], num_fewshot=9)


@pytest.mark.parametrize("family, subtask, level", TASKS)
def test_the_shot_bound_checked_before_any_load_is_the_samplers(family, subtask, level):
    """`most_shots` (kbit-eval's, the sweep's and dynamic_range's check) agrees with what
    BalancedShots can draw from the pool `load` makes, for a full pool and a short one."""
    from kbit_tasks.tasks.utils import SHOTS_PER_CHOICE, load, most_shots

    m = get_subtask(family, subtask).n_choices
    for n in (m - 1, SHOTS_PER_CHOICE * m + 1):
        golds = Counter(load(family, subtask, level, n=n)["train"]["gold"])
        assert most_shots(family, subtask, n) == min(golds.values()) * len(golds)


@pytest.mark.parametrize("names, k, message", [
    (["kbit_*"], 9, "num_fewshot=9 is not valid for kbit_logical_syllogism_l1; use 0 to 8"),
    (["kbit-inductive"], 17, "num_fewshot=17 is not valid for kbit_inductive_sequence_l2; use 0 to 16"),
    (["kbit_logical_rules_l7"], 13, "num_fewshot=13 is not valid for kbit_logical_rules_l7; use 0 to 12"),
    (["kbit_logical_rules_l1"], -1, "num_fewshot=-1 is not valid; use an integer >= 0"),
])
def test_too_many_shots_are_refused_from_the_task_names_alone(names, k, message):
    from kbit_tasks.tasks.utils import check_num_fewshot

    with pytest.raises(ValueError) as err:
        check_num_fewshot(k, names)
    assert message in str(err.value)
    check_num_fewshot(12, ["kbit_logical_rules_l1", "arc_easy"])  # rules has three answers; arc is not ours


@pytest.fixture
def kbit_only(monkeypatch):
    """lm-eval's CLI without its ~10,000 built-in task files indexed (a minute on 2 cores)."""
    import lm_eval.tasks

    monkeypatch.setattr(lm_eval.tasks, "TaskManager",
                        functools.partial(lm_eval.tasks.TaskManager, include_defaults=False))
    monkeypatch.setattr(sys, "argv", list(sys.argv))


def logged_prompts(out_dir):
    (samples,) = out_dir.rglob("samples_kbit_logical_ordering_l1_*.jsonl")
    return [json.loads(line)["arguments"]["gen_args_0"]["arg_0"] for line in samples.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("cli", ["lm_eval", "kbit-eval"])
def test_num_fewshot_runs_through_the_cli(cli, kbit_only, tiny_model_dir, tmp_path):
    from lm_eval.__main__ import cli_evaluate

    from kbit_tasks.cli.eval import main as eval_main

    args = ["run", "--model", "hf", "--model_args", f"pretrained={tiny_model_dir}", "--tasks",
            "kbit_logical_ordering_l1", "--num_fewshot", "3", "--limit", "3", "--device", "cpu",
            "--metadata", '{"n": 6}', "--output_path", str(tmp_path), "--log_samples"]
    if cli == "lm_eval":
        sys.argv = ["lm_eval", *args, "--include_path", kbit_tasks.tasks_dir()]
        cli_evaluate()
    else:
        eval_main(args)
    prompts = logged_prompts(tmp_path)
    items = generate("logical", "ordering", 1, 3)
    assert len(prompts) == 3
    for prompt, item in zip(prompts, items):
        assert prompt.endswith(item["question"]) and prompt.count("Answer:") == 4
        assert not eval_words(prompt[:-len(item["question"])])
    (results,) = tmp_path.rglob("results_*.json")
    assert json.loads(results.read_text())["n-shot"]["kbit_logical_ordering_l1"] == 3
