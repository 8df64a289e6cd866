"""kbit-sweep: a model family x precisions x tasks grid, resumable, split across processes
(`accelerate launch`) and nodes (`--shard I/N`), collected into one tidy table.

    kbit-sweep run CONFIG.yaml [--shard I/N] [--force] [--output DIR] [--dry-run]
    kbit-sweep collect DIR [DIR ...] -o results.csv|results.parquet
"""
from __future__ import annotations

import argparse
import logging
import sys

from kbit_tasks.sweep.collect import collect, write_table
from kbit_tasks.sweep.config import SweepConfig, expand_precisions, load_config, parse_config
from kbit_tasks.sweep.grid import Cell, Placement, build_grid, parse_shard, select
from kbit_tasks.sweep.runner import RunSummary, run

__all__ = ["Cell", "Placement", "RunSummary", "SweepConfig", "build_grid", "collect", "expand_precisions",
           "load_config", "main", "parse_config", "parse_shard", "run", "select", "write_table"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kbit-sweep", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="evaluate this process's cells of the grid")
    run_p.add_argument("config", help="sweep YAML (see docs/sweep.md)")
    run_p.add_argument("--shard", default="0/1", help="I/N: this job's cells i %% N == I (0-based I)")
    run_p.add_argument("--force", action="store_true", help="redo cells that are already finished")
    run_p.add_argument("--output", help="override the config's output folder")
    run_p.add_argument("--dry-run", action="store_true", help="list this process's cells and stop")
    col_p = sub.add_parser("collect", help="cell records -> tidy table")
    col_p.add_argument("folders", nargs="+", help="sweep output folder(s)")
    col_p.add_argument("-o", "--out", required=True, help="results.csv or results.parquet")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("kbit.sweep").setLevel(logging.INFO)
    try:
        if args.command == "collect":
            table = collect(args.folders)
            print(f"{write_table(table, args.out)}: {len(table)} rows, "
                  f"{table[['model', 'precision']].drop_duplicates().shape[0]} cells")
            return
        shard = parse_shard(args.shard)
        config = load_config(args.config, output=args.output)
        placement = Placement.from_env()
        if args.dry_run:
            for cell in select(build_grid(config), shard, placement.rank, placement.world):
                print(cell.id)
            return
        summary = run(config, shard=shard, force=args.force, placement=placement)
    except ValueError as err:
        sys.exit(f"kbit-sweep: error: {err}")
    print(f"rank {placement.rank}/{placement.world} shard {args.shard}: {len(summary.done)} done, "
          f"{len(summary.skipped)} already finished, {len(summary.failed)} failed of {len(summary.cells)} cells")
    if summary.failed:
        sys.exit(1)
