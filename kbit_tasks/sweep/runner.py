"""Run this process's walk over the grid: each model loaded once, each precision requantized
from the pristine weights, all tasks of a cell in one `lm_eval.simple_evaluate` call, one
atomic JSON per cell.

Before any work the folder's manifest is checked (manifest.py). Before each cell: its record
is read and reused only if its fingerprint matches (fingerprint.py); else the cell is claimed
(claims.py), the record re-checked under the claim (a corrupt one moved aside), and the cell
computed: all its tasks, or only those that are new or changed, merged into its record. A
finished record that is replaced is kept in .replaced/. A failing cell is recorded with its
traceback and the sweep goes on; a record that cannot be written (full disk) stops it."""
from __future__ import annotations

import gc
import logging
import contextlib
import os
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from kbit_tasks.arguments import check_device
from kbit_tasks.atomic import remove_stale_temps
from kbit_tasks.lm_eval_compat import as_local_rank_zero, lm_eval_for_sweep
from kbit_tasks.sweep.claims import check_timeout, describe, stale_after_default, try_claim
from kbit_tasks.sweep.collect import check_done
from kbit_tasks.sweep.config import SweepConfig
from kbit_tasks.sweep.fingerprint import (cell_fingerprint, differences, model_fingerprint, task_fingerprint,
                                          without_tasks)
from kbit_tasks.sweep.grid import Cell, Placement, build_grid, select
from kbit_tasks.sweep.manifest import check_manifest, grid_manifest
from kbit_tasks.sweep.store import (CorruptRecord, atomic_write_json, cell_path, keep_replaced, provenance,
                                    quarantine, read_record)

log = logging.getLogger("kbit.sweep")

MISMATCH = (None, "rerun", "refuse")  # what a finished record that no longer matches leads to (see run)


@dataclass
class RunSummary:
    cells: list[str] = field(default_factory=list)  # this process's walk over its shard
    done: list[str] = field(default_factory=list)  # computed here
    skipped: list[str] = field(default_factory=list)  # finished before, fingerprint matches
    taken: list[str] = field(default_factory=list)  # claimed by another process
    failed: list[str] = field(default_factory=list)  # computed here and failed (recorded)
    rerun: dict = field(default_factory=dict)  # cell -> why its old record was not reused
    holders: list[str] = field(default_factory=list)  # each taken cell, its holder and expiry


def load_lm(spec, config: SweepConfig, placement: Placement, device: str):
    """The model from its folder or the hub, once, as a SweepLM, loaded as kbit-eval loads it
    (HFLM's loading, kbit-hf's device map); `parallelize` spreads it over this process's GPUs
    only. Loaded as one process: this process's cells are its own, not a share of lm-eval's."""
    from kbit_tasks.lm_eval_compat import as_one_process
    from kbit_tasks.sweep.lm import SweepLM

    gpus = placement.gpus() if device.startswith("cuda") else None
    spread = {}
    if spec.parallelize and gpus:
        import torch

        # HFLM would measure every visible GPU (a CUDA context on each, from every process)
        spread = {"parallelize": True, "max_memory_per_gpu": min(torch.cuda.mem_get_info(g)[0] for g in gpus)}
    with as_one_process():
        return SweepLM(pretrained=spec.path, device=device, dtype=config.dtype, gpus=gpus, **spread,
                       **config.model_args())


def evaluate_cell(lm, cell: Cell, config: SweepConfig, manager, tasks: list) -> dict:
    """Requantize and evaluate every task (lm-eval Task objects built once per process: their
    items do not depend on the model, and generating them took half a cell's time on a small
    model); the record holds what a reader needs to trust it."""
    import lm_eval

    started = time.perf_counter()
    lm.requantize(cell.quant)  # its report reaches the results' config through get_model_info
    lm.start_cell()
    with as_local_rank_zero():
        results = lm_eval.simple_evaluate(
            model=lm, tasks=list(tasks), task_manager=manager, num_fewshot=config.num_fewshot,
            batch_size=config.batch_size, limit=config.limit, log_samples=False,
            bootstrap_iters=config.bootstrap_iters, verbosity="ERROR", random_seed=config.seed,
            numpy_random_seed=config.seed, torch_random_seed=config.seed, fewshot_random_seed=config.seed)
    results.pop("samples", None)
    counts = {task: lm.nonfinite.get(task, 0) for task in results.get("results", {})}
    if any(counts.values()):
        log.warning("%s: non-finite log-likelihoods (inf/NaN) in %s", cell.id,
                    ", ".join(f"{t}: {c}" for t, c in counts.items() if c))
    return {"status": "done", "lm_eval": results, "nonfinite_loglikelihoods": counts,
            "seconds": time.perf_counter() - started, "seconds_forward": lm.seconds_forward}


