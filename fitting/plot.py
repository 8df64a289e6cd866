"""The threshold figure: cells, fitted curve, psi with its interval, chance; x in total bits."""
from __future__ import annotations

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from fitting.units import ci_label, si


def binomial_bars(s, n, alpha=0.05):
    """Wilson intervals for each cell's accuracy (statsmodels)."""
    lo, hi = proportion_confint(s, n, alpha=alpha, method="wilson")
    return np.asarray(lo), np.asarray(hi)


def plot_fit(fit, ax=None):
    """Draw `fit` (a ThresholdFit) on ax (a new figure if None); returns the axes. Bars and
    band are at the fit's level (1 - alpha)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullLocator

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    c = fit.cells
    log2 = fit.x_name.startswith("log2")
    to_x = (lambda v: 2.0 ** np.asarray(v)) if log2 else np.asarray  # noqa: E731
    groups = sorted(set(c.precision), key=lambda v: (str(type(v)), v)) if c.precision is not None else [None]
    for g in groups:
        sel = np.ones(len(c.x), bool) if g is None else c.precision == g
        label = f"cells ({ci_label(fit.alpha)} Wilson bars)" if g is None else f"{g}-bit"
        # Rows at one x (the tasks of one model and precision) are pooled into one point to read.
        xs, where = np.unique(c.x[sel], return_inverse=True)
        if c.s is not None:
            s, n = np.bincount(where, c.s[sel]), np.bincount(where, c.n[sel])
            acc = s / n
            lo, hi = binomial_bars(s, n, fit.alpha)
            bar = np.clip([acc - lo, hi - acc], 0, None)  # Wilson ends at 0 or 1 can overshoot by rounding
            ax.errorbar(to_x(xs), acc, yerr=bar, fmt="o", ms=4, capsize=2, label=label)
        else:
            ax.plot(to_x(xs), np.bincount(where, c.y[sel]) / np.bincount(where), "o", ms=4, label=label)
    if c.c is not None and len(c.c):
        ax.axhline(float(np.mean(c.c)), color="grey", ls=":", lw=1, label="chance")
    psis = fit.breakpoints
    if fit.model is not None and np.all(np.isfinite(psis)):
        xs = np.linspace(c.x.min(), c.x.max(), 300)
        ax.plot(to_x(xs), fit.predict(xs), color="black", lw=1.5, label="fit")
        lo, hi = fit.ci
        style = dict(color="tab:red") if fit.detected else dict(color="grey", ls="--")
        ax.axvline(to_x(fit.breakpoint), lw=1.2, **style,
                   label=f"psi = {fit.readable}" + (f" ({fit.refused_as})" if fit.refused_as else ""))
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(to_x(lo), to_x(hi), color=style["color"], alpha=0.15, label=ci_label(fit.alpha))
    if log2 and len(c.x):  # a group with no usable rows is drawn empty, not a crash
        ax.set_xscale("log", base=2)
        powers = np.arange(np.floor(c.x.min()), np.ceil(c.x.max()) + 1)
        ax.set_xticks(2.0 ** powers[:: max(1, int(np.ceil(len(powers) / 5)))])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{si(v, 'bit')}\n{si(v / 8, 'B')}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("total model bits (bits, bytes)")
    else:
        ax.set_xlabel(fit.x_name)
    ax.set_ylabel("accuracy" if c.s is not None else "metric")
    title = ", ".join(f"{k}={v}" for k, v in fit.label.items())
    p = f"p = {fit.p_value:.3g}" if fit.p_value is not None else "existence test not run"
    p = p if fit.detected else f"{p}, no threshold detectable"
    ax.set_title(f"{title}  ({p})" if title else p, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    return ax
