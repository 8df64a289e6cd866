"""Console entry points. Each imports its machinery lazily so `--help` stays fast.

One error path for every command (`cli_errors`): a mistake the user can fix (a ValueError
from validation, an OSError such as a missing file, a read-only folder or a full disk)
ends as one line `PROG: error: ...` and exit code 2, like argparse's own errors; `--debug`
or KBIT_DEBUG=1 shows the traceback instead.
"""
from __future__ import annotations

import contextlib
import os
import sys


KBIT_METADATA_KEYS = ("n", "seed")  # what the kbit tasks read from lm-eval's --metadata
KBIT_ONLY = ("kbit",)  # task names that select only kbit tasks start with this


class UsageError(ValueError):
    """A mistake in what the user asked for; its message is the whole story."""


def debug_wanted(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("KBIT_DEBUG", "").lower() in ("1", "true", "yes")


@contextlib.contextmanager
def cli_errors(prog: str, argv: list[str]):
    """Turn a user's mistake into `PROG: error: <message>` and exit 2 (see module docstring)."""
    try:
        yield
    except (ValueError, OSError) as err:
        if debug_wanted(argv):
            raise
        message = str(err)
        if isinstance(err, OSError) and err.strerror:  # "[Errno 28] ..." says nothing more
            message = f"{err.filename}: {err.strerror}" if err.filename else err.strerror
        print(f"{prog}: error: {message.splitlines()[0] if message else type(err).__name__}", file=sys.stderr)
        sys.exit(2)


def eval_main(argv: list[str] | None = None) -> None:
    """`kbit-eval`: lm-eval's own CLI with the kbit tasks and the kbit-hf model registered.

    Every lm-eval subcommand and flag passes through; the kbit tasks folder is added to the
    user's `--include_path`, if any. lm-eval's ~10,000 built-in task files are indexed only when
    a task needs them (see `builtin_tasks_needed`). `kbit-eval --tasks-dir` prints the tasks
    folder, for `lm_eval --include_path "$(kbit-eval --tasks-dir)"`.
    """
    from kbit_tasks import tasks_dir

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--tasks-dir"]:
        print(tasks_dir())
        return
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    from lm_eval.utils import setup_logging

    from kbit_tasks.lm_eval_compat import harness_cli, task_index

    # lm-eval's own CLI, with kbit's arguments checked before lm-eval indexes its tasks and
    # before any model loads
    setup_logging()
    sys.argv = ["kbit-eval", *argv]
    parser = harness_cli()
    args = parser.parse_args()
    if getattr(args, "command", None) == "run":
        import kbit_tasks.model  # noqa: F401  registers `--model kbit-hf` (torch and transformers: seconds)
    with cli_errors("kbit-eval", ["--debug"] if debug else []):
        check_eval_args(args)
        _include_kbit_tasks(args, tasks_dir())
        with task_index(include_defaults=builtin_tasks_needed(args)):
            parser.execute(args)


def _include_kbit_tasks(args, folder: str) -> None:
    """The kbit tasks folder, then the user's `--include_path`. lm-eval's CLI takes one path but
    its TaskManager takes a list, which it receives unchanged; a later path's task overrides an
    earlier one's of the same name (with lm-eval's warning), so the user's own tasks win."""
    if hasattr(args, "include_path"):  # run, ls and validate
        args.include_path = [folder, *([args.include_path] if args.include_path else [])]


def builtin_tasks_needed(args) -> bool:
    """Whether lm-eval must index its built-in tasks: `ls --include_defaults`, or a `run` /
    `validate` naming anything that is not a kbit task (a task, group or tag of another suite, a
    YAML file that may include one). kbit's tasks and the user's `--include_path` are indexed always."""
    if getattr(args, "command", None) == "ls":
        return args.include_defaults
    names = _task_names(args)
    return not names or not all(name.startswith(KBIT_ONLY) and not name.endswith(".yaml") for name in names)


def _task_names(args) -> list[str]:
    tasks = getattr(args, "tasks", None) or []
    tasks = [tasks] if isinstance(tasks, str) else tasks
    return [name for entry in tasks for name in str(entry).split(",") if name]


def check_eval_args(args) -> None:
    """The kbit parts of a `kbit-eval run`: kbit-hf's model_args (the quantization, the local
    `pretrained` folder) and the kbit tasks' metadata. Raises UsageError naming the bad value."""
    from kbit_tasks.generators import DEFAULT_N, check_n_seed

    names = _task_names(args)
    metadata = getattr(args, "metadata", None) or {}
    if names and all(name.startswith(KBIT_ONLY) for name in names):
        unknown = sorted(set(metadata) - set(KBIT_METADATA_KEYS))
        if unknown:  # with other tasks in the run, other keys may be theirs
            raise UsageError(f"--metadata: unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"kbit tasks read {', '.join(KBIT_METADATA_KEYS)}")
    if any("kbit" in name for name in names):  # n and seed mean something else to other tasks
        try:
            check_n_seed(metadata.get("n", DEFAULT_N), metadata.get("seed", 0))
        except ValueError as err:
            raise UsageError(f"--metadata: {err}") from None
    if getattr(args, "model", None) == "kbit-hf":
        check_kbit_model_args(getattr(args, "model_args", None) or {})


def check_kbit_model_args(model_args: dict | str) -> None:
    """kbit-hf's arguments (the constructor's own checks) and a local `pretrained` folder that
    must exist (lm-eval would call it a malformed hub id)."""
    from lm_eval.utils import simple_parse_args_string

    from kbit_tasks.model import check_model_args

    if isinstance(model_args, str):
        model_args = simple_parse_args_string(model_args)
    try:
        check_model_args(model_args)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--model_args: {err}") from None
    pretrained = model_args.get("pretrained")
    if isinstance(pretrained, str):
        try:
            check_model_source(pretrained)
        except ValueError as err:
            raise UsageError(f"--model_args: pretrained={err}") from None


def looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id (`org/name`)."""
    return path.startswith(("/", "./", "../", "~", ".")) or os.path.isdir(os.path.expanduser(path))


def check_model_source(path: str) -> None:
    """A local folder must exist; a hub id must be cached when the hub is off (HF_HUB_OFFLINE=1).
    Else a ValueError: lm-eval and transformers would call a missing folder a malformed repo id."""
    if looks_local(path):
        if not os.path.isdir(os.path.expanduser(path)):
            raise ValueError(f"{path!r}: no such folder")
        return
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(path, "config.json"), str):
            raise ValueError(f"{path!r}: no such folder, and not a model in the Hugging Face cache "
                             "(HF_HUB_OFFLINE=1 forbids downloading it)")


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
