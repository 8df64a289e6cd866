"""Segmented least squares for continuous metrics (Brier score, gold log-probability).

y = b0 + b1 x + b2 (x - psi)+ + e, e ~ N(0, sigma^2 / w). The profile over psi is exact
(closed-form weighted least squares at every grid point, batched); Muggeo's iteration
(as in R `segmented`) then polishes psi through statsmodels WLS and gives its standard error.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

from fitting.profile import FinalFit, Grid, hinge_design

_RIDGE = 1e-10


class SegmentedLS:
    """Gaussian profile likelihood of the hinge model (sigma profiled out)."""

    method = "ols"

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

    def subset(self, mask) -> SegmentedLS:
        return SegmentedLS(self.x[mask], self.y[mask], self.w[mask])

    def _fit(self, X):
        """Batched WLS: (beta, loglik, rss, (X'WX)^-1)."""
        sw = np.sqrt(self.w)
        Xw, yw = X * sw[:, None], self.y * sw
        xtx = np.swapaxes(Xw, -1, -2) @ Xw + _RIDGE * np.eye(X.shape[-1])
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

    def davies_pvalue(self, grid: Grid, k: int = 10) -> tuple[float, float]:
        """Davies (1987) upper bound for the sup of the hinge coefficient's Wald statistic over
        k breakpoints between the second and second-to-last distinct x, two-sided, as in R
        `segmented::davies.test`. Returns (M, p)."""
        xs = np.unique(self.x)
        psis = np.linspace(xs[1], xs[-2], k)[:, None]
        beta, _, rss, inv = self._fit(self._X(psis))
        dof = self.n_obs - self.X0.shape[1] - 1
        z = beta[:, 2] / np.sqrt(rss / dof * inv[:, 2, 2])
        M = float(np.max(np.abs(z)))
        V = float(np.sum(np.abs(np.diff(z))))
        return M, float(min(1.0, 2 * (stats.norm.sf(M) + V * np.exp(-0.5 * M**2) / np.sqrt(8 * np.pi))))

    def statsmodels_fit(self, psis, names):
        """Muggeo's iteration from the profile optimum, then WLS at psi; psi's standard error by
        the delta method from the last iteration (gamma / beta), as R `segmented` reports it."""
        psis = np.array(psis, dtype=float)
        best = self.loglik_at(psis)
        for _ in range(30):
            res = sm.WLS(self.y, self._muggeo_design(psis), weights=self.w).fit()
            nb = len(psis)
            b, g = res.params[2: 2 + nb], res.params[-nb:]
            new = np.sort(psis + g / b)
            if not (np.all(np.isfinite(new)) and self.x.min() < new[0] and new[-1] < self.x.max()):
                break
            if self.loglik_at(new) < best - 1e-9:
                break
            moved, psis, best = np.max(np.abs(new - psis)), new, self.loglik_at(new)
            if moved < 1e-8 * (1 + np.ptp(self.x)):
                break
        res = sm.WLS(self.y, self._muggeo_design(psis), weights=self.w).fit()
        nb = len(psis)
        cov = res.cov_params()
        bi, gi = np.arange(2, 2 + nb), np.arange(res.params.size - nb, res.params.size)
        b, g = res.params[bi], res.params[gi]
        var = (cov[gi, gi] + cov[bi, bi] * (g / b) ** 2 - 2 * (g / b) * cov[bi, gi]) / b**2
        final = sm.WLS(self.y, hinge_design(self.x, psis, self.extra), weights=self.w).fit()
        params = pd.Series(np.concatenate([final.params, psis]), index=names)
        bse = pd.Series(np.concatenate([final.bse, np.sqrt(np.maximum(var, 0))]), index=names)
        cov = pd.DataFrame(final.cov_params(), index=names[: len(final.params)], columns=names[: len(final.params)])
        return FinalFit(params, bse, float(final.llf), cov, final)

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
            p, _ = optimize.curve_fit(f, self.x, self.y, p0=[lo, hi - lo, 1.0, float(np.median(self.x))],
                                      sigma=1 / np.sqrt(self.w), maxfev=5000)
        except (RuntimeError, ValueError):
            return None
        rss = np.sum(self.w * (self.y - f(self.x, *p)) ** 2)
        m = self.n_obs
        return float(-0.5 * m * (np.log(2 * np.pi * rss / m) + 1) + 0.5 * np.sum(np.log(self.w)))

