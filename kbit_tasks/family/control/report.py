"""The positive control's report: accuracy by rung beside the pretrained base, and by precision with a fit.

Reads the tidy table that `kbit-sweep collect` wrote from the control's two sweeps
(every rung at 16 bits for the control and its base; the control at k = 2..8 on the
rungs it trained on) and writes one markdown file that says plainly what was found.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CONTROL, BASE = "control", "pretrained"


def interval(successes, n) -> tuple[np.ndarray, np.ndarray]:
    """Wilson 95 % intervals for binomial accuracies."""
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(successes, n, alpha=0.05, method="wilson")


def _acc_text(row) -> str:
    if row is None:
        return "-"
    lo, hi = interval(row["successes"], row["n"])
    return f"{row['value']:.2f} [{lo:.2f}, {hi:.2f}]"


def _above_chance(row) -> bool:
    return row is not None and interval(row["successes"], row["n"])[0] > row["chance"]


def _gain(ctrl, base) -> tuple[float, float] | None:
    """The control's accuracy minus the base's on one rung, and the one-sided p-value that the control
    is no better (a score test of two independent proportions); None where either is missing."""
    from statsmodels.stats.proportion import test_proportions_2indep

    if ctrl is None or base is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        test = test_proportions_2indep(ctrl["successes"], ctrl["n"], base["successes"], base["n"],
                                       method="score", alternative="larger")
    # Both at 0 or both at n items right leaves the score test undefined (0/0): no evidence of a gain.
    p = float(test.pvalue)
    return ctrl["value"] - base["value"], 1.0 if np.isnan(p) else p


def _row(table: pd.DataFrame, model: str, task: str, bits: float):
    hit = table[(table["model"] == model) & (table["task"] == task) & (table["bits"] == bits)]
    return None if hit.empty else hit.iloc[0]


def mean_depth(task: str, n: int) -> float:
    """Mean `depth` of the task's first n evaluation items (seed 0): what a rung asks, read off its items."""
    from kbit_tasks.generators import generate, parse_task_name

    return float(np.mean([it["depth"] for it in generate(*parse_task_name(task), n=n, seed=0)]))


def rungs_at_16_bits(table: pd.DataFrame) -> pd.DataFrame:
    """One row per rung swept at 16 bits, in the order the report's table and figure show them."""
    return table[table["bits"] == 16].drop_duplicates("task").sort_values(["group", "level"])


def depth_section(table: pd.DataFrame, trained: set[str]) -> tuple[list[str], dict]:
    """The 16-bit table by rung; per task whether the control and the base beat chance, and the control's gain.
    A rung with an open leak in the shortcut battery has its depth marked: fewer steps answer it."""
    from kbit_tasks.shortcuts.battery import open_leak

    lines = ["| task | level | mean depth | trained on | chance | pretrained, zero-shot | control | gain (p) |",
             "|---|---|---|---|---|---|---|---|"]
    above = {}
    rungs = rungs_at_16_bits(table)
    for _, r in rungs.iterrows():
        ctrl, base = _row(table, CONTROL, r["task"], 16), _row(table, BASE, r["task"], 16)
        depth = mean_depth(r["task"], int(r["n"]))
        gain = _gain(ctrl, base)
        above[r["task"]] = (_above_chance(ctrl), _above_chance(base), gain)
        mark = "!" if open_leak(r["task"]) else ""
        lines.append(f"| {r['task']} | {r['level']} | {depth:.1f}{mark} | {'yes' if r['task'] in trained else 'no'} | "
                     f"{r['chance']:.2f} | {_acc_text(base)} | {_acc_text(ctrl)} | "
                     f"{'-' if gain is None else f'{gain[0]:+.2f} ({gain[1]:.2g})'} |")
    if any(open_leak(t) for t in above):
        lines += ["", "! An open leak in the shortcut battery (docs/validity.md): a reading of fewer steps "
                  "answers many of this rung's items, so its score does not measure its depth."]
    return lines, above


def precision_section(table: pd.DataFrame, trained: list[str], n_boot: int) -> tuple[list[str], dict]:
    """The control's accuracy by bit width on its trained rungs; per rung the fit and `where_it_stands`."""
    from kbit_tasks.report import fit_table

    lines, verdicts = [], {}
    for task in trained:
        part = table[(table["model"] == CONTROL) & (table["task"] == task)].sort_values("bits")
        if part["bits"].nunique() < 3:  # a curve needs points: the precision sweep has not run
            lines += [f"**{task}**: not swept over precisions ({len(part)} bit width(s) in the table).", ""]
            continue
        lines += [f"**{task}**", "", "| bits | bits per parameter | log2 total bits | accuracy [95 % CI] |",
                  "|---|---|---|---|"]
        lines += [f"| {int(r['bits'])} | {r['bits_per_param']:.2f} | {r['log2_total_bits']:.2f} | {_acc_text(r)} |"
                  for _, r in part.iterrows()]
        fit = fit_table(part, n_boot=n_boot)
        verdicts[task] = (fit, where_it_stands(part))
        bits = ""
        if fit.detected:  # the breakpoint read back as a bit width, along the sweep's own points
            bits = f" (about {np.interp(fit.breakpoint, part['log2_total_bits'], part['bits']):.1f} bits a weight)"
        lines += ["", f"Fit: {fit.verdict()}{bits}.", ""]
    return lines, verdicts


