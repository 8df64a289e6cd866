"""`kbit-fit results.csv [--by group,level] [--metric acc] -o report/`: fits and a report with
a phase diagram, a mirage check and a precision panel (each figure a PNG beside its CSV).

It lives in kbit_tasks, not in fitting, so that `fitting` stays a library importing nothing
from kbit_tasks (the report is written through kbit_tasks' atomic writer)."""
from __future__ import annotations

import argparse
import re
import shlex
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from fitting.data import BINOMIAL_METRICS, METHODS
from fitting.report import FAMILY, LEVEL, markdown, panel_markdown, panels
from kbit_tasks.atomic import atomic_write
from kbit_tasks.cli import DEBUG_HELP, run_command


def read_table(path: str | Path) -> pd.DataFrame:
    """The tidy table from CSV or parquet (by suffix)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"results table {str(path)!r} does not exist")
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"results table {str(path)!r}: suffix {path.suffix!r} is not one of .csv, .parquet, .pq")


def _slug(label: dict) -> str:
    text = "_".join(f"{k}-{v}" for k, v in label.items()) or "all"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kbit-fit", description="Locate the reasoning threshold in total model bits.")
    ap.add_argument("table", help="tidy results table (.csv or .parquet) as written by kbit-sweep collect")
    ap.add_argument("-o", "--out", required=True, help="report folder (created)")
    ap.add_argument("--by", default="", help="comma-separated grouping columns, e.g. task,level")
    ap.add_argument("--metric", default="acc", help="metric to fit (default acc)")
    ap.add_argument("--method", default="auto", choices=("auto",) + METHODS,
                    help="auto: binomial for acc/acc_norm, ols otherwise")
    ap.add_argument("--x", default="log2_total_bits")
    ap.add_argument("--precision", default=None,
                    help="column for per-precision terms in the fits, e.g. bits "
                         "(the precision panel uses it, else bits)")
    ap.add_argument("--breakpoints", type=int, default=1, choices=(1, 2))
    ap.add_argument("--n-boot", type=int, default=199, help="bootstrap replicates of the existence test")
    ap.add_argument("--boot-ci", type=int, default=0, help="replicates for a bootstrap interval (0: none)")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", default="",
                    help="a sentence printed at the top of the report (e.g. where the models come from)")
    ap.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    return ap


def report_folder(path: str | Path) -> Path:
    """Create the report folder and prove it writable, before any fitting."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"-o {str(path)!r} is a file; give a folder for the report")
    try:
        (path / "plots").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path / "plots"):
            pass
    except OSError as err:
        raise ValueError(f"-o {str(path)!r}: cannot write the report there ({err.strerror or err})") from None
    return path


def main(argv: list[str] | None = None) -> None:
    """Mistakes (a bad table, column, value or output folder, a full disk) end as one line
    `kbit-fit: error: ...` with exit status 2 (kbit_tasks.cli)."""
    run_command("kbit-fit", argv, lambda args: run(build_parser().parse_args(args), shlex.join(["kbit-fit", *args])))


def run(args: argparse.Namespace, command: str) -> None:
    from fitting import fit_threshold

    method = args.method if args.method != "auto" else ("binomial" if args.metric in BINOMIAL_METRICS else "ols")
    by = [b for b in args.by.split(",") if b]
    table = read_table(args.table)
    out = report_folder(args.out)
    fits = fit_threshold(table, x=args.x, method=method, metric=args.metric, by=by or None,
                         precision=args.precision, n_breakpoints=args.breakpoints, n_boot=args.n_boot,
                         boot_ci=args.boot_ci, alpha=args.alpha, seed=args.seed)
    fits = fits if by else {(): fits}
    import matplotlib

    matplotlib.use("Agg")
    plots = {}
    for key, fit in fits.items():
        name = f"plots/{_slug(fit.label)}.png"
        ax = fit.plot()
        _save(ax.figure, out / name)
        plots[key] = name
    frame = pd.concat([f.to_frame() for f in fits.values()], ignore_index=True)
    atomic_write(out / "fits.csv", lambda p: frame.to_csv(p, index=False))
    panel_lines = _panels(table, fits, by, method, args, out)
    text = markdown(fits, plots, command=command, metric=args.metric, note=args.note, panel_lines=panel_lines)
    atomic_write(out / "report.md", lambda p: Path(p).write_text(text))
    found = int(np.sum(frame["detected"]))
    print(f"{len(frame)} fit(s), {found} threshold(s) detected; report in {out / 'report.md'}")


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda p: fig.savefig(p, dpi=120, bbox_inches="tight", format="png"))
    plt.close(fig)


def _panels(table, fits, by, method, args, out: Path) -> list[str]:
    """The phase diagram, mirage check and precision panel: each figure as PNG beside its CSV."""
    from fitting import fit_threshold
    from fitting.figures import mirage_figure, phase_figure, precision_figure

    missing = [c for c in (FAMILY, LEVEL) if c not in table.columns or table[c].isna().all()]
    if method != "binomial" or missing:
        why = (f"the table has no {' or '.join(repr(c) for c in missing)} column" if missing
               else f"--metric {args.metric} is not an accuracy ({', '.join(BINOMIAL_METRICS)})")
        return panel_markdown(None, {}, args.alpha, why_not=why)
    acc_fits = fits if by == [FAMILY, LEVEL] and args.precision is None and args.breakpoints == 1 else fit_threshold(
        table, x=args.x, metric=args.metric, by=[FAMILY, LEVEL], n_boot=args.n_boot, alpha=args.alpha, seed=args.seed)
    p = panels(table, acc_fits, accuracy=args.metric, bits=args.precision or "bits", alpha=args.alpha, seed=args.seed)
    rows = table[args.x].dropna()
    x_range = (float(np.floor(rows.min())), float(np.ceil(rows.max())))
    figures = {}
    drawn = [("phase_diagram", p.phase, lambda: phase_figure(p.phase, x_range, args.alpha))]
    if set(p.mirage["metric"]) != {"accuracy"}:
        drawn.append(("mirage", p.mirage, lambda: mirage_figure(p.mirage, x_range, args.alpha)))
    if not p.points.empty:
        drawn.append(("precision", p.points, lambda: precision_figure(p.points, args.precision or "bits", args.alpha)))
        atomic_write(out / "precision_budget.csv", lambda f: p.budget.to_csv(f, index=False))
    for name, data, draw in drawn:
        atomic_write(out / f"{name}.csv", lambda f, d=data: d.to_csv(f, index=False))
        _save(draw(), out / f"{name}.png")
        figures[name] = (f"{name}.png", f"{name}.csv")
    return panel_markdown(p, figures, args.alpha)
