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
        common = dict(task=task, group=task.split("_")[1], level=int(task.rsplit("_l", 1)[-1]), n=n_items, chance=chance)
        a = t.assign(metric="acc", value=acc, stderr=np.sqrt(acc * (1 - acc) / (n_items - 1)), successes=s, **common)
        g = t.assign(metric="gold_logprob", value=np.log(p) + rng.normal(0, noise, len(p)), stderr=noise,
                     successes=np.nan, **common)
        out += [a, g]
    return pd.concat(out, ignore_index=True)


def _acc_model(table: pd.DataFrame):
    from fitting.binomial import FloorHinge

    a = table[table["metric"] == "acc"]
    return FloorHinge(a["log2_total_bits"], a["successes"], a["n"], a["chance"])


def interval_covers(seed: int, chance: float, psi: float = 31.5, alpha: float = 0.05, grid_size: int = 40) -> bool:
    """Does the profile interval that `fit_threshold` reports cover the planted psi? (one data set)"""
    from fitting.api import profile_interval
    from fitting.profile import Grid

    model = _acc_model(simulate_table(psi=psi, chance=chance, seed=seed))
    loc, _ = profile_interval(model, Grid.over(model.x, grid_size), alpha)
    return bool(loc.ci[0] <= psi <= loc.ci[1])


def existence_p(seeds, chance: float, psi: float | None, n_boot: int, grid_size: int = 40) -> np.ndarray:
    """The existence test's p-values on simulated data sets (psi=None: no break planted),
    all data sets tested in one batched computation."""
    from fitting.profile import Grid

    tables = [simulate_table(psi=psi, chance=chance, seed=seed) for seed in seeds]
    model = _acc_model(tables[0])
    counts = np.stack([t.loc[t["metric"] == "acc", "successes"].to_numpy(dtype=float) for t in tables])
    rng = np.random.default_rng(int(seeds[0]))
    return model.sup_lr_pvalue(Grid.over(model.x, grid_size), n_boot, rng, s=counts)[1]
