"""lm-eval hooks for the kbit tasks: the dataset loader, and a task class that writes what the
generators say about its items into its config's metadata (content hash, family, subtask, level,
chance; lm-eval returns it as `results["configs"][task]["metadata"]`) and adds the gold-choice
log-probability to lm-eval's own metrics."""
from __future__ import annotations

import math

import datasets
import numpy as np
from lm_eval.api.task import ConfigurableTask

from kbit_tasks.generators import DEFAULT_N, check_n_seed, content_hash, generate
from kbit_tasks.lm_eval_compat import drop_metadata_hint

drop_metadata_hint()  # lm-eval's per-task hint that kwargs go through --metadata


def load(family: str, subtask: str, level: int, n: int = DEFAULT_N, seed: int = 0, distractors: int | None = None,
         **_ignored) -> datasets.DatasetDict:
    """`custom_dataset` hook: lm-eval calls it with the task's metadata (YAML metadata, model_args,
    `--metadata`) and dataset_kwargs; everything but n, seed and distractors is not ours and is
    ignored."""
    n, seed = check_n_seed(n, seed)
    items = generate(family, subtask, level, n, seed, distractors=distractors)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(items)})


def gold_logprob(items):
    """Aggregation input passthrough (lm-eval needs a callable per metric; the value is made in
    `KbitTask.process_results`)."""
    return items


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

    def process_results(self, doc, results):
        """lm-eval's acc, acc_norm and brier_score, plus log p(gold) normalised over the choices:
        the smooth metric that a threshold claim must be checked against (Schaeffer et al. 2023)."""
        out = super().process_results(doc, results)
        lls = np.array([ll for ll, _ in results], dtype=float)
        out["gold_logprob"] = float(lls[doc["gold"]] - np.logaddexp.reduce(lls))
        return out
