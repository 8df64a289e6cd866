"""fit_threshold: planted thresholds found, honest refusals, clear errors, report files."""
import math

import numpy as np
import pandas as pd
import pytest

from fitting import ThresholdFits, fit_threshold
from fitting.simulate import simulate_table


@pytest.fixture(scope="module")
def planted():
    return simulate_table(psi=31.5, chance=0.5, seed=0)


@pytest.fixture(scope="module")
def planted_fit(planted):
    return fit_threshold(planted, metric="acc", n_boot=99, boot_ci=100, precision="bits")


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
    assert f.precision_tests["precision_terms"]["p_value"] > 0.05
    assert f.precision_tests["shared_psi"]["p_value"] > 0.05


def test_summary_frame_and_plot(planted_fit):
    text = planted_fit.summary()
    for part in ("Threshold fit", "sup-LR", "psi1 =", "model comparison", "threshold at psi"):
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
    f = fit_threshold(table, metric="acc", precision="bits", n_boot=19)
    assert f.precision_tests["precision_terms"]["p_value"] < 0.001
    assert f.params["prec[3]"] < -1


def test_no_break_is_not_called_a_threshold():
    f = fit_threshold(simulate_table(psi=None, seed=11), metric="acc", n_boot=99)
    assert not f.detected and f.p_value > 0.05
    assert "existence test" in f.reason


def test_two_breakpoints():
    table = simulate_table(psi=30.5, seed=2, b3=-1.4, psi2=33.0)
    f = fit_threshold(table, metric="acc", n_breakpoints=2, n_boot=19)
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
    f = fit_threshold(table, n_boot=19)
    assert math.isnan(f.breakpoint) and not f.detected
    assert why in f.reason and "no threshold detectable" in f.verdict()


def test_missing_values_and_zero_trials_are_dropped_and_noted(planted):
    # the sweep's collector writes nullable Int64 counts
    t = planted[planted.metric == "acc"].astype({"n": "Int64", "successes": "Int64"})
    t.loc[t.index[0], "successes"] = pd.NA
    t.loc[t.index[1], ["successes", "n"]] = 0
    f = fit_threshold(t, n_boot=19)
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
        fit_threshold(planted, **kwargs)


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
        fit_threshold(t)


def test_by_gives_a_collection():
    table = pd.concat([simulate_table(seed=1, tasks=("kbit_logical_a_l1",)),
                       simulate_table(psi=None, seed=2, tasks=("kbit_causal_b_l2",))])
    fits = fit_threshold(table, metric="acc", by=["task", "level"], n_boot=19)
    assert isinstance(fits, ThresholdFits) and len(fits) == 2
    frame = fits.to_frame()
    assert list(frame["task"]) == ["kbit_causal_b_l2", "kbit_logical_a_l1"]
    assert frame.set_index("task")["detected"].to_dict() == {"kbit_causal_b_l2": False, "kbit_logical_a_l1": True}


def test_trials_column_alias_and_number_chance(planted):
    t = planted[planted.metric == "acc"].drop(columns=["chance"]).rename(columns={"n": "trials"})
    f = fit_threshold(t, chance=0.5, n_boot=19)
    assert abs(f.breakpoint - 31.5) < 0.5


def test_kbit_fit_writes_report(tmp_path, capsys):
    from kbit_tasks.fit_cli import main

    src = tmp_path / "results.parquet"
    pd.concat([simulate_table(seed=0), simulate_table(psi=None, seed=1, tasks=("kbit_sim_nobreak_l1",))]).to_parquet(src)
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
