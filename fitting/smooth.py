"""Smooth curves without a break, and the existence test of a break against the best of them.

A break is only worth reporting if no smooth curve explains the cells as well: an accuracy
curve that rises and levels off below 1 (a floor-and-ceiling logistic), or one whose error
falls as a power of model bits, can look like a threshold to a test whose only null is
"no change in logit slope" (Schaeffer et al. 2023). So the existence test's null is the
smooth family that fits best (by AIC), and its reference distribution is a parametric
bootstrap from that fit, with the cells' over-dispersion: the same statistic is computed on
every simulated table, so the test is calibrated under that null, whatever its shape.

All fits here go through the batched scorer of `fitting.floor` (one numpy computation per
family for every bootstrap table at once; see there why it is hand-written).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fitting import floor
from fitting.hypotheses import ExistenceTest

# Ceilings of the floor-and-ceiling logistic, as fractions of the way from chance to 1: a grid,
# then a parabolic step (the log-likelihood is smooth in the ceiling). It ends at 1, so the
# family nests linear-logit and never fits worse.
_CEILINGS = np.linspace(0.3, 1.0, 15)


@dataclass(frozen=True)
class Smooth:
    """p = c + (top - c) g(b0 + b1 x [+ precision shifts]); `ceiling`: top < 1 is a free parameter."""

    name: str
    link: str
    ceiling: bool = False

    def k(self, n_extra: int) -> int:
        return 2 + n_extra + int(self.ceiling)


FAMILIES = (Smooth("linear-logit", "logistic"), Smooth("floor-ceiling logistic", "logistic", ceiling=True),
            Smooth("power law in bits", "power"), Smooth("linear in p", "linear"))


def _starts(family: Smooth, s, n, c, k):
    """Starting coefficients for each table: the mean accuracy above chance, no slope (and,
    for the logistic, also zero), in the family's own link."""
    flat = floor.flat_start(s, n, c, k)
    rate = np.clip((s.sum(-1) / n.sum(-1) - np.mean(c)) / (1 - np.mean(c)), 0.02, 0.98)
    if family.link == "power":  # error fraction exp(b0): start at the mean error, no slope
        flat = np.zeros_like(flat)
        flat[..., 0] = np.log(1 - rate)
    elif family.link == "linear":
        flat = np.zeros_like(flat)
        flat[..., 0] = rate
    return [flat] if family.link != "logistic" else [flat, np.zeros_like(flat)]


def fit_smooth(family: Smooth, X0, s, n, c):
    """Fit one family to counts s (..., m). Returns (p (..., m), loglik (...), top (...))."""
    s = np.asarray(s, dtype=float)
    k = X0.shape[-1]
    if not family.ceiling:
        beta, ll = floor.fit_multistart(X0, s, n, c, _starts(family, s, n, c, k), link=family.link)
        return floor.probability(X0, beta, c, family.link), ll, np.ones(ll.shape)
    cbar = float(np.mean(c))
    tops = cbar + (1 - cbar) * _CEILINGS  # (T,)
    sb = s[..., None, :]
    starts = [st[..., None, :] for st in _starts(family, s, n, c, k)]
    _, ll = floor.fit_multistart(X0, sb, n, c, starts, top=tops)  # (..., T)
    i = np.clip(np.argmax(ll, axis=-1), 1, len(tops) - 2)
    y0, y1, y2 = (np.take_along_axis(ll, (i + d)[..., None], -1)[..., 0] for d in (-1, 0, 1))
    denom = y0 - 2 * y1 + y2
    step = np.where(denom < 0, 0.5 * (y0 - y2) / np.where(denom < 0, denom, -1), 0.0)
    refined = np.clip(tops[i] + np.clip(step, -1, 1) * (tops[1] - tops[0]), tops[0], tops[-1])
    best_grid = tops[np.argmax(ll, axis=-1)]
    cand = np.stack([np.broadcast_to(best_grid, refined.shape), refined], axis=-1)  # (..., 2)
    beta, llc = floor.fit_multistart(X0, sb, n, c, starts, top=cand)
    j = np.argmax(llc, axis=-1)
    top = np.take_along_axis(cand, j[..., None], -1)[..., 0]
    beta = np.take_along_axis(beta, j[..., None, None], -2)[..., 0, :]
    return floor.probability(X0, beta, c, top=top[..., None]), np.max(llc, axis=-1), top


def compare_smooth(X0, s, n, c) -> pd.DataFrame:
    """Every smooth family fitted to the observed cells: model, k, loglik, aic, bic (AIC order)."""
    q = X0.shape[-1] - 2
    rows = []
    for fam in FAMILIES:
        rows.append((fam.name, fam.k(q), float(fit_smooth(fam, X0, s, n, c)[1])))
    return model_table(rows, len(s))


