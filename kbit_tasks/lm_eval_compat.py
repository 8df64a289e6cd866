"""Every place kbit works around lm-evaluation-harness, in one module (written against
lm-eval 0.4.13, the oldest that setup.cfg allows; each item says why and which version needs it).
When lm-eval is upgraded, this is the file to re-check; tests/test_lm_eval_compat.py fails if
another kbit module patches lm-eval or imports its private modules.

Held here (the *patches*: lm-eval objects replaced from outside, environment set for lm-eval,
private modules or attributes used):
- `lm_eval_for_sweep`: the "building contexts" bar (`lm_eval.api.task.tqdm`), the environment
  report once per process (`lm_eval.evaluator.add_env_info`), `git describe` once and quietly
  (`lm_eval.evaluator.get_git_commit_hash`), lm-eval/transformers/datasets logs kept to errors;
- `as_local_rank_zero`: `LOCAL_RANK=0` around `simple_evaluate`; `as_one_process`: the
  launcher's variables hidden while the sweep's HFLM loads its model;
- `harness_cli`: lm-eval's private CLI (`lm_eval._cli.HarnessCLI`, what `lm_eval.__main__`
  runs) renamed, its help extended and one flag added through its private `_parser` and
  `_subparsers`;
- `git_hash_quietly`: lm-eval's `git describe` of the working directory, stderr silenced;
- `task_index`: `lm_eval.tasks.TaskManager` swapped for one that skips the built-in tasks;
- `drop_metadata_hint`: a filter on lm-eval's task logger for one repeated warning.

Not here, by design: kbit-hf (kbit_tasks/model.py) is an HFLM subclass and overrides HFLM's
hooks (`_model_call`, `_loglikelihood_tokens`, `_get_accelerate_args`; prefix_sharing.py calls
`_model_call`), which is what subclassing HFLM means; tests/test_model.py and
tests/test_prefix_sharing.py pin those against HFLM's own numbers. The sweep's own changes to
HFLM (forward timing, no request bar, counting inf/NaN, tokenizing and probing the batch size
once per model) are overrides of its subclass `SweepLM` (kbit_tasks/sweep/lm.py); no kbit
module assigns over an lm-eval object's methods (tests/test_lm_eval_compat.py).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os


@contextlib.contextmanager
def lm_eval_for_sweep():
    """lm-eval tuned for many evaluations in one process, restored on exit (lm-eval 0.4.13
    offers no switch for any of these; each is a module attribute replaced for the sweep):
    - lm-eval, transformers and datasets kept down to errors, so the sweep's own bar and one
      line per cell stay readable;
    - the environment report lm-eval adds to every result (torch's collect_env: pip list and
      friends, about 1 s of subprocesses per call) collected once per process, not per cell;
    - its `git describe` of the working directory run once, quietly (`git_hash_quietly`)."""
    import datasets
    import lm_eval.api.task
    import lm_eval.evaluator
    import transformers

    lm_eval_logger = logging.getLogger("lm_eval")
    saved = (lm_eval.api.task.tqdm, lm_eval.evaluator.add_env_info, transformers.logging.get_verbosity(),
             lm_eval_logger.level)
    # lm-eval draws an unconditional "building contexts" bar per task; tqdm reads its
    # TQDM_DISABLE default at import, so the module's reference is the only switch.
    lm_eval.api.task.tqdm = functools.partial(saved[0], disable=True)
    env_info: dict = {}

    def add_env_info_once(storage: dict) -> None:
        if not env_info:
            saved[1](env_info)
        storage.update(env_info)

    lm_eval.evaluator.add_env_info = add_env_info_once
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    lm_eval_logger.setLevel(logging.ERROR)
    try:
        with git_hash_quietly():
            yield
    finally:
        lm_eval.api.task.tqdm, lm_eval.evaluator.add_env_info = saved[0], saved[1]
        transformers.logging.set_verbosity(saved[2])
        transformers.logging.enable_progress_bar()
        datasets.enable_progress_bars()
        lm_eval_logger.setLevel(saved[3])


@contextlib.contextmanager
def git_hash_quietly():
    """lm-eval 0.4.13 records `git describe --always` of the working directory in every result,
    with git's stderr on the user's terminal ("fatal: not a git repository" outside a checkout);
    `kbit_tasks.provenance.git_revision` asks once per folder, quietly."""
    import lm_eval.evaluator

    from kbit_tasks.provenance import git_revision

    saved = lm_eval.evaluator.get_git_commit_hash
    lm_eval.evaluator.get_git_commit_hash = functools.partial(git_revision, os.getcwd())
    try:
        yield
    finally:
        lm_eval.evaluator.get_git_commit_hash = saved


LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@contextlib.contextmanager
def as_one_process():
    """HFLM (lm-eval 0.4.13) loading a model by name starts accelerate, which under `accelerate
    launch` or torchrun (these variables) joins a process group and makes the model one rank
    of a data-parallel evaluation; a sweep's processes evaluate cells of their own, so each
    loads its model as a process on its own (the launcher's variables hidden for the call)."""
    saved = {name: os.environ.pop(name) for name in LAUNCHER_ENV if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@contextlib.contextmanager
def as_local_rank_zero():
    """simple_evaluate returns results only where LOCAL_RANK is 0 (lm-eval 0.4.13, meant for
    tensor parallelism); our ranks are independent single-process evaluations, so each is 0."""
    saved = os.environ.get("LOCAL_RANK")
    os.environ["LOCAL_RANK"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("LOCAL_RANK", None)
        else:
            os.environ["LOCAL_RANK"] = saved


def harness_cli(prog: str, about: str):
    """lm-eval's own CLI parser (lm-eval 0.4.13: `lm_eval._cli.HarnessCLI`, private, what
    `lm_eval.__main__.cli_evaluate` builds) named `prog`, with `about` heading its help and
    `run`'s, and the one flag `ls` lacks; its private `_parser` and `_subparsers` are the only
    way in. kbit-eval is that CLI with kbit's checks run before it executes."""
    from lm_eval._cli import HarnessCLI

    parser = HarnessCLI()
    parser._parser.prog, parser._parser.description = prog, about
    for sub in (parser._parser, *parser._subparsers.choices.values()):
        sub.prog = sub.prog.replace("lm-eval", prog)
        sub.usage, sub.epilog = (text and text.replace("lm-eval ", f"{prog} ") for text in (sub.usage, sub.epilog))
    run = parser._subparsers.choices["run"]
    run.description = f"{about}\n\n{run.description}"
    parser._subparsers.choices["ls"].add_argument(
        "--include_defaults", action="store_true",
        help="also list lm-eval's built-in tasks (indexing their ~10,000 files takes tens of seconds); "
             "without it kbit-eval lists the kbit tasks and those under --include_path")
    return parser


def not_the_metadata_hint(record: logging.LogRecord) -> bool:
    """lm-eval 0.4.13 warns, for every task with a `custom_dataset`, that kwargs can be passed
    through `--metadata`: 54 lines a run of the 27 kbit tasks, whose README documents n and seed.
    Only that message, for kbit tasks, is dropped; lm-eval offers no switch for it."""
    message = record.getMessage()
    return not (message.startswith("kbit_") and "Custom kwargs can be passed to `--metadata`" in message)


def drop_metadata_hint() -> None:
    """`not_the_metadata_hint` on lm-eval's task logger, once per process (the kbit tasks' hooks
    run it; lm-eval imports their file by path as well as by name, so it may run twice)."""
    logger = logging.getLogger("lm_eval.api.task")
    if not_the_metadata_hint not in logger.filters:
        logger.addFilter(not_the_metadata_hint)


@contextlib.contextmanager
def task_index(include_defaults: bool):
    """lm-eval's TaskManager without its built-in tasks where none is needed (instant instead of
    tens of seconds). lm-eval 0.4.13's `run`, `ls` and `validate` build their TaskManager inside
    the command with no option for it, so `lm_eval.tasks.TaskManager` is swapped for the call."""
    import lm_eval.tasks

    original = lm_eval.tasks.TaskManager
    if not include_defaults:
        lm_eval.tasks.TaskManager = functools.partial(original, include_defaults=False)
    try:
        yield
    finally:
        lm_eval.tasks.TaskManager = original
