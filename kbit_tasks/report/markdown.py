"""The report's markdown: the three answers (panels), then every fit with its plot and summary."""
from __future__ import annotations

import numpy as np
import pandas as pd

from fitting.units import ci_label
from kbit_tasks.report.panels import Panels
from kbit_tasks.report.table import FAMILY, LEVEL, SMOOTH_METRICS


def _cell(v, fmt="{:.3f}"):
    if isinstance(v, (float, np.floating)):
        return fmt.format(v) if np.isfinite(v) else ""
    return "" if v is None else str(v)


def _table(frame: pd.DataFrame, columns: dict) -> list[str]:
    """A markdown table of `frame`'s columns (keys) under headers (values)."""
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_cell(row[c], "{:.3g}") if c.endswith("_p") or c.startswith("p_")
                                        else _cell(row[c]) for c in columns) + " |")
    return lines


def panel_markdown(p: Panels | None, figures: dict, alpha: float, why_not: str = "") -> list[str]:
    """The three sections; figures: name -> (png, csv) relative paths."""
    if p is None:
        return ["## Phase diagram, mirage check, precision panel", "", f"Not drawn: {why_not}", ""]
    label = ci_label(alpha)

    def fig(name):
        png, csv = figures[name]
        return [f"![{name}]({png})", "", f"Figure data: [{csv}]({csv})", ""]

    lines = ["## Phase diagram", "",
             f"The accuracy threshold of every reasoning family x difficulty level: psi in log2(total model bits) "
             f"with its {label} profile interval, or \"none detectable\" (then the closest smooth curve and why).", "",
             *_table(p.phase.assign(closest=[": ".join(t for t in (r.closest_smooth, r.reason) if t)
                                             if not r.detected else "" for r in p.phase.itertuples()]),
                     {FAMILY: "family", LEVEL: "level", "threshold": f"psi [{label}] (size)", "p_value": "existence p",
                      "closest": "if none: closest smooth curve, why"}), "", *fig("phase_diagram")]
    mir = p.mirage
    lines += ["## Mirage check", "",
              "Each accuracy fit beside the same segmented fit on the smooth metrics of the same answers "
              "(Brier score, gold log-probability), by least squares with Davies' test against a straight line. "
              "A threshold that accuracy shows but no smooth metric does may be made by the all-or-nothing "
              "scoring (Schaeffer et al. 2023). survives: a smooth metric breaks, "
              "its interval overlapping the accuracy one; "
              "mirage?: no smooth metric confirms it (a steep break can look like a sigmoid in a smooth metric, "
              "so read it as \"not confirmed\").", ""]
    if set(mir["metric"]) == {"accuracy"}:
        lines += ["No smooth metric (brier_score, gold_logprob) is in the table: not checked.", ""]
    else:
        wide = mir.pivot_table(index=[FAMILY, LEVEL], columns="metric", values="threshold", aggfunc="first")
        verdicts = mir.groupby([FAMILY, LEVEL])["verdict_text"].first()
        cols = [c for c in ("accuracy", *SMOOTH_METRICS) if c in wide.columns]
        lines += ["| family | level | " + " | ".join(cols) + " | verdict |", "|" + "---|" * (len(cols) + 3)]
        for (fam, lev), row in wide.iterrows():
            lines.append(f"| {fam} | {lev} | " + " | ".join(str(row[c]) for c in cols) + f" | {verdicts[(fam, lev)]} |")
        lines += ["", *fig("mirage")]
    lines += ["## Precision panel", ""]
    if p.points.empty:
        lines += ["The table has a single precision: nothing to compare.", ""]
        return lines
    lines += [f"**{p.answer}**", "",
              "Accuracy of each k at equal total bits (whole powers of 2), pooled over each family's tasks and "
              "levels and interpolated between that k's two nearest model sizes, linearly in log2 bits on the "
              "logit scale above chance (best k "
              "first; p: z-test of the best k against the runner-up; Holm: corrected for the many budgets):", "",
              *(_table(p.budget, {FAMILY: "family", "budget": "total bits", "accuracy_by_k": "accuracy by k",
                                  "best_k": "best k", "p_value": "p", "p_holm": "Holm p"}) if len(p.budget)
                else ["(no budget to compare)"]), "",
              "Does the threshold move with bits per parameter? Per family x level, the accuracy fit with a "
              "per-precision shift (logit scale, against the highest precision) tested by likelihood ratio, and "
              "one psi for all precisions against one psi each (chi2 reference, approximate):", "",
              *_table(p.precision, {FAMILY: "family", LEVEL: "level", "precision_terms_p": "precision terms p",
                                    "shifts": "shifts at equal total bits", "shared_psi_p": "shared psi p",
                                    "note": "note"}), "", *fig("precision")]
    return lines


def markdown(fits: dict, plots: dict, command: str, metric: str, note: str = "", panel_lines: list[str] = ()) -> str:
    """fits: key -> ThresholdFit; plots: key -> relative PNG path; note: the caller's caveat,
    shown first; panel_lines: the phase diagram, mirage check and precision panel (panel_markdown)."""
    label = ci_label(next(iter(fits.values())).alpha) if fits else ci_label(0.05)
    lines = [f"# Threshold fits: {metric}", "", *([note, ""] if note else []), f"Command: `{command}`", "",
             *panel_lines, "## All fits", "",
             "psi is the breakpoint in log2(total model bits); "
             f"the interval is the {label.replace(' CI', '')} profile-likelihood "
             "interval (dispersion-scaled); p tests \"no break: the closest smooth curve\" against the fitted breaks "
             "(two breaks: also against one, p the larger); "
             "detected needs that test passed, the slope rising at psi, a closed interval and moderate dispersion.",
             "", f"| group | psi | size | {label} | p | detected | direction | closest smooth curve | reason, notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for fit in fits.values():
        row = fit.to_frame().iloc[0]
        group = ", ".join(f"{k}={v}" for k, v in fit.label.items()) or "all"
        ci = (f"{_cell(row['ci_low'])}..{_cell(row['ci_high'])}{' (open)' if row['ci_open'] else ''}"
              if np.isfinite(row["breakpoint"]) else "")
        lines.append(f"| {group} | {_cell(row['breakpoint'])} | {row['readable']} | {ci} | "
                     f"{_cell(row['p_value'], '{:.3g}')} | {'yes' if row['detected'] else 'no'} | "
                     f"{row['direction']} | {row['closest_smooth']} | "
                     f"{'; '.join(t for t in (row['reason'], row['notes']) if t)} |")
    for key, fit in fits.items():
        title = ", ".join(f"{k}={v}" for k, v in fit.label.items()) or "all cells"
        lines += ["", f"### {title}", "", f"![{title}]({plots[key]})", "", "```", str(fit.summary()), "```"]
    return "\n".join(lines) + "\n"