def task_manager(config: SweepConfig):
    """kbit's tasks only (indexing lm-eval's built-in tasks costs seconds), with the sweep's metadata."""
    from lm_eval.tasks import TaskManager

    from kbit_tasks import tasks_dir

    metadata = {"seed": config.seed, **config.metadata}  # the sweep seed also seeds the items
    return TaskManager(include_path=tasks_dir(), include_defaults=False, metadata=metadata)


def _record(cell: Cell, config: SweepConfig, outcome: dict, where: dict, fingerprint: dict) -> dict:
    """Each fact once: the numbers, the quantization report and the task metadata (group, level,
    chance, content hash) in lm-eval's results (`lm_eval`), what produced them (the model's
    source, its `params` override, kbit's version) in `fingerprint`, the rest of the config's
    model entry in `model`."""
    model = {"name": cell.model.name, "parallelize": cell.model.parallelize}
    return {"cell": cell.id, "placement": where, "model": model, "fingerprint": fingerprint,
            **outcome, **provenance(), "host": socket.gethostname(), "pid": os.getpid(),
            "finished_at": datetime.now(timezone.utc).isoformat()}


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


def _utc(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Verdict:
    """What a cell's record (or its absence) asks of this run: `state` is "new" (no record),
    "finished" (reused as it is), "redo" (computed again, `why`) or "add" (only new tasks are
    evaluated and merged in); `tasks`: the tasks to evaluate, () for all of them."""

    state: str
    why: str = ""
    tasks: tuple = ()
    mismatch: bool = False  # made by another model, setting or task content
    corrupt: CorruptRecord | None = None


def _changes(old, new) -> str:
    changed = differences(old, new)
    return "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")


def verdict(path, fingerprint: dict, force: str | None = None) -> Verdict:
    """The cell's verdict from its record at `path`, without touching anything. `force`: the
    time (ISO, UTC) a --force run started; records finished before it are redone, not those
    another --force process finished since (no cell computed twice)."""
    try:
        record = read_record(path)
        if record is not None and record["status"] == "done":
            check_done(record, path)
    except CorruptRecord as err:
        return Verdict("redo", f"corrupt record ({err.reason})", corrupt=err)
    if record is None:
        return Verdict("new", "no record")
    if record["status"] != "done":
        return Verdict("redo", "the last attempt failed")
    if force and _utc(record["finished_at"]) < _utc(force):
        return Verdict("redo", "--force")
    old = record.get("fingerprint")
    if not isinstance(old, dict) or differences(without_tasks(old), without_tasks(fingerprint)):
        return Verdict("redo", f"the record no longer matches: {_changes(old, fingerprint)}", mismatch=True)
    old_tasks, new_tasks = old.get("tasks") or {}, fingerprint["tasks"]
    changed = {t: v for t, v in new_tasks.items() if t in old_tasks and old_tasks[t] != v}
    added = tuple(t for t in new_tasks if t not in old_tasks)
    if changed:
        why = _changes({"tasks": {t: old_tasks[t] for t in changed}}, {"tasks": changed})
        return Verdict("redo", f"the record no longer matches: {why}", tasks=(*changed, *added), mismatch=True)
    if added:
        return Verdict("add", f"{len(added)} new task{'s' * (len(added) > 1)}: {', '.join(added[:3])}"
                              f"{' ...' if len(added) > 3 else ''}", tasks=added)
    return Verdict("finished")


def refuse_mismatch(path, found: Verdict) -> None:
    raise ValueError(f"{path} was made by something else ({found.why.split(': ', 1)[-1]}); use another output "
                     "folder, or --mismatch rerun to redo it")


PER_TASK_PARTS = ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "group_subtasks")


def merge_records(old: dict, new: dict) -> dict:
    """`new`, a record of some of a cell's tasks, with the other tasks of `old` kept as they were."""
    lm_eval = dict(new["lm_eval"])
    for part in PER_TASK_PARTS:
        lm_eval[part] = {**(old["lm_eval"].get(part) or {}), **(new["lm_eval"].get(part) or {})}
    merged = dict(new, lm_eval=lm_eval, fingerprint=dict(
        new["fingerprint"], tasks={**old["fingerprint"]["tasks"], **new["fingerprint"]["tasks"]}))
    merged["nonfinite_loglikelihoods"] = {**(old.get("nonfinite_loglikelihoods") or {}),
                                          **new["nonfinite_loglikelihoods"]}
    for key in ("seconds", "seconds_forward"):
        merged[key] = old.get(key, 0.0) + new[key]
    return merged


