"""Reading a table: one clear ValueError per malformed input, before any fitting."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

METHODS = ("binomial", "ols", "wls")
# Family-wise level of the below-chance caution of one fit: half for its cells one by one
# (Bonferroni over them), half for their sum.
BELOW_CHANCE_LEVEL = 0.05


@dataclass
class Spec:
    """Which columns mean what; validated once for the whole table. metric_column: the column
    naming each row's metric in a long table (rows of one metric are fitted). cell_key: the
    columns that name a cell, its first one required for the check (two rows agreeing on all of
    those present are one cell counted twice; without it rows are measurements, and equal ones
    are legitimate) and for naming cells in notes."""

    x: str
    method: str
    successes: str | None = None
    trials: str | None = None
    chance: str | float | None = None
    y: str | None = None
    weights: str | None = None
    precision: str | None = None
    metric_column: str | None = None
    cell_key: tuple[str, ...] = ()


@dataclass
class Cells:
    """The rows of one fit, cleaned: arrays plus notes on what was dropped and why."""

    x: np.ndarray
    s: np.ndarray | None
    n: np.ndarray | None
    c: np.ndarray | None
    y: np.ndarray | None
    w: np.ndarray | None
    precision: np.ndarray | None
    method: str = "binomial"  # "binomial", or "ols"/"wls" (wls only where the weights vary)
    notes: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)  # notes that the verdict itself must carry


def _need(df: pd.DataFrame, col: str, role: str) -> None:
    if col not in df.columns:
        raise ValueError(f"column {col!r} ({role}) is not in the table; columns are: {', '.join(map(str, df.columns))}")


def prepare(data, spec: Spec, metric: str | None, by: list[str] | None) -> pd.DataFrame:
    """Validate the table against the spec and return the rows to fit (one metric)."""
    if spec.method not in METHODS:
        raise ValueError(f"method={spec.method!r} is not one of: {', '.join(METHODS)}")
    df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    col = spec.metric_column
    if col is not None and col in df.columns:
        metrics = sorted(df[col].dropna().astype(str).unique())
        if metric is None and len(metrics) > 1:
            raise ValueError(f"the table holds several metrics; choose one with metric=: {', '.join(metrics)}")
        if metric is not None and metric not in metrics:
            raise ValueError(f"metric={metric!r} is not in the table; metrics are: {', '.join(metrics)}")
        df = df[df[col].astype(str) == (metric or metrics[0])]
    elif metric is not None:
        raise ValueError(f"metric={metric!r} given but the table has no {col!r} column" if col else
                         f"metric={metric!r} given without metric_column=, the column that names each row's metric")
    _need(df, spec.x, "x")
    for col in by or []:
        _need(df, col, "by")
    if spec.precision is not None:
        _need(df, spec.precision, "precision")
    if spec.method == "binomial":
        _need(df, spec.successes, "successes")
        _need(df, spec.trials, "trials")
        if isinstance(spec.chance, str):
            _need(df, spec.chance, "chance")
        if df[spec.successes].isna().all() and len(df):
            name = metric or "this metric"
            raise ValueError(f"{name!r} has no successes (a continuous metric?): use method='ols' for it, "
                             "or a metric counted in successes of trials")
    else:
        _need(df, spec.y, "y")
        if spec.method == "wls":
            _need(df, spec.weights, "weights")
    for col in _numeric_columns(spec):
        if df[col].map(lambda v: isinstance(v, (bool, np.bool_))).any():
            raise ValueError(f"column {col!r} holds booleans (True/False); it must be numeric"
                             + (": successes count the correct items of each cell, 0..trials"
                                if col == spec.successes else ""))
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            raise ValueError(f"column {col!r} has non-numeric value {df[col][bad].iloc[0]!r}")
        infinite = np.isinf(values.to_numpy(dtype=float))
        if infinite.any():
            row = df.index[infinite][0]
            raise ValueError(f"column {col!r} has infinite value {values[row]:g} at row {row}: every value "
                             "must be finite (leave a cell empty to drop it)")
    if spec.precision is not None and df[spec.precision].isna().any():
        rows = df.index[df[spec.precision].isna()]
        raise ValueError(f"column {spec.precision!r} (precision) is missing in {len(rows)} row(s), first at row "
                         f"{rows[0]!r}: every row needs a precision label (e.g. bits), or leave precision= unset")
    _check_duplicates(df, by, spec.cell_key)
    if len(df) and not _usable(df, spec).any():
        cols = ", ".join(repr(c) for c in _numeric_columns(spec))
        raise ValueError(f"no usable rows: each of the {len(df)} row(s) has a missing (NaN) value in one of {cols}")
    if spec.method == "binomial":
        _check_counts(df, spec)
    return df


def _check_duplicates(df: pd.DataFrame, by: list[str] | None, cell_key: tuple[str, ...]) -> None:
    """Refuse a cell counted twice (a table concatenated with itself would narrow every interval)."""
    if not cell_key or cell_key[0] not in df.columns:
        return
    key = [c for c in cell_key if c in df.columns] + [c for c in by or [] if c not in cell_key]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        cell = ", ".join(f"{c}={first[c]}" for c in key)
        raise ValueError(f"{int(df.duplicated(key).sum())} row(s) repeat a cell already in the table, first {cell}: "
                         f"keep one row per ({', '.join(key)}), e.g. table.drop_duplicates({key!r})")


def _usable(df: pd.DataFrame, spec: Spec) -> np.ndarray:
    """Rows with every numeric column of the fit present (not NaN)."""
    cols = [pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) for c in _numeric_columns(spec)]
    return np.all([np.isfinite(a) for a in cols], axis=0)


def _numeric_columns(spec: Spec) -> list[str]:
    if spec.method == "binomial":
        cols = [spec.x, spec.successes, spec.trials] + ([spec.chance] if isinstance(spec.chance, str) else [])
    else:
        cols = [spec.x, spec.y, spec.weights]
    return [c for c in cols if c is not None]


def _check_counts(df: pd.DataFrame, spec: Spec) -> None:
    s = pd.to_numeric(df[spec.successes], errors="coerce")
    n = pd.to_numeric(df[spec.trials], errors="coerce")
    for name, v, ok in ((spec.trials, n, n >= 0), (spec.successes, s, s >= 0), (spec.successes, s, s <= n),
                        (spec.successes, s, s == np.round(s))):
        bad = v.notna() & n.notna() & ~ok
        if bad.any():
            i = bad.idxmax()
            raise ValueError(f"column {name!r} has invalid value {v[i]:g} (successes {s[i]:g} of trials {n[i]:g}): "
                             "successes must be whole numbers with 0 <= successes <= trials")
    c = chance_values(df, spec)
    bad = np.isfinite(c) & ((c < 0) | (c >= 1))
    if bad.any():
        raise ValueError(f"chance {c[bad][0]:g} is outside [0, 1): the chance rate is 1 / number of choices")


def chance_values(df: pd.DataFrame, spec: Spec) -> np.ndarray:
    if spec.chance is None:
        return np.zeros(len(df))
    if isinstance(spec.chance, str):
        return pd.to_numeric(df[spec.chance], errors="coerce").to_numpy(dtype=float)
    return np.full(len(df), float(spec.chance))


def cells(df: pd.DataFrame, spec: Spec) -> Cells:
    """Arrays for one fit; rows with missing values or zero trials are dropped and noted."""
    num = lambda col: pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)  # noqa: E731
    x = num(spec.x)
    if spec.method == "binomial":
        s, n, c, y, w = num(spec.successes), num(spec.trials), chance_values(df, spec), None, None
    else:
        s = n = c = None
        y = num(spec.y)
        w = num(spec.weights) if spec.method == "wls" else np.ones_like(x)
    ok = _usable(df, spec)
    notes = []
    if (~ok).any():
        notes.append(f"dropped {int((~ok).sum())} row(s) with a missing (NaN) value")
    if n is not None and np.any(ok & (n == 0)):
        notes.append(f"dropped {int(np.sum(ok & (n == 0)))} row(s) with zero trials")
        ok &= n > 0
    if w is not None and np.any(ok & (w <= 0)):
        raise ValueError(f"weights must be positive; got {w[ok & (w <= 0)][0]!r}")
    prec = df[spec.precision].to_numpy()[ok] if spec.precision else None
    pick = lambda a: None if a is None else a[ok]  # noqa: E731
    method = spec.method if s is not None or len(np.unique(w[ok])) > 1 else "ols"
    out = Cells(x[ok], pick(s), pick(n), pick(c), pick(y), pick(w), prec, method, notes)
    if s is not None:
        pooled = pooled_below_chance(out, f"the {len(out.s)} cells of this fit")
        for below in (_below_chance(out, df[ok], spec), pooled):
            if below:
                out.notes.append(below)
                out.caveats.append(below)
    return out


def _below_chance(c: Cells, rows: pd.DataFrame, spec: Spec) -> str:
    """A note naming the cells whose accuracy is significantly below the stated chance, or ''.

    Below-chance accuracy breaks the model (accuracy = chance + (1 - chance) x curve): the
    chance rate may be mis-stated, or the answers biased against the gold."""
    m = len(c.s)
    p_low = stats.binom.cdf(c.s, c.n, c.c)  # P(S <= s) at chance
    low = np.flatnonzero(p_low < BELOW_CHANCE_LEVEL / 2 / max(m, 1))
    if low.size == 0:
        return ""
    names = _naming(rows, [*spec.cell_key, *([spec.precision] if spec.precision else [])]) or [spec.x]
    shown = [", ".join(f"{k}={rows[k].iloc[i]}" for k in names)
             + f" ({c.s[i]:g}/{c.n[i]:g} = {c.s[i] / c.n[i]:.3f} < {c.c[i]:g})" for i in low[:5]]
    more = f"; and {low.size - 5} more" if low.size > 5 else ""
    return (f"{low.size} of {m} cells are significantly below the stated chance (one-sided binomial test, "
            f"{BELOW_CHANCE_LEVEL / 2:g} with Bonferroni over {m} cells): {'; '.join(shown)}{more}; "
            "check the chance rate (1 / number of choices) and the answer scoring")


def _naming(rows: pd.DataFrame, key: list[str]) -> list[str]:
    """The fewest columns of `key`, in its order, that tell these rows apart: each one named
    varies where the columns before it agree (a column they determine adds nothing)."""
    names = []
    for col in dict.fromkeys(key):
        if col not in rows.columns or rows[col].nunique() < 2:
            continue
        if not names or rows.groupby(names, dropna=False)[col].nunique().max() > 1:
            names.append(col)
    return names


def pooled_below_chance(c: Cells, what: str) -> str:
    """A caution when the cells, pooled, are significantly below the stated chance, or ''.

    Cells a little below chance each pass the per-cell test (Bonferroni over many cells), and
    pooling families of tasks into one fit dilutes them further; their sum does not. The sum of
    binomials with one chance rate is binomial (exact test); with several, the normal
    approximation of its Poisson-binomial law is used."""
    if c.s is None or len(c.s) < 2:
        return ""
    total, trials = float(c.s.sum()), float(c.n.sum())
    mean, var = float(np.sum(c.n * c.c)), float(np.sum(c.n * c.c * (1 - c.c)))
    if var <= 0:
        return ""
    if np.ptp(c.c) == 0:
        p = float(stats.binom.cdf(total, trials, c.c[0]))
    else:
        p = float(stats.norm.cdf((total + 0.5 - mean) / np.sqrt(var)))
    if not p < BELOW_CHANCE_LEVEL / 2:
        return ""
    return (f"{what} are significantly below the stated chance when pooled: {total:g}/{trials:g} = "
            f"{total / trials:.3f} < {mean / trials:.3g} (one-sided binomial test, p = {p:.2g} < "
            f"{BELOW_CHANCE_LEVEL / 2:g}); check the chance rate (1 / number of choices) and the answer scoring")
