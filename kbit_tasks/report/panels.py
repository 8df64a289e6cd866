"""The report's three answers as tables: the phase diagram (a threshold per family x level),
the mirage check (the same fit on smooth metrics), the precision panel (does k matter at equal
total bits?). Built from fits made elsewhere (kbit_tasks.report.build decides every fit)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from fitting.units import readable_bits
from kbit_tasks.report.table import FAMILY, LEVEL

def threshold_text(fit) -> str:
    """"31.44 [31.00, 31.96] (2.91 Gbit = 364 MB)" for a detected threshold, else "none detectable"."""
    if not fit.detected:
        return "none detectable"
    lo, hi = fit.ci
    return f"{fit.breakpoint:.2f} [{lo:.2f}, {hi:.2f}] ({fit.readable})"


def _fit_row(fit, metric: str) -> dict:
    lo, hi = fit.ci
    return {**fit.label, "metric": metric, "method": fit.method, "detected": fit.detected,
            "psi": fit.breakpoint, "ci_low": lo, "ci_high": hi,
            "p_value": np.nan if fit.p_value is None else fit.p_value,
            "test": "" if fit.test is None else fit.test.name, "closest_smooth": fit.closest,
            "threshold": threshold_text(fit), "reason": fit.reason}


def phase_frame(fits) -> pd.DataFrame:
    """One row per family x level of accuracy fits keyed by (group, level)."""
    rows = []
    for fit in fits.values():
        row = _fit_row(fit, "")
        row.pop("metric")
        row["size"] = fit.readable if fit.detected else ""
        rows.append(row)
    return pd.DataFrame(rows).sort_values([FAMILY, LEVEL], ignore_index=True)


def _overlap(a, b) -> bool:
    return bool(a.ci[0] <= b.ci[1] and b.ci[0] <= a.ci[1])


def mirage_verdict(acc_fit, smooth_fits: dict) -> tuple[str, str]:
    """(word, sentence): does the accuracy threshold survive a smooth metric (Schaeffer et al.
    2023: a threshold made by the all-or-nothing scoring of accuracy is absent from a smooth
    score of the same answers)? word: survives, mirage?, no threshold, or not checked."""
    if not smooth_fits:
        return "not checked", "no smooth metric in the table"
    broke = [m for m, f in smooth_fits.items() if f.detected]
    if not acc_fit.detected:
        also = f"; a break in {', '.join(broke)} though" if broke else ""
        return "no threshold", f"no accuracy threshold to check{also}"
    same = [m for m in broke if _overlap(smooth_fits[m], acc_fit)]
    if same:
        where = ", ".join(f"{m} at {smooth_fits[m].breakpoint:.2f}" for m in same)
        return "survives", f"survives: the break is also in {where}, intervals overlapping the accuracy one"
    if broke:
        where = ", ".join(f"{m} at {smooth_fits[m].breakpoint:.2f}" for m in broke)
        return "mirage?", f"mirage?: the smooth metrics break elsewhere ({where}), not at the accuracy threshold"
    why = "; ".join(f"{m}: {f.reason}" for m, f in smooth_fits.items())
    return "mirage?", (f"mirage?: no break in the smooth metrics ({why}): the accuracy threshold may come from "
                       "scoring all-or-nothing (Schaeffer et al. 2023)")


def mirage_frame(acc_fits, smooth: dict) -> pd.DataFrame:
    """Long frame: per family x level, the accuracy fit then each smooth metric's fit, all
    rows carrying the verdict. smooth: metric -> fits keyed like acc_fits."""
    rows = []
    for key, acc in acc_fits.items():
        by_metric = {m: fits[key] for m, fits in smooth.items() if key in fits}
        word, sentence = mirage_verdict(acc, by_metric)
        for metric, fit in [("accuracy", acc), *by_metric.items()]:
            rows.append({**_fit_row(fit, metric), "verdict": word, "verdict_text": sentence})
    return pd.DataFrame(rows)


def _shift(name: str, value: float, se: float) -> str:
    """A precision shift with its standard error: near chance a shift is barely identified (-18
    with se 3e4), or not at all (a singular or indefinite information matrix: no or a zero se)."""
    return f"{name} {value:+.2f} " + (f"(se {se:.2g})" if se > 0 else "(not identified)")


def precision_frame(fits) -> pd.DataFrame:
    """Per family x level: fits with per-precision terms; does precision matter beyond total bits
    (LR test of the terms), and is psi shared by every precision (LR, chi2 reference)?"""
    rows = []
    for fit in fits.values():
        terms, shared = fit.precision_tests.get("precision_terms"), fit.precision_tests.get("shared_psi")
        shifts = ", ".join(_shift(k, fit.params[k], fit.bse.get(k, np.nan))
                           for k in fit.params.index if k.startswith("prec["))
        rows.append({**fit.label, "precision_terms_p": terms.p_value if terms else np.nan,
                     "shared_psi_p": shared.p_value if shared else np.nan,
                     "shifts": shifts,
                     "note": (shared.note if shared else "") or ("" if terms else fit.reason or
                                                                   "no break located: not tested")})
    return pd.DataFrame(rows)


def precision_points(table: pd.DataFrame, accuracy: str, bits: str = "bits", alpha: float = 0.05) -> pd.DataFrame:
    """Accuracy per family, k and model size, pooled over the family's tasks and levels
    (every cell ran the same tasks), with Wilson intervals: the precision figure's data."""
    t = table[table["metric"] == accuracy] if "metric" in table.columns else table
    t = t.dropna(subset=["successes", "n", "log2_total_bits"])
    g = t.groupby([FAMILY, bits, "model", "log2_total_bits"], as_index=False).agg(
        successes=("successes", "sum"), n=("n", "sum"), chance=("chance", "mean"))
    lo, hi = proportion_confint(g["successes"], g["n"], alpha=alpha, method="wilson")
    return g.assign(accuracy=g["successes"] / g["n"], ci_low=lo, ci_high=hi,
                    total_bits=2.0 ** g["log2_total_bits"], total_bytes=2.0 ** g["log2_total_bits"] / 8)


