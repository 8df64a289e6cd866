"""The report's three figures, each drawn only from the frame that is saved beside it as CSV:
the phase diagram, the mirage check and the precision panel. Total bits are labelled in bits
and bytes so that a figure reads without the text."""
from __future__ import annotations

import numpy as np
import pandas as pd

from fitting.units import ci_label, si
from kbit_tasks.report.table import FAMILY, LEVEL


def bits_and_bytes(log2_bits: float) -> str:
    """Tick label for a log2(total bits) value: "2^31\\n2.15 Gbit\\n268 MB"."""
    return f"2^{log2_bits:g}\n{si(2.0 ** log2_bits, 'bit')}\n{si(2.0 ** log2_bits / 8, 'B')}"


def _log2_axis(axis, lo: float, hi: float) -> None:
    """Whole powers of 2 between lo and hi (at most 6 ticks), labelled in bits and bytes."""
    powers = np.arange(np.floor(lo), np.ceil(hi) + 1)
    powers = powers[:: max(1, int(np.ceil(len(powers) / 6)))]
    axis.set_ticks(powers)
    axis.set_ticklabels([bits_and_bytes(p) for p in powers], fontsize=7)


def _offsets(n: int, width: float = 0.6) -> np.ndarray:
    return (np.arange(n) - (n - 1) / 2) * (width / max(n, 1))


def phase_figure(phase: pd.DataFrame, x_range: tuple[float, float], alpha: float = 0.05):
    """Levels across, log2 total bits up; per family a marker at psi over its shaded interval,
    and a hatched column marked "none" where no threshold is detectable in the data's range."""
    import matplotlib.pyplot as plt

    fams = sorted(phase[FAMILY].astype(str).unique())
    levels = sorted(phase[LEVEL].unique())
    fig, ax = plt.subplots(figsize=(max(5.5, 1.6 * len(levels) + 3), 4.8))
    lo_y, hi_y = x_range
    off = _offsets(len(fams))
    w = 0.6 / max(len(fams), 1) * 0.8
    for i, fam in enumerate(fams):
        color = f"C{i}"
        part = phase[phase[FAMILY].astype(str) == fam]
        for _, r in part.iterrows():
            x = levels.index(r[LEVEL]) + off[i]
            if r["detected"]:
                ax.bar(x, r["ci_high"] - r["ci_low"], bottom=r["ci_low"], width=w, color=color, alpha=0.3)
                ax.plot(x, r["psi"], "o", color=color, ms=6)
            else:
                ax.bar(x, hi_y - lo_y, bottom=lo_y, width=w, fill=False, hatch="//", edgecolor=color, alpha=0.5, lw=0)
                ax.text(x, (lo_y + hi_y) / 2, f"{fam}: none", rotation=90, ha="center", va="center", fontsize=8,
                        color="black", bbox=dict(facecolor="white", edgecolor="none", pad=1))
        ax.plot([], [], "o", color=color, label=f"{fam}: psi, shaded {ci_label(alpha)}")
    ax.bar([np.nan], [0], fill=False, hatch="//", edgecolor="0.6", label="none detectable in this range")
    ax.set_xlabel("difficulty level")
    _finish(ax, [f"level {v}" for v in levels], x_range, "threshold",
            "Phase diagram: where each kind of reasoning appears")
    return fig


def _finish(ax, ticks: list[str], y_range, what: str, title: str) -> None:
    """Categories across, log2 total bits up (in bits and bytes), the legend outside."""
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels(ticks, fontsize=8)
    ax.set_xlim(-0.6, len(ticks) - 0.4)
    ax.set_ylim(*y_range)
    _log2_axis(ax.yaxis, *y_range)
    ax.set_ylabel(f"{what}: total model bits (log2; bits, bytes)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def mirage_figure(mirage: pd.DataFrame, x_range: tuple[float, float], alpha: float = 0.05):
    """Per family x level, psi and its interval for accuracy and for each smooth metric side by
    side: filled = detected, hollow = located but not significant, x on the axis = none located."""
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(zip(mirage[FAMILY].astype(str), mirage[LEVEL])))
    metrics = list(dict.fromkeys(mirage["metric"]))
    fig, ax = plt.subplots(figsize=(max(5.5, 0.9 * len(keys) + 3), 4.6))
    off = _offsets(len(metrics), 0.5)
    lo_y, hi_y = x_range
    for j, metric in enumerate(metrics):
        color = f"C{j}"
        part = mirage[mirage["metric"] == metric]
        for _, r in part.iterrows():
            x = keys.index((str(r[FAMILY]), r[LEVEL])) + off[j]
            if np.isfinite(r["psi"]):
                bar = np.nan_to_num(np.clip([[r["psi"] - r["ci_low"]], [r["ci_high"] - r["psi"]]], 0, None))
                ax.errorbar(x, r["psi"], yerr=bar, fmt="o",
                            color=color, mfc=color if r["detected"] else "white", capsize=2, ms=6)
            else:
                ax.plot(x, lo_y, "x", color=color, ms=7, clip_on=False)
        ax.plot([], [], "o", color=color, label=metric)
    ax.plot([], [], "o", color="0.4", label=f"filled: threshold detected ({ci_label(alpha)} bar)")
    ax.plot([], [], "o", color="0.4", mfc="white", label="hollow: located, not significant")
    ax.plot([], [], "x", color="0.4", label="x: none located")
    verdicts = mirage.groupby([mirage[FAMILY].astype(str), LEVEL])["verdict"].first()
    _finish(ax, [f"{f}\nlevel {lev}\n{verdicts[(f, lev)]}" for f, lev in keys], x_range, "breakpoint",
            "Mirage check: does the accuracy threshold survive smooth metrics?")
    return fig


def precision_figure(points: pd.DataFrame, bits: str = "bits", alpha: float = 0.05):
    """Per family, accuracy against total bits with one line per k (Wilson bars) and chance:
    at equal total bits (a vertical line), the highest curve is the best precision."""
    import matplotlib.pyplot as plt

    fams = sorted(points[FAMILY].astype(str).unique())
    ncol = min(3, len(fams))
    nrow = int(np.ceil(len(fams) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.8 * nrow), squeeze=False, sharey=True)
    lo_x, hi_x = points["log2_total_bits"].min(), points["log2_total_bits"].max()
    ks = sorted(points[bits].unique())
    for ax, fam in zip(axes.flat, fams):
        part = points[points[FAMILY].astype(str) == fam]
        for i, k in enumerate(ks):
            d = part[part[bits] == k].sort_values("log2_total_bits")
            if len(d):
                bar = np.clip([d["accuracy"] - d["ci_low"], d["ci_high"] - d["accuracy"]], 0, None)
                ax.errorbar(d["log2_total_bits"], d["accuracy"], yerr=bar,
                            fmt="o-", ms=4, capsize=2, color=f"C{i}", label=f"{k}-bit weights")
        ax.axhline(part["chance"].mean(), color="grey", ls=":", lw=1, label="chance")
        ax.set_title(f"family: {fam}", fontsize=10)
        ax.set_xlim(lo_x - 0.3, hi_x + 0.3)
        _log2_axis(ax.xaxis, lo_x, hi_x)
        ax.set_xlabel("total model bits (log2; bits, bytes)", fontsize=8)
        ax.set_ylabel(f"accuracy ({ci_label(alpha)} Wilson bars)", fontsize=8)
    for ax in list(axes.flat)[len(fams):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle("Precision panel: at equal total bits, which k is most accurate?", fontsize=10)
    fig.tight_layout()
    return fig
