"""`kbit-eval`: lm-eval's own CLI with the kbit tasks and the kbit-hf model registered."""
from __future__ import annotations

import sys

from kbit_tasks.cli import run_command

KBIT_ONLY = ("kbit",)  # task names that select only kbit tasks start with this
DEVICES = ("cpu", "cuda", "mps")
HF_MODELS = ("hf", "hf-auto", "huggingface")  # lm-eval's names of HFLM, which kbit-hf subclasses


def about() -> str:
    """What kbit adds to lm-eval's CLI, heading `kbit-eval --help` and `kbit-eval run --help`.
    The tasks' part is made from the generators; the quantization's is written out, because
    importing kbit_tasks.quant means importing torch (seconds), and tests/test_cli_eval.py
    checks it against QuantConfig."""
    from kbit_tasks.generators import DEFAULT_N, SUBTASKS, task_name

    groups = ", ".join(["kbit"] + sorted({f"kbit-{family}" for family, _, _ in SUBTASKS}))
    return f"""\
kbit-eval: lm-evaluation-harness with kbit's reasoning tasks and its k-bit model registered;
every lm-eval command and flag works as with `lm-eval`.

kbit's tasks (--tasks): the groups {groups}, or one of {len([1 for *_, lv in SUBTASKS for _ in lv])} tasks
  named kbit_FAMILY_SUBTASK_lLEVEL, e.g. {task_name(*SUBTASKS[0][:2], 1)} (`kbit-eval ls tasks` lists them)
  --metadata '{{"n": {DEFAULT_N}, "seed": 0}}'   items per task and the generator's seed (these are the defaults)
kbit's model (--model kbit-hf): a Hugging Face causal LM whose weights are quantized after loading
  --model_args pretrained=FOLDER_OR_HUB_ID,bits=4,quant_type=fp,blocksize=64
    bits 2 to 8, or 16 (unquantized); quant_type int, fp, dynamic, quantile or nf; blocksize a power
    of two from 32 to 4096, or row; bits=4 alone is fp4 in blocks of 64 weights. Also dtype (the torch
    dtype to load in), compute_dtype, outliers, quantize_embeddings, quantize_head, pristine,
    prefix_sharing: see docs/quantization.md
kbit's options: --debug (a traceback instead of one line on error; also KBIT_DEBUG=1),
  --tasks-dir (print the tasks folder, for `lm-eval --include_path`)

offline example (a tiny random model; about a minute on a CPU):
  python -m kbit_tasks.tiny /tmp/kbit-tiny
  kbit-eval run --model kbit-hf --model_args pretrained=/tmp/kbit-tiny,bits=4 --tasks kbit_logical_rules_l1 \\
      --limit 20 --device cpu --batch_size 16"""


def main(argv: list[str] | None = None) -> None:
    """Every lm-eval subcommand and flag passes through; the kbit tasks folder is added to the
    user's `--include_path`, if any. lm-eval's ~10,000 built-in task files are indexed only when
    a task needs them (see `builtin_tasks_needed`). `kbit-eval --tasks-dir` prints the tasks
    folder, for `lm_eval --include_path "$(kbit-eval --tasks-dir)"`.
    """
    run_command("kbit-eval", argv, _eval)