def where_it_stands(part: pd.DataFrame, alpha: float = 0.05) -> str:
    """The precision curve read without a model: the bit widths at chance, above it, and not detectably
    below the widest width (usually 16 bits; one-sided test at `alpha`). Said beside the fit, because a
    collapse the fit cannot tell from a smooth curve is still a collapse."""
    full = part[part["bits"] == part["bits"].max()].iloc[0]
    lows = interval(part["successes"].to_numpy(), part["n"].to_numpy())[0]
    bits = part["bits"].astype(int).to_numpy()
    level = [int(r["bits"]) for _, r in part.iterrows() if _gain(full, r)[1] >= alpha]
    groups = {"at chance at": bits[lows <= part["chance"].to_numpy()],
              "above chance at": bits[lows > part["chance"].to_numpy()],
              f"not detectably below {int(full['bits'])} bits at": level}
    return "; ".join(f"{name} {', '.join(map(str, b))}" for name, b in groups.items() if len(b))


def findings(above: dict, trained: list[str], verdicts: dict, alpha: float = 0.05) -> list[str]:
    """Plain sentences: did the control learn (above chance and above its base), does it carry deeper,
    where does it collapse. Beating chance alone is not learning where the base already did."""
    from kbit_tasks.shortcuts.battery import open_leak

    def better(task):  # above chance, and above the base at one-sided level alpha
        ctrl_above, _, gain = above.get(task, (False, False, None))
        return ctrl_above and gain is not None and gain[1] < alpha

    def listed(tasks):
        return ", ".join(f"{t} ({above[t][2][0]:+.2f}, p = {above[t][2][1]:.2g})" for t in tasks)

    learned = [t for t in trained if better(t)]
    no_base = [t for t in trained if t in above and above[t][2] is None]
    only_chance = [t for t in trained if above.get(t, (False,))[0] and t not in learned + no_base]
    deeper = [t for t in above if better(t) and t not in trained]
    base = [t for t, (_, b, _) in above.items() if b]
    out = []
    if not learned:
        out.append("- **The control did not learn**: on no rung it trained on is it above chance (95 % interval) "
                   f"and above its pretrained base (one-sided test, p < {alpha}). The sweep below is then no "
                   "evidence about precision; a longer recipe is needed.")
    else:
        out.append(f"- **Learned**: above chance and above its base on {len(learned)} of {len(trained)} trained "
                   f"rungs: {listed(learned)}.")
    if no_base:
        out.append(f"- **No base to compare** on {', '.join(no_base)}: the pretrained model has no row there.")
    if only_chance:
        out.append(f"- **No better than its base** though above chance: {', '.join(only_chance)}; "
                   "that much the base already had.")
    out.append(f"- **Deeper rungs**: above chance and above the base on {listed(deeper) if deeper else 'none'} "
               "of the rungs it never trained on.")
    leaky = [t for t in above if t not in trained and open_leak(t)]
    if leaky:
        out.append(f"  With an open leak in the shortcut battery: {', '.join(leaky)}. Fewer steps than their depth "
                   "answer these rungs, so a gain there would not show that the skill carries.")
    out.append(f"- **Pretrained base, zero-shot**: above chance on {', '.join(base) if base else 'no rung'}.")
    for task, (fit, stands) in verdicts.items():
        word = "a threshold located" if fit.detected else "no threshold located"
        out.append(f"- **Precision, {task}**: {stands} bits; the fit: {word} (the verdict below).")
    return out


