"""Simulated tidy tables (the sweep's columns) with a planted threshold: the demo's table and the
fits' ground truth on the design of the coverage benchmark."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from fitting.simulate import draw_truth, floor_hinge

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


# The coverage benchmark's design: 6 sizes x 4 precisions, chance 0.25, 300 items per cell.
BENCH_SIZES = tuple(np.geomspace(1e6, 1e10, 6))
BENCH_BITS = (3, 4, 8, 16)


def truth_cells(truth: str, seed: int, chance: float = 0.25, n_items: int = 300, sizes=BENCH_SIZES,
                bits=BENCH_BITS) -> tuple[pd.DataFrame, float | None]:
    """Cells (the size columns, successes, n, chance) drawn from a named truth of
    fitting.simulate.TRUTHS; returns (table, planted psi or None)."""
    t = design(sizes, bits)
    s, psi = draw_truth(truth, t["log2_total_bits"].to_numpy(), seed, chance, n_items)
    return t.assign(successes=s, n=n_items, chance=chance), psi