def _eval(argv: list[str]) -> None:
    from kbit_tasks import tasks_dir

    if argv == ["--tasks-dir"]:
        print(tasks_dir())
        return
    from lm_eval.utils import setup_logging

    from kbit_tasks.lm_eval_compat import git_hash_quietly, harness_cli, task_index

    # lm-eval's own CLI, with kbit's arguments checked before lm-eval indexes its tasks and
    # before any model loads
    setup_logging()
    sys.argv = ["kbit-eval", *argv]
    parser = harness_cli("kbit-eval", about())
    args = parser.parse_args()
    if getattr(args, "command", None) == "run":
        import kbit_tasks.model  # noqa: F401  registers `--model kbit-hf` (torch and transformers: seconds)
    check_eval_args(args)
    _include_kbit_tasks(args, tasks_dir())
    with task_index(include_defaults=builtin_tasks_needed(args)), git_hash_quietly():
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
    """The kbit parts of a `kbit-eval run` (and `validate`), and the run flags that lm-eval would
    take silently or refuse only after the model loaded: the device, batch size, limit, number
    of shots, kbit task names, kbit-hf's model_args (the quantization, the `pretrained` folder)
    and the kbit tasks' metadata. A ValueError names the bad value."""
    from kbit_tasks.arguments import BATCH_SIZES, check_device, check_metadata, valid_batch_size
    from kbit_tasks.generators import DEFAULT_N

    check_device(getattr(args, "device", None), "--device ", DEVICES)
    batch_size = getattr(args, "batch_size", None)
    if batch_size is not None and not valid_batch_size(batch_size):
        raise ValueError(f"--batch_size {batch_size!r} is not valid; use {BATCH_SIZES}")
    limit = getattr(args, "limit", None)
    if limit is not None and not (limit >= 1 or 0 < limit < 1):  # lm-eval: a count, or a fraction below 1
        raise ValueError(f"--limit {limit:g} is not valid; use a positive number of items or a fraction in (0, 1)")
    names = _task_names(args)
    if any("kbit" in name for name in names):  # n and seed mean something else to other tasks
        # with other tasks in the run, other keys may be theirs
        check_metadata(getattr(args, "metadata", None) or {}, "--metadata",
                       other_tasks=not all(name.startswith(KBIT_ONLY) for name in names))
        if not getattr(args, "include_path", None):  # else the user's folder may hold the name
            check_kbit_task_names(names)
    from kbit_tasks.tasks.utils import check_num_fewshot  # other tasks' names set no bound, only k >= 0

    check_num_fewshot(getattr(args, "num_fewshot", None), names,
                      (getattr(args, "metadata", None) or {}).get("n", DEFAULT_N), "--num_fewshot")
    model, model_args = getattr(args, "model", None), getattr(args, "model_args", None) or {}
    if model == "kbit-hf":
        check_kbit_model_args(model_args)
    elif model in HF_MODELS:
        check_pretrained(model_args, model)


def check_kbit_task_names(names: list[str]) -> None:
    """A name that looks like a kbit task but selects none: the closest one, or for a rung deeper
    than the shipped ones, how to write its task (lm-eval says only "Tasks not found")."""
    import difflib

    from kbit_tasks.generators import SUBTASKS, parse_task_name, task_name
    from kbit_tasks.tasks.utils import selected_subtasks

    for name in names:
        if not name.startswith(KBIT_ONLY) or name.endswith(".yaml") or selected_subtasks([name]).keys() - {name}:
            continue
        parsed = parse_task_name(name)
        levels = {(f, s): lv for f, s, lv in SUBTASKS}
        if parsed and parsed[2] > max(levels[parsed[:2]]):
            raise ValueError(f"--tasks: {name} is deeper than the shipped rungs; write its task with "
                             f"python -m kbit_tasks.tasks.rungs --out DIR {parsed[1]}:{parsed[2]}, "
                             "then add --include_path DIR")
        if parsed and parsed[2] in levels[parsed[:2]]:
            continue
        known = ["kbit", *sorted({f"kbit-{f}" for f, _, _ in SUBTASKS}),
                 *(task_name(f, s, lv) for f, s, lvs in SUBTASKS for lv in lvs)]
        close = difflib.get_close_matches(name, known, n=1)
        raise ValueError(f"--tasks: {name!r} is not a kbit task{f'; did you mean {close[0]!r}?' if close else ''} "
                         "(`kbit-eval ls tasks` lists them)")


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
        raise ValueError(f"--model_args: {err}") from None
    check_pretrained(model_args, "kbit-hf")


def check_pretrained(model_args: dict | str, model: str) -> None:
    """`pretrained` is given, and a local folder exists (lm-eval would call it a malformed hub id
    after setting the model up)."""
    from lm_eval.utils import simple_parse_args_string

    from kbit_tasks.model_sources import check_model_source

    if isinstance(model_args, str):
        model_args = simple_parse_args_string(model_args)
    pretrained = model_args.get("pretrained")
    if pretrained is None or pretrained == "":
        raise ValueError(f"--model_args: {model} needs pretrained=FOLDER_OR_HUB_ID (a Hugging Face model folder "
                         "or hub id)")
    if isinstance(pretrained, str):
        try:
            check_model_source(pretrained)
        except ValueError as err:
            raise ValueError(f"--model_args: pretrained={err}") from None
