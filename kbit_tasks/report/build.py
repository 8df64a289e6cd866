"""`kbit-fit`'s report, decided and written here: every fit it shows (the requested ones, and
for the panels accuracy, the smooth metrics and the precision terms by family x level), then
report.md, fits.csv, plots/ and each panel figure as PNG beside its CSV."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kbit_tasks.atomic import atomic_write
from kbit_tasks.report.markdown import markdown, panel_markdown
from kbit_tasks.report.panels import panels
from kbit_tasks.report.table import BINOMIAL_METRICS, FAMILY, LEVEL, SMOOTH_METRICS, fit_table


@dataclass(frozen=True)
class Request:
    """What the user asked for (kbit-fit's options); method "auto": binomial for an accuracy."""

    metric: str = "acc"
    method: str = "auto"
    by: tuple[str, ...] = ()
    x: str = "log2_total_bits"
    precision: str | None = None
    n_breakpoints: int = 1
    n_boot: int = 199
    boot_ci: int = 0
    alpha: float = 0.05
    seed: int = 0

    @property
    def fit_method(self) -> str:
        if self.method != "auto":
            return self.method
        return "binomial" if self.metric in BINOMIAL_METRICS else "ols"


@dataclass(frozen=True)
class Fits:
    """Every fit of one report. requested: key -> fit (the user's --by; key () without it).
    accuracy, smooth (metric -> fits), precision: by (family, level) for the panels; bits: the
    precision column when the table has several precisions, else None. why_not: why the panels
    are not drawn ('' when they are)."""

    requested: dict
    accuracy: dict
    smooth: dict
    precision: dict
    bits: str | None
    why_not: str


def fit_all(table: pd.DataFrame, r: Request) -> Fits:
    """The one place that decides what is fitted."""
    common = dict(x=r.x, alpha=r.alpha, seed=r.seed)
    fits = fit_table(table, method=r.fit_method, metric=r.metric, by=list(r.by) or None, precision=r.precision,
                     n_breakpoints=r.n_breakpoints, n_boot=r.n_boot, boot_ci=r.boot_ci, **common)
    requested = dict(fits) if r.by else {(): fits}
    missing = [c for c in (FAMILY, LEVEL) if c not in table.columns or table[c].isna().all()]
    if r.fit_method != "binomial" or missing:
        why = (f"the table has no {' or '.join(repr(c) for c in missing)} column" if missing
               else f"--metric {r.metric} is not an accuracy ({', '.join(BINOMIAL_METRICS)})")
        return Fits(requested, {}, {}, {}, None, why)
    by = [FAMILY, LEVEL]
    same = list(r.by) == by and r.precision is None and r.n_breakpoints == 1  # the panels' own fits
    accuracy = requested if same else dict(fit_table(table, metric=r.metric, by=by, n_boot=r.n_boot, **common))
    metrics = set(table["metric"].astype(str)) if "metric" in table.columns else set()
    smooth = {m: dict(fit_table(table, method="ols", metric=m, by=by, **common)) for m in SMOOTH_METRICS
              if m in metrics}
    bits = r.precision or "bits"
    have_k = bits in table.columns and table[bits].nunique() > 1
    # n_boot=0: of these fits only the precision terms' LR tests are read
    precision = dict(fit_table(table, metric=r.metric, by=by, precision=bits, n_boot=0, **common)) if have_k else {}
    return Fits(requested, accuracy, smooth, precision, bits if have_k else None, "")


def write_report(table: pd.DataFrame, r: Request, out: Path, command: str, note: str = "") -> str:
    """Fit, draw and write the report into the folder `out` (made and proven writable);
    returns the line to print."""
    import matplotlib

    matplotlib.use("Agg")
    fits = fit_all(table, r)
    plots = {}
    for key, fit in fits.requested.items():
        plots[key] = f"plots/{_slug(fit.label)}.png"
        save_figure(fit.plot().figure, out / plots[key])
    frame = pd.concat([f.to_frame() for f in fits.requested.values()], ignore_index=True)
    atomic_write(out / "fits.csv", lambda p: frame.to_csv(p, index=False))
    panel_lines = _panels(table, fits, r, out)
    text = markdown(fits.requested, plots, command=command, metric=r.metric, note=note, panel_lines=panel_lines)
    atomic_write(out / "report.md", lambda p: Path(p).write_text(text))
    found = int(np.sum(frame["detected"]))
    return f"{len(frame)} fit(s), {found} threshold(s) detected; report in {out / 'report.md'}"


def _slug(label: dict) -> str:
    text = "_".join(f"{k}-{v}" for k, v in label.items()) or "all"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def save_figure(fig, path: Path) -> None:
    """Write a figure as PNG (atomically, so a reader never sees half of one) and free it."""
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda p: fig.savefig(p, dpi=120, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)


def _panels(table: pd.DataFrame, fits: Fits, r: Request, out: Path) -> list[str]:
    """The phase diagram, mirage check and precision panel: each figure as PNG beside its CSV."""
    from kbit_tasks.report.figures import mirage_figure, phase_figure, precision_figure

    if fits.why_not:
        return panel_markdown(None, {}, r.alpha, why_not=fits.why_not)
    p = panels(table, fits, accuracy=r.metric, alpha=r.alpha)
    rows = table[r.x].dropna()
    x_range = (float(np.floor(rows.min())), float(np.ceil(rows.max())))
    figures = {}
    drawn = [("phase_diagram", p.phase, lambda: phase_figure(p.phase, x_range, r.alpha))]
    if set(p.mirage["metric"]) != {"accuracy"}:
        drawn.append(("mirage", p.mirage, lambda: mirage_figure(p.mirage, x_range, r.alpha)))
    if not p.points.empty:
        drawn.append(("precision", p.points, lambda: precision_figure(p.points, fits.bits, r.alpha)))
        atomic_write(out / "precision_budget.csv", lambda f: p.budget.to_csv(f, index=False))
    for name, data, draw in drawn:
        atomic_write(out / f"{name}.csv", lambda f, d=data: d.to_csv(f, index=False))
        save_figure(draw(), out / f"{name}.png")
        figures[name] = (f"{name}.png", f"{name}.csv")
    return panel_markdown(p, figures, r.alpha)
