"""Simulated tidy tables with a planted threshold: the ground truth for validating the fits."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

SIZES = (70e6, 160e6, 410e6, 1.0e9, 1.4e9, 2.8e9)  # a Pythia-like family
BITS = (3, 4, 5, 8, 16)


def design(sizes=SIZES, bits=BITS, blocksize: int = 64) -> pd.DataFrame:
    """One row per (model, precision) with the table's size columns; block scales counted."""
    rows = []
    for size in sizes:
        for k in bits:
            bpp = 16.0 if k == 16 else k + 16 / blocksize
            rows.append(dict(model=f"sim-{si_name(size)}", params=int(size), bits=k,
                             quant_type="fp" if k < 16 else "bf16",
                             blocksize=blocksize if k < 16 else None, bits_per_param=bpp, total_bits=size * bpp,
                             log2_total_bits=float(np.log2(size * bpp))))
    return pd.DataFrame(rows)


def si_name(size: float) -> str:
    return f"{size / 1e9:g}b" if size >= 1e9 else f"{size / 1e6:g}m"


def floor_hinge(x, psi, chance, b0=-1.5, b1=0.05, b2=1.5, b3=0.0, psi2=None):
    """Accuracy p = c + (1 - c) expit(b0 + b1 (x - psi) + b2 (x - psi)+ [+ b3 (x - psi2)+]).

    b0 is the logit at psi: -1.5 puts accuracy visibly above chance before the break, which is
    what makes a break distinguishable from a plain sigmoid (see docs/fitting.md)."""
    x = np.asarray(x, dtype=float)
    eta = b0 + b1 * (x - psi) + b2 * np.maximum(x - psi, 0)
    if psi2 is not None:
        eta = eta + b3 * np.maximum(x - psi2, 0)
    return chance + (1 - chance) * expit(eta)


def simulate_table(psi: float | None = 31.5, chance: float = 0.5, n_items: int = 300, seed: int = 0,
                   tasks=("kbit_sim_threshold_l1",), sizes=SIZES, bits=BITS, collapse_3bit: float = 0.0,
                   noise: float = 0.02, **shape) -> pd.DataFrame:
    """A tidy results table (acc and gold_logprob rows) drawn from the floor-hinge model.

    psi=None plants no break (a floor-logistic curve with slope b2 everywhere). collapse_3bit
    subtracts that much from the 3-bit logit: an effect of precision beyond total bits.
    gold_logprob is the log of the accuracy curve plus Gaussian noise (sd `noise`): a continuous
    metric with the same break, for the least-squares fits.
    """
    rng = np.random.default_rng(seed)
    base = design(sizes, bits)
    out = []
    for task in tasks:
        t = base.copy()
        x = t["log2_total_bits"].to_numpy()
        if psi is None:
            p = floor_hinge(x, x.mean(), chance, b0=shape.get("b0", -1.5), b1=shape.get("b2", 1.5), b2=0.0)
        else:
            p = floor_hinge(x, psi, chance, **shape)
        if collapse_3bit:
            eta = np.log((p - chance) / (1 - p)) - collapse_3bit * (t["bits"].to_numpy() == 3)
            p = chance + (1 - chance) * expit(eta)
        s = rng.binomial(n_items, p)
        acc = s / n_items
        common = dict(task=task, group=task.split("_")[1], level=int(task.rsplit("_l", 1)[-1]), n=n_items,
                      chance=chance)
        a = t.assign(metric="acc", value=acc, stderr=np.sqrt(acc * (1 - acc) / (n_items - 1)), successes=s, **common)
        g = t.assign(metric="gold_logprob", value=np.log(p) + rng.normal(0, noise, len(p)), stderr=noise,
                     successes=np.nan, **common)
        out += [a, g]
    return pd.concat(out, ignore_index=True)


# The benchmark's design (issue 11): 6 sizes x 4 precisions, chance 0.25, 300 items per cell.
BENCH_SIZES = tuple(np.geomspace(1e6, 1e10, 6))
BENCH_BITS = (3, 4, 8, 16)


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


def truth_cells(truth: str, seed: int, chance: float = 0.25, n_items: int = 300, sizes=BENCH_SIZES,
                bits=BENCH_BITS) -> tuple[pd.DataFrame, float | None]:
    """Cells (log2_total_bits, bits, successes, n, chance) drawn from a named truth of TRUTHS,
    beta-binomial where its dispersion exceeds 1; returns (table, planted psi or None)."""
    from fitting.smooth import draw

    curve, psi_of, phi = TRUTHS[truth]
    t = design(sizes, bits)
    x = t["log2_total_bits"].to_numpy()
    n = np.full(len(x), float(n_items))
    s = draw(curve(x, chance), n, phi, (), np.random.default_rng(seed))
    table = t.assign(successes=s, n=n_items, chance=chance)
    return table, (None if psi_of is None else psi_of(x))
