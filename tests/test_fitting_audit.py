"""Where fits on real published curves broke: two breakpoints held to the one-break standard,
fits that could not be made, non-identified fits, cautions that survive pooling, and the
smaller slips (legend, open intervals, the edge rule, z formatting, duplicate keys, inf).

x: log2 total bits of 8 model sizes (a Pythia-like family at 16 bits)."""
import math

import numpy as np
import pandas as pd
import pytest

from kbit_tasks.report import fit_table

X8 = [30.069618, 31.274292, 32.594536, 33.914251, 34.397796, 35.369949, 36.674994, 37.463690]


def _table(successes, n, chance, x=X8):
    return pd.DataFrame({"log2_total_bits": x, "successes": successes, "n": n, "chance": chance})


@pytest.fixture(scope="module")
def concave_two():
    """0.61 -> 0.93, saturating, with a one-cell dip: was called a threshold with two breaks."""
    return fit_table(_table([606, 720, 826, 870, 865, 882, 911, 929], 1000, 0.25), n_breakpoints=2)


def test_two_breaks_on_a_saturating_curve_are_not_a_threshold(concave_two):
    f = concave_two
    assert not f.detected and "threshold (" not in f.verdict()
    # the test is the two-break model's own: against the smooth curve and against one break
    assert f.test.p_smooth is not None and "vs one break" in f.test.name
    assert f.p_value == max(f.test.p_smooth, f.test.p_one_break or 0)
    # the comparison quoted is the two-break row's
    assert "the two breaks'" in f.verdict()


def test_two_break_slopes_are_per_segment(concave_two):
    sl = concave_two.slopes()
    assert list(sl.index) == ["before", "between", "after"]
    assert sl["estimate"].to_numpy() == pytest.approx([0.514, -0.095, 0.272], abs=2e-3)
    assert np.all(np.isfinite(sl["std_err"]))


def test_emergence_is_judged_on_the_named_break():
    """A strong rise then a fall: the named break is the rise; a falling named break is saturation."""
    from fitting.simulate import floor_hinge

    x = np.asarray(X8)
    p = floor_hinge(x, 32.0, 0.25, b0=-1.5, b1=0.05, b2=1.5, b3=-1.6, psi2=35.0)
    f = fit_table(_table(np.round(p * 5000), 5000, 0.25), n_breakpoints=2, n_boot=39)
    assert f.breakpoint == pytest.approx(32.0, abs=0.7) and f.slope_change > 0
    assert f.detected and f.direction == "emergence"
    assert "emergence at break 1 of 2" in f.verdict() and "the other break (falling) at 35.0" in f.verdict()


def test_two_breaks_closer_than_one_size_are_refused():
    f = fit_table(_table([300, 310, 305, 320, 600, 610, 620, 615], 1000, 0.25), n_breakpoints=2, n_boot=19)
    assert not f.detected and "closer than one model size apart" in f.reason


@pytest.mark.parametrize("table, why", [
    (_table([600, 700, 800, 900], 1000, 0.25, X8[:4]), "distinct x"),
    (_table([250] * 8, 1000, 0.25), "chance"),
    (_table([0] * 8, 0, 0.25), "no usable rows"),
    (_table([1000] * 8, 1000, 0.25), ""),
])
@pytest.mark.parametrize("nb", [1, 2])
def test_every_accessor_of_a_fit_that_could_not_be_made_works(table, why, nb):
    f = fit_table(table, n_breakpoints=nb, n_boot=19)
    assert not f.detected and why in f.reason
    for series in (f.params, f.bse, f.pvalues):
        assert "psi" in series.index and (series.isna().all() or np.isfinite(f.breakpoint))
    ci = f.conf_int()
    assert list(ci.columns) == ["lower", "upper"] and "psi" in ci.index
    if not np.isfinite(f.breakpoint):
        assert f.reason in f.params.name and f.reason in f.pvalues.name and f.reason in ci.attrs["reason"]
    assert f.reason in str(f.summary())
    row = f.to_frame().iloc[0]
    assert row["reason"] == f.reason and not row["detected"]


@pytest.mark.parametrize("successes, n", [
    ([3543, 3551, 3543, 3500, 3668, 3665, 3815, 3964], 14042),
    ([190, 235, 237, 287, 319, 353, 388, 389], 1172),
])
def test_a_non_identified_fit_reads_not_identified(successes, n):
    f = fit_table(_table(successes, n, 0.25), n_boot=19)
    assert not f.identified and f.direction == "" and f.reason.startswith("not identified")
    assert "saturation" not in f.verdict() and "emergence" not in f.verdict()
    assert f.to_frame().iloc[0]["direction"] == ""
    assert "no finite Wald z" in f.verdict()  # a NaN z never skips the caution


