"""Results objects in the statsmodels manner: estimates, standard errors, tests, summary, plot."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.iolib.table import SimpleTable
from statsmodels.stats.proportion import proportion_confint

from fitting.data import Cells
from fitting.units import readable_bits


@dataclass
class ThresholdFit:
    """A located (or honestly not located) threshold for one set of cells.

    `breakpoint` is NaN when no threshold could be located at all (`reason` says why);
    `detected` is True only when a breakpoint was located and the existence test rejects
    "no break" at `alpha`. The estimate of an undetected break is kept for reference.
    """

    method: str
    x_name: str
    breakpoints: np.ndarray
    cis: list
    ci_open: bool
    p_value: float
    test: str
    alpha: float
    params: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    bse: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    cov: pd.DataFrame = field(default_factory=pd.DataFrame)
    loglik: float = np.nan
    n_obs: int = 0
    dispersion: float = np.nan
    models: pd.DataFrame = field(default_factory=pd.DataFrame)
    boot_ci: tuple | None = None
    precision_tests: dict = field(default_factory=dict)
    reason: str = ""
    notes: list = field(default_factory=list)
    label: dict = field(default_factory=dict)
    cells: Cells | None = None
    model: object = None  # the profile-likelihood object, for predictions and plots

    @property
    def breakpoint(self) -> float:
        """The threshold: with two breakpoints, the one where the slope rises most."""
        if len(self.breakpoints) == 1 or not np.all(np.isfinite(self.breakpoints)):
            return float(self.breakpoints[0])
        return float(self.breakpoints[self._main()])

    def _main(self) -> int:
        changes = [self.params.get(f"slope_change{'' if j == 0 else j + 1}", np.nan) for j in range(len(self.breakpoints))]
        return int(np.nanargmax(changes)) if np.any(np.isfinite(changes)) else 0

    @property
    def ci(self) -> tuple[float, float]:
        return tuple(self.cis[self._main() if len(self.cis) > 1 else 0])

    @property
    def detected(self) -> bool:
        return bool(np.isfinite(self.breakpoint) and self.p_value <= self.alpha)

    @property
    def k_params(self) -> int:
        return len(self.params)

    @property
    def aic(self) -> float:
        return float(2 * self.k_params - 2 * self.loglik) if self.k_params else np.nan

    @property
    def bic(self) -> float:
        return float(np.log(self.n_obs) * self.k_params - 2 * self.loglik) if self.k_params else np.nan

    @property
    def readable(self) -> str:
        """The breakpoint as total model size, when x is log2(total bits)."""
        return readable_bits(self.breakpoint) if self.x_name.startswith("log2") else f"{self.breakpoint:.4g}"

    def slopes(self) -> pd.DataFrame:
        """Slope before and after the main breakpoint, with standard errors."""
        j = self._main()
        change = f"slope_change{'' if j == 0 else j + 1}"
        if "slope" not in self.params or change not in self.params:
            return pd.DataFrame(columns=["estimate", "std_err"])
        before, after = self.params["slope"], self.params["slope"] + self.params[change]
        se_b = self.bse["slope"]
        try:
            se_a = float(np.sqrt(self.cov.loc["slope", "slope"] + self.cov.loc[change, change]
                                 + 2 * self.cov.loc["slope", change]))
        except KeyError:
            se_a = np.nan
        return pd.DataFrame({"estimate": [before, after], "std_err": [se_b, se_a]}, index=["before", "after"])

    def verdict(self) -> str:
        if not np.isfinite(self.breakpoint):
            return f"no threshold detectable: {self.reason}"
        ci = f"95% CI {self.ci[0]:.3f}..{self.ci[1]:.3f}{' (open: reaches the data edge)' if self.ci_open else ''}"
        head = f"psi = {self.breakpoint:.3f} ({self.readable}), {ci}, existence p = {self.p_value:.3g}"
        if not self.detected:
            return f"no threshold detectable: {self.reason}; estimate for reference only: {head}"
        return f"threshold at {head}"

    def summary(self) -> str:
        """A statsmodels-style text summary."""
        title = "Threshold fit" + (" (" + ", ".join(f"{k}={v}" for k, v in self.label.items()) + ")" if self.label else "")
        top = [["Method:", self.method, "Cells:", str(self.n_obs)],
               ["x:", self.x_name, "Log-Likelihood:", f"{self.loglik:.2f}"],
               ["Breakpoints:", str(len(self.breakpoints)), "AIC / BIC:", f"{self.aic:.1f} / {self.bic:.1f}"],
               ["Existence test:", self.test, "p-value:", f"{self.p_value:.4g}"],
               ["Dispersion:", f"{self.dispersion:.3g}", "alpha:", f"{self.alpha:g}"]]
        parts = [str(SimpleTable(top, title=title))]
        if len(self.params):
            z = self.params / self.bse
            rows = [[f"{v:.4g}" for v in (self.params[k], self.bse[k], z[k])] for k in self.params.index]
            parts.append(str(SimpleTable(rows, headers=["coef", "std err", "z"], stubs=list(self.params.index))))
        if len(self.slopes()):
            parts.append("slopes (logit scale for binomial):\n" + self.slopes().to_string(float_format="%.4g"))
        for j, (psi, ci) in enumerate(zip(self.breakpoints, self.cis)):
            if np.isfinite(psi):
                parts.append(f"psi{j + 1} = {psi:.4f}  profile 95% CI [{ci[0]:.4f}, {ci[1]:.4f}]"
                             + (f"  = {readable_bits(psi)}" if self.x_name.startswith("log2") else ""))
        if self.boot_ci is not None:
            parts.append(f"parametric bootstrap 95% CI [{self.boot_ci[0]:.4f}, {self.boot_ci[1]:.4f}]")
        if len(self.models):
            parts.append("model comparison:\n" + self.models.to_string(index=False, float_format="%.2f"))
        for name, t in self.precision_tests.items():
            parts.append(f"{name}: LR = {t['lr']:.3f}, df = {t['df']}, p = {t['p_value']:.4g}" + (
                f" ({t['note']})" if t.get("note") else ""))
        parts.append(self.verdict())
        parts += [f"note: {n}" for n in self.notes]
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def to_frame(self) -> pd.DataFrame:
        """One row: what a table of many fits needs."""
        sl = self.slopes()
        row = dict(self.label)
        row.update(method=self.method, n_obs=self.n_obs, breakpoint=self.breakpoint, ci_low=self.ci[0],
                   ci_high=self.ci[1], ci_open=self.ci_open, readable=self.readable if np.isfinite(self.breakpoint)
                   else "", p_value=self.p_value, detected=self.detected, reason=self.reason,
                   slope_before=sl["estimate"].get("before", np.nan), slope_before_se=sl["std_err"].get("before", np.nan),
                   slope_after=sl["estimate"].get("after", np.nan), slope_after_se=sl["std_err"].get("after", np.nan),
                   dispersion=self.dispersion, aic=self.aic, bic=self.bic)
        if len(self.models):
            row["best_by_aic"] = self.models.loc[self.models["aic"].idxmin(), "model"]
            row["best_by_bic"] = self.models.loc[self.models["bic"].idxmin(), "model"]
        if self.boot_ci is not None:
            row.update(boot_ci_low=self.boot_ci[0], boot_ci_high=self.boot_ci[1])
        for name, t in self.precision_tests.items():
            row[f"{name}_p"] = t["p_value"]
        row["notes"] = "; ".join(self.notes)
        return pd.DataFrame([row])

    def plot(self, ax=None):
        """Cells with 95% binomial (Wilson) bars, the fitted curve, psi with its interval, chance."""
        from fitting.plot import plot_fit

        return plot_fit(self, ax)


class ThresholdFits(Mapping):
    """Fits keyed by the `by` values (a tuple per group), with one table for all."""

    def __init__(self, by: list[str], fits: dict):
        self.by, self._fits = list(by), dict(fits)

    def __getitem__(self, key):
        return self._fits[key]

    def __iter__(self):
        return iter(self._fits)

    def __len__(self):
        return len(self._fits)

    def to_frame(self) -> pd.DataFrame:
        return pd.concat([f.to_frame() for f in self._fits.values()], ignore_index=True)

    def summary(self) -> str:
        return "\n\n".join(f.summary() for f in self._fits.values())


def binomial_bars(s, n, alpha=0.05):
    """Wilson intervals for each cell's accuracy (statsmodels)."""
    lo, hi = proportion_confint(s, n, alpha=alpha, method="wilson")
    return np.asarray(lo), np.asarray(hi)
