"""`kbit-sweep`: a model family x precisions x tasks grid, resumable, shared between processes
(`accelerate launch`, SLURM array tasks, a second run) by per-cell claims, collected into one
tidy table.

    kbit-sweep run CONFIG.yaml [--shard I/N] [--force] [--mismatch rerun|refuse] [--output DIR] [--dry-run]
    kbit-sweep collect DIR|RESULTS.json [...] -o results.csv|results.parquet [--strict]
    kbit-sweep fetch CONFIG.yaml     (download the hub models, e.g. on a login node with internet)

Exit codes: 0 success (under a launcher also when cells failed: they are recorded, and a
failing rank must not make torchrun kill its siblings); 1 failed cells in a plain run, or
problems found by `collect --strict`; 2 a usage error (one line; --debug or KBIT_DEBUG=1
for the traceback); 130 / 143 stopped by Ctrl-C / SIGTERM (one line; rerun to resume).
"""
from __future__ import annotations

import argparse
import collections
import logging
import sys

from kbit_tasks.arguments import check_device
from kbit_tasks.cli import DEBUG_HELP, run_command
from kbit_tasks.sweep import Placement, collect, load_config, parse_shard, run, write_table
from kbit_tasks.sweep.claims import check_timeout, stale_after_default
from kbit_tasks.sweep.collect import check_table_path
from kbit_tasks.sweep.runner import MISMATCH, Interrupted, plan


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kbit-sweep", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", parents=[common], help="evaluate this process's cells of the grid")
    run_p.add_argument("config", help="sweep YAML (see docs/sweep.md)")
    run_p.add_argument("--shard", default="0/1", help="I/N: the I-th of N contiguous blocks of the grid (0-based I)")
    run_p.add_argument("--force", action="store_true", help="redo cells that are already finished")
    run_p.add_argument("--mismatch", choices=MISMATCH[1:], default=None,
                       help="by default a finished record made by another model or task content is redone "
                            "(the old one kept in OUTPUT/.replaced/), and a config whose settings differ from "
                            "the folder's manifest is refused; rerun: redo those too; refuse: stop on any change")
    run_p.add_argument("--claim-timeout", type=float, default=None, metavar="SECONDS",
                       help="a claim without heartbeat for this long is taken over (default: env "
                            "KBIT_CLAIM_TIMEOUT or 600)")
    run_p.add_argument("--output", help="override the config's output folder")
    run_p.add_argument("--dry-run", action="store_true",
                       help="list this process's cells as new, finished, redo or add (with why) and stop")
    col_p = sub.add_parser("collect", parents=[common], help="cell records -> tidy table")
    col_p.add_argument("folders", nargs="+", metavar="DIR|RESULTS.json",
                       help="sweep output folders, or lm-eval results files of kbit-hf runs (kbit-eval --output_path)")
    col_p.add_argument("-o", "--out", required=True, help="results.csv or results.parquet")
    col_p.add_argument("--strict", action="store_true",
                       help="exit 1, naming them, if any cell of the folder's manifest is missing, failed, "
                            "claimed by a dead process, corrupt, stale or incomplete (the table is still written)")
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
    check_table_path(args.out)  # before reading every record
    problems: list[str] = []
    table = collect(args.folders, problems)
    print(f"{write_table(table, args.out)}: {len(table)} rows, "
          f"{table[['model', 'precision']].drop_duplicates().shape[0]} finished cells, "
          f"{len(problems)} problems (missing, failed, corrupt, stale or incomplete cells)")
    if args.strict and problems:
        print(f"kbit-sweep collect --strict: {len(problems)} problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


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
    if args.claim_timeout is not None:
        check_timeout(args.claim_timeout, "--claim-timeout")
    stale_after_default()  # a bad KBIT_CLAIM_TIMEOUT is an error before any work
    config = load_config(args.config, output=args.output)
    placement = Placement.from_env()
    if args.dry_run:
        try:  # a login node may plan a GPU sweep: say so, but do not refuse
            check_device(config.device)
        except ValueError as err:
            print(f"note: {err}; `run` refuses it on a machine without it", file=sys.stderr)
        found = plan(config, shard, placement, force=args.force, on_mismatch=args.mismatch)
        for state, cell_id, why in found:
            print(f"{state:<9} {cell_id}{f'  ({why})' if why else ''}")
        counts = collections.Counter(state for state, _, _ in found)
        print(f"dry run: {', '.join(f'{counts[s]} {s}' for s in ('new', 'finished', 'redo', 'add'))}", file=sys.stderr)
        return 0
    try:
        summary = run(config, shard=shard, force=args.force, placement=placement, on_mismatch=args.mismatch,
                      stale_after=args.claim_timeout)
    except Interrupted as stop:
        print(f"kbit-sweep: {stop}", file=sys.stderr)
        return 128 + stop.signum
    print(f"rank {placement.rank}/{placement.world} shard {args.shard}: {len(summary.done)} done, "
          f"{len(summary.skipped)} already finished, {len(summary.taken)} taken by other processes, "
          f"{len(summary.failed)} failed of {len(summary.cells)} cells")
    if summary.holders:
        print("taken by other processes: " + "; ".join(summary.holders), file=sys.stderr)
    if summary.failed:
        print(f"failed cells are recorded in {config.output} with their tracebacks; a rerun retries them; "
              f"`kbit-sweep collect --strict` reports them", file=sys.stderr)
    # Under a launcher a non-zero exit makes torchrun kill the sibling ranks mid-cell.
    return 1 if summary.failed and placement.world == 1 else 0
