"""`python -m kbit_tasks.family.control build|sweeps|report`: the positive control, step by step.

  build  --base DIR --out DIR     fine-tune the base (cached: a matching recipe and base return at once)
  sweeps --control DIR --base DIR --out DIR --limit N
                                  write depth.yaml and precision.yaml for kbit-sweep
  report RESULTS.csv --control DIR -o FILE.md
                                  the control's markdown section from the collected table
"""
from __future__ import annotations

import argparse

from kbit_tasks.cli import DEBUG_HELP
from kbit_tasks.family.control.build import RECIPES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kbit_tasks.family.control", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="fine-tune the base model into the control (cached)")
    build.add_argument("--base", required=True, help="Hugging Face folder of the pretrained base")
    build.add_argument("--out", required=True, help="folder for the fine-tuned control")
    build.add_argument("--recipe", default="default", choices=sorted(RECIPES))
    build.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    sweeps = sub.add_parser("sweeps", help="write the control's two kbit-sweep configs")
    sweeps.add_argument("--control", required=True, help="the built control's folder")
    sweeps.add_argument("--base", required=True, help="the pretrained base's folder")
    sweeps.add_argument("--out", required=True, help="folder for depth.yaml, precision.yaml and their cells")
    sweeps.add_argument("--limit", type=int, default=48, help="items per task (default 48)")
    report = sub.add_parser("report", help="write the control's markdown report from a collected table")
    report.add_argument("results", help="the table kbit-sweep collect wrote from both sweeps")
    report.add_argument("--control", required=True, help="the built control's folder")
    report.add_argument("-o", "--out", required=True, help="markdown file to write")
    for p in (build, sweeps, report):
        p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    return parser


def main(argv: list[str] | None = None) -> None:
    from kbit_tasks.cli import run_command

    run_command("python -m kbit_tasks.family.control", argv, _main)


def _main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    {"build": _build, "sweeps": _sweeps, "report": _report}[args.command](args)


def _build(args) -> None:
    import json

    import torch

    from kbit_tasks.family.control.build import build_control

    if args.threads < 1:
        raise ValueError(f"--threads {args.threads}: must be a positive integer")
    torch.set_num_threads(args.threads)
    record = build_control(args.recipe, args.base, args.out, progress=not args.quiet)
    print(json.dumps({k: record[k] for k in ("train_items", "final_loss", "seconds", "seconds_per_step")}))
    print(args.out)


def _sweeps(args) -> None:
    from kbit_tasks.family.control.build import control_folder_record, write_sweeps

    if args.limit < 1:
        raise ValueError(f"--limit {args.limit}: must be a positive number of items per task")
    for path in write_sweeps(control_folder_record(args.control), args.control, args.base, args.out, args.limit):
        print(path)


def _report(args) -> None:
    from kbit_tasks.family.control.build import control_folder_record
    from kbit_tasks.family.control.report import write_report

    print(write_report(args.results, control_folder_record(args.control), args.out))


if __name__ == "__main__":
    main()
