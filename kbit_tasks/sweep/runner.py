"""Run this process's cells: each model loaded once, each precision requantized from the
pristine weights, all tasks of a cell in one `lm_eval.simple_evaluate` call, one atomic JSON
per cell. Finished cells are skipped, a failing cell is recorded with its traceback and the
sweep goes on."""
from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import logging
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from kbit_tasks.sweep.config import SweepConfig
from kbit_tasks.sweep.grid import Cell, Placement, build_grid, select
from kbit_tasks.sweep.store import atomic_write_json, cell_path, provenance, read_record

log = logging.getLogger("kbit.sweep")


@dataclass
class RunSummary:
    cells: list[str] = field(default_factory=list)  # this process's share of the grid
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def pending(config: SweepConfig, cells: list[Cell], force: bool) -> tuple[list[Cell], list[Cell]]:
    """Split cells into (to run, already finished). A finished cell made with different
    evaluation settings is an error, not a silent reuse or overwrite."""
    todo, finished = [], []
    spec = config.evaluation_spec()
    for cell in cells:
        record = read_record(cell_path(config.output, cell.id))
        if force or record is None or record.get("status") != "done":
            todo.append(cell)
        elif record.get("spec") != spec:
            changed = sorted(k for k in spec if record.get("spec", {}).get(k) != spec[k])
            raise ValueError(f"{cell_path(config.output, cell.id)} was made with different settings "
                             f"({', '.join(changed)}); use another output folder, or --force to redo it")
        else:
            finished.append(cell)
    return todo, finished


@contextlib.contextmanager
def lm_eval_for_sweep():
    """lm-eval tuned for many evaluations in one process, restored on exit:
    - lm-eval, transformers and datasets kept down to errors, so the sweep's own bar and one
      line per cell stay readable;
    - the environment report lm-eval adds to every result (torch's collect_env: pip list and
      friends, about 1 s of subprocesses per call) collected once per process, not per cell."""
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
        yield
    finally:
        lm_eval.api.task.tqdm, lm_eval.evaluator.add_env_info = saved[0], saved[1]
        transformers.logging.set_verbosity(saved[2])
        transformers.logging.enable_progress_bar()
        datasets.enable_progress_bars()
        lm_eval_logger.setLevel(saved[3])


@contextlib.contextmanager
def _as_local_rank_zero():
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


class ForwardTimer(contextlib.AbstractContextManager):
    """Seconds spent in the model's forward calls, to tell compute from sweep overhead."""

    def __init__(self, lm):
        self.lm, self.seconds, self._call, self._cuda = lm, 0.0, lm._model_call, lm.device.type == "cuda"

    def __enter__(self):
        self.lm._model_call = self  # an instance attribute shadows HFLM._model_call
        return self

    def __exit__(self, *exc):
        del self.lm._model_call

    def __call__(self, *args, **kwargs):
        import torch

        start = time.perf_counter()
        out = self._call(*args, **kwargs)
        if self._cuda:  # kernels are asynchronous; wait for them so the time is the forward's
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        return out


def load_lm(spec, config: SweepConfig, placement: Placement, device: str):
    """The model from its folder or the hub, once, as a kbit-hf LM; parallelize spreads it over
    this process's GPUs. An in-memory model keeps HFLM from starting its own data parallelism."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kbit_tasks.model import KbitHFLM

    kwargs = {"dtype": config.torch_dtype if config.torch_dtype == "auto" else getattr(torch, config.torch_dtype)}
    if spec.parallelize and device.startswith("cuda"):
        kwargs.update(device_map="auto", max_memory={g: torch.cuda.mem_get_info(g)[0] for g in placement.gpus()})
    model = AutoModelForCausalLM.from_pretrained(spec.path, **kwargs)
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(spec.path)
    lm = KbitHFLM(pretrained=model, tokenizer=tokenizer, batch_size=config.batch_size,
                  compute_dtype=config.compute_dtype)
    lm.loglikelihood = functools.partial(lm.loglikelihood, disable_tqdm=True)  # the sweep draws its own bar
    return lm


def evaluate_cell(lm, cell: Cell, config: SweepConfig, manager, tasks: list) -> dict:
    """Requantize and evaluate every task (lm-eval Task objects built once per process: their
    items do not depend on the model, and generating them took half a cell's time on a small
    model); the record holds what a reader needs to trust it."""
    import lm_eval

    started = time.perf_counter()
    report = lm.requantize(cell.quant)
    with _as_local_rank_zero(), ForwardTimer(lm) as timer:
        results = lm_eval.simple_evaluate(
            model=lm, tasks=list(tasks), task_manager=manager, num_fewshot=config.num_fewshot,
            batch_size=config.batch_size, limit=config.limit, log_samples=False,
            bootstrap_iters=config.bootstrap_iters, verbosity="ERROR", random_seed=config.seed,
            numpy_random_seed=config.seed, torch_random_seed=config.seed, fewshot_random_seed=config.seed)
    results.pop("samples", None)
    return {"status": "done", "quant_report": report.to_dict(), "lm_eval": results,
            "content_hashes": content_hashes(results), "seconds": time.perf_counter() - started,
            "seconds_forward": timer.seconds}


def task_manager(config: SweepConfig):
    """kbit's tasks only (indexing lm-eval's built-in tasks costs seconds), with the sweep's metadata."""
    from lm_eval.tasks import TaskManager

    from kbit_tasks import tasks_dir

    metadata = {"seed": config.seed, **config.metadata}  # the sweep seed also seeds the items
    return TaskManager(include_path=tasks_dir(), include_defaults=False, metadata=metadata)


