"""The outcomes of the hypothesis tests, as small frozen records (read by attribute, never patched)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class ExistenceTest:
    """Is there a break at all? `null` is the curve (or fewer breaks) that the test rejects or
    not; with two breaks `p_smooth` and `p_one_break` are the two tests and `p_value` the larger
    (`p_one_break` None when it was not run). `dispersion` and `n_boot` describe a bootstrap."""

    stat: float
    p_value: float
    null: str
    name: str
    dispersion: float | None = None
    n_boot: int | None = None
    p_smooth: float | None = None
    p_one_break: float | None = None


@dataclass(frozen=True)
class LRTest:
    """A likelihood-ratio test with a chi2 reference; `note` says how far to trust it."""

    lr: float
    df: int
    p_value: float
    note: str = ""


def lr_test(ll_big: float, ll_small: float, df: int, note: str = "") -> LRTest:
    """Likelihood-ratio test with a chi2 reference (valid when every parameter is identified under both)."""
    lr = max(0.0, 2 * (ll_big - ll_small))
    return LRTest(lr, int(df), float(stats.chi2.sf(lr, df)) if df > 0 else np.nan, note)
