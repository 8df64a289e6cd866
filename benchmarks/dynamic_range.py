"""Where a model stands on every ladder: each subtask x shipped rung, zero-shot and k-shot.

    python benchmarks/dynamic_range.py                      # SmolLM2-135M, 16 bit, float32 compute
    python benchmarks/dynamic_range.py --model hf --model_args pretrained=EleutherAI/pythia-70m --device cuda

Prints, per task and number of shots: accuracy with its 95 % Wilson interval, chance, the
constant-answer share (1.0 = one answer whatever the item), the accuracy after contextual
calibration (the prior-free score) with its interval; then, per subtask, the deepest rung whose
interval lies above chance. Every finished (task, shots) cell is written to the output folder as
one JSON file and reused on the next run when its spec (model, model_args, task, version, shots,
n, seed) matches, so an interrupted run resumes where it stopped (`--table-only` prints the
table of the cells finished so far). The runtime estimate printed
before the first cell is rough (requests x seconds a request); the estimate after each cell uses
the measured rate.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# SmolLM2-135M on 2 CPU cores (kbit-hf, float32 compute): about 0.2 s a request zero-shot and
# 1.1 s three-shot (ordering l1, 800 requests in 880 s; the prompts of other rungs are longer or
# shorter); each shot adds about 0.3 s.
SECONDS_PER_REQUEST = 0.2
SECONDS_PER_SHOT = 0.9 / 3
FEWSHOT_SEED = 1234  # lm-eval's default --fewshot_random_seed


def cells(tasks_like: list[str] | None, shots: list[int], n1: int, n: int) -> list[dict]:
    """(task, shots, n) for every shipped rung whose name contains one of `tasks_like`: n1 items
    on rung 1 (one inference step), n on the deeper rungs."""
    from kbit_tasks.generators import SUBTASKS, get_subtask, task_name

    out = []
    for family, subtask, levels in SUBTASKS:
        sub = get_subtask(family, subtask)
        for level in levels:
            name = task_name(family, subtask, level)
            if tasks_like and not any(part in name for part in tasks_like):
                continue
            for k in shots:
                out.append({"task": name, "family": family, "subtask": subtask, "level": level, "shots": k,
                            "n": n1 if level == 1 else n, "choices": sub.n_choices, "version": sub.version})
    return out


def spec_of(cell: dict, model: str, model_args: str) -> dict:
    return {"model": model, "model_args": model_args, "task": cell["task"], "version": cell["version"],
            "shots": cell["shots"], "n": cell["n"], "seed": 0, "fewshot_seed": FEWSHOT_SEED}


def cell_path(out: Path, cell: dict) -> Path:
    return out / f"{cell['task']}.{cell['shots']}shot.json"


def reusable(path: Path, spec: dict) -> dict | None:
    """The record at `path` if it was made with exactly this spec."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("spec") == spec else None


def requests_of(cell: dict) -> int:
    return cell["n"] * cell["choices"] * 2  # every choice, then again after the content-free prompt


def estimate_seconds(todo: list[dict]) -> float:
    return sum(requests_of(c) * (SECONDS_PER_REQUEST + SECONDS_PER_SHOT * c["shots"]) for c in todo)


