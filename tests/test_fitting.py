"""fit_threshold: planted thresholds found, honest refusals, clear errors, report files."""
import math

import numpy as np
import pandas as pd
import pytest

from fitting import ThresholdFits
from kbit_tasks.report import fit_table
from kbit_tasks.report.simulate import simulate_table


@pytest.fixture(scope="module")
def planted():
    return simulate_table(psi=31.5, chance=0.5, seed=0)


@pytest.fixture(scope="module")
def planted_fit(planted):
    return fit_table(planted, metric="acc", n_boot=99, boot_ci=100, precision="bits")


def test_planted_threshold_is_found_with_interval_and_test(planted_fit):
    f = planted_fit
    assert f.detected and f.p_value <= 0.02
    assert abs(f.breakpoint - 31.5) < 0.5
    lo, hi = f.ci
    assert lo < 31.5 < hi and hi - lo < 2
    assert f.boot_ci[0] < f.breakpoint < f.boot_ci[1]
    slopes = f.slopes()
    assert slopes.loc["after", "estimate"] - slopes.loc["before", "estimate"] > 3 * slopes.loc["after", "std_err"]
    assert f.models.set_index("model")["bic"].idxmin() == "one break"
    assert f.readable.endswith("MB") and "Gbit" in f.readable
    # precision adds nothing beyond total bits in this simulation, and psi is shared
    assert f.precision_tests["precision_terms"].p_value > 0.05
    assert f.precision_tests["shared_psi"].p_value > 0.05


def test_summary_frame_and_plot(planted_fit):
    text = str(planted_fit.summary())
    for part in ("Threshold fit", "parametric bootstrap", "psi1 =", "model comparison", "emergence", "at psi"):
        assert part in text
    row = planted_fit.to_frame().iloc[0]
    assert row["detected"] and row["ci_low"] < row["breakpoint"] < row["ci_high"]
    assert {"aic", "bic", "p_value", "slope_after_se", "best_by_bic"} <= set(row.index)
    import matplotlib

    matplotlib.use("Agg")
    ax = planted_fit.plot()
    assert ax.get_xscale() == "log" and len(ax.lines) >= 3


def test_three_bit_collapse_is_a_precision_effect():
    table = simulate_table(psi=31.5, seed=5, collapse_3bit=1.5)
    f = fit_table(table, metric="acc", precision="bits", n_boot=19)
    assert f.precision_tests["precision_terms"].p_value < 0.001
    assert f.params["prec[3]"] < -1
    from kbit_tasks.report.panels import precision_frame

    shifts = precision_frame({"all": f})["shifts"].iloc[0]
    se = f.bse["prec[3]"]
    assert np.isfinite(se) and f"prec[3] {f.params['prec[3]']:+.2f} (se {se:.2g})" in shifts


def test_no_break_is_not_called_a_threshold():
    f = fit_table(simulate_table(psi=None, seed=11), metric="acc", n_boot=99)
    assert not f.detected and f.p_value > 0.05
    assert "existence test" in f.reason and f.closest in f.verdict()


def test_two_breakpoints():
    table = simulate_table(psi=30.5, seed=2, b3=-1.4, psi2=33.0)
    f = fit_table(table, metric="acc", n_breakpoints=2, n_boot=19)
    assert f.breakpoints[0] < f.breakpoints[1]
    assert abs(f.breakpoint - 30.5) < 0.6  # the main breakpoint is where the slope rises
    assert {"one break", "two breaks"} <= set(f.models["model"])


def _cells(xs, acc, n=300, chance=0.5):
    return pd.DataFrame({"log2_total_bits": xs, "successes": np.round(np.asarray(acc) * n), "n": n, "chance": chance})


@pytest.mark.parametrize("table, why", [
    (_cells([28, 29, 30, 31], [0.5, 0.6, 0.8, 0.9]), "distinct x"),
    (_cells(np.arange(28, 36), [0.5, 0.49, 0.51, 0.5, 0.48, 0.5, 0.52, 0.5]), "chance"),
    (_cells(np.arange(28, 36), [0.6] * 8, n=0), "no usable rows"),
    (_cells(np.arange(28, 38), [0.6] * 9 + [0.97]), "edge"),
])
def test_honest_refusals(table, why):
    f = fit_table(table, n_boot=19)
    assert math.isnan(f.breakpoint) and not f.detected
    assert why in f.reason and "no threshold detectable" in f.verdict()


