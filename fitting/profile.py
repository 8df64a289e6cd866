"""Breakpoints by profiling: the likelihood maximised over everything but psi, on a grid.

Shared by the binomial and the least-squares models, which supply `loglik_grid(psis)`
(batched over grid points) and `loglik_at(psi)`. A grid over the whole data range finds
the global optimum that an iterative fit from one start can miss, and the same curve
gives the profile-likelihood interval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize


def hinge_design(x: np.ndarray, psis: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Columns [1, x, (x - psi_1)+, ..., extra] for psis of shape (..., n_breakpoints)."""
    psis = np.asarray(psis, dtype=float)
    lead = psis.shape[:-1]
    m = len(x)
    cols = [np.ones(lead + (m,)), np.broadcast_to(x, lead + (m,))]
    cols += [np.maximum(x - psis[..., j, None], 0.0) for j in range(psis.shape[-1])]
    if extra is not None:
        cols += [np.broadcast_to(e, lead + (m,)) for e in extra.T]
    return np.stack(cols, axis=-1)


@dataclass
class Grid:
    """Candidate breakpoints over the data range; `interior` leaves two distinct x on each side."""

    points: np.ndarray
    interior: np.ndarray

    @classmethod
    def over(cls, x: np.ndarray, size: int) -> Grid:
        xs = np.unique(x)
        points = np.linspace(xs[0], xs[-1], size)
        return cls(points, (points >= xs[1]) & (points <= xs[-2]))


@dataclass
class FinalFit:
    """Estimates with standard errors from the statsmodels fit at the located breakpoints."""

    params: pd.Series
    bse: pd.Series
    llf: float
    cov: pd.DataFrame  # covariance of the estimates (at least of the coefficients)
    raw: object  # the statsmodels results object, for users who want more


@dataclass
class Located:
    """One breakpoint from a profile: estimate, its log-likelihood, the interval, or why not."""

    psi: float
    loglik: float
    ci: tuple[float, float]
    ci_open: bool
    reason: str


def locate(model, grid: Grid, crit: float | None = None) -> Located:
    """Best psi (grid argmax, then bounded refinement) and its profile interval at `crit`.

    `crit` is the deviance cut-off (chi2_1 quantile times the dispersion); None skips the interval.
    A best psi outside the interior of the data is not an estimate: it comes back as NaN with a reason.
    """
    ll = model.loglik_grid(grid.points[:, None])
    i = int(np.nanargmax(ll))
    pts = grid.points
    inner = np.flatnonzero(grid.interior)
    if inner.size == 0 or i < inner[0] or i > inner[-1]:
        return Located(np.nan, float(ll[i]), (np.nan, np.nan), False,
                       f"best breakpoint at the edge of the data (x = {pts[i]:.3g}; "
                       f"data span {pts[0]:.3g}..{pts[-1]:.3g})")
    # refined within the interior: at least two distinct x on each side of psi
    bounds = (max(pts[i - 1], pts[inner[0]]), min(pts[i + 1], pts[inner[-1]]))
    res = optimize.minimize_scalar(lambda p: -model.loglik_at([p]), bounds=bounds,
                                   method="bounded", options={"xatol": 1e-5 * (pts[-1] - pts[0])})
    psi, best = (float(res.x), -float(res.fun)) if -res.fun >= ll[i] else (float(pts[i]), float(ll[i]))
    if crit is None:
        return Located(psi, best, (np.nan, np.nan), False, "")
    dev = 2 * (best - ll) - crit
    lo, lo_open = _crossing(model, pts, dev, i, -1, best, crit)
    hi, hi_open = _crossing(model, pts, dev, i, +1, best, crit)
    return Located(psi, best, (min(lo, psi), max(hi, psi)), lo_open or hi_open, "")


