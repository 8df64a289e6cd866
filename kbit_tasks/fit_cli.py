"""`kbit-fit results.csv [--by task,level] [--metric acc] -o report/`: fits, a report, plots.

It lives in kbit_tasks, not in fitting, so that `fitting` stays a library importing nothing
from kbit_tasks (the report is written through kbit_tasks' atomic writer)."""
from __future__ import annotations

import argparse
import re
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from fitting.data import BINOMIAL_METRICS, METHODS
from fitting.report import markdown
from kbit_tasks.atomic import atomic_write


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
    ap.add_argument("--precision", default=None, help="column for per-precision terms, e.g. bits")
    ap.add_argument("--breakpoints", type=int, default=1, choices=(1, 2))
    ap.add_argument("--n-boot", type=int, default=199, help="bootstrap replicates of the existence test")
    ap.add_argument("--boot-ci", type=int, default=0, help="replicates for a bootstrap interval (0: none)")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", default="", help="a sentence printed at the top of the report (e.g. where the models come from)")
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
    `kbit-fit: error: ...` with exit status 2, never a traceback."""
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        run(args, shlex.join(["kbit-fit", *(sys.argv[1:] if argv is None else argv)]))
    except (ValueError, OSError) as err:
        ap.exit(2, f"kbit-fit: error: {err}\n")


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
    import matplotlib.pyplot as plt

    plots = {}
    for key, fit in fits.items():
        name = f"plots/{_slug(fit.label)}.png"
        ax = fit.plot()
        atomic_write(out / name, lambda p, fig=ax.figure: fig.savefig(p, dpi=120, bbox_inches="tight", format="png"))
        plt.close(ax.figure)
        plots[key] = name
    frame = pd.concat([f.to_frame() for f in fits.values()], ignore_index=True)
    atomic_write(out / "fits.csv", lambda p: frame.to_csv(p, index=False))
    text = markdown(fits, plots, command=command, metric=args.metric, note=args.note)
    atomic_write(out / "report.md", lambda p: Path(p).write_text(text))
    found = int(np.sum(frame["detected"]))
    print(f"{len(frame)} fit(s), {found} threshold(s) detected; report in {out / 'report.md'}")