def control_figure(table: pd.DataFrame, trained: list[str], verdicts: dict):
    """The report's figure, for a reader who looks before reading: left, accuracy by rung at 16 bits
    for the control and its base against each rung's chance; then per trained rung its precision
    sweep with the threshold fit (`fitting.plot.plot_fit`: the cells, the fitted curve, psi and its
    interval). A matplotlib Figure made without pyplot, so a caller's backend and figures are left alone."""
    from matplotlib.figure import Figure

    from fitting.plot import binomial_bars, plot_fit
    from kbit_tasks.generators import parse_task_name

    fig = Figure(figsize=(5.2 * (1 + len(verdicts)), 4.2))
    axes = fig.subplots(1, 1 + len(verdicts), squeeze=False)[0]
    ax = axes[0]
    rungs = rungs_at_16_bits(table)
    where = {task: x for x, task in enumerate(rungs["task"])}  # rungs of several subtasks side by side
    for offset, model, label in ((-0.08, BASE, "pretrained, zero-shot"), (0.08, CONTROL, "control")):
        part = table[(table["model"] == model) & (table["bits"] == 16)]
        part = part[part["task"].isin(where)].drop_duplicates("task")
        lo, hi = binomial_bars(part["successes"].to_numpy(), part["n"].to_numpy())
        acc = part["value"].to_numpy()
        ax.errorbar(part["task"].map(where).to_numpy() + offset, acc, yerr=np.clip([acc - lo, hi - acc], 0, None),
                    fmt="o", ms=5, capsize=2, label=label)
    ax.hlines(rungs["chance"], np.arange(len(rungs)) - 0.4, np.arange(len(rungs)) + 0.4, color="grey", ls=":",
              lw=1, label="chance")
    ax.set_xticks(np.arange(len(rungs)))
    ax.set_xticklabels(["{1} l{2}".format(*parse_task_name(t)) + ("\n(trained)" if t in trained else "")
                        for t in rungs["task"]], fontsize=8)
    if rungs.empty:
        ax.text(0.5, 0.5, "no 16-bit rows in the table", transform=ax.transAxes, ha="center")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("accuracy (95 % Wilson bars)")
    ax.set_title("By rung (inference depth), 16 bits", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    for ax, (task, (fit, _)) in zip(axes[1:], verdicts.items()):
        plot_fit(fit, ax)
        ax.set_ylim(-0.02, 1.02)
        sweep = table[(table["model"] == CONTROL) & (table["task"] == task)]
        for _, r in sweep.iterrows():  # the bit width under each cell: total bits alone hide it
            ax.annotate(f"{int(r['bits'])}", (2.0 ** r["log2_total_bits"], 0.01), xycoords=ax.get_xaxis_transform(),
                        ha="center", fontsize=7)
        ax.set_xlabel("total model bits (bits, bytes); at the foot: bits a weight")
        p = f"existence p = {fit.p_value:.2g}" if fit.p_value is not None else "existence test not run"
        ax.set_title(f"{task}, by precision\n{'threshold located' if fit.detected else 'no threshold located'} "
                     f"({p})", fontsize=10)
    fig.tight_layout()
    return fig


def write_report(results: str | Path, record: dict, out: str | Path, n_boot: int = 199) -> Path:
    """Write the control's markdown section from the collected table and the control's record, and
    its figure beside it (the same name, .png)."""
    from kbit_tasks.generators import task_name

    table = pd.read_csv(results)
    table = table[table["metric"] == "acc"]
    doubled = table[table.duplicated(["model", "task", "bits"], keep=False)]
    if not doubled.empty:
        first = doubled.iloc[0]
        raise ValueError(f"{results}: {len(doubled)} rows share a (model, task, bits), e.g. {first['model']} "
                         f"{first['task']} at {first['bits']:g} bits; the report reads one row per model, task and bit "
                         "width (collect one --limit and one quant_type)")
    missing = {CONTROL, BASE} - set(table["model"])
    if missing:
        raise ValueError(f"{results}: no rows for model(s) {sorted(missing)}; "
                         f"the table has {sorted(set(table['model']))}")
    from kbit_tasks.atomic import atomic_write
    from kbit_tasks.report.build import save_figure

    out = Path(out)
    trained = [task_name(*key) for key in record["trained_levels"]]
    depth_lines, above = depth_section(table, set(trained))
    precision_lines, verdicts = precision_section(table, trained, n_boot)
    recipe = record["recipe"]
    lines = [
        "# Positive control: a model that learned the skill here",
        "",
        f"The pretrained base fine-tuned on {record['train_items']} train-split items (a lexicon disjoint from "
        f"the evaluation one, or for number-only items questions of another hash class; "
        f"depths {record['depths_seen']}) of {', '.join('/'.join(s) for s in recipe['subtasks'])}"
        f": {recipe['steps']} steps of {recipe['batch_size']}, the top {recipe['train_layers']} blocks trained "
        f"({record['params_trained']:,} of {record['params']:,} parameters), loss on the answer tokens "
        f"{record['first_loss']:.3f} -> {record['final_loss']:.3f}, {record['seconds']:.0f} s "
        f"({record['seconds_per_step']} s a step, {record['torch_threads']} threads). Built by "
        "`python -m kbit_tasks.family.control build`; evaluated on the eval split (seed 0) through `kbit-hf`, "
        "weights stored in bfloat16, fp blocks of 64 below 16 bits.",
        "",
        "## What was found",
        "",
        *findings(above, trained, verdicts),
        "",
        f"![The control and its base by rung; the control by precision with the fit]({out.with_suffix('.png').name})",
        "",
        "## Accuracy by rung at 16 bits (95 % Wilson intervals)",
        "",
        "Gain: the control's accuracy minus its base's; p: the one-sided score test of two proportions "
        "that the control is no better.",
        "",
        *depth_lines,
        "",
        "## The control's accuracy by precision, with the threshold fit",
        "",
        "`fitting.fit_threshold` (binomial, above the chance floor) on accuracy against log2 total model bits.",
        "",
        *precision_lines,
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda p: Path(p).write_text("\n".join(lines) + "\n"))  # the text first: it is the report
    save_figure(control_figure(table, trained, verdicts), out.with_suffix(".png"))
    return out