class _Models:
    """The one model this process holds: loaded when a cell of another model is claimed."""

    def __init__(self, config: SweepConfig, placement: Placement, device: str):
        self.config, self.placement, self.device = config, placement, device
        self.spec, self.lm, self.failure = None, None, None

    def close(self) -> None:
        self.spec = self.lm = self.failure = None
        _free_memory()

    def get(self, spec):
        if spec != self.spec:
            self.close()
            self.spec = spec
            try:
                self.lm = load_lm(spec, self.config, self.placement, self.device)
            except Exception:  # recorded for each of its cells; the sweep goes on with the next model
                self.failure = _failure()
        return self.lm, self.failure


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run: the claim in flight was released and its cell
    dropped; `summary` says what was finished before, `signum` which signal it was."""

    def __init__(self, summary: RunSummary, signum: int):
        super().__init__(f"interrupted: {len(summary.done)} cells finished; rerun to resume")
        self.summary, self.signum = summary, signum


class _Signals(contextlib.AbstractContextManager):
    """While a run walks, SIGTERM (SLURM's time limit, pre-emption) stops it as Ctrl-C does, by
    KeyboardInterrupt; inside `hold()` both wait for its end, so a record is written and counted,
    or neither. Outside the main thread (where Python delivers no signals) it does nothing."""

    def __init__(self):
        self.received: list[int] = []
        self._holding = self._pending = False
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        self.received.append(signum)
        if self._holding:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def hold(self):
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._pending:
            raise KeyboardInterrupt


def _prepare(config: SweepConfig, cells: list[Cell]):
    """The tasks built, every cell's fingerprint."""
    manager = task_manager(config)
    tasks = manager.load(list(config.tasks))["tasks"]
    task_fp = task_fingerprint(tasks)
    model_fp = {spec.path: model_fingerprint(spec.path) for spec in {c.model for c in cells}}
    return manager, tasks, {c.id: cell_fingerprint(c, config, task_fp, model_fp[c.model.path]) for c in cells}


def plan(config: SweepConfig, shard: tuple[int, int] = (0, 1), placement: Placement | None = None,
         force: bool = False, on_mismatch: str | None = None) -> list[tuple[str, str, str]]:
    """What `run` would do with each cell of this process's walk, changing nothing:
    (state, cell id, why) with state new, finished, redo or add (see Verdict)."""
    placement = placement or Placement.from_env()
    cells = select(build_grid(config), shard, placement.rank, placement.world)
    check_manifest(config.output, grid_manifest(config, build_grid(config)), on_mismatch == "rerun", write=False)
    with lm_eval_for_sweep():
        _, _, fingerprints = _prepare(config, cells)
    now = datetime.now(timezone.utc).isoformat() if force else None
    found = []
    for cell in cells:
        one = verdict(cell_path(config.output, cell.id), fingerprints[cell.id], now)
        if one.mismatch and on_mismatch == "refuse":
            refuse_mismatch(cell_path(config.output, cell.id), one)
        found.append((one.state, cell.id, one.why if one.state != "new" else ""))
    return found


def run(config: SweepConfig, shard: tuple[int, int] = (0, 1), force: bool = False,
        placement: Placement | None = None, on_mismatch: str | None = None,
        stale_after: float | None = None) -> RunSummary:
    """Walk this process's share of the grid (grid.select) into config.output, computing the
    cells that have no reusable record and no live claim by another process. on_mismatch:
    None redoes records whose model or task content changed but refuses a folder whose
    manifest holds other settings; "rerun" also redoes those; "refuse" refuses every change.
    Ctrl-C or SIGTERM (as KeyboardInterrupt) ends it with `Interrupted`."""
    if on_mismatch not in MISMATCH:
        raise ValueError(f"on_mismatch={on_mismatch!r}; choose one of {', '.join(map(str, MISMATCH))}")
    check_device(config.device)
    check_manifest(config.output, grid_manifest(config, build_grid(config)), on_mismatch == "rerun")
    placement = replace(placement or Placement.from_env(), processes_per_gpu=config.processes_per_gpu)
    stale_after = stale_after_default() if stale_after is None else check_timeout(stale_after, "--claim-timeout")
    forced_since = datetime.now(timezone.utc).isoformat() if force else None
    cells = select(build_grid(config), shard, placement.rank, placement.world)
    summary = RunSummary(cells=[c.id for c in cells])
    for tmp in remove_stale_temps(config.output, older_than_s=stale_after):
        log.info("removed %s, left by a killed write", tmp)
    device = placement.use_device(config.device)
    where = {"rank": placement.rank, "world": placement.world, "shard": list(shard), "device": device}
    bar = tqdm(total=len(cells), unit="cell", desc=f"kbit-sweep [{placement.rank}/{placement.world}]",
               position=placement.local_rank, disable=False)
    with lm_eval_for_sweep(), logging_redirect_tqdm(), bar:
        manager, tasks, fingerprints = _prepare(config, cells)
        verdicts = {c.id: verdict(cell_path(config.output, c.id), fingerprints[c.id], forced_since) for c in cells}
        for cell in cells:  # all read first: "refuse" stops before any work
            if verdicts[cell.id].mismatch and on_mismatch == "refuse":
                refuse_mismatch(cell_path(config.output, cell.id), verdicts[cell.id])
        walk = _Walk(config, summary, _Models(config, placement, device), fingerprints, forced_since, stale_after,
                     record=lambda cell, outcome: _record(cell, config, outcome, where, fingerprints[cell.id]),
                     evaluate=lambda lm, cell, names: _evaluate_or_fail(
                         lm, cell, config, manager, [tasks[t] for t in names or config.tasks]),
                     signals=_Signals())
        try:
            with walk.signals:
                for cell in cells:
                    walk.visit(cell, verdicts[cell.id])
                    bar.update()
                # once more over the cells others held: a holder that died meanwhile left a stale claim
                retry, summary.taken = [c for c in cells if c.id in summary.taken], []
                for cell in retry:
                    walk.visit(cell, verdict(cell_path(config.output, cell.id), fingerprints[cell.id], forced_since))
        except KeyboardInterrupt:
            raise Interrupted(summary, (walk.signals.received or [signal.SIGINT])[0]) from None
        finally:
            walk.models.close()
    summary.holders = [describe(config.output, cell_id, stale_after) for cell_id in summary.taken]
    return summary


@dataclass
class _Walk:
    """One process's pass over its cells, and what it needs to compute one."""

    config: SweepConfig
    summary: RunSummary
    models: _Models
    fingerprints: dict
    force: str | None  # when the --force run started
    stale_after: float
    record: object  # (cell, outcome) -> the record to write
    evaluate: object  # (lm, cell, task names or ()) -> outcome
    signals: _Signals

    def visit(self, cell: Cell, found: Verdict) -> None:
        """Reuse the cell's record, or claim and compute it (or its new tasks) unless another
        process holds its claim or finished it meanwhile."""
        if found.state == "finished":
            self.summary.skipped.append(cell.id)
            return
        path = cell_path(self.config.output, cell.id)
        with contextlib.ExitStack() as held:
            with self.signals.hold():  # a signal between taking the claim and holding it would leave it behind
                claim = try_claim(self.config.output, cell.id, self.stale_after)
                if claim is not None:
                    held.enter_context(claim.start_heartbeat())
            if claim is None:
                self.summary.taken.append(cell.id)
                return
            now = verdict(path, self.fingerprints[cell.id], self.force)  # re-check under the claim
            if now.state == "finished":
                self.summary.skipped.append(cell.id)
                return
            if now.corrupt is not None:
                quarantine(now.corrupt)
            if now.state != "new":
                log.warning("%s: %s: %s", cell.id, "adding" if now.state == "add" else "running again", now.why)
                self.summary.rerun[cell.id] = now.why
            old = read_record(path)  # None, failed or done (a corrupt one was moved aside)
            lm, failure = self.models.get(cell.model)
            outcome = failure or self.evaluate(lm, cell, now.tasks)
            record = self.record(cell, outcome)
            if old is not None and old["status"] == "done" and now.tasks and outcome["status"] == "done":
                record = merge_records(old, record)
            with self.signals.hold():
                if old is not None and old["status"] == "done" and (now.state == "redo" or outcome["status"] != "done"):
                    keep_replaced(path)  # something of it is lost
                atomic_write_json(path, record)
                (self.summary.done if outcome["status"] == "done" else self.summary.failed).append(cell.id)
        log.info("%s %s: %s in %.1f s, %s", cell.model.name, cell.quant.label, outcome["status"],
                 outcome.get("seconds", 0.0), f"mean acc {_mean_acc(outcome)}" if outcome["status"] == "done"
                 else _last_line(outcome["traceback"]))


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["?"])[-1]


def _evaluate_or_fail(lm, cell: Cell, config: SweepConfig, manager, tasks: list) -> dict:
    try:
        return evaluate_cell(lm, cell, config, manager, tasks)
    except Exception:  # recorded with its traceback; the sweep goes on with the next cell
        return _failure()
