"""The results object in the statsmodels manner, built once and never changed afterwards."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.iolib.summary import Summary
from statsmodels.iolib.table import SimpleTable

from fitting.data import Cells
from fitting.hypotheses import ExistenceTest, LRTest
from fitting.units import ci_label, readable_bits


@dataclass(frozen=True)
class ThresholdFit:
    """A located (or honestly not located) threshold for one set of cells.

    `breakpoint` is NaN when no threshold could be located at all. `detected` is True only
    when `reason` is empty: psi located, the existence test run and rejecting the closest
    smooth curve at `alpha`, the slope rising at psi (binomial: emergence, not saturation),
    the interval closed and the dispersion moderate. An undetected estimate is kept for reference.
    """

    method: str
    x_name: str
    alpha: float
    n_obs: int
    breakpoints: np.ndarray
    cis: tuple
    ci_open: bool
    test: ExistenceTest | None  # None when it was not run
    reason: str
    params: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    bse: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    cov: pd.DataFrame = field(default_factory=pd.DataFrame)
    llf: float = np.nan
    dispersion: float = np.nan
    models: pd.DataFrame = field(default_factory=pd.DataFrame)  # smooth curves and breaks, AIC and BIC
    closest: str = ""  # the smooth curve (no break) with the lowest AIC
    boot_ci: tuple | None = None
    precision_tests: dict[str, LRTest] = field(default_factory=dict)  # precision_terms, shared_psi
    notes: tuple = ()
    caveats: tuple = ()  # limits measured in simulation that apply to this fit: the verdict carries them
    label: dict = field(default_factory=dict)
    cells: Cells | None = None
    model: object = None  # the profile-likelihood object, for predictions and other intervals
    grid: object = None
    identified: bool = True  # False when the coefficients' standard errors are not finite: no shape is read

    # --- the threshold -------------------------------------------------------------------
    @property
    def breakpoint(self) -> float:
        """The threshold: with two breakpoints, the one where the slope rises most."""
        return float(self.breakpoints[self._main()])

    def _main(self) -> int:
        if len(self.breakpoints) == 1 or not np.all(np.isfinite(self.breakpoints)):
            return 0
        changes = [self.params.get(f"slope_change{'' if j == 0 else j + 1}", np.nan)
                   for j in range(len(self.breakpoints))]
        return int(np.nanargmax(changes)) if np.any(np.isfinite(changes)) else 0

    @property
    def ci(self) -> tuple[float, float]:
        return tuple(self.cis[self._main()])

    @property
    def p_value(self) -> float | None:
        """The existence test's p-value; None when it was not run (n_boot=0)."""
        return None if self.test is None else float(self.test.p_value)

    @property
    def detected(self) -> bool:
        return bool(np.isfinite(self.breakpoint) and not self.reason)

    @property
    def slope_change(self) -> float:
        j = self._main()
        return float(self.params.get(f"slope_change{'' if j == 0 else j + 1}", np.nan))

    @property
    def direction(self) -> str:
        """"emergence" when the slope rises at psi, "saturation" when it falls, "" if unknown."""
        d = self.slope_change
        return "" if not (self.identified and np.isfinite(d)) else ("emergence" if d > 0 else "saturation")

    @property
    def refused_as(self) -> str:
        """A few words for why a located break is not a threshold ('' when it is): the legend's."""
        if self.detected or not np.isfinite(self.breakpoint):
            return ""
        if not self.identified:
            return "not identified"
        if self.p_value is None or self.p_value > self.alpha:
            return "existence test not run" if self.p_value is None else "not significant"
        return "saturation, not a threshold" if self.direction == "saturation" else "not a threshold"

    @property
    def readable(self) -> str:
        """The breakpoint as total model size, when x is log2(total bits)."""
        return readable_bits(self.breakpoint) if self.x_name.startswith("log2") else f"{self.breakpoint:.4g}"

    # --- statsmodels-style estimates ------------------------------------------------------
    @property
    def k_params(self) -> int:
        return len(self.params)

    @property
    def aic(self) -> float:
        return float(2 * self.k_params - 2 * self.llf) if self.k_params and np.isfinite(self.llf) else np.nan

    @property
    def bic(self) -> float:
        if not (self.k_params and np.isfinite(self.llf)):
            return np.nan
        return float(np.log(self.n_obs) * self.k_params - 2 * self.llf)

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided Wald p-values of the coefficients (NaN for psi: "psi = 0" is no question;
        whether a break exists is `p_value`)."""
        p = pd.Series(2 * stats.norm.sf(np.abs(self.params / self.bse)), index=self.params.index,
                      name=self.params.name)  # a fit that could not be made: NaN, named by its reason
        return p.where([not str(k).startswith("psi") for k in p.index])

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Intervals at level 1 - alpha (default the fit's): Wald for the coefficients, the
        profile-likelihood interval (dispersion-scaled) for each psi."""
        alpha = self.alpha if alpha is None else alpha
        if not 0 < alpha < 1:
            raise ValueError(f"alpha={alpha!r} must lie strictly between 0 and 1")
        z = stats.norm.ppf(1 - alpha / 2)
        out = pd.DataFrame({"lower": self.params - z * self.bse, "upper": self.params + z * self.bse})
        psis = [n for n in self.params.index if n.startswith("psi")]
        cis = self.cis if alpha == self.alpha or len(psis) != 1 else [self._profile_ci(alpha)]
        for name, ci in zip(psis, cis):
            out.loc[name] = ci
        if self.params.name:
            out.attrs["reason"] = self.params.name
        return out

    def _profile_ci(self, alpha):
        from fitting.profile import locate

        crit = stats.chi2.ppf(1 - alpha, 1) * max(1.0, self.dispersion)
        lo, hi = locate(self.model, self.grid, crit).ci
        return min(lo, self.breakpoint), max(hi, self.breakpoint)

    def predict(self, x) -> np.ndarray:
        """The fitted curve at x (accuracy for binomial fits, at the reference precision)."""
        if self.model is None or not np.all(np.isfinite(self.breakpoints)):
            return np.full(np.shape(x), np.nan)
        return self.model.predict(self.breakpoints, np.asarray(x, dtype=float))

    def slopes(self) -> pd.DataFrame:
        """The slope of every segment with its standard error: before and after one break;
        before, between and after two."""
        terms = ["slope"] + [f"slope_change{'' if j == 0 else j + 1}" for j in range(len(self.breakpoints))]
        if not all(t in self.params for t in terms):
            return pd.DataFrame(columns=["estimate", "std_err"])
        rows = ["before", "after"] if len(terms) == 2 else ["before", "between", "after"]
        est, se = [], []
        for i in range(1, len(terms) + 1):
            est.append(float(self.params[terms[:i]].sum()))
            try:
                se.append(float(np.sqrt(self.cov.loc[terms[:i], terms[:i]].to_numpy().sum())))
            except KeyError:
                se.append(np.nan)
        return pd.DataFrame({"estimate": est, "std_err": se}, index=rows)

    # --- words ----------------------------------------------------------------------------
    def verdict(self) -> str:
        caveats = (*(self.cells.caveats if self.cells is not None else ()), *self.caveats)  # e.g. cells below chance
        return self._verdict() + "".join(f"; CAUTION: {c}" for c in caveats)

    def _verdict(self) -> str:
        if not np.isfinite(self.breakpoint):
            return f"no threshold detectable: {self.reason}" + self._closest_text()
        p = "not run" if self.p_value is None else f"{self.p_value:.3g}"
        ci = f"{ci_label(self.alpha)} {self.ci[0]:.3f}..{self.ci[1]:.3f}{' (open)' if self.ci_open else ''}"
        head = f"psi = {self.breakpoint:.3f} ({self.readable}), {ci}, existence p = {p}"
        if not self.detected:
            return f"no threshold detectable: {self.reason}{self._closest_text()}; estimate for reference only: {head}"
        sl = " -> ".join(f"{v:.3g}" for v in self.slopes()["estimate"])
        if len(self.breakpoints) == 1:
            return (f"threshold ({self.direction}: slope {sl}) at {head}, "
                    f"against the closest smooth curve{self._closest_text(bare=True)}")
        j = self._main()
        other = f"slope_change{'' if j == 1 else 2}"
        return (f"threshold ({self.direction} at break {j + 1} of 2: slopes {sl}) at {head}; the other break "
                f"({'rising' if self.params[other] > 0 else 'falling'}) at {self.breakpoints[1 - j]:.3f}; "
                f"against the closest smooth curve{self._closest_text(bare=True)}")

    def _closest_text(self, bare=False) -> str:
        if not self.closest:
            return ""
        adjusted = "qaic" in self.models and self.dispersion > 1  # over-dispersed: the gaps shrink by phi
        m = self.models.set_index("model")["qaic" if adjusted else "aic"]
        row = "one break" if len(self.breakpoints) == 1 else "two breaks"
        gap = ""
        if row in m and self.closest in m:
            d = m[self.closest] - m[row]
            whose = "the break's" if row == "one break" else "the two breaks'"
            gap = f", {'QAIC' if adjusted else 'AIC'} {abs(d):.1f} {'above' if d > 0 else 'below'} {whose}"
        return f" ({self.closest}{gap})" if bare else f"; closest smooth curve: {self.closest}{gap}"

    def summary(self) -> Summary:
        """A statsmodels Summary: print it, or let a notebook render its HTML."""
        title = "Threshold fit" + (" (" + ", ".join(f"{k}={v}" for k, v in self.label.items()) + ")"
                                   if self.label else "")
        test = "not run" if self.test is None else self.test.name
        p = "n/a" if self.p_value is None else f"{self.p_value:.4g}"
        top = [["Method:", self.method, "Cells:", str(self.n_obs)],
               ["x:", self.x_name, "Log-Likelihood:", f"{self.llf:.2f}"],
               ["Breakpoints:", str(len(self.breakpoints)), "AIC / BIC:", f"{self.aic:.1f} / {self.bic:.1f}"],
               ["Existence test:", test, "p-value:", p],
               ["Null (closest smooth):", self.closest or "n/a", "Direction:", self.direction or "n/a"],
               ["Dispersion:", f"{self.dispersion:.3g}", "alpha:", f"{self.alpha:g}"]]
        smry = Summary()
        smry.tables.append(SimpleTable(top, title=title))
        if len(self.params):
            ci = self.conf_int()
            rows = [[f"{v:.4g}" for v in (self.params[k], self.bse[k], self.pvalues[k], ci.loc[k, "lower"],
                                          ci.loc[k, "upper"])] for k in self.params.index]
            lab = ci_label(self.alpha)
            smry.tables.append(SimpleTable(rows, headers=["coef", "std err", "P>|z|", f"{lab} low", f"{lab} high"],
                                           stubs=list(self.params.index)))
        extra = []
        if len(self.slopes()):
            extra.append("slopes (logit scale for binomial):\n" + self.slopes().to_string(float_format="%.4g"))
        for j, (psi, ci) in enumerate(zip(self.breakpoints, self.cis)):
            if np.isfinite(psi):
                extra.append(f"psi{j + 1} = {psi:.4f}  profile {ci_label(self.alpha)} [{ci[0]:.4f}, {ci[1]:.4f}]"
                             + (" (open)" if self.ci_open else "")
                             + (f"  = {readable_bits(psi)}" if self.x_name.startswith("log2") else ""))
        if self.boot_ci is not None:
            extra.append(f"parametric bootstrap {ci_label(self.alpha)} [{self.boot_ci[0]:.4f}, {self.boot_ci[1]:.4f}]")
        if len(self.models):
            extra.append("model comparison:\n" + self.models.to_string(index=False, float_format="%.2f"))
        for name, t in self.precision_tests.items():
            extra.append(f"{name}: LR = {t.lr:.3f}, df = {t.df}, p = {t.p_value:.4g}"
                         + (f" ({t.note})" if t.note else ""))
        extra.append(self.verdict())
        extra += [f"note: {n}" for n in self.notes]
        smry.add_extra_txt(extra)
        return smry

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def to_frame(self) -> pd.DataFrame:
        """One row: what a table of many fits needs."""
        sl = self.slopes()
        located = np.isfinite(self.breakpoint)
        row = dict(self.label)
        row.update(method=self.method, n_obs=self.n_obs, breakpoint=self.breakpoint, ci_low=self.ci[0],
                   ci_high=self.ci[1], ci_open=self.ci_open, readable=self.readable if located else "",
                   p_value=np.nan if self.p_value is None else self.p_value, detected=self.detected,
                   direction=self.direction, closest_smooth=self.closest, reason=self.reason,
                   slope_before=sl["estimate"].get("before", np.nan),
                   slope_before_se=sl["std_err"].get("before", np.nan),
                   slope_after=sl["estimate"].get("after", np.nan), slope_after_se=sl["std_err"].get("after", np.nan),
                   dispersion=self.dispersion, aic=self.aic, bic=self.bic)
        if len(self.models):
            row["best_by_aic"] = self.models.loc[self.models["aic"].idxmin(), "model"]
            row["best_by_bic"] = self.models.loc[self.models["bic"].idxmin(), "model"]
        if self.boot_ci is not None:
            row.update(boot_ci_low=self.boot_ci[0], boot_ci_high=self.boot_ci[1])
        for name, t in self.precision_tests.items():
            row[f"{name}_p"] = t.p_value
        row["notes"] = "; ".join((*self.notes, *self.caveats))
        return pd.DataFrame([row])

    def plot(self, ax=None):
        """Cells with binomial (Wilson) bars, the fitted curve, psi with its interval, chance."""
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
        return "\n\n".join(str(f.summary()) for f in self._fits.values())

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False)