def _at_budget(d: pd.DataFrame, budget: float) -> tuple[float, float]:
    """Accuracy of one k at log2 total bits `budget` and its variance, interpolated between its
    two nearest cells on the scale the fits use, logit((p - chance) / (1 - chance)), where
    accuracy is piecewise straight (linear interpolation of p itself under-rates the k whose
    sizes lie farther apart wherever accuracy curves). Each cell's p is shrunk to
    (s + 1/2) / (n + 1) so that 0 and 100 % stay finite; the variance is the delta method's.
    Hand-written: no library interpolates binomial proportions."""
    x = d["log2_total_bits"].to_numpy()
    i = int(np.clip(np.searchsorted(x, budget) - 1, 0, len(x) - 2))
    w = np.array([(x[i + 1] - budget) / (x[i + 1] - x[i]), (budget - x[i]) / (x[i + 1] - x[i])])
    s, n = d["successes"].to_numpy(float)[i:i + 2], d["n"].to_numpy(float)[i:i + 2]
    c = float(d["chance"].mean()) if "chance" in d else 0.0
    p = (s + 0.5) / (n + 1)
    q = np.clip((p - c) / (1 - c), 1e-3, 1 - 1e-3)  # above chance, on (0, 1)
    dq = (1 - c) * q * (1 - q)  # dp / d logit(q)
    eta = float(w @ special.logit(q))
    var_eta = float(w ** 2 @ (p * (1 - p) / n / dq ** 2))
    q_b = special.expit(eta)
    return float(c + (1 - c) * q_b), float(((1 - c) * q_b * (1 - q_b)) ** 2 * var_eta)


