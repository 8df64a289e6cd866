"""Console entry points. Each imports its machinery lazily so `--help` stays fast."""
from __future__ import annotations

import sys


LM_EVAL_COMMANDS = ("run", "ls", "validate")


def eval_main(argv: list[str] | None = None) -> None:
    """`kbit-eval`: lm-eval's own CLI with the kbit tasks and the kbit-hf model registered.

    Every lm-eval subcommand and flag passes through; `--include_path <kbit tasks>` is appended.
    `kbit-eval --tasks-dir` prints the tasks folder, for `lm_eval --include_path "$(kbit-eval --tasks-dir)"`.
    """
    from kbit_tasks import tasks_dir

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--tasks-dir"]:
        print(tasks_dir())
        return
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    import kbit_tasks.model  # noqa: F401  registers `--model kbit-hf`
    from kbit_tasks.generators import DEFAULT_N, check_n_seed

    # lm_eval.__main__.cli_evaluate, with the kbit metadata checked before any model loads
    setup_logging()
    sys.argv = ["kbit-eval", *_with_kbit_tasks(argv, tasks_dir())]
    parser = HarnessCLI()
    args = parser.parse_args()
    metadata = getattr(args, "metadata", None) or {}
    if "kbit" in str(getattr(args, "tasks", "")):  # n and seed mean something else to other tasks
        check_n_seed(metadata.get("n", DEFAULT_N), metadata.get("seed", 0))
    parser.execute(args)


def _with_kbit_tasks(argv: list[str], folder: str) -> list[str]:
    """Append the kbit tasks folder to a subcommand's arguments (lm-eval's `--include_path`
    takes one folder, so a user's own `--include_path` is passed through unchanged)."""
    if not argv or argv[0] in ("-h", "--help") or argv == ["run"] or "--include_path" in argv:
        return argv
    if argv[0] not in LM_EVAL_COMMANDS:
        argv = ["run", *argv]  # lm-eval's legacy form: flags without a subcommand mean `run`
    return [*argv, "--include_path", folder]


def sweep_main(argv: list[str] | None = None) -> None:
    """`kbit-sweep`: run a model family x precisions x tasks grid, or collect its results."""
    from kbit_tasks.sweep import main

    main(sys.argv[1:] if argv is None else argv)


def fit_main(argv: list[str] | None = None) -> None:
    """`kbit-fit`: fit thresholds to a tidy results table and write a report."""
    from kbit_tasks.fit_cli import main

    main(sys.argv[1:] if argv is None else argv)


def family_main(argv: list[str] | None = None) -> None:
    """`kbit-family`: train the offline reference model family."""
    from kbit_tasks.family import main

    main(sys.argv[1:] if argv is None else argv)
