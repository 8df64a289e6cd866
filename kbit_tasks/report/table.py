"""The sweep's tidy table as `fitting` reads it: which column plays which role, stated once."""
from __future__ import annotations

FAMILY, LEVEL = "group", "level"  # the columns for reasoning family and difficulty
SMOOTH_METRICS = ("brier_score", "gold_logprob")  # the continuous metrics kbit tasks emit
BINOMIAL_METRICS = ("acc", "acc_norm")  # counted in successes of n items: fitted as binomial counts
# Columns that name a cell of the tidy table (docs/sweep.md): two rows agreeing on all of those
# present are one cell counted twice.
CELL_KEY = ("model", "precision", "bits", "quant_type", "blocksize", "outliers", "task", "level", "metric")
COLUMNS = dict(x="log2_total_bits", successes="successes", trials="n", chance="chance", y="value",
               metric_column="metric", cell_key=CELL_KEY)


def fit_table(table, method: str = "binomial", **options):
    """`fitting.fit_threshold` on a tidy table, its columns from COLUMNS (any one overridable)."""
    from fitting import fit_threshold

    return fit_threshold(table, method=method, **{**COLUMNS, **options})
