"""The markdown report of `kbit-fit`: one table of all fits, then each fit's plot and summary."""
from __future__ import annotations

import numpy as np


def _cell(v, fmt="{:.3f}"):
    return fmt.format(v) if isinstance(v, (float, np.floating)) and np.isfinite(v) else ("" if v is None else str(v))


def markdown(fits: dict, plots: dict, command: str, metric: str, note: str = "") -> str:
    """fits: key -> ThresholdFit; plots: key -> relative PNG path; note: the caller's caveat, shown first."""
    lines = [f"# Threshold fits: {metric}", "", *([note, ""] if note else []), f"Command: `{command}`", "",
             "psi is the breakpoint in log2(total model bits); the interval is the 95% profile-likelihood "
             "interval (dispersion-scaled); p tests \"no break\" against one break.", "",
             "| group | psi | size | 95% CI | p | detected | best by BIC | reason, notes |", "|---|---|---|---|---|---|---|---|"]
    for fit in fits.values():
        row = fit.to_frame().iloc[0]
        group = ", ".join(f"{k}={v}" for k, v in fit.label.items()) or "all"
        ci = f"{_cell(row['ci_low'])}..{_cell(row['ci_high'])}" if np.isfinite(row["breakpoint"]) else ""
        lines.append(f"| {group} | {_cell(row['breakpoint'])} | {row['readable']} | {ci} | "
                     f"{_cell(row['p_value'], '{:.3g}')} | {'yes' if row['detected'] else 'no'} | "
                     f"{row.get('best_by_bic', '')} | {'; '.join(t for t in (row['reason'], row['notes']) if t)} |")
    for key, fit in fits.items():
        title = ", ".join(f"{k}={v}" for k, v in fit.label.items()) or "all cells"
        lines += ["", f"## {title}", "", f"![{title}]({plots[key]})", "", "```", fit.summary(), "```"]
    return "\n".join(lines) + "\n"
