"""Fits on published curves (Pythia's lm-eval results, benchmarks/data/pythia_lm_eval.csv):
the shipped counts agree with the published standard errors, and the default fits meet the
bar of benchmarks/real_curves.py (no threshold but the two looked at, a smooth curve named
for every "none", no shape label on a fit that is not identified, no crash)."""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kbit_tasks.report import fit_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real():
    spec = importlib.util.spec_from_file_location("real_curves", ROOT / "benchmarks" / "real_curves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def table(real):
    return pd.read_csv(real.DATA)


def test_counts_agree_with_the_published_standard_errors(table, real):
    assert len(table) == 480 and set(table["shots"]) == {0, 5} and set(table["variant"]) == {"standard", "deduped"}
    one = table[table["task"] != real.MMLU]
    implied = one["value"] * (1 - one["value"]) / one["stderr"] ** 2 + 1  # lm-eval: sd with n - 1
    assert np.allclose(implied, one["n"], rtol=0.01)
    assert np.array_equal(one["successes"], np.round(one["value"] * one["n"]))
    assert table.groupby("model")["log2_total_bits"].first().round(6).min() == 30.069618  # 70M x 16 bits


@pytest.mark.parametrize("shots, variant, task, metric, expect", [
    (0, "standard", "lambada_openai", "acc", "floor-ceiling logistic"),
    (0, "deduped", "arc_challenge", "acc", "not identified"),  # below chance at the three smallest sizes
    (0, "standard", "wsc", "acc", "at chance"),
    (5, "standard", "arc_easy", "acc", "floor-ceiling logistic"),
])
def test_a_few_default_fits_meet_the_bar(table, real, shots, variant, task, metric, expect):
    part = table[(table.shots == shots) & (table.variant == variant) & (table.task == task) & (table.metric == metric)]
    fit = fit_table(part, n_boot=39)
    assert real.failures((shots, variant, task, metric), fit) == []
    assert expect in real.short(fit)


@pytest.mark.slow
def test_every_default_fit_meets_the_bar(table, real):
    results = real.fits(table)  # the defaults, as benchmarks/real_curves.py fits them
    assert len(results) == 90
    missed = {k: real.failures(k, f) for k, f in results.items() if real.failures(k, f)}
    assert not missed, missed
