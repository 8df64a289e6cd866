"""Console entry points. Each imports its machinery lazily so `--help` stays fast."""
from __future__ import annotations

import sys


def eval_main(argv: list[str] | None = None) -> None:
    """`kbit-eval`: lm-eval's own CLI with the kbit tasks and the kbit-hf model registered."""
    raise NotImplementedError  # filled in by the task-suite work (issue 2)


def sweep_main(argv: list[str] | None = None) -> None:
    """`kbit-sweep`: run a model family x precisions x tasks grid, or collect its results."""
    from kbit_tasks.sweep import main

    main(sys.argv[1:] if argv is None else argv)


def fit_main(argv: list[str] | None = None) -> None:
    """`kbit-fit`: fit thresholds to a tidy results table and write a report."""
    from fitting.cli import main

    main(sys.argv[1:] if argv is None else argv)


def family_main(argv: list[str] | None = None) -> None:
    """`kbit-family`: train the offline reference model family."""
    from kbit_tasks.family import main

    main(sys.argv[1:] if argv is None else argv)