def run_cell(lm, cell: dict) -> dict:
    """One lm-eval run of one task at one number of shots: the numbers the table needs."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from kbit_tasks import tasks_dir

    # simple_evaluate ignores its own `metadata` when given a TaskManager: n goes here.
    manager = TaskManager(include_path=tasks_dir(), include_defaults=False, metadata={"n": cell["n"]})
    out = simple_evaluate(model=lm, tasks=[cell["task"]], task_manager=manager, num_fewshot=cell["shots"],
                          fewshot_random_seed=FEWSHOT_SEED)
    row, meta = out["results"][cell["task"]], out["configs"][cell["task"]]["metadata"]
    return {"n": row["sample_len"], "acc": row["acc,none"], "acc_calibrated": row["acc_calibrated,none"],
            "constant_share": row["constant_share,none"], "chance": meta["chance"], "level": meta["level"],
            "content_hash": meta["content_hash"]}


def wilson(p: float, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(round(p * n), n, alpha=0.05, method="wilson")


def above_chance(p: float, n: int, chance: float) -> bool:
    return wilson(p, n)[0] > chance


def deepest(records: list[dict], key: str) -> str:
    """The deepest rung whose score `key` lies above chance (its Wilson interval), or "-". A rung
    with an open leak in the shortcut battery can be answered in fewer steps than its depth, so
    it does not count."""
    from kbit_tasks.shortcuts.battery import open_leak

    above = [r["level"] for r in records if above_chance(r[key], r["n"], r["chance"]) and not open_leak(r["task"])]
    return f"l{max(above)}" if above else "-"


def table(records: list[dict]) -> str:
    """Markdown: one row per (task, shots), then the deepest rung above chance per subtask."""
    from kbit_tasks.shortcuts.battery import open_leak

    lines = ["| task | shots | n | acc [95 % CI] | chance | constant share | calibrated [95 % CI] |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        (lo, hi), (clo, chi) = wilson(r["acc"], r["n"]), wilson(r["acc_calibrated"], r["n"])
        lines.append(f"| {r['task']} | {r['shots']} | {r['n']} | {r['acc']:.3f} [{lo:.3f}, {hi:.3f}] | "
                     f"{r['chance']:.2f} | {r['constant_share']:.2f} | "
                     f"{r['acc_calibrated']:.3f} [{clo:.3f}, {chi:.3f}] |")
    lines += ["", "Deepest rung whose 95 % interval lies above chance (- : none; a rung marked ! has an open "
              "leak in the shortcut battery, docs/validity.md, and does not count):", "",
              "| subtask | shots | rungs run | acc | calibrated |", "|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["family"], r["subtask"], r["shots"]), []).append(r)
    for (family, subtask, shots), rs in groups.items():
        rungs = ",".join(f"l{r['level']}" + "!" * open_leak(r["task"]) for r in sorted(rs, key=lambda r: r["level"]))
        lines.append(f"| {family}/{subtask} | {shots} | {rungs} | {deepest(rs, 'acc')} | "
                     f"{deepest(rs, 'acc_calibrated')} |")
    return "\n".join(lines)


def load_model(model: str, model_args: str, batch_size: int, device: str):
    from lm_eval.api.registry import get_model

    return get_model(model).create_from_arg_string(model_args, {"batch_size": batch_size, "device": device})


def check_args(parser, args) -> list[dict]:
    """Every argument checked before any model loads; the cells to run."""
    from lm_eval.api.registry import get_model

    from kbit_tasks.arguments import check_device
    from kbit_tasks.cli.eval import HF_MODELS, check_kbit_model_args, check_pretrained
    from kbit_tasks.generators import check_n_seed
    from kbit_tasks.tasks.utils import check_num_fewshot

    for flag, value in (("--n1", args.n1), ("--n", args.n)):
        try:
            check_n_seed(value, 0)
        except ValueError as err:
            parser.error(f"{flag}: {err}")
    todo = cells(args.tasks, sorted(set(args.shots)), args.n1, args.n)
    if not todo:
        parser.error(f"--tasks {' '.join(args.tasks)} matches no shipped task; names look like kbit_logical_rules_l1")
    try:
        for k in args.shots:
            check_num_fewshot(k, sorted({cell["task"] for cell in todo}), min(args.n1, args.n), "--shots")
        check_device(args.device, "--device ")
        if args.model == "kbit-hf":
            import kbit_tasks.model  # noqa: F401  registers kbit-hf
        get_model(args.model)  # a ValueError naming the registered models
        if args.model == "kbit-hf" and args.model_args:
            check_kbit_model_args(args.model_args)
        elif args.model in HF_MODELS and args.model_args:
            check_pretrained(args.model_args, args.model)
    except ValueError as err:
        parser.error(str(err).splitlines()[0])
    return todo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="kbit-hf", help="lm-eval model name (default kbit-hf)")
    parser.add_argument("--model_args", default=None,
                        help="lm-eval model_args (default: SmolLM2-135M, bits=16,compute_dtype=float32)")
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 3], help="numbers of shots (default 0 3)")
    parser.add_argument("--n1", type=int, default=200, help="items on rung 1, one inference step (default 200)")
    parser.add_argument("--n", type=int, default=60, help="items on every deeper rung (default 60)")
    parser.add_argument("--tasks", nargs="*", default=None, metavar="PART",
                        help="only tasks whose name contains one of these, e.g. logical dsep_l1")
    parser.add_argument("--out", type=Path, default=Path("runs/dynamic-range"),
                        help="folder of finished cells, reused when their spec matches (default runs/dynamic-range)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--table-only", action="store_true",
                        help="print the table of the cells already finished in --out; run nothing")
    args = parser.parse_args(argv)
    todo = check_args(parser, args)
    from kbit_tasks.atomic import atomic_write_json, check_writable_dir

    try:
        check_writable_dir(args.out)
    except ValueError as err:
        parser.error(f"--out: {err}")
    if args.model_args is None:
        if args.model != "kbit-hf":
            parser.error(f"--model {args.model} needs --model_args")
        from kbit_tasks.pretrained import smollm2_folder

        args.model_args = f"pretrained={smollm2_folder()},bits=16,compute_dtype=float32"

    records, left = [], []
    for cell in todo:
        spec = spec_of(cell, args.model, args.model_args)
        found = reusable(cell_path(args.out, cell), spec)
        if found:
            records.append({**cell, **found["result"]})
        else:
            left.append((cell, spec))
    print(f"{len(todo)} cells, {len(todo) - len(left)} reused from {args.out}; {len(left)} to run, "
          f"{sum(requests_of(c) for c, _ in left)} requests, about {estimate_seconds([c for c, _ in left]) / 60:.0f} "
          f"min at SmolLM2-135M's rate on 2 CPU cores", flush=True)
    if args.table_only and left:
        print(f"--table-only: {len(left)} cells not run yet are left out of the table", flush=True)
        left = []
    lm = load_model(args.model, args.model_args, args.batch_size, args.device) if left else None
    estimated, spent = 0.0, 0.0
    for i, (cell, spec) in enumerate(left):
        start = time.perf_counter()
        result = run_cell(lm, cell)
        seconds = time.perf_counter() - start
        atomic_write_json(cell_path(args.out, cell), {"spec": spec, "result": {**result, "seconds": seconds}})
        records.append({**cell, **result})
        estimated, spent = estimated + estimate_seconds([cell]), spent + seconds
        rest = estimate_seconds([c for c, _ in left[i + 1:]]) * spent / estimated  # at the measured rate
        print(f"[{i + 1}/{len(left)}] {cell['task']} {cell['shots']}-shot: acc {result['acc']:.3f}, "
              f"{seconds:.0f} s; about {rest / 60:.0f} min left", flush=True)
    order = {(c["task"], c["shots"]): i for i, c in enumerate(todo)}
    print(table(sorted(records, key=lambda r: order[(r["task"], r["shots"])])))


if __name__ == "__main__":
    main()
