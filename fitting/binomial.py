"""Accuracy cells as binomial counts above a chance floor, with hinge terms in x.

p = c + (1 - c) * expit(b0 + b1 x + b2 (x - psi)+ [+ b3 (x - psi2)+] [+ per-precision shifts]).
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from statsmodels.base.model import GenericLikelihoodModel

from fitting import floor
from fitting.engine import finite_errors
from fitting.hypotheses import ExistenceTest
from fitting.profile import FinalFit, Grid, candidates, hinge_design
from fitting.smooth import compare_smooth, existence_test, family

MAX_LOGIT = 10.0  # a fitted logit beyond this at a cell: the curve ran off to the floor or ceiling
WEAK_Z = 5.0  # below this Wald z of the slope change the interval under-covers (benchmark, 'weak break')


class FloorHinge:
    """Profile likelihood of the floor model at given breakpoints (batched over grid points)."""

    method = "binomial"
    emergence_only = True  # accuracy rising at psi is emergence; falling is saturation, no threshold

    def __init__(self, x, s, n, c, extra=None, extra_names=()):
        self.x, self.s, self.n, self.c = (np.asarray(a, dtype=float) for a in (x, s, n, c))
        self.extra, self.extra_names = extra, list(extra_names)
        # Centring x conditions the scoring steps; psi stays in data units outside this class.
        self.xbar = float(self.x.mean())
        self.xc = self.x - self.xbar
        cols = [np.ones_like(self.xc), self.xc] + ([] if extra is None else list(extra.T))
        self.X0 = np.stack(cols, axis=-1)
        self.beta0, self.ll0 = self._null(self.s)

    @property
    def n_obs(self) -> int:
        return len(self.x)

    @classmethod
    def from_cells(cls, cells, extra=None, extra_names=()) -> FloorHinge:
        return cls(cells.x, cells.s, cells.n, cells.c, extra, extra_names)

    def subset(self, mask) -> FloorHinge:
        return FloorHinge(self.x[mask], self.s[mask], self.n[mask], self.c[mask])

    def smooth_models(self) -> pd.DataFrame:
        return compare_smooth(self.X0, self.s, self.n, self.c)

    def existence_test(self, grid: Grid, closest: str, n_boot: int, rng, n_breakpoints: int,
                       alpha: float) -> ExistenceTest | None:
        """The parametric bootstrap against the closest smooth curve (fitting.smooth), and for
        two breaks also against the best one break (p is the larger: both must reject; the
        second is run only when the first rejects at alpha). None when n_boot is 0."""
        if n_boot == 0:
            return None
        singles, pairs = candidates(grid)
        if n_breakpoints == 1:
            return existence_test(self, singles, family(closest), n_boot, rng,
                                  f"quasi-LR vs {closest}, parametric bootstrap (B={n_boot})")
        smooth = existence_test(self, pairs, family(closest), n_boot, rng, "", null_phi=True)
        out = dict(null=f"{closest}; one break", p_smooth=smooth.p_value,
                   name=f"quasi-LR of two breaks vs {closest} (p = {smooth.p_value:.3g}), parametric bootstrap "
                        f"(B={n_boot}); vs one break not run: the smooth curve is not rejected")
        if smooth.p_value <= alpha:  # else two breaks are refused whatever the second test says: not run
            one = existence_test(self, pairs, singles, n_boot, rng, "", null_phi=True)
            out.update(p_value=max(smooth.p_value, one.p_value), p_one_break=one.p_value,
                       name=f"quasi-LR of two breaks vs {closest} (p = {smooth.p_value:.3g}) and vs one break "
                            f"(p = {one.p_value:.3g}), parametric bootstrap (B={n_boot})")
        return replace(smooth, **out)

    def identified(self, psis, coef, bse, cov):
        """The fitted logit stays within MAX_LOGIT at every cell (beyond it the likelihood is
        flat: cells at or below chance push a segment's slope to infinity) and the coefficients'
        information at the located psi is invertible. Where the joint information (psi
        included, kinked there) is singular but the fixed-psi one is not, the coefficients'
        standard errors are the fixed-psi ones, and a note says so."""
        eta, fixed = self.at_breaks(psis)
        ok = eta <= MAX_LOGIT and bool(np.all(np.isfinite(np.diag(fixed))) and np.all(np.diag(fixed) > 0))
        if not ok or finite_errors(bse, coef):
            return ok, cov, ()
        bse[coef] = np.sqrt(np.diag(fixed))
        cov = pd.DataFrame(fixed, index=coef, columns=coef)
        return True, cov, ("standard errors of the coefficients hold psi fixed: the joint information matrix "
                           "(psi included) is singular at the located psi, so they understate the uncertainty",)

    def weak_break(self, z: float) -> tuple[str, ...]:
        if abs(z) >= WEAK_Z:  # a NaN z is the weakest of all
            return ()
        return ((f"the slope change is weakly determined (Wald |z| = {np.floor(abs(z) * 100) / 100:g} < {WEAK_Z:g})"
                 if np.isfinite(z) else "the slope change has no finite Wald z (its standard error is not identified)")
                + ": in simulation the interval for such weak breaks covered psi less often than stated (0.87 at "
                "95%, docs/fitting.md, 'weak break')",)

    def _null(self, s):
        """The no-break fit (batched over replicates in s), from two starts."""
        k = self.X0.shape[1]
        return floor.fit_multistart(self.X0, s, self.n, self.c, [np.zeros(k), floor.flat_start(s, self.n, self.c, k)])

    def fit_at(self, psis, s=None, beta0=None):
        """(beta, loglik) with breakpoints psis (..., nb); s may carry bootstrap replicates
        (shaped to broadcast against the batch; their no-break fits in beta0, else refitted).

        A pure function of (psis, s): every call starts from the same two points, the no-break
        fit with zero hinge slopes (so the result is never below the no-break likelihood:
        scoring only climbs) and a flat start (off the saturated plateau where scoring stalls),
        and keeps the better. A warm start from the previous call made the profile depend on
        the order of calls, which broke the interval's root finding."""
        psis = np.asarray(psis, dtype=float)
        s = self.s if s is None else np.asarray(s, dtype=float)
        if beta0 is None:
            beta0 = self.beta0 if s is self.s else self._null(s)[0]
        nb = psis.shape[-1]
        padded = np.concatenate([beta0[..., :2], np.zeros(beta0.shape[:-1] + (nb,)), beta0[..., 2:]], axis=-1)
        flat = floor.flat_start(s, self.n, self.c, padded.shape[-1])
        X = hinge_design(self.xc, psis - self.xbar, self.extra)
        return floor.fit_multistart(X, s, self.n, self.c, [padded, flat])

    def probability_at(self, psis, beta):
        """Fitted p of every cell for breakpoints psis (..., nb) and coefficients beta (..., k)."""
        X = hinge_design(self.xc, np.asarray(psis, dtype=float) - self.xbar, self.extra)
        return floor.probability(X, beta, self.c)

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
        return float(max(1.0, floor.pearson_dispersion(self.fitted(psis), self.s, self.n,
                                                        self.X0.shape[1] + 2 * len(psis))))

    def at_breaks(self, psis) -> tuple[float, np.ndarray]:
        """(largest |logit| of the fitted curve at the cells, the coefficients' covariance with psi
        held fixed, x in data units). A logit beyond a few units past the cells' resolution means
        the fit ran off to the floor or the ceiling, where the likelihood is flat: the slopes of
        that segment are not identified. The fixed-psi covariance is the inverse expected
        information, which exists where the joint one (with psi, kinked there) may not."""
        psis = np.asarray(psis, dtype=float)
        beta, _ = self.fit_at(psis)
        eta = hinge_design(self.xc, psis - self.xbar, self.extra) @ beta
        g = np.clip(1 / (1 + np.exp(-np.clip(eta, -30, 30))), 1e-300, 1)
        p = self.c + (1 - self.c) * g
        dp = (1 - self.c) * g * (1 - g)
        X = hinge_design(self.x, psis, self.extra)
        info = X.T @ (X * (self.n * dp**2 / np.maximum(p * (1 - p), 1e-300))[:, None])
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            cov = np.full(info.shape, np.nan)
        return float(np.max(np.abs(eta))), cov

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