def test_below_chance_caution_survives_pooling():
    a = [38, 38, 59, 38, 38, 40, 38, 57]
    b = [38, 38, 49, 38, 46, 40, 46, 41]
    pooled = pd.DataFrame({"log2_total_bits": X8 * 2, "successes": a + b, "n": 104, "chance": 0.5,
                           "family": ["a"] * 8 + ["b"] * 8})
    f = fit_table(pooled, n_boot=19)
    assert "below the stated chance when pooled" in f.verdict()
    fits = fit_table(pooled, by="family", n_boot=19)
    for fit in fits.values():
        text = fit.verdict()
        assert "the 8 cells of this fit are significantly below" in text
        assert "the table's 16 cells are significantly below" in text


def test_pooled_caution_stays_quiet_at_chance():
    """Cells drawn at chance: the per-cell and pooled tests together flag at most about 5%."""
    from fitting.data import Spec, cells

    spec = Spec(x="log2_total_bits", method="binomial", successes="successes", trials="n", chance="chance")
    rng = np.random.default_rng(1)
    t = pd.DataFrame({"log2_total_bits": X8 * 3, "n": 300, "chance": 0.25})
    flagged = [bool(cells(t.assign(successes=rng.binomial(300, 0.25, len(t))), spec).caveats) for _ in range(400)]
    assert np.mean(flagged) <= 0.07


def test_a_saturation_refusal_is_not_labelled_not_significant():
    """Accuracy that keeps rising, more slowly: the legend says why the break is refused."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = fit_table(_table([928, 1700, 2680, 2886, 3195, 3350, 3453, 3607], 5153, 0.0), n_boot=199)
    assert np.isfinite(f.breakpoint) and not f.detected
    ax = f.plot()
    labels = ax.get_legend_handles_labels()[1]
    plt.close(ax.figure)
    (psi_label,) = [t for t in labels if t.startswith("psi =")]
    if f.p_value <= f.alpha:
        assert "not significant" not in psi_label and f.refused_as in psi_label
    else:
        assert "not significant" in psi_label
    refused = fit_table(_table([928, 1700, 2680, 2886, 3195, 3350, 3453, 3607], 5153, 0.0), n_boot=0)
    assert refused.refused_as == "existence test not run"


def test_open_intervals_keep_their_mark_in_the_report_table():
    from kbit_tasks.report.markdown import markdown

    f = fit_table(_table([3824, 3891, 3916, 3943, 4000, 3890, 4059, 4000], 14042, 0.25), n_boot=19)
    assert f.ci_open
    row = next(line for line in markdown({(): f}, {(): "p.png"}, "cmd", "acc").splitlines()
               if line.startswith("| all |"))
    assert "(open)" in row


def test_a_break_with_two_sizes_below_is_not_at_the_edge():
    f = fit_table(_table([3824, 3891, 3916, 3943, 4000, 3890, 4059, 4000], 14042, 0.25), n_boot=19)
    assert np.isfinite(f.breakpoint) and "edge" not in f.reason
    assert f.breakpoint > X8[1]  # two distinct x at or below it


def test_weak_z_is_never_rounded_onto_the_bound():
    from kbit_tasks.report.simulate import truth_cells

    for seed in range(10_000, 10_040):
        f = fit_table(truth_cells("weak break", seed)[0], n_boot=0)
        z = abs(f.params["slope_change"] / f.bse["slope_change"])
        text = " ".join(f.caveats)
        if 4.95 <= z < 5:
            assert "|z| = 5 <" not in text and "= -5 <" not in text
        if z < 5:
            shown = float(text.split("|z| = ")[1].split(" <")[0])
            assert shown <= z and shown < 5


def test_over_dispersed_gaps_are_quoted_as_qaic():
    from kbit_tasks.report.simulate import truth_cells

    f = fit_table(truth_cells("no break, dispersion 3", 5)[0], n_boot=0)
    assert f.dispersion > 1.5
    assert "QAIC" in f.verdict() and "AIC " not in f.verdict().replace("QAIC", "")
    m = f.models.set_index("model")
    assert m.loc["one break", "qaic"] == pytest.approx(2 * m.loc["one break", "k"]
                                                       - 2 * m.loc["one break", "loglik"] / f.dispersion)


def test_rows_that_differ_only_in_quant_type_are_distinct_cells():
    t = _table([600, 700, 800, 850, 880, 900, 910, 920], 1000, 0.25).assign(
        model=[f"m{i}" for i in range(8)], bits=4, quant_type="fp")
    both = pd.concat([t, t.assign(quant_type="int")], ignore_index=True)
    f = fit_table(both, n_boot=0)
    assert f.n_obs == 16
    with pytest.raises(ValueError, match="repeat a cell"):
        fit_table(pd.concat([t, t], ignore_index=True), n_boot=0)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_x_is_one_clear_error(value):
    t = _table([600, 700, 800, 850, 880, 900, 910, 920], 1000, 0.25)
    t.loc[3, "log2_total_bits"] = value
    with pytest.raises(ValueError, match=r"column 'log2_total_bits' has infinite value -?inf at row 3") as err:
        fit_table(t)
    assert "\n" not in str(err.value)
    assert math.isinf(value)
