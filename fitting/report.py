"""The markdown report of `kbit-fit`: one table of all fits, then each fit's plot and summary."""
from __future__ import annotations

import numpy as np

from fitting.units import ci_label


def _cell(v, fmt="{:.3f}"):
    return fmt.format(v) if isinstance(v, (float, np.floating)) and np.isfinite(v) else ("" if v is None else str(v))


def markdown(fits: dict, plots: dict, command: str, metric: str, note: str = "") -> str:
    """fits: key -> ThresholdFit; plots: key -> relative PNG path; note: the caller's caveat, shown first."""
    label = ci_label(next(iter(fits.values())).alpha) if fits else ci_label(0.05)
    lines = [f"# Threshold fits: {metric}", "", *([note, ""] if note else []), f"Command: `{command}`", "",
             f"psi is the breakpoint in log2(total model bits); the interval is the {label.replace(' CI', '')} profile-likelihood "
             "interval (dispersion-scaled); p tests \"no break: the closest smooth curve\" against one break; "
             "detected needs that test passed, the slope rising at psi, a closed interval and moderate dispersion.",
             "", f"| group | psi | size | {label} | p | detected | direction | closest smooth curve | reason, notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for fit in fits.values():
        row = fit.to_frame().iloc[0]
        group = ", ".join(f"{k}={v}" for k, v in fit.label.items()) or "all"
        ci = f"{_cell(row['ci_low'])}..{_cell(row['ci_high'])}" if np.isfinite(row["breakpoint"]) else ""
        lines.append(f"| {group} | {_cell(row['breakpoint'])} | {row['readable']} | {ci} | "
                     f"{_cell(row['p_value'], '{:.3g}')} | {'yes' if row['detected'] else 'no'} | "
                     f"{row['direction']} | {row['closest_smooth']} | {'; '.join(t for t in (row['reason'], row['notes']) if t)} |")
    for key, fit in fits.items():
        title = ", ".join(f"{k}={v}" for k, v in fit.label.items()) or "all cells"
        lines += ["", f"## {title}", "", f"![{title}]({plots[key]})", "", "```", str(fit.summary()), "```"]
    return "\n".join(lines) + "\n"