def task_chance(tasks: dict, limit) -> dict:
    """Chance accuracy per task: the mean of 1 / number of choices over the items evaluated."""
    from lm_eval.evaluator_utils import get_sample_size

    chance = {}
    for name, task in tasks.items():
        docs = list(task.eval_docs)
        docs = docs[: get_sample_size(task, limit) or len(docs)]
        chance[name] = sum(1 / len(task.doc_to_choice(doc)) for doc in docs) / len(docs)
    return chance


def content_hashes(results: dict) -> dict:
    """Each task's item hash, as the task suite records it in the task config's metadata."""
    return {task: (cfg.get("metadata") or {}).get("content_hash") for task, cfg in results.get("configs", {}).items()}


def _record(cell: Cell, config: SweepConfig, outcome: dict, chance: dict, where: dict) -> dict:
    return {"cell": cell.id, "placement": where, "model": asdict(cell.model), "quant": asdict(cell.quant),
            "spec": config.evaluation_spec(), "seed": config.seed, "chance": chance, **outcome, **provenance(),
            "host": socket.gethostname(), "finished_at": datetime.now(timezone.utc).isoformat()}


def _failure() -> dict:
    return {"status": "failed", "traceback": traceback.format_exc()}


def _mean_acc(outcome: dict) -> str:
    accs = [r["acc,none"] for r in outcome.get("lm_eval", {}).get("results", {}).values() if "acc,none" in r]
    return f"{sum(accs) / len(accs):.3f}" if accs else "n/a"


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run(config: SweepConfig, shard: tuple[int, int] = (0, 1), force: bool = False,
        placement: Placement | None = None) -> RunSummary:
    """Evaluate this process's cells of the grid (see grid.select) into config.output."""
    placement = placement or Placement.from_env()
    cells = select(build_grid(config), shard, placement.rank, placement.world)
    todo, finished = pending(config, cells, force)
    summary = RunSummary(cells=[c.id for c in cells], skipped=[c.id for c in finished])
    if not todo:
        return summary
    device = placement.device(config.device)
    where = {"rank": placement.rank, "world": placement.world, "shard": list(shard), "device": device}
    bar = tqdm(total=len(todo), unit="cell", desc=f"kbit-sweep [{placement.rank}/{placement.world}]",
               position=placement.local_rank, disable=False)
    with lm_eval_for_sweep(), logging_redirect_tqdm(), bar:
        manager = task_manager(config)
        tasks = manager.load(list(config.tasks))["tasks"]
        chance = task_chance(tasks, config.limit)
        for spec, group in itertools.groupby(todo, key=lambda c: c.model):
            try:
                lm, load_failure = load_lm(spec, config, placement, device), None
            except Exception:
                lm, load_failure = None, _failure()
            for cell in group:
                outcome = load_failure or _evaluate_or_fail(lm, cell, config, manager, list(tasks.values()))
                atomic_write_json(cell_path(config.output, cell.id), _record(cell, config, outcome, chance, where))
                (summary.done if outcome["status"] == "done" else summary.failed).append(cell.id)
                log.info("%s %s: %s in %.1f s, mean acc %s", spec.name, cell.quant.label, outcome["status"],
                         outcome.get("seconds", 0.0), _mean_acc(outcome))
                bar.update()
            del lm
            _free_memory()
    return summary


def _evaluate_or_fail(lm, cell: Cell, config: SweepConfig, manager, tasks: list) -> dict:
    try:
        return evaluate_cell(lm, cell, config, manager, tasks)
    except Exception:  # recorded with its traceback; the sweep goes on with the next cell
        return _failure()