def model_table(rows, n_obs: int) -> pd.DataFrame:
    """(model, k, loglik) rows with AIC and BIC, lowest AIC first; failed fits (None) left out."""
    out = pd.DataFrame([r for r in rows if r[2] is not None and np.isfinite(r[2])], columns=["model", "k", "loglik"])
    out["aic"] = 2 * out["k"] - 2 * out["loglik"]
    out["bic"] = np.log(n_obs) * out["k"] - 2 * out["loglik"]
    return out.sort_values("aic", kind="stable", ignore_index=True)


def family(name: str) -> Smooth:
    return next(f for f in FAMILIES if f.name == name)


def best_break(hinge, cands, s):
    """The best hinge fit over candidate breakpoints cands (G, nb), for each table s (..., m):
    (loglik (...), fitted p (..., m))."""
    beta, ll = hinge.fit_at(cands, s=s[..., None, :])  # (..., G)
    g = np.argmax(ll, axis=-1)
    beta_best = np.take_along_axis(beta, g[..., None, None], -2)[..., 0, :]
    return np.max(ll, axis=-1), hinge.probability_at(cands[g], beta_best)


def _null_fit(hinge, null, s):
    """(fitted p, loglik) of the null, a smooth family or fewer breaks (candidates (G, nb))."""
    if isinstance(null, Smooth):
        p, ll, _ = fit_smooth(null, hinge.X0, s, hinge.n, hinge.c)
        return p, ll
    ll, p = best_break(hinge, null, s)
    return p, ll


def break_statistic(hinge, cands, null, s):
    """Quasi-likelihood ratio of the best break fit over candidates cands (G, nb) against the
    null (a smooth family, or the best fit over fewer breaks' candidates), divided by the break
    fit's Pearson dispersion when that exceeds 1: T = 2 (ll_break - ll_null) / max(1, phi).
    Batched over tables s (..., m)."""
    s = np.asarray(s, dtype=float)
    ll1, p1 = best_break(hinge, cands, s)
    phi = np.maximum(1.0, floor.pearson_dispersion(p1, s, hinge.n, hinge.X0.shape[1] + 2 * cands.shape[-1]))
    return 2 * (ll1 - _null_fit(hinge, null, s)[1]) / phi, phi


def draw(p, n, phi, size, rng):
    """Counts from Binomial(n, p), or beta-binomial with variance inflated by phi (> 1): the
    intra-cell correlation rho = (phi - 1) / (n - 1) that gives n p (1 - p) phi."""
    n = n.astype(int)
    rho = np.clip((phi - 1) / np.maximum(n - 1, 1), 0, 0.99)
    if phi <= 1:
        return rng.binomial(n, p, size=size + p.shape).astype(float)
    a, b = p * (1 - rho) / np.maximum(rho, 1e-12), (1 - p) * (1 - rho) / np.maximum(rho, 1e-12)
    return rng.binomial(n, rng.beta(a, b, size=size + p.shape)).astype(float)


def existence_test(hinge, cands, null, n_boot: int, rng, name: str, chunk: int = 50,
                   null_phi: bool = False) -> ExistenceTest:
    """p-value of the null (a smooth family, or the best fit over fewer breaks' candidates
    (G, nb)) against the best break over cands: T on the cells against T on n_boot tables drawn
    from the fitted null (beta-binomial with the observed dispersion).
    p = (1 + #{T_b >= T}) / (B + 1).

    null_phi: draw with the larger of the break fit's and the null fit's dispersion. Two breaks
    absorb more of the noise than one, so their fit's phi is biased low (1.2-1.9 on cells of
    true dispersion 3), and tables drawn with it are too quiet: the test rejected too often."""
    t_obs, phi = break_statistic(hinge, cands, null, hinge.s)
    p0, _ = _null_fit(hinge, null, hinge.s)
    if null_phi:
        k0 = null.k(hinge.X0.shape[1] - 2) if isinstance(null, Smooth) else hinge.X0.shape[1] + 2 * null.shape[-1]
        phi = max(float(phi), float(floor.pearson_dispersion(p0, hinge.s, hinge.n, k0)))
    exceed = 0
    for start in range(0, n_boot, chunk):
        sb = draw(p0, hinge.n, float(phi), (min(chunk, n_boot - start),), rng)
        exceed += int(np.sum(break_statistic(hinge, cands, null, sb)[0] >= t_obs - 1e-9))
    null_name = null.name if isinstance(null, Smooth) else f"{null.shape[-1]} break{'s' if null.shape[-1] > 1 else ''}"
    return ExistenceTest(float(t_obs), (1 + exceed) / (1 + n_boot), null_name, name, float(phi), n_boot)
