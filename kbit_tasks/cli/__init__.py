"""The console: kbit's four commands, each a thin module over the layers below.

    kbit-eval    eval.py     lm-eval's CLI with the kbit tasks and the kbit-hf model
    kbit-sweep   sweep.py    a model family x precisions x tasks grid, and its tidy table
    kbit-fit     fit.py      thresholds and a report from a tidy table
    kbit-family  family.py   the offline reference model family

One error path for all four (`run_command`): a mistake the user can fix (a ValueError from
validation, an OSError such as a missing file, a read-only folder or a full disk) ends as one
line `PROG: error: ...` and exit status 2, like argparse's own errors; `--debug` anywhere on
the command line, or KBIT_DEBUG=1, shows the traceback instead. Each command imports its
machinery lazily, so `--help` stays fast.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

DEBUG_HELP = "show the traceback of an error instead of one line (also KBIT_DEBUG=1)"


def debug_wanted(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("KBIT_DEBUG", "").lower() in ("1", "true", "yes")


def run_command(prog: str, argv: list[str] | None, body: Callable[[list[str]], int | None]) -> None:
    """`body(argv)` without `--debug`; a user's mistake becomes one line and exit 2, a non-zero
    return value the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_wanted(argv)
    try:
        code = body([a for a in argv if a != "--debug"])
    except (ValueError, OSError) as err:
        if debug:
            raise
        message = str(err)
        if isinstance(err, OSError) and err.strerror:  # "[Errno 28] ..." says nothing more
            message = f"{err.filename}: {err.strerror}" if err.filename else err.strerror
        print(f"{prog}: error: {message.splitlines()[0] if message else type(err).__name__}", file=sys.stderr)
        sys.exit(2)
    if code:
        sys.exit(code)
