"""`ThresholdModel`: the table and which of its columns mean what (`from_table`), fitted with
the algorithm's options (`fit`), as a statsmodels model is; `fit_threshold` does both in one call."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fitting.api import fit_cells
from fitting.data import Spec, cells, pooled_below_chance, prepare
from fitting.results import ThresholdFit, ThresholdFits


@dataclass(frozen=True)
class ThresholdModel:
    """The validated rows of one metric and their column roles; `by` splits them into groups."""

    data: pd.DataFrame
    spec: Spec
    by: tuple[str, ...] = ()

    @classmethod
    def from_table(cls, table, x: str, *, successes: str | None = None, trials: str | None = None,
                   chance: str | float | None = None, y: str | None = None, weights: str | None = None,
                   method: str | None = None, precision: str | None = None, by=None, metric: str | None = None,
                   metric_column: str | None = None, cell_key=()) -> ThresholdModel:
        """Name the columns: x; for counts (method "binomial", the default when successes is
        given) successes, trials and chance (a column or a number); for a continuous metric
        (method "ols", or "wls" with weights) y. precision: a column for per-precision
        intercept terms and the shared-breakpoint test. by: columns to group by (one fit each).
        metric: which metric's rows to fit when metric_column names each row's metric.
        cell_key: columns that name a cell (a cell counted twice is refused). Every column is
        checked here, before any fitting."""
        if not isinstance(table, (pd.DataFrame, dict)):
            raise ValueError(f"data must be a pandas DataFrame or a dict of columns, not {type(table).__name__}")
        method = method or ("binomial" if successes is not None else "wls" if weights is not None else "ols")
        if method == "binomial":
            for role, value, example in (("successes", successes, "correct answers"),
                                         ("trials", trials, "items"), ("chance", chance, "0.25 or a column")):
                if value is None:
                    raise ValueError(f"{role} not given: method='binomial' needs {role}= ({example} per row)")
        elif y is None:
            raise ValueError(f"y not given: method={method!r} needs y=, the column of the metric's values")
        by = (by,) if isinstance(by, str) else tuple(by or ())
        spec = Spec(x=x, method=method, successes=successes, trials=trials, chance=chance, y=y, weights=weights,
                    precision=precision, metric_column=metric_column, cell_key=tuple(cell_key))
        frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
        return cls(prepare(frame, spec, metric, list(by)), spec, by)

    def fit(self, n_breakpoints: int = 1, alpha: float = 0.05, n_boot: int = 199, boot_ci: int = 0,
            grid_size: int = 40, seed: int = 0) -> ThresholdFit | ThresholdFits:
        """Locate the threshold: a ThresholdFit, or a ThresholdFits keyed by the `by` values.

        n_boot: bootstrap replicates of the existence test (binomial; 0 = not run); boot_ci:
        replicates for a bootstrap interval of psi (0 = none); grid_size: candidate breakpoints."""
        if n_breakpoints not in (1, 2):
            raise ValueError(f"n_breakpoints={n_breakpoints!r} is not one of: 1, 2")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha={alpha!r} must lie strictly between 0 and 1")
        for name, v, low in (("n_boot", n_boot, 0), ("boot_ci", boot_ci, 0), ("grid_size", grid_size, 10)):
            if int(v) != v or v < low:
                raise ValueError(f"{name}={v!r} must be a whole number >= {low}")
        opts = dict(x_name=self.spec.x, n_breakpoints=n_breakpoints, alpha=alpha, n_boot=int(n_boot),
                    boot_ci=int(boot_ci), grid_size=int(grid_size), seed=seed)
        if not self.by:
            return fit_cells(cells(self.data, self.spec), **opts)
        groups = list(self.data.groupby(list(self.by), sort=True, dropna=False))
        every = cells(self.data, self.spec)
        whole = pooled_below_chance(every, f"the table's {len(every.x)} cells") if len(groups) > 1 else ""
        fits = {}
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            c = cells(part, self.spec)
            if whole:  # a caution about the whole table reaches every fit of it
                c.notes.append(whole)
                c.caveats.append(whole)
            fits[key] = fit_cells(c, label=dict(zip(self.by, key)), **opts)
        return ThresholdFits(list(self.by), fits)


def fit_threshold(table, x: str, *, n_breakpoints: int = 1, alpha: float = 0.05, n_boot: int = 199,
                  boot_ci: int = 0, grid_size: int = 40, seed: int = 0, **columns) -> ThresholdFit | ThresholdFits:
    """`ThresholdModel.from_table(table, x, **columns).fit(...)` in one call."""
    return ThresholdModel.from_table(table, x, **columns).fit(n_breakpoints=n_breakpoints, alpha=alpha, n_boot=n_boot,
                                                              boot_ci=boot_ci, grid_size=grid_size, seed=seed)
