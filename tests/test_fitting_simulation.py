"""Validation by simulation, fixed seeds: interval coverage, the existence test's level, and
agreement with the piecewise-regression package on least-squares data.

Design: 6 model sizes x 5 precisions, 300 items per cell (fitting.simulate). Larger runs with
more data sets: benchmarks/fit_coverage.py (table in docs/fitting.md).
"""
import numpy as np
import pandas as pd
import pytest

from fitting import fit_threshold
from fitting.simulate import existence_p, interval_covers


def test_profile_interval_covers_planted_psi():
    # 100 data sets at each chance level, 200 in all
    hits = {c: [interval_covers(10_000 + i, c) for i in range(100)] for c in (0.5, 0.25)}
    pooled = np.mean(hits[0.5] + hits[0.25])
    assert 0.90 <= pooled <= 0.98, {c: np.mean(h) for c, h in hits.items()}
    assert min(np.mean(h) for h in hits.values()) >= 0.88


def test_existence_test_level_under_no_break():
    # B = 19: p <= 0.05 exactly when no bootstrap replicate exceeds the observed statistic
    p = np.concatenate([existence_p(np.arange(100) + 20_000, c, None, n_boot=19) for c in (0.5, 0.25)])
    assert np.mean(p <= 0.05) <= 0.07


def test_existence_test_has_power_on_planted_break():
    p = existence_p(np.arange(40) + 30_000, 0.25, 31.5, n_boot=19)
    assert np.mean(p <= 0.05) >= 0.9


@pytest.fixture(scope="module")
def continuous():
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(27, 36, 60))
    y = 0.2 + 0.02 * x + 0.15 * np.maximum(x - 31.2, 0) + rng.normal(0, 0.05, x.size)
    return pd.DataFrame({"log2_total_bits": x, "value": y})


def test_ols_agrees_with_piecewise_regression(continuous):
    import piecewise_regression

    ours = fit_threshold(continuous, method="ols")
    theirs = piecewise_regression.Fit(continuous["log2_total_bits"].to_list(), continuous["value"].to_list(),
                                      n_breakpoints=1, start_values=[30.0], n_boot=20)
    est = theirs.get_results()["estimates"]
    # the same optimum, ours at least as good (the profile is global, Muggeo's iteration stops at a tolerance)
    assert ours.breakpoint == pytest.approx(est["breakpoint1"]["estimate"], abs=0.01)
    rss = np.sum((continuous["value"] - ours.model.fitted(ours.breakpoints)) ** 2)
    assert rss <= theirs.get_results()["rss"] + 1e-12
    assert ours.params["slope"] == pytest.approx(est["alpha1"]["estimate"], abs=1e-3)
    assert ours.params["slope"] + ours.params["slope_change"] == pytest.approx(est["alpha2"]["estimate"], abs=1e-3)
    # psi's standard error: ours from the profile interval, theirs by the delta method
    assert ours.bse["psi"] == pytest.approx(est["breakpoint1"]["se"], rel=0.5)
    assert ours.detected and ours.p_value < 1e-6 and abs(ours.breakpoint - 31.2) < 0.5


def test_ols_no_break_gives_large_davies_p():
    rng = np.random.default_rng(3)
    x = np.linspace(27, 36, 40)
    table = pd.DataFrame({"log2_total_bits": x, "value": 0.1 * x + rng.normal(0, 0.05, x.size)})
    fit = fit_threshold(table, method="ols")
    assert fit.p_value > 0.05 and not fit.detected