def _crossing(model, pts, dev, i, direction, best, crit):
    """Outer end of the interval from grid point i: the outermost grid point inside the
    cut-off, then the exact crossing beyond it. The set {deviance <= crit} may have holes;
    its hull is reported, which keeps the interval honest. Returns (bound, open)."""
    side = np.arange(i, len(pts)) if direction > 0 else np.arange(i, -1, -1)
    j = side[dev[side] <= 0][-1] if np.any(dev[side] <= 0) else i
    if j == side[-1]:
        return float(pts[j]), True
    f = lambda p: 2 * (best - model.loglik_at([p])) - crit  # noqa: E731
    a, b = sorted((pts[j], pts[j + direction]))
    fa, fb = f(a), f(b)
    if not (np.isfinite(fa) and np.isfinite(fb) and fa * fb < 0):
        # No sign change to bracket (a flat or kinked stretch of the profile): the bound is not
        # pinned down on this side, so the interval is reported open there rather than guessed.
        return float(pts[j]), True
    return float(optimize.brentq(f, a, b, xtol=1e-4)), False


@dataclass
class Pair:
    """Two breakpoints psi1 < psi2 from the profile over pairs of interior grid points."""

    psis: np.ndarray
    loglik: float
    reason: str
    inner: np.ndarray  # the interior grid points
    pairs: np.ndarray  # (P, 2) the grid pairs
    ll: np.ndarray  # (P,) their profile log-likelihoods

    def intervals(self, crit: float) -> tuple[list[tuple[float, float]], bool]:
        """Each psi's interval (its profile: the pair likelihood maximised over the other psi,
        on the grid) at deviance cut-off `crit`, and whether one reaches the interior's edge."""
        cis, is_open = [], False
        for j in range(2):
            prof = np.array([self.ll[self.pairs[:, j] == v].max() if np.any(self.pairs[:, j] == v) else -np.inf
                             for v in self.inner])
            ok = self.inner[2 * (self.loglik - prof) <= crit]
            if not ok.size:
                cis.append((np.nan, np.nan))
                continue
            cis.append((float(min(ok.min(), self.psis[j])), float(max(ok.max(), self.psis[j]))))
            is_open |= bool(ok.min() <= self.inner[0] or ok.max() >= self.inner[-1])
        return cis, is_open


def locate_two(model, grid: Grid, refine: bool = True) -> Pair:
    """Two breakpoints psi1 < psi2: grid search over pairs of interior points, then Nelder-Mead
    refinement (skipped with refine=False, when only the model comparison needs the pair)."""
    inner = grid.points[grid.interior]
    a, b = np.meshgrid(np.arange(len(inner)), np.arange(len(inner)), indexing="ij")
    keep = b > a
    pairs = np.stack([inner[a[keep]], inner[b[keep]]], axis=-1)
    if len(pairs) == 0:
        return Pair(np.full(2, np.nan), np.nan, "too few distinct x for two breakpoints", inner, pairs, np.array([]))
    ll = model.loglik_grid(pairs)
    start = pairs[int(np.argmax(ll))]
    if not refine:
        psis, best = start, float(ll.max())
    else:
        psis, best = _refine_pair(model, start, float(ll.max()))
    reason = "" if inner[0] <= psis[0] < psis[1] <= inner[-1] else "a breakpoint at the edge of the data"
    return Pair(np.asarray(psis, dtype=float), float(best), reason, inner, pairs, ll)


def candidates(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The existence tests' candidate breaks, the same on the data and on every replicate:
    every other interior grid point (G, 1) and pairs of them (`pair_grid`)."""
    return grid.points[grid.interior][::2, None], pair_grid(grid)


def pair_grid(grid: Grid, step: int = 3) -> np.ndarray:
    """Pairs (P, 2) of every `step`-th interior grid point, psi1 < psi2: the candidates of the
    two-break existence test (on data and on every bootstrap table alike)."""
    inner = grid.points[grid.interior][::step]
    a, b = np.triu_indices(len(inner), k=1)
    return np.stack([inner[a], inner[b]], axis=-1)


def _refine_pair(model, start, ll_start):
    """Nelder-Mead from the best grid pair, bounded: the grid did the search."""
    res = optimize.minimize(lambda p: -model.loglik_at(np.sort(p)), start, method="Nelder-Mead",
                            options={"xatol": 1e-5, "fatol": 1e-8, "maxfev": 120})
    return (np.sort(res.x), -res.fun) if -res.fun >= ll_start else (start, ll_start)

