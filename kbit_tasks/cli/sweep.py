"""`kbit-sweep`: a model family x precisions x tasks grid, resumable, shared between processes
(`accelerate launch`, SLURM array tasks, a second run) by per-cell claims, collected into one
tidy table.

    kbit-sweep run CONFIG.yaml [--shard I/N] [--force] [--mismatch rerun|refuse] [--output DIR] [--dry-run]
    kbit-sweep collect DIR [DIR ...] -o results.csv|results.parquet [--strict]
    kbit-sweep fetch CONFIG.yaml     (download the hub models, e.g. on a login node with internet)

Exit codes: 0 success (under a launcher also when cells failed: they are recorded, and a
failing rank must not make torchrun kill its siblings); 1 failed cells in a plain run, or
problems found by `collect --strict`; 2 a usage error (one line; --debug or KBIT_DEBUG=1
for the traceback).
"""
from __future__ import annotations

import argparse
import logging
import sys

from kbit_tasks.cli import DEBUG_HELP, run_command
from kbit_tasks.sweep import Placement, build_grid, collect, load_config, parse_shard, run, select, write_table
from kbit_tasks.sweep.runner import MISMATCH


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kbit-sweep", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", parents=[common], help="evaluate this process's cells of the grid")
    run_p.add_argument("config", help="sweep YAML (see docs/sweep.md)")
    run_p.add_argument("--shard", default="0/1", help="I/N: the I-th of N contiguous blocks of the grid (0-based I)")
    run_p.add_argument("--force", action="store_true", help="redo cells that are already finished")
    run_p.add_argument("--mismatch", choices=MISMATCH, default="rerun",
                       help="a finished record made by another model, setting or task content: redo the "
                            "cell, saying why (rerun, the default) or stop with an error (refuse)")
    run_p.add_argument("--claim-timeout", type=float, default=None, metavar="SECONDS",
                       help="a claim without heartbeat for this long is taken over (default: env "
                            "KBIT_CLAIM_TIMEOUT or 600)")
    run_p.add_argument("--output", help="override the config's output folder")
    run_p.add_argument("--dry-run", action="store_true", help="list this process's walk over the grid and stop")
    col_p = sub.add_parser("collect", parents=[common], help="cell records -> tidy table")
    col_p.add_argument("folders", nargs="+", help="sweep output folder(s)")
    col_p.add_argument("-o", "--out", required=True, help="results.csv or results.parquet")
    col_p.add_argument("--strict", action="store_true",
                       help="exit 1 if any cell failed or any record is corrupt (the table is still written)")
    fetch_p = sub.add_parser("fetch", parents=[common],
                             help="download the config's hub models into the Hugging Face cache")
    fetch_p.add_argument("config", help="sweep YAML")
    return parser


def main(argv: list[str] | None = None) -> None:
    run_command("kbit-sweep", argv, _main)


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("kbit.sweep").setLevel(logging.INFO)
    return {"collect": _collect, "fetch": _fetch, "run": _run}[args.command](args)


def _collect(args) -> int:
    problems: list[str] = []
    table = collect(args.folders, problems)
    print(f"{write_table(table, args.out)}: {len(table)} rows, "
          f"{table[['model', 'precision']].drop_duplicates().shape[0]} finished cells, "
          f"{len(problems)} skipped (failed or corrupt)")
    return 1 if args.strict and problems else 0


def _fetch(args) -> int:
    """Download (or verify) every hub model of the config; local folders are left alone."""
    from huggingface_hub import snapshot_download

    from kbit_tasks.model_sources import looks_local
    from kbit_tasks.sweep.config import parse_models, read_config

    for spec in parse_models((read_config(args.config) or {}).get("models")):
        if not looks_local(spec.path):
            print(f"{spec.path}: {snapshot_download(spec.path)}")
    return 0


def _run(args) -> int:
    shard = parse_shard(args.shard)
    config = load_config(args.config, output=args.output)
    placement = Placement.from_env()
    if args.dry_run:
        for cell in select(build_grid(config), shard, placement.rank, placement.world):
            print(cell.id)
        return 0
    summary = run(config, shard=shard, force=args.force, placement=placement, on_mismatch=args.mismatch,
                  stale_after=args.claim_timeout)
    print(f"rank {placement.rank}/{placement.world} shard {args.shard}: {len(summary.done)} done, "
          f"{len(summary.skipped)} already finished, {len(summary.taken)} taken by other processes, "
          f"{len(summary.failed)} failed of {len(summary.cells)} cells")
    if summary.failed:
        print(f"failed cells are recorded in {config.output} with their tracebacks; a rerun retries them; "
              f"`kbit-sweep collect --strict` reports them", file=sys.stderr)
    # Under a launcher a non-zero exit makes torchrun kill the sibling ranks mid-cell.
    return 1 if summary.failed and placement.world == 1 else 0
