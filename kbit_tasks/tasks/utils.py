"""lm-eval hooks for the kbit tasks: the dataset loader (evaluation items and a few-shot pool
from the disjoint-lexicon train split), a few-shot sampler balanced over the gold answers, and a
task class that writes what the generators say about its items into its config's metadata
(content hash, family, subtask, level, chance; lm-eval returns it as
`results["configs"][task]["metadata"]`) and adds metrics that tell reasoning from a label prior:
the gold-choice log-probability, the constant-answer share and contextually calibrated accuracy."""
from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter

import datasets
import numpy as np
from lm_eval.api.instance import Instance
from lm_eval.api.samplers import ContextSampler
from lm_eval.api.task import ConfigurableTask

from kbit_tasks.generators import (DEFAULT_N, SUBTASKS, check_n_seed, content_hash, generate, get_subtask,
                                   parse_task_name, task_name)
from kbit_tasks.generators.lexicon import NONCE
from kbit_tasks.lm_eval_compat import drop_metadata_hint

drop_metadata_hint()  # lm-eval's per-task hint that kwargs go through --metadata


# The few-shot pool: this many train-split items per answer position (the first ones of the
# seeded train stream, so balanced), and never more items than the task evaluates. Small, because
# it is made on every load, zero-shot too (lm-eval builds its sampler before it knows
# num_fewshot); it allows up to this many shots per answer position.
SHOTS_PER_CHOICE = 4
# Keys that would ask for another rung than the task's own ("level" itself collides with the
# task's dataset_kwargs, and lm-eval stops before the loader runs).
NOT_METADATA = frozenset({"depth", "rung", "levels"})


def load(family: str, subtask: str, level: int, n: int = DEFAULT_N, seed: int = 0, distractors: int | None = None,
         **_ignored) -> datasets.DatasetDict:
    """`custom_dataset` hook: lm-eval calls it with the task's metadata (YAML metadata, model_args,
    `--metadata`) and dataset_kwargs; everything but n, seed and distractors is not ours and is
    ignored. "test" holds the n evaluation items, "train" the few-shot pool, drawn from the train
    split (a lexicon disjoint from the evaluation one) with the same seed and distractors."""
    if asked := sorted(_ignored.keys() & NOT_METADATA):
        raise ValueError(f"--metadata {', '.join(asked)}: a task's rung is fixed by its name; for rungs deeper "
                         f"than the shipped ones write their tasks with python -m kbit_tasks.tasks.rungs")
    n, seed = check_n_seed(n, seed)
    items = generate(family, subtask, level, n, seed, distractors=distractors)
    pool = generate(family, subtask, level, min(n, SHOTS_PER_CHOICE * get_subtask(family, subtask).n_choices),
                    seed, split="train", distractors=distractors)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(items),
                                 "train": datasets.Dataset.from_list(pool)})


def most_shots(family: str, subtask: str, n: int = DEFAULT_N) -> int:
    """The most shots BalancedShots can draw for a task of n items: `load`'s train pool holds
    min(n, SHOTS_PER_CHOICE * m) items balanced over the m gold positions, and every position
    among its golds gets as many shots as the scarcest one has items."""
    m = get_subtask(family, subtask).n_choices
    pool = min(n, SHOTS_PER_CHOICE * m)
    return pool if pool < m else pool // m * m


def selected_subtasks(names) -> dict[str, tuple[str, str]]:
    """Task name -> (family, subtask) for every kbit task that lm-eval names, groups (kbit,
    kbit-FAMILY) or patterns (kbit_*) select; a name of a rung deeper than the shipped ones
    (written by python -m kbit_tasks.tasks.rungs) counts as itself."""
    shipped = {task_name(f, s, lv): (f, s) for f, s, levels in SUBTASKS for lv in levels}
    selected = {}
    for name in names:
        family = name.removeprefix("kbit-") if name.startswith("kbit-") else None
        selected |= {task: key for task, key in shipped.items()
                     if name == "kbit" or key[0] == family or fnmatch.fnmatchcase(task, name)}
        if parsed := parse_task_name(name):
            selected[name] = parsed[:2]
    return selected


def check_num_fewshot(k, task_names, n: int = DEFAULT_N, where: str = "num_fewshot") -> None:
    """k shots, checked before any model loads: an integer from 0 to what every selected kbit
    task's train pool can serve (BalancedShots refuses more, but only after the model loaded)."""
    if k is None:
        return
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"{where}={k!r} is not valid; use an integer >= 0")
    selected = selected_subtasks(task_names)
    bounds = {task: most_shots(*key, n) for task, key in selected.items()}
    if bounds and k > min(bounds.values()):
        task = min(bounds, key=bounds.get)
        raise ValueError(f"{where}={k} is not valid for {task}; use 0 to {bounds[task]} (its few-shot pool: "
                         f"{SHOTS_PER_CHOICE} train items per answer position, n={n} at most in all)")


