"""Validation by simulation, fixed seeds: interval coverage, the existence test's level under
smooth curves that are not thresholds, its power, and agreement with the piecewise-regression
package on least-squares data.

Design: issue 11's 6 sizes x 4 precisions, 300 items per cell, chance 0.25
(fitting.simulate.TRUTHS). Larger runs: benchmarks/fit_coverage.py (table in docs/fitting.md).
"""
import numpy as np
import pandas as pd
import pytest

from kbit_tasks.report import fit_table
from kbit_tasks.report.simulate import truth_cells


def _fits(truth, seeds, n_boot):
    out = []
    for seed in seeds:
        table, psi = truth_cells(truth, seed)
        out.append((fit_table(table, n_boot=n_boot, seed=seed), psi))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("truth", ["planted break", "break, dispersion 3"])
def test_profile_interval_covers_planted_psi(truth):
    fits = _fits(truth, range(40), n_boot=0)
    covered = np.mean([f.ci[0] <= psi <= f.ci[1] for f, psi in fits])
    assert covered >= 0.85, covered


@pytest.mark.slow
@pytest.mark.parametrize("truth", ["sigmoid, ceiling 0.9", "linear in p", "power law in bits"])
def test_smooth_curves_are_rarely_called_thresholds(truth):
    # B = 19: p <= 0.05 exactly when no bootstrap table exceeds the observed statistic
    fits = _fits(truth, range(500, 530), n_boot=19)
    assert sum(f.detected for f, _ in fits) <= 3, [f.verdict() for f, _ in fits if f.detected]


@pytest.mark.slow
def test_existence_test_has_power_on_planted_break():
    fits = _fits("planted break", range(900, 920), n_boot=19)
    assert np.mean([f.detected for f, _ in fits]) >= 0.85
    assert all(f.direction == "emergence" for f, _ in fits if f.detected)


@pytest.fixture(scope="module")
def continuous():
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(27, 36, 60))
    y = 0.2 + 0.02 * x + 0.15 * np.maximum(x - 31.2, 0) + rng.normal(0, 0.05, x.size)
    return pd.DataFrame({"log2_total_bits": x, "value": y})


def test_ols_agrees_with_piecewise_regression(continuous):
    import piecewise_regression

    ours = fit_table(continuous, method="ols")
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
    fit = fit_table(table, method="ols")
    assert fit.p_value > 0.05 and not fit.detected


@pytest.mark.slow
@pytest.mark.parametrize("truth", ["concave, one-cell dip", "saturating, one-cell dip", "sigmoid, ceiling 0.9"])
def test_two_breaks_do_not_call_a_smooth_curve_with_a_dip_a_threshold(truth):
    fits = []
    for seed in range(700, 712):
        table, _ = truth_cells(truth, seed)
        fits.append(fit_table(table, n_breakpoints=2, n_boot=19, seed=seed))
    assert sum(f.detected for f in fits) <= 1, [f.verdict() for f in fits if f.detected]
    assert all(len(f.slopes()) in (0, 3) for f in fits)
