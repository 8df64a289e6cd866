"""`kbit-fit results.csv [--by group,level] [--metric acc] -o report/`: fits and a report with
a phase diagram, a mirage check and a precision panel (each figure a PNG beside its CSV).
The options and the checks of the table and folder are here; the report is kbit_tasks.report."""
from __future__ import annotations

import argparse
import shlex
import tempfile
from pathlib import Path

import pandas as pd

from fitting.data import METHODS
from kbit_tasks.cli import DEBUG_HELP, run_command
from kbit_tasks.report.build import Request, write_report


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
    request = Request(metric=args.metric, method=args.method, by=tuple(b for b in args.by.split(",") if b), x=args.x,
                      precision=args.precision, n_breakpoints=args.breakpoints, n_boot=args.n_boot,
                      boot_ci=args.boot_ci, alpha=args.alpha, seed=args.seed)
    table = read_table(args.table)
    out = report_folder(args.out)
    print(write_report(table, request, out, command, note=args.note))