class BalancedShots(ContextSampler):
    """Few-shot examples that carry no label prior: of k shots, every gold position gets k // m
    (m choices) and k % m positions, drawn at random for each prompt, get one more; the shots are
    drawn without replacement within a position and shuffled. lm-eval seeds `self.rnd`
    (`--fewshot_random_seed`), so the shots are the same on every run. (lm-eval 0.4.13's own
    `BalancedSampler` is a stub that raises NotImplementedError.)"""

    def sample(self, n: int, eval_doc=None, df=None, **kwargs):
        by_gold: dict[int, list] = {}
        for doc in (df or self.fewshot_docs()):
            by_gold.setdefault(doc["gold"], []).append(doc)
        golds = sorted(by_gold)
        most = min(len(docs) for docs in by_gold.values()) * len(golds)
        if not 0 <= n <= most:
            raise ValueError(f"num_fewshot={n} is not valid for these tasks; use 0 to {most} "
                             f"({most // len(golds)} train items per answer position)")
        counts = Counter({g: n // len(golds) for g in golds})
        counts.update(self.rnd.sample(golds, n % len(golds)))
        shots = [doc for g in golds for doc in self.rnd.sample(by_gold[g], counts[g])]
        self.rnd.shuffle(shots)
        return shots


def _made_in_process_results(name: str):
    """A metric for the YAML's metric_list: lm-eval wants a callable named like the metric (a
    plain name that it does not know makes it search the Hugging Face hub); the value itself is
    made in `KbitTask.process_results`, so the callable passes it through."""
    def metric(items):
        return items
    metric.__name__ = metric.__qualname__ = name
    return metric


gold_logprob = _made_in_process_results("gold_logprob")
constant_share = _made_in_process_results("constant_share")
acc_calibrated = _made_in_process_results("acc_calibrated")


def modal_share(predictions: list[int]) -> float:
    """The constant-answer share: the fraction of items answered with the answer position the
    model picks most often. One constant answer reads 1.0; a model whose choice follows the items
    reads about 1 / m on kbit's items, whose gold positions are balanced."""
    return max(Counter(predictions).values()) / len(predictions)


CONTENT_FREE = "N/A"  # Zhao et al. (2021)'s content-free input
_CONTENT = re.compile(rf"{NONCE.pattern}|-?\d+", re.IGNORECASE)


def content_free(question: str, choices: list[str]) -> str:
    """The item's prompt with its content taken out: every invented word and every number becomes
    "N/A", so the lines, their templates and the answer line stay. Choices that are invented names
    are kept on the line that asks the question ("Who is taller: A or B?"), so that a prior for
    the first- or second-named answer is measured; anywhere else a name would be content."""
    names = {c for c in choices if NONCE.fullmatch(c)}
    lines = question.split("\n")
    asks = max((i for i, line in enumerate(lines) if line.rstrip().endswith("?")), default=-1)
    return "\n".join(
        _CONTENT.sub(lambda m, i=i: m.group(0) if i == asks and m.group(0) in names else CONTENT_FREE, line)
        for i, line in enumerate(lines))


def items_metadata(items: list[dict]) -> dict:
    """What a task's results carry about its items, taken from the generators' own fields:
    content_hash (sha256 of the items), family, subtask, level, and chance (the mean of the
    items' `chance`, 1 / number of choices; every item of a subtask has the same number of
    choices, so it is that one value, also the chance of any `--limit` prefix)."""
    keys = ("family", "subtask", "level", "distractors")
    (family, subtask, level, distractors), = {tuple(it[k] for k in keys) for it in items}
    chances = {it["chance"] for it in items}
    chance = chances.pop() if len(chances) == 1 else math.fsum(it["chance"] for it in items) / len(items)
    return {"content_hash": content_hash(items), "family": family, "subtask": subtask, "level": level,
            "distractors": distractors, "chance": chance}


class KbitTask(ConfigurableTask):
    """A multiple-choice task whose results carry, in the config's metadata, what the generators
    say about its items (`items_metadata`): `kbit-sweep collect` reads the table's group, level
    and chance from there, whatever the task is named."""

    def __init__(self, config: dict | None = None, **kwargs):
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)
        items = list(self.dataset[self.config.test_split])
        self.config.metadata = {**(self.config.metadata or {}), **items_metadata(items)}

    def construct_requests(self, doc, ctx, **kwargs):
        """lm-eval's one request per choice, then, if `acc_calibrated` is a metric, the same
        choices after the content-free prompt: the same context (few-shot examples included) with
        the item's text replaced by `content_free` of it."""
        requests = super().construct_requests(doc, ctx, **kwargs)
        if "acc_calibrated" not in self._metric_fn_list:
            return requests
        text = self.doc_to_text(doc)
        at = ctx.rfind(text)
        if at < 0:
            raise ValueError(f"{self.config.task}: the item text is not in its context; cannot calibrate")
        free = ctx[:at] + content_free(text, self.doc_to_choice(doc)) + ctx[at + len(text):]
        kwargs.pop("apply_chat_template", None)
        kwargs.pop("chat_template", None)
        return requests + [Instance(request_type="loglikelihood", doc=doc, arguments=(free, continuation),
                                    idx=len(requests) + i, **kwargs)
                           for i, (_, continuation) in enumerate(r.arguments for r in requests)]

    def process_results(self, doc, results):
        """lm-eval's acc, acc_norm and brier_score, plus: log p(gold) normalised over the choices,
        the smooth metric that a threshold claim must be checked against (Schaeffer et al. 2023);
        the predicted position, which `modal_share` turns into the constant-answer share; and
        contextual calibration (Zhao et al. 2021): the choice whose log-likelihood gains most over
        its log-likelihood after the content-free prompt, so a model that ranks the items right
        but leans to one answer shows its signal."""
        m = len(doc["choices"])
        out = super().process_results(doc, results[:m])
        lls = np.array([ll for ll, _ in results[:m]], dtype=float)
        out["gold_logprob"] = float(lls[doc["gold"]] - np.logaddexp.reduce(lls))
        out["constant_share"] = int(np.argmax(lls))
        if len(results) == 2 * m:
            free = np.array([ll for ll, _ in results[m:]], dtype=float)
            out["acc_calibrated"] = float(np.argmax(lls - free) == doc["gold"])
        return out
