"""Reading the table (fitting.data): each malformed input is one clear ValueError or an honest note."""
import numpy as np
import pandas as pd
import pytest

from kbit_tasks.report import fit_table
from fitting.data import Spec, cells
from kbit_tasks.report.simulate import simulate_table


@pytest.fixture(scope="module")
def acc():
    table = simulate_table(psi=31.5, chance=0.25, seed=4)
    return table[table["metric"] == "acc"].reset_index(drop=True)


def test_missing_precision_label_is_named(acc):
    table = acc.astype({"bits": float})
    table.loc[[3, 7], "bits"] = np.nan
    with pytest.raises(ValueError, match=r"column 'bits' \(precision\) is missing in 2 row\(s\), first at row 3"):
        fit_table(table, metric="acc", precision="bits", n_boot=0)


def test_least_squares_with_no_usable_rows():
    table = simulate_table(seed=1)
    table = table[table["metric"] == "gold_logprob"].assign(value=np.nan)
    with pytest.raises(ValueError, match="no usable rows: each of the 30 row.* 'log2_total_bits', 'value'"):
        fit_table(table, metric="gold_logprob", method="ols")


def test_one_group_without_usable_rows_is_refused_not_crashed():
    table = simulate_table(seed=1, tasks=("kbit_a_l1", "kbit_b_l1"))
    table = table[table["metric"] == "gold_logprob"].copy()
    table.loc[table["task"] == "kbit_b_l1", "value"] = np.nan
    fits = fit_table(table, metric="gold_logprob", method="ols", by="task")
    assert np.isfinite(fits[("kbit_a_l1",)].breakpoint)
    empty = fits[("kbit_b_l1",)]
    assert not empty.detected and "no usable rows" in empty.reason


@pytest.mark.parametrize("column", ["successes", "n"])
def test_booleans_are_not_counts(acc, column):
    table = acc.assign(**{column: acc["successes"] > 150})
    with pytest.raises(ValueError, match=f"column '{column}' holds booleans"):
        fit_table(table, metric="acc", n_boot=0)
    as_objects = acc.assign(**{column: (acc["successes"] > 150).astype(object)})
    with pytest.raises(ValueError, match="holds booleans"):
        fit_table(as_objects, metric="acc", n_boot=0)


def test_a_cell_counted_twice_is_refused(acc):
    with pytest.raises(ValueError, match=r"30 row\(s\) repeat a cell already in the table, first model=sim-70m, bits=3,"
                                         r".*drop_duplicates"):
        fit_table(pd.concat([acc, acc]), metric="acc", n_boot=0)
    # without a model column rows are measurements, and equal ones are legitimate (R's `stagnant` has some)
    x = np.repeat(np.arange(27.0, 36.0), 2)
    plain = pd.DataFrame({"log2_total_bits": x, "value": 0.1 * x + 0.3 * np.maximum(x - 31, 0)})
    assert fit_table(plain, method="ols").n_obs == len(x)


def test_cells_below_chance_are_named_in_notes_and_verdict(acc):
    table = acc.copy()
    table.loc[[0, 5], "successes"] = 40  # 0.133 against chance 0.25, at 300 items
    fit = fit_table(table, metric="acc", n_boot=0)
    note = next(n for n in fit.notes if "below the stated chance" in n)
    assert note.startswith("2 of 30 cells are significantly below the stated chance")
    assert "model=sim-70m, bits=3 (40/300 = 0.133 < 0.25); model=sim-160m, bits=3 (40/300" in note
    assert "CAUTION: 2 of 30 cells" in fit.verdict()
    assert "below the stated chance" in fit.to_frame()["notes"].iloc[0]


def test_cells_at_chance_are_rarely_flagged(acc):
    """Sampling noise around chance must not raise the alarm: Bonferroni over the cells keeps
    the share of flagged tables near or below 5%."""
    spec = Spec(x="log2_total_bits", method="binomial", successes="successes", trials="n", chance="chance")
    rng = np.random.default_rng(0)
    flagged = [bool(cells(acc.assign(successes=rng.binomial(300, 0.25, len(acc))), spec).caveats) for _ in range(200)]
    assert np.mean(flagged) <= 0.08
