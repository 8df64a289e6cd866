"""Batched maximum likelihood for binomial cells above a chance floor.

Model: p = c + (top - c) * g(X @ beta), s ~ Binomial(n, p), with g one of LINKS: the
logistic curve (the hinge model and linear-logit), a power law in bits (the error above the
floor falls as bits^-b), or linear in p. `top` < 1 gives a curve that levels off below 1.

Hand-written (Fisher scoring with step halving) because statsmodels fits one model
at a time, and profiling a breakpoint over a grid inside a parametric bootstrap, with the
smooth alternatives refitted on every simulated table (fitting.smooth), needs tens of
thousands of small fits: here they are one numpy computation whose leading axes are
(bootstrap replicate, grid point or ceiling). tests/test_fitting.py checks it against a
statsmodels GenericLikelihoodModel fit. statsmodels still fits the final
model (see `fitting.binomial`) for its standard errors and results machinery.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, xlogy

_ETA_MAX = 30.0  # expit(30) = 1 - 1e-13: beyond this the likelihood is flat
_RIDGE = 1e-8  # keeps a design column that is all zero (a hinge beyond the data) solvable
_MAX_STEP = 5.0  # a logit step larger than this is never needed and can run away on flat data


def _logistic(eta):
    g = expit(eta)
    return g, g * (1 - g)


def _power(eta):
    """1 - exp(eta) for eta <= 0: the error fraction exp(a + b x) is a power of bits (x = log2 bits)."""
    e = np.exp(np.minimum(eta, 0.0))
    return 1 - e, np.where(eta < 0, -e, 0.0)


def _linear(eta):
    """Linear in p between the floor and the top (flat where it would leave them)."""
    inside = (eta > 1e-6) & (eta < 1 - 1e-6)
    return np.clip(eta, 1e-6, 1 - 1e-6), inside.astype(float)


LINKS = {"logistic": _logistic, "power": _power, "linear": _linear}


def probability(X: np.ndarray, beta: np.ndarray, c, link: str = "logistic", top=1.0) -> np.ndarray:
    """p for design X (..., m, k) and coefficients beta (..., k)."""
    eta = np.clip(np.einsum("...mk,...k->...m", X, beta), -_ETA_MAX, _ETA_MAX)
    return c + (top - c) * LINKS[link](eta)[0]


def cell_loglik(p, s, n) -> np.ndarray:
    """Binomial log-likelihood of each cell, binomial coefficient included (so AICs compare)."""
    p = np.clip(p, 1e-300, 1 - 1e-15)
    const = gammaln(n + 1) - gammaln(s + 1) - gammaln(n - s + 1)
    return const + xlogy(s, p) + xlogy(n - s, 1 - p)


def fit(X, s, n, c, beta0=None, max_iter: int = 60, tol: float = 1e-7, link: str = "logistic", top=1.0):
    """Fisher scoring for every model in the batch at once.

    Returns (beta, loglik, converged), with batch shape = broadcast of X[..., 0, 0], s[..., 0]
    and top (a number, or an array shaped like s[..., 0] for a batch of ceilings).
    The expected information is used because the observed one is not positive definite
    near the floor (log(c + (1 - c) expit(eta)) is convex in eta for eta << 0). Models
    that have converged drop out of the batch, so a few slow ones cost little.
    """
    X, s, n, c, top = (np.asarray(a, dtype=float) for a in (X, s, n, c, top))
    m, k = X.shape[-2:]
    g_of = LINKS[link]
    batch = np.broadcast_shapes(X.shape[:-2], s.shape[:-1], n.shape[:-1], np.shape(c)[:-1], top.shape)
    flat = lambda a, tail: np.broadcast_to(a, batch + tail).reshape((-1,) + tail)  # noqa: E731
    Xf, sf, nf, cf = flat(X, (m, k)), flat(s, (m,)), flat(n, (m,)), flat(np.broadcast_to(c, s.shape[:-1] + (m,)), (m,))
    tf = flat(top[..., None], (1,))
    beta = np.zeros((Xf.shape[0], k)) if beta0 is None else flat(beta0, (k,)).copy()
    ll = _kernel(Xf, beta, sf, nf, cf, link, tf)
    active = np.arange(len(beta))
    for _ in range(max_iter):
        if active.size == 0:
            break
        Xa, sa, na, ca, ba, ta = Xf[active], sf[active], nf[active], cf[active], beta[active], tf[active]
        g, dg = g_of(np.clip(np.einsum("imk,ik->im", Xa, ba), -_ETA_MAX, _ETA_MAX))
        p = np.clip(ca + (ta - ca) * g, 1e-12, 1 - 1e-12)
        dp = (ta - ca) * dg
        v = p * (1 - p)
        score = np.einsum("imk,im->ik", Xa, (sa - na * p) * dp / v)
        info = np.matmul(np.swapaxes(Xa, 1, 2), Xa * (na * dp**2 / v)[..., None]) + _RIDGE * np.eye(k)
        step = np.clip(np.linalg.solve(info, score[..., None])[..., 0], -_MAX_STEP, _MAX_STEP)
        gain = np.zeros(active.size)
        todo = np.arange(active.size)
        t = 1.0
        for _ in range(12):  # step halving, only for the models whose likelihood fell
            new = ba[todo] + t * step[todo]
            ll_new = _kernel(Xa[todo], new, sa[todo], na[todo], ca[todo], link, ta[todo])
            ok = ll_new >= ll[active[todo]] - 1e-9 * (1 + np.abs(ll[active[todo]]))
            idx = active[todo[ok]]
            gain[todo[ok]] = ll_new[ok] - ll[idx]
            beta[idx], ll[idx] = new[ok], ll_new[ok]
            todo = todo[~ok]
            if todo.size == 0:
                break
            t /= 2
        active = active[gain > tol]
    const = np.sum(gammaln(nf + 1) - gammaln(sf + 1) - gammaln(nf - sf + 1), axis=-1)
    return beta.reshape(batch + (k,)), (ll + const).reshape(batch), active.size == 0


def _kernel(X, beta, s, n, c, link="logistic", top=1.0):
    """Log-likelihood without the binomial coefficient (constant in beta)."""
    p = np.clip(probability(X, beta, c, link, top), 1e-300, 1 - 1e-15)
    return np.sum(xlogy(s, p) + xlogy(n - s, 1 - p), axis=-1)


def flat_start(s, n, c, k: int) -> np.ndarray:
    """Coefficients (overall mean logit, zero slopes): a start off the flat, saturated regions."""
    s, n = np.asarray(s, dtype=float), np.asarray(n, dtype=float)
    cbar = np.mean(c)
    rate = np.clip((s.sum(-1) / n.sum(-1) - cbar) / (1 - cbar), 0.02, 0.98)
    out = np.zeros(rate.shape + (k,))
    out[..., 0] = np.log(rate / (1 - rate))
    return out


def fit_multistart(X, s, n, c, starts, link="logistic", top=1.0):
    """Best of several starts, element by element: the floor likelihood can have local maxima."""
    best = None
    for b0 in starts:
        beta, ll, _ = fit(X, s, n, c, b0, link=link, top=top)
        if best is None:
            best = [beta, ll]
        else:
            better = ll > best[1]
            best = [np.where(better[..., None], beta, best[0]), np.where(better, ll, best[1])]
    return best[0], best[1]


def pearson_dispersion(p, s, n, n_params: int):
    """Pearson chi2 / residual df (batched over leading axes): > 1 means more spread than
    binomial (items are shared between cells, or the curve's shape is wrong)."""
    df = np.shape(s)[-1] - n_params
    if df <= 0:
        return np.ones(np.shape(s)[:-1]) if np.ndim(s) > 1 else 1.0
    chi2 = np.sum((s - n * p) ** 2 / np.maximum(n * p * (1 - p), 1e-12), axis=-1)
    return chi2 / df
