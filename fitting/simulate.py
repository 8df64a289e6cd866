"""Curves with and without a planted threshold, and counts drawn from them: the ground truth
for validating the fits (benchmarks/fit_coverage.py and the tests)."""
from __future__ import annotations

import numpy as np
from scipy.special import expit


def floor_hinge(x, psi, chance, b0=-1.5, b1=0.05, b2=1.5, b3=0.0, psi2=None):
    """Accuracy p = c + (1 - c) expit(b0 + b1 (x - psi) + b2 (x - psi)+ [+ b3 (x - psi2)+]).

    b0 is the logit at psi: -1.5 puts accuracy visibly above chance before the break, which is
    what makes a break distinguishable from a plain sigmoid (see docs/fitting.md)."""
    x = np.asarray(x, dtype=float)
    eta = b0 + b1 * (x - psi) + b2 * np.maximum(x - psi, 0)
    if psi2 is not None:
        eta = eta + b3 * np.maximum(x - psi2, 0)
    return chance + (1 - chance) * expit(eta)


def _unit(x):
    return (x - x.min()) / np.ptp(x)


def _mid(x):
    return float(x.min() + np.ptp(x) / 2)


def _dip(p, x, where: float, depth: float = 0.05):
    """p with one cell (the one whose x lies nearest `where` of the way across) lower by depth."""
    p = np.array(p, dtype=float)
    p[np.argmin(np.abs(_unit(x) - where))] -= depth
    return p


# name -> (p as a function of (x, chance), planted psi as a function of x or None, dispersion)
TRUTHS = {
    "planted break": (lambda x, c: floor_hinge(x, _mid(x), c, b0=-1.5, b1=0.05, b2=1.0), _mid, 1.0),
    "linear in p": (lambda x, c: 0.30 + 0.65 * _unit(x), None, 1.0),
    "sigmoid, ceiling 0.6": (lambda x, c: c + (0.6 - c) * expit(x - _mid(x)), None, 1.0),
    "sigmoid, ceiling 0.75": (lambda x, c: c + (0.75 - c) * expit(x - _mid(x)), None, 1.0),
    "sigmoid, ceiling 0.9": (lambda x, c: c + (0.9 - c) * expit(x - _mid(x)), None, 1.0),
    "power law in bits": (lambda x, c: 1 - (1 - c) * 2.0 ** (-np.log2(10) * _unit(x)), None, 1.0),
    "no break, dispersion 2": (lambda x, c: c + (1 - c) * expit(0.4 * (x - _mid(x))), None, 2.0),
    "no break, dispersion 3": (lambda x, c: c + (1 - c) * expit(0.4 * (x - _mid(x))), None, 3.0),
    "break, dispersion 2": (lambda x, c: floor_hinge(x, _mid(x), c, b0=-1.5, b1=0.05, b2=1.0), _mid, 2.0),
    "break, dispersion 3": (lambda x, c: floor_hinge(x, _mid(x), c, b0=-1.5, b1=0.05, b2=1.0), _mid, 3.0),
    "weak break": (lambda x, c: floor_hinge(x, _mid(x), c, b0=-1.5, b1=0.05, b2=0.1), _mid, 1.0),
    # concave from 0.61 to 0.93 (a published curve's shape), one cell 0.05 low: rise, dip, rise
    "concave, one-cell dip": (lambda x, c: _dip(c + (0.95 - c) * expit(0.06 + 3.45 * _unit(x)), x, 0.55), None, 1.0),
    # rising, then level at 0.8 from two thirds of the way: one cell on the plateau 0.05 low
    "saturating, one-cell dip": (lambda x, c: _dip(c + (0.8 - c) * expit(8 * (_unit(x) - 0.3)), x, 0.8), None, 1.0),
}


def draw_truth(truth: str, x, seed: int, chance: float = 0.25, n_items: int = 300):
    """Successes of n_items at each x, drawn from a named truth of TRUTHS (beta-binomial where
    its dispersion exceeds 1); returns (successes, planted psi or None)."""
    from fitting.smooth import draw

    curve, psi_of, phi = TRUTHS[truth]
    x = np.asarray(x, dtype=float)
    s = draw(curve(x, chance), np.full(len(x), float(n_items)), phi, (), np.random.default_rng(seed))
    return s, (None if psi_of is None else psi_of(x))