def test_missing_values_and_zero_trials_are_dropped_and_noted(planted):
    # the sweep's collector writes nullable Int64 counts
    t = planted[planted.metric == "acc"].astype({"n": "Int64", "successes": "Int64"})
    t.loc[t.index[0], "successes"] = pd.NA
    t.loc[t.index[1], ["successes", "n"]] = 0
    f = fit_table(t, n_boot=19)
    assert f.n_obs == len(t) - 2
    assert any("NaN" in n for n in f.notes) and any("zero trials" in n for n in f.notes)


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="probit"), "binomial, ols, wls"),
    (dict(metric="f1"), "acc, gold_logprob"),
    (dict(metric="acc", x="log2_bits"), "log2_total_bits"),
    (dict(metric="gold_logprob"), "method='ols'"),
    (dict(metric="acc", n_breakpoints=3), "1, 2"),
    (dict(metric="acc", by=["family"]), "'family'"),
])
def test_bad_arguments_name_the_value_and_the_choices(planted, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        fit_table(planted, **kwargs)


@pytest.mark.parametrize("column, value, message", [
    ("successes", 400, "0 <= successes <= trials"),
    ("n", -3, "invalid value -3"),
    ("chance", 1.5, "outside"),
    ("log2_total_bits", "big", "non-numeric"),
])
def test_malformed_cells_raise(planted, column, value, message):
    t = planted[planted.metric == "acc"].copy()
    t[column] = t[column].astype(object)
    t.loc[t.index[3], column] = value
    with pytest.raises(ValueError, match=message):
        fit_table(t)


def test_by_gives_a_collection():
    table = pd.concat([simulate_table(seed=1, tasks=("kbit_logical_a_l1",)),
                       simulate_table(psi=None, seed=2, tasks=("kbit_causal_b_l2",))])
    fits = fit_table(table, metric="acc", by=["task", "level"], n_boot=19)
    assert isinstance(fits, ThresholdFits) and len(fits) == 2
    frame = fits.to_frame()
    assert list(frame["task"]) == ["kbit_causal_b_l2", "kbit_logical_a_l1"]
    assert frame.set_index("task")["detected"].to_dict() == {"kbit_causal_b_l2": False, "kbit_logical_a_l1": True}
    assert "kbit_causal_b_l2" in fits._repr_html_()


def test_any_column_names_and_a_number_for_chance(planted):
    """fitting reads the columns it is told (no names of its own), as a model then a fit."""
    from fitting import ThresholdModel, fit_threshold

    t = planted[planted.metric == "acc"].drop(columns=["chance"])
    t = t.rename(columns={"n": "items", "successes": "right", "log2_total_bits": "size"})
    model = ThresholdModel.from_table(t, x="size", successes="right", trials="items", chance=0.5)
    assert model.spec.method == "binomial" and len(model.data) == 30
    f = model.fit(n_boot=19)
    assert abs(f.breakpoint - 31.5) < 0.5
    again = fit_threshold(t, x="size", successes="right", trials="items", chance=0.5, n_boot=19)
    assert again.breakpoint == f.breakpoint and again.p_value == f.p_value


@pytest.mark.parametrize("columns, message", [
    (dict(successes="successes", chance=0.5), "trials not given: method='binomial' needs trials="),
    (dict(successes="successes", trials="n"), "chance not given"),
    (dict(method="ols"), "y not given: method='ols' needs y="),
    (dict(y="value", metric="acc"), "metric='acc' given without metric_column="),
])
def test_a_role_left_unnamed_is_one_error_before_fitting(planted, columns, message):
    from fitting import ThresholdModel

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ThresholdModel.from_table(planted, x="log2_total_bits", **columns)


def test_kbit_fit_writes_report(tmp_path, capsys):
    from kbit_tasks.cli.fit import main

    src = tmp_path / "results.parquet"
    pd.concat([simulate_table(seed=0),
               simulate_table(psi=None, seed=1, tasks=("kbit_sim_nobreak_l1",))]).to_parquet(src)
    main([str(src), "--by", "task", "--metric", "acc", "--n-boot", "39", "-o", str(tmp_path / "rep"),
          "--note", "Simulated cells with a planted threshold."])
    fits = pd.read_csv(tmp_path / "rep" / "fits.csv").set_index("task")
    hit = fits.loc["kbit_sim_threshold_l1"]
    assert hit["detected"] and hit["ci_low"] < 31.5 < hit["ci_high"]
    assert not fits.loc["kbit_sim_nobreak_l1", "detected"]
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "plots/task-kbit_sim_threshold_l1.png" in report and "| task=kbit_sim_threshold_l1 |" in report
    assert report.splitlines()[2] == "Simulated cells with a planted threshold."
    png = tmp_path / "rep" / "plots" / "task-kbit_sim_threshold_l1.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        main([str(src), "--metric", "f1", "-o", str(tmp_path / "bad")])
    assert "acc, gold_logprob" in capsys.readouterr().err


# --- issue 11: a pure profile, an honest verdict, small defects, the results API ----------

def _design_cells(p, seed, chance=0.25, n=300):
    """Issue 11's design: 6 sizes x 4 precisions, cells drawn from accuracy p(x)."""
    from kbit_tasks.report.simulate import BENCH_BITS, BENCH_SIZES, design

    t = design(BENCH_SIZES, BENCH_BITS)
    x = t["log2_total_bits"].to_numpy()
    s = np.random.default_rng(seed).binomial(n, p(x))
    return t.assign(successes=s, n=n, chance=chance)


def _linear(x):
    return 0.30 + 0.65 * (x - x.min()) / np.ptp(x)


def test_profile_is_a_pure_function_of_psi_and_never_below_no_break():
    from fitting.api import _model
    from fitting.data import Cells

    t = _design_cells(_linear, 3002)
    c = Cells(t["log2_total_bits"].to_numpy(float), t["successes"].to_numpy(float), t["n"].to_numpy(float),
              t["chance"].to_numpy(float), None, None, None)
    model = _model(c, with_precision=False)
    psis = np.linspace(c.x.min(), c.x.max(), 25)
    first = [model.loglik_at([p]) for p in psis]
    again = [model.loglik_at([p]) for p in psis[::-1]][::-1]  # another call order, other "previous" fits
    assert first == again
    assert np.allclose(model.loglik_grid(psis[:, None]), first)
    assert min(first) >= model.ll0 - 1e-6


def test_issue_reproducer_linear_tables_do_not_crash():
    # about 10% of these tables crashed in brentq before (warm-started profile); the full
    # 1,000-table pass is in benchmarks/fit_coverage.py
    for seed in range(3002, 3008):
        f = fit_table(_design_cells(_linear, seed), n_boot=0)
        assert not f.detected and "not run" in f.reason or "edge" in f.reason


def test_interval_end_without_a_sign_change_is_reported_open():
    from fitting.profile import Grid, locate

    class Kinked:
        """A profile that drops below the cut-off between grid points 8 and 9 on the grid,
        but whose exact evaluation there never crosses it: no bracket for brentq."""

        def loglik_grid(self, psis):
            p = psis[:, 0]
            return np.where(p > 8.5, -10.0, -0.1 * (p - 5) ** 2)

        def loglik_at(self, psi):
            return -0.1 * (psi[0] - 5) ** 2 if psi[0] <= 8 else -0.1 * 9

    loc = locate(Kinked(), Grid.over(np.arange(0.0, 20.0), 21), crit=3.84)
    assert loc.ci_open and 7 < loc.ci[1] < 8.5 and np.isfinite(loc.ci[0])


def test_linear_accuracy_is_not_a_threshold():
    for seed in (1, 2, 3):
        f = fit_table(_design_cells(_linear, seed), n_boot=39)
        assert not f.detected and f.closest == "linear in p", f.verdict()


def test_saturating_sigmoid_is_not_a_threshold_and_names_its_closest_curve():
    from scipy.special import expit

    f = fit_table(_design_cells(lambda x: 0.25 + 0.65 * expit(x - x.mean()), 4), n_boot=39)
    assert not f.detected
    assert f.closest == "floor-ceiling logistic" and "floor-ceiling logistic" in f.verdict()


def test_falling_slope_is_saturation_not_emergence():
    from fitting.simulate import floor_hinge

    # a steep rise that stops at psi: the slope falls there
    t = _design_cells(lambda x: floor_hinge(x, x.mean(), 0.25, b0=1.0, b1=0.9, b2=-0.9), 5)
    f = fit_table(t, n_boot=39)
    assert not f.detected
    assert f.direction == "saturation" and np.isfinite(f.breakpoint)
    if f.p_value <= 0.05:
        assert "saturation" in f.reason


def test_abs_sine_is_not_detected():
    f = fit_table(_design_cells(lambda x: 0.25 + 0.7 * np.abs(np.sin(x)), 0), n_boot=39)
    assert not f.detected and f.dispersion > 10


def test_alpha_labels_every_interval():
    t = simulate_table(psi=31.5, chance=0.5, seed=0)
    f = fit_table(t, metric="acc", alpha=0.5, n_boot=19)
    text = str(f.summary())
    assert "50% CI" in f.verdict() and "50% CI" in text and "95%" not in text
    wide = fit_table(t, metric="acc", alpha=0.05, n_boot=19)
    assert np.ptp(f.ci) < np.ptp(wide.ci)
    assert np.allclose(f.conf_int().loc["psi"], f.ci)
    from kbit_tasks.report.markdown import markdown

    assert "| 50% CI |" in markdown({(): f}, {(): "x.png"}, "cmd", "acc")


def test_n_boot_zero_reports_the_test_as_not_run():
    f = fit_table(simulate_table(psi=31.5, chance=0.5, seed=0), metric="acc", n_boot=0)
    assert f.p_value is None and f.test is None and not f.detected
    assert "not run" in f.reason and "not run" in f.verdict()
    assert math.isnan(f.to_frame().iloc[0].p_value)


def test_results_object_is_immutable_and_statsmodels_like(planted_fit):
    import dataclasses

    f = planted_fit
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.breakpoints = np.array([30.0])
    from fitting import ExistenceTest, LRTest

    assert isinstance(f.test, ExistenceTest) and f.test.null == f.closest and f.test.n_boot == 99
    assert isinstance(f.precision_tests["shared_psi"], LRTest) and f.precision_tests["shared_psi"].df == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.test.p_value = 0.0
    assert list(f.params.index[:3]) == ["const", "slope", "slope_change"]
    assert (f.bse > 0).all() and np.isfinite(f.llf)
    assert f.aic == pytest.approx(2 * len(f.params) - 2 * f.llf)
    assert f.bic == pytest.approx(np.log(f.n_obs) * len(f.params) - 2 * f.llf)
    ci = f.conf_int()
    assert (ci["lower"] < f.params).all() and (f.params < ci["upper"]).all()
    assert tuple(ci.loc["psi"]) == pytest.approx(f.ci)
    narrow = f.conf_int(0.5)
    assert narrow.loc["psi", "upper"] - narrow.loc["psi", "lower"] < np.ptp(f.ci)
    assert f.pvalues["slope_change"] < 1e-6 and math.isnan(f.pvalues["psi"])
    acc = f.predict([29.0, 31.5, 34.0])
    assert 0.5 <= acc[0] < acc[1] < acc[2] <= 1
    assert "<table" in f._repr_html_() and "Threshold fit" in f.summary().as_text()
    assert f.direction == "emergence" and f.to_frame().iloc[0]["direction"] == "emergence"


def _imported_modules(path):
    import ast

    tree = ast.parse(open(path).read())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_no_plot_results_import_circle():
    """results imports plot (lazily, for .plot()); plot must not import results back, not even
    inside a function (it used to, for binomial_bars). kbit_tasks leaks: tests/test_fit_cli.py."""
    import fitting.plot
    import fitting.results

    assert "fitting.plot" in _imported_modules(fitting.results.__file__)  # the probe sees imports in functions
    assert "fitting.results" not in _imported_modules(fitting.plot.__file__)


def test_smooth_fits_match_statsmodels():
    """The batched scorer (fitting.floor) against a statsmodels GenericLikelihoodModel fit of the
    floor-and-ceiling logistic: the same maximum."""
    from scipy.special import expit
    from statsmodels.base.model import GenericLikelihoodModel

    from fitting.floor import cell_loglik
    from fitting.smooth import family, fit_smooth

    t = _design_cells(lambda x: 0.25 + 0.5 * expit(x - x.mean()), 6)
    x, s, n = (t[k].to_numpy(float) for k in ("log2_total_bits", "successes", "n"))
    xc = x - x.mean()
    X0 = np.column_stack([np.ones_like(xc), xc])
    _, ll, top = fit_smooth(family("floor-ceiling logistic"), X0, s, n, np.full_like(x, 0.25))

    class Ceiling(GenericLikelihoodModel):
        def loglikeobs(self, params):
            b0, b1, g = params
            return cell_loglik(0.25 + 0.75 * expit(g) * expit(b0 + b1 * xc), self.endog, n)

    res = Ceiling(s, np.ones_like(s)).fit(start_params=[0.0, 1.0, 0.0], method="nm", maxiter=5000, disp=0)
    res = Ceiling(s, np.ones_like(s)).fit(start_params=res.params, method="bfgs", disp=0)
    assert ll == pytest.approx(res.llf, abs=0.05)
    assert float(top) == pytest.approx(0.25 + 0.75 * expit(res.params[2]), abs=0.02)


def test_beta_binomial_draws_have_the_stated_dispersion():
    from fitting.smooth import draw

    p, n = np.full(24, 0.6), np.full(24, 300.0)
    s = draw(p, n, 3.0, (400,), np.random.default_rng(0))
    ratio = np.var(s, axis=0).mean() / (300 * 0.6 * 0.4)
    assert 2.6 < ratio < 3.4


def test_weak_break_verdict_carries_the_measured_under_coverage(planted_fit):
    from kbit_tasks.report.simulate import truth_cells

    table, _ = truth_cells("weak break", 10_000)
    f = fit_table(table, n_boot=0)
    assert "CAUTION" in f.verdict() and "weakly determined" in f.verdict()
    assert "weakly determined" in f.to_frame().iloc[0]["notes"]
    assert not planted_fit.caveats and "CAUTION" not in planted_fit.verdict()


def test_both_engines_keep_one_protocol_and_the_fit_never_asks_which():
    """The fit (fitting/api.py) holds an Engine and compares no method name anywhere."""
    import ast

    import fitting.api
    from fitting.binomial import FloorHinge
    from fitting.engine import Engine
    from fitting.ols import SegmentedLS

    x = np.arange(8.0)
    assert isinstance(FloorHinge(x, np.full(8, 50.0), np.full(8, 100.0), np.full(8, 0.25)), Engine)
    assert isinstance(SegmentedLS(x, x ** 2), Engine)
    tree = ast.parse(open(fitting.api.__file__).read())
    def names_a_method(n):
        return (isinstance(n, ast.Constant) and n.value in ("binomial", "ols", "wls")
                or isinstance(n, ast.Attribute) and n.attr == "method" or isinstance(n, ast.Name) and n.id == "method")

    asks = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Compare)
            and any(names_a_method(n) for side in (node.left, *node.comparators) for n in ast.walk(side))]
    assert asks == []


def test_the_docs_example_runs_and_prints_what_it_says(capsys):
    """docs/fitting.md's first Python example, executed as it stands; its last comment is its output."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "fitting.md").read_text()
    code = re.findall(r"```python\n(.*?)```", doc, re.S)[0]
    assert "ThresholdModel.from_table" in code
    exec(compile(code, "docs/fitting.md", "exec"), {})
    assert capsys.readouterr().out.strip() == code.strip().splitlines()[-1].removeprefix("# ")
