"""Segmented least squares for continuous metrics (Brier score, gold log-probability).

y = b0 + b1 x + b2 (x - psi)+ + e, e ~ N(0, sigma^2 / w). The profile over psi is exact
(closed-form weighted least squares at every grid point, batched); Muggeo's iteration
(as in R `segmented`) then polishes psi through statsmodels WLS. Davies' test and the
standard errors are computed as R `segmented` computes them (docs/fitting.md compares them).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special, stats

from fitting.engine import finite_errors
from fitting.hypotheses import ExistenceTest
from fitting.profile import FinalFit, Grid, candidates, hinge_design
from fitting.smooth import model_table

_RIDGE = 1e-10
ALTERNATIVES = ("two.sided", "greater", "less")


class SegmentedLS:
    """Gaussian profile likelihood of the hinge model (sigma profiled out)."""

    method = "ols"
    emergence_only = False  # a continuous metric may rise or fall at the break (Brier falls)

    def __init__(self, x, y, w=None, extra=None, extra_names=()):
        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.w = np.ones_like(self.x) if w is None else np.asarray(w, dtype=float)
        self.extra, self.extra_names = extra, list(extra_names)
        self.xbar = float(self.x.mean())
        self.xc = self.x - self.xbar
        cols = [np.ones_like(self.xc), self.xc] + ([] if extra is None else list(extra.T))
        self.X0 = np.stack(cols, axis=-1)
        self.ll0 = float(self._fit(self.X0)[1])

    @property
    def n_obs(self) -> int:
        return len(self.x)

    @classmethod
    def from_cells(cls, cells, extra=None, extra_names=()) -> SegmentedLS:
        return cls(cells.x, cells.y, cells.w, extra, extra_names)

    def subset(self, mask) -> SegmentedLS:
        return SegmentedLS(self.x[mask], self.y[mask], self.w[mask])

    def smooth_models(self) -> pd.DataFrame:
        q = 0 if self.extra is None else self.extra.shape[1]
        return model_table([("linear", 2 + q, self.linear_alternative()), ("sigmoid", 4 + q,
                                                                           self.sigmoid_alternative())], self.n_obs)

    def existence_test(self, grid: Grid, closest: str, n_boot: int, rng, n_breakpoints: int,
                       alpha: float) -> ExistenceTest | None:
        """Davies' test (its null is a straight line), and for two breaks a Gaussian parametric
        bootstrap against one break (None when n_boot is 0)."""
        stat, p = self.davies_pvalue()
        if n_breakpoints == 1:
            return ExistenceTest(stat, p, "linear", "Davies (k=10)")
        if n_boot == 0:
            return None
        singles, pairs = candidates(grid)
        p_one = self.versus_fewer_breaks(pairs, singles, n_boot, rng)
        return ExistenceTest(stat, max(p, p_one), "linear; one break",
                             f"Davies (k=10) vs linear, p = {p:.3g}; Gaussian parametric bootstrap vs one break "
                             f"(B={n_boot}), p = {p_one:.3g}", p_smooth=p, p_one_break=p_one)

    def identified(self, psis, coef, bse, cov):
        return finite_errors(bse, coef), cov, ()

    def bootstrap_psi(self, psi: float, grid: Grid, n_boot: int, rng) -> None:
        return None  # offered for binomial fits only; least squares reports the profile interval

    def weak_break(self, z: float) -> tuple[str, ...]:
        return ()  # the coverage of weak breaks was measured for accuracy (binomial) fits only

    def _fit(self, X, ridge=_RIDGE):
        """Batched WLS: (beta, loglik, rss, (X'WX)^-1); the tiny ridge keeps a grid point whose
        hinge column is empty (psi past the data) from stopping the whole batch."""
        sw = np.sqrt(self.w)
        Xw, yw = X * sw[:, None], self.y * sw
        xtx = np.swapaxes(Xw, -1, -2) @ Xw + ridge * np.eye(X.shape[-1])
        inv = np.linalg.inv(xtx)
        beta = (inv @ (np.swapaxes(Xw, -1, -2) @ yw)[..., None])[..., 0]
        rss = np.sum((yw - np.einsum("...mk,...k->...m", Xw, beta)) ** 2, axis=-1)
        m = self.n_obs
        ll = -0.5 * m * (np.log(2 * np.pi * np.maximum(rss, 1e-300) / m) + 1) + 0.5 * np.sum(np.log(self.w))
        return beta, ll, rss, inv

    def _X(self, psis):
        return hinge_design(self.xc, np.asarray(psis, dtype=float) - self.xbar, self.extra)

    def loglik_grid(self, psis):
        return self._fit(self._X(psis))[1]

    def loglik_at(self, psi) -> float:
        return float(self._fit(self._X(psi))[1])

    def fitted(self, psis):
        beta = self._fit(self._X(psis))[0]
        return self._X(psis) @ beta

    def predict(self, psis, xs):
        beta = self._fit(self._X(psis))[0]
        X = hinge_design(np.asarray(xs, dtype=float) - self.xbar, np.asarray(psis, dtype=float) - self.xbar)
        return X @ beta[: X.shape[-1]]

    def dispersion(self, psis) -> float:
        return 1.0  # sigma is estimated, so the profile deviance needs no rescaling

    def davies_pvalue(self, k: int = 10, alternative: str = "two.sided") -> tuple[float, float]:
        """Davies' test for a change in slope, as R `segmented::davies.test` computes it for a
        linear model (segmented 1.6-2 to 2.2-0). Returns (M, p), M the extreme t statistic of
        the hinge coefficient.

        Written out because no Python library has it: t statistics of the hinge term at k
        breakpoints from the second-smallest to the second-largest x (ties counted, as R's
        `sort(Z)[2]`), points whose design is singular dropped. For n <= 300 Davies' (1987)
        upper bound for a t process: P(t_df > M) plus V Gamma((df+1)/2) (1-u)^((df-1)/2) /
        (2 sqrt(pi) Gamma(df/2)), u = M^2 / (df + M^2), V the total variation of
        asin(sqrt(Z^2 / (Z^2 + RSS))); above 300 the normal bound P(Z > M) + V exp(-M^2/2) /
        sqrt(8 pi) with V the variation of t. "greater": the slope rises at the break; "less":
        it falls; "two.sided" doubles the bound. p is capped at 1.
        """
        if alternative not in ALTERNATIVES:
            raise ValueError(f"alternative={alternative!r} is not one of: {', '.join(ALTERNATIVES)}")
        if int(k) != k or k < 2:
            raise ValueError(f"k={k!r} must be a whole number >= 2 (R recommends k >= 10)")
        xs = np.sort(self.x)
        psis = np.linspace(xs[1], xs[-2], int(k))[:, None]
        X = self._X(psis)
        full = np.linalg.matrix_rank(X * np.sqrt(self.w)[:, None]) == X.shape[-1]
        if not full.any():
            return np.nan, np.nan
        beta, _, rss, inv = self._fit(X[full], ridge=0.0)
        df = self.n_obs - X.shape[-1]
        z = beta[:, 2] / np.sqrt(inv[:, 2, 2])  # hinge coefficient over its unscaled standard error
        t = z / np.sqrt(rss / df)
        M = {"greater": np.max(t), "less": np.min(t), "two.sided": np.max(np.abs(t))}[alternative]
        tail = abs(M) if alternative == "two.sided" else (M if alternative == "greater" else -M)
        if self.n_obs <= 300:
            V = np.sum(np.abs(np.diff(np.arcsin(np.sqrt(z**2 / (z**2 + rss))))))
            u = M**2 / (df + M**2)
            bound = stats.t.sf(tail, df) + V * (1 - u) ** ((df - 1) / 2) * np.exp(
                special.gammaln((df + 1) / 2) - special.gammaln(df / 2)) / (2 * np.sqrt(np.pi))
        else:
            V = np.sum(np.abs(np.diff(t)))
            bound = stats.norm.sf(tail) + V * np.exp(-M**2 / 2) / np.sqrt(8 * np.pi)
        return float(M), float(min(1.0, (2 if alternative == "two.sided" else 1) * bound))

    def versus_fewer_breaks(self, pairs, singles, n_boot: int, rng) -> float:
        """p-value of "one break" against two: the likelihood ratio of the best pair over the best
        single breakpoint (candidates on the grid), its reference distribution from n_boot tables
        simulated from the one-break fit with Gaussian errors (variance rss / m, weights kept)."""
        def stat(model):
            return 2 * (np.max(model.loglik_grid(pairs)) - np.max(model.loglik_grid(singles)))

        psi = singles[int(np.argmax(self.loglik_grid(singles)))]
        mean = self.fitted(psi)
        sigma = np.sqrt(np.sum(self.w * (self.y - mean) ** 2) / self.n_obs)
        t = stat(self)
        exceed = sum(stat(SegmentedLS(self.x, mean + rng.normal(0, sigma, self.n_obs) / np.sqrt(self.w), self.w,
                                      self.extra, self.extra_names)) >= t - 1e-9 for _ in range(n_boot))
        return (1 + exceed) / (1 + n_boot)

    def statsmodels_fit(self, psis, names):
        """Muggeo's iteration from the profile optimum, then the estimates as R `segmented`
        reports them: coefficients of the hinge fit at psi; their covariance from the design
        with the V_j columns (so it carries psi's uncertainty, which a fit at fixed psi would
        not), scaled by the hinge fit's residual variance on that design's degrees of freedom;
        psi's standard error se(gamma_j) / |beta_j| (the delta method at gamma = 0)."""
        psis = np.array(psis, dtype=float)
        best = self.loglik_at(psis)
        nb = len(psis)
        for _ in range(30):
            res = sm.WLS(self.y, self._muggeo_design(psis), weights=self.w).fit()
            b, g = res.params[2: 2 + nb], res.params[-nb:]
            new = np.sort(psis + g / b)
            if not (np.all(np.isfinite(new)) and self.x.min() < new[0] and new[-1] < self.x.max()):
                break
            if self.loglik_at(new) < best - 1e-9:
                break
            moved, psis, best = np.max(np.abs(new - psis)), new, self.loglik_at(new)
            if moved < 1e-8 * (1 + np.ptp(self.x)):
                break
        final = sm.WLS(self.y, hinge_design(self.x, psis, self.extra), weights=self.w).fit()
        res = sm.WLS(self.y, self._muggeo_design(psis), weights=self.w).fit()
        cov = res.normalized_cov_params * final.ssr / res.df_resid
        k = res.params.size - nb  # coefficients; the last nb columns are the V_j
        se_psi = np.sqrt(np.diag(cov)[k:]) / np.abs(final.params[2: 2 + nb])
        params = pd.Series(np.concatenate([final.params, psis]), index=names)
        bse = pd.Series(np.concatenate([np.sqrt(np.diag(cov)[:k]), se_psi]), index=names)
        cov = pd.DataFrame(cov[:k, :k], index=names[:k], columns=names[:k])
        return FinalFit(params, bse, float(final.llf), cov, res)

    def _muggeo_design(self, psis):
        """[1, x, U_j = (x - psi_j)+, extra, V_j = -1(x > psi_j)]: gamma_j estimates the psi update."""
        X = hinge_design(self.x, psis, self.extra)
        return np.column_stack([X] + [-(self.x > p).astype(float) for p in psis])

    def linear_alternative(self):
        return self.ll0

    def sigmoid_alternative(self) -> float | None:
        """No break, smooth: y = a + b expit(r (x - x0)), least squares (None if it fails)."""
        f = lambda x, a, b, r, x0: a + b / (1 + np.exp(-np.clip(r * (x - x0), -50, 50)))  # noqa: E731
        lo, hi = np.min(self.y), np.max(self.y)
        try:
            with warnings.catch_warnings():  # the parameters' covariance is not used
                warnings.simplefilter("ignore", optimize.OptimizeWarning)
                p, _ = optimize.curve_fit(f, self.x, self.y, p0=[lo, hi - lo, 1.0, float(np.median(self.x))],
                                          sigma=1 / np.sqrt(self.w), maxfev=5000)
        except (RuntimeError, ValueError):
            return None
        rss = np.sum(self.w * (self.y - f(self.x, *p)) ** 2)
        m = self.n_obs
        return float(-0.5 * m * (np.log(2 * np.pi * rss / m) + 1) + 0.5 * np.sum(np.log(self.w)))

