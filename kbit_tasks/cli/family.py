"""`kbit-family build [--preset default|ci] --out DIR`: train or reuse the reference family."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from kbit_tasks.cli import DEBUG_HELP, run_command
from kbit_tasks.family.presets import PRESETS, get_preset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kbit-family", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="train every size of a preset (a cache hit returns at once)")
    build.add_argument("--preset", default="default", choices=sorted(PRESETS))
    build.add_argument("--out", required=True, help="folder for the family (one HF folder per size)")
    build.add_argument("--only", nargs="+", metavar="SIZE",
                       help="train just these sizes (e.g. one per process); a later full build reuses them")
    build.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads (default 1: these matrices are too small to split, and on a "
                            "busy shared machine two threads were several times slower than one)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    return parser


def check_build_args(args) -> None:
    """Every argument checked before anything trains: threads, sizes, a writable --out."""
    from kbit_tasks.atomic import check_writable_dir

    if args.threads < 1:
        raise ValueError(f"--threads {args.threads}: must be a positive integer")
    names = [s.name for s in get_preset(args.preset).sizes]
    bad = sorted(set(args.only or ()) - set(names))
    if bad:
        raise ValueError(f"--only {' '.join(bad)}: not in preset {args.preset!r}; choose from {', '.join(names)}")
    try:
        check_writable_dir(args.out, probe_bytes=4096)
    except ValueError as err:
        raise ValueError(f"--out: {err}") from None


def main(argv: list[str] | None = None) -> None:
    run_command("kbit-family", argv, _main)


def _main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    check_build_args(args)
    _build(args)


def _build(args) -> None:
    from kbit_tasks.family.build import build_family, cached_manifest

    manifest = None if args.only else cached_manifest(get_preset(args.preset), Path(args.out))
    if manifest is None:
        import torch

        torch.set_num_threads(args.threads)
        manifest = build_family(args.preset, args.out, progress=not args.quiet, only=args.only)
    if manifest is None:
        return
    print(json.dumps({m["name"]: {k: m[k] for k in ("params", "tokens_seen", "final_loss", "seconds")}
                      for m in manifest["models"]}, indent=2))
