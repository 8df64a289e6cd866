"""Accuracy cells as binomial counts above a chance floor, with hinge terms in x.

p = c + (1 - c) * expit(b0 + b1 x + b2 (x - psi)+ [+ b3 (x - psi2)+] [+ per-precision shifts]).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.base.model import GenericLikelihoodModel

from fitting import floor
from fitting.profile import FinalFit, Grid, hinge_design


class FloorHinge:
    """Profile likelihood of the floor model at given breakpoints (batched over grid points)."""

    method = "binomial"

    def __init__(self, x, s, n, c, extra=None, extra_names=()):
        self.x, self.s, self.n, self.c = (np.asarray(a, dtype=float) for a in (x, s, n, c))
        self.extra, self.extra_names = extra, list(extra_names)
        # Centring x conditions the scoring steps; psi stays in data units outside this class.
        self.xbar = float(self.x.mean())
        self.xc = self.x - self.xbar
        cols = [np.ones_like(self.xc), self.xc] + ([] if extra is None else list(extra.T))
        self.X0 = np.stack(cols, axis=-1)
        self.beta0, self.ll0 = self._null(self.s)
        self._warm = {}

    @property
    def n_obs(self) -> int:
        return len(self.x)

    def subset(self, mask) -> FloorHinge:
        return FloorHinge(self.x[mask], self.s[mask], self.n[mask], self.c[mask])

    def _null(self, s):
        """The no-break fit (batched over replicates in s), from two starts."""
        k = self.X0.shape[1]
        return floor.fit_multistart(self.X0, s, self.n, self.c, [np.zeros(k), floor.flat_start(s, self.n, self.c, k)])

    def _start(self, nb, beta0=None, s=None):
        """The no-break fit with zero hinge slopes, so the profile never falls below the no-break
        likelihood; where that fit sits on a saturated plateau (scoring stalls there), a flat start."""
        beta0 = self.beta0 if beta0 is None else beta0
        padded = np.concatenate([beta0[..., :2], np.zeros(beta0.shape[:-1] + (nb,)), beta0[..., 2:]], axis=-1)
        flat = floor.flat_start(self.s if s is None else s, self.n, self.c, padded.shape[-1])
        saturated = np.max(np.abs(np.einsum("mk,...k->...m", self.X0, beta0)), axis=-1) > 10
        return np.where(saturated[..., None], flat, padded)

    def fit_at(self, psis, s=None, beta0=None):
        """(beta, loglik) with breakpoints psis (..., nb); s may carry bootstrap replicates
        (with their no-break fits in beta0, shaped to broadcast against the batch)."""
        psis = np.asarray(psis, dtype=float)
        X = hinge_design(self.xc, psis - self.xbar, self.extra)
        single = psis.ndim == 1 and s is None
        warm = self._warm.get(len(psis)) if single else None
        # Refinement calls sit close together: start from the last one, unless it lies on the
        # flat, saturated part of the likelihood.
        if warm is None or np.max(np.abs(X @ warm)) >= 15:
            warm = self._start(psis.shape[-1], beta0, s)
        beta, ll, _ = floor.fit(X, self.s if s is None else s, self.n, self.c, warm)
        if single:
            self._warm[len(psis)] = beta
        return beta, ll

    def loglik_grid(self, psis):
        return self.fit_at(psis)[1]

    def loglik_at(self, psi) -> float:
        return float(self.fit_at(np.asarray(psi, dtype=float))[1])

    def predict(self, psis, xs):
        """Fitted p at new x (reference precision) for the model with breakpoints psis."""
        beta, _ = self.fit_at(np.asarray(psis, dtype=float))
        X = hinge_design(np.asarray(xs, dtype=float) - self.xbar, np.asarray(psis) - self.xbar)
        return floor.probability(X, beta[: X.shape[-1]], np.mean(self.c))

    def fitted(self, psis):
        beta, _ = self.fit_at(np.asarray(psis, dtype=float))
        return floor.probability(hinge_design(self.xc, np.asarray(psis) - self.xbar, self.extra), beta, self.c)

    def dispersion(self, psis) -> float:
        return max(1.0, floor.pearson_dispersion(self.fitted(psis), self.s, self.n, self.X0.shape[1] + 2 * len(psis)))

    def sup_lr(self, inner, s):
        """The sup over breakpoints `inner` of the LR against no break, for counts s (..., m)."""
        b0, ll0 = self._null(s)
        _, ll1 = self.fit_at(inner, s=s[..., None, :], beta0=b0[..., None, :])
        return 2 * (ll1.max(axis=-1) - ll0), b0

    def sup_lr_pvalue(self, grid: Grid, n_boot: int, rng, s=None):
        """Existence of a break: sup over the interior grid of the likelihood ratio against no
        break, referred to its parametric-bootstrap distribution under the fitted no-break
        model (psi is not identified under the null, so chi2 would be wrong). s: several data
        sets on this design at once, (..., m); default this one. Returns (LR, p) arrays."""
        inner = grid.points[grid.interior][:, None]
        s = self.s if s is None else np.asarray(s, dtype=float)
        lr_obs, b0 = self.sup_lr(inner, s)
        p0 = floor.probability(self.X0, b0, self.c)
        per = max(1, 4000 // (inner.shape[0] * max(1, lr_obs.size)))  # chunks bound the memory
        exceed = np.zeros(lr_obs.shape)
        for start in range(0, n_boot, per):
            sb = rng.binomial(self.n.astype(int), p0, size=(min(per, n_boot - start),) + p0.shape).astype(float)
            exceed += np.sum(self.sup_lr(inner, sb)[0] >= lr_obs - 1e-9, axis=0)
        return lr_obs, (1 + exceed) / (1 + n_boot)

    def bootstrap_psi(self, psi: float, grid: Grid, n_boot: int, rng) -> np.ndarray:
        """psi re-estimated (grid argmax, parabolic step) on data simulated from the fitted break."""
        p1 = self.fitted([psi])
        sb = rng.binomial(self.n.astype(int), p1, size=(n_boot, self.n_obs)).astype(float)
        _, ll = self.fit_at(grid.points[:, None], s=sb[:, None, :])
        return _parabolic_argmax(grid.points, ll)

    def statsmodels_fit(self, psis, names):
        """The final fit through statsmodels (x in data units): estimates, Wald standard errors."""
        beta, _ = self.fit_at(np.asarray(psis, dtype=float))
        b = beta.copy()
        b[0] -= b[1] * self.xbar  # intercept at x = 0 in data units
        model = _FloorHingeModel(self.s, self.x, self.n, self.c, self.extra, len(psis), names)
        start = np.concatenate([b, psis])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter: the start is already the optimum
            res = model.fit(start_params=start, method="bfgs", maxiter=200, disp=0, gtol=1e-6)
            if not res.llf >= model.loglike(start) - 1e-6:
                res = model.fit(start_params=start, method="nm", maxiter=0, disp=0)
        try:
            cov = np.asarray(res.cov_params(), dtype=float)
        except (ValueError, np.linalg.LinAlgError):  # singular Hessian: no Wald standard errors
            cov = np.full((len(names),) * 2, np.nan)
        bse = np.sqrt(np.clip(np.diag(cov), 0, None))
        return FinalFit(pd.Series(res.params, index=names), pd.Series(bse, index=names), float(res.llf),
                        pd.DataFrame(cov, index=names, columns=names), res)

    def sigmoid_alternative(self) -> float:
        """No break: the floor-logistic curve, linear in x on the logit scale (the null model)."""
        return float(self.ll0)

    def linear_alternative(self):
        """No break, linear in probability: binomial GLM with identity link (None if it fails)."""
        X = sm.add_constant(np.column_stack([self.x] + ([] if self.extra is None else [self.extra])))
        endog = np.column_stack([self.s, self.n - self.s])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the identity link is the point of this alternative
                res = sm.GLM(endog, X, family=sm.families.Binomial(link=sm.families.links.Identity())).fit()
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            return None
        return float(res.llf) if np.isfinite(res.llf) else None


class _FloorHingeModel(GenericLikelihoodModel):
    """statsmodels likelihood for the floor-hinge model; params = coefficients then breakpoints."""

    def __init__(self, s, x, n, c, extra, nb, names):
        super().__init__(s, None, extra_params_names=names)
        self.x, self.n, self.c, self.extra, self.nb = x, n, c, extra, nb
        self.nparams = len(names)
        self.k_extra = 0  # every parameter is listed in names
        self.k_constant = 1
        self.df_model = len(names) - 1
        self.df_resid = len(s) - len(names)

    def loglikeobs(self, params):
        beta, psis = params[: -self.nb], params[-self.nb:]
        X = hinge_design(self.x, np.sort(psis), self.extra)
        return floor.cell_loglik(floor.probability(X, beta, self.c), self.endog, self.n)


def _parabolic_argmax(points, ll):
    """Argmax along the last axis, refined by the parabola through its neighbours."""
    i = np.clip(np.argmax(ll, axis=-1), 1, len(points) - 2)
    rows = np.arange(ll.shape[0])
    y0, y1, y2 = ll[rows, i - 1], ll[rows, i], ll[rows, i + 1]
    denom = y0 - 2 * y1 + y2
    shift = np.where(denom < 0, 0.5 * (y0 - y2) / np.where(denom < 0, denom, -1), 0.0)
    return points[i] + np.clip(shift, -1, 1) * (points[1] - points[0])