def budget_frame(points: pd.DataFrame, bits: str = "bits", alpha: float = 0.05) -> pd.DataFrame:
    """Which k is best at a fixed total-bit budget (Dettmers and Zettlemoyer 2023's question),
    per family at every whole power of 2 inside the size range of at least two precisions: each
    k's accuracy is interpolated to that budget (`_at_budget`), the best is the highest, and it
    is "clear" when a z-test of its difference to the runner-up rejects at alpha after Holm's
    correction over all budgets and families."""
    rows = []
    for fam, part in points.groupby(FAMILY):
        curves = {k: d.groupby("log2_total_bits", as_index=False).agg(
                      successes=("successes", "sum"), n=("n", "sum"), chance=("chance", "mean"))
                  for k, d in part.groupby(bits)}
        curves = {k: d for k, d in curves.items() if len(d) >= 2}  # interpolation needs two model sizes
        if len(curves) < 2:
            continue
        lo = min(d["log2_total_bits"].min() for d in curves.values())
        hi = max(d["log2_total_bits"].max() for d in curves.values())
        for budget in np.arange(np.ceil(lo), np.floor(hi) + 1):
            at = {k: _at_budget(d, budget) for k, d in curves.items()
                  if d["log2_total_bits"].min() <= budget <= d["log2_total_bits"].max()}
            if len(at) < 2:
                continue
            order = sorted(at, key=lambda k: -at[k][0])
            best, runner = order[0], order[1]
            z = (at[best][0] - at[runner][0]) / np.sqrt(at[best][1] + at[runner][1])
            rows.append({FAMILY: fam, "budget_log2_bits": budget, "budget": readable_bits(budget),
                         "accuracy_by_k": ", ".join(f"{k}-bit {at[k][0]:.3f}" for k in order),
                         "best_k": best, "runner_up_k": runner, "p_value": float(2 * stats.norm.sf(abs(z)))})
    out = pd.DataFrame(rows, columns=[FAMILY, "budget_log2_bits", "budget", "accuracy_by_k", "best_k", "runner_up_k",
                                      "p_value"])
    # Many budgets are compared: Holm's correction keeps the chance of any false "clear" at alpha.
    out["p_holm"] = multipletests(out["p_value"], alpha, method="holm")[1] if len(out) else []
    out["clear"] = out["p_holm"] < alpha
    return out


def best_k_sentence(budget: pd.DataFrame, alpha: float = 0.05) -> str:
    """Dettmers and Zettlemoyer's question answered from the data, or "cannot tell"."""
    if budget.empty:
        return ("At a fixed total-bit budget, which k is best for reasoning: cannot tell, no total-bit budget lies "
                "within the size range (two or more model sizes) of two precisions.")
    clear = budget[budget["clear"]]
    head = "At a fixed total-bit budget, which k is best for reasoning: "
    if clear.empty:
        return head + (f"cannot tell: in none of {len(budget)} family x budget comparisons does the most accurate k "
                       f"beat the runner-up (z-test, Holm-corrected p < {alpha:g}).")
    wins = clear["best_k"].value_counts()
    k, n = wins.index[0], int(wins.iloc[0])
    others = "; ".join(f"{kk}-bit in {int(c)}" for kk, c in wins.iloc[1:].items())
    return head + (f"{k}-bit, best in {n} of the {len(clear)} comparisons the data can tell apart "
                   f"(Holm-corrected p < {alpha:g} against the runner-up){'; ' + others if others else ''}; "
                   f"{len(budget) - len(clear)} of {len(budget)} comparisons cannot tell.")


@dataclass(frozen=True)
class Panels:
    """The three answers of the report, as tables (each also written as a CSV)."""

    phase: pd.DataFrame
    mirage: pd.DataFrame
    precision: pd.DataFrame
    points: pd.DataFrame
    budget: pd.DataFrame
    answer: str


def panels(table: pd.DataFrame, fits, accuracy: str = "acc", alpha: float = 0.05) -> Panels:
    """The tables of the three answers from the report's fits (kbit_tasks.report.build.Fits;
    its `bits` is None when the table has a single precision)."""
    bits = fits.bits
    points = precision_points(table, accuracy, bits, alpha) if bits else pd.DataFrame()
    budget = budget_frame(points, bits, alpha) if bits else budget_frame(pd.DataFrame(
        columns=[FAMILY, "log2_total_bits", "bits", "successes", "n"]), "bits", alpha)
    return Panels(phase_frame(fits.accuracy), mirage_frame(fits.accuracy, fits.smooth), precision_frame(fits.precision),
                  points, budget, best_k_sentence(budget, alpha))
