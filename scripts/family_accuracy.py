"""Evidence table for the reference family: each size's unquantized accuracy per kbit family and level, against chance.

    python scripts/family_accuracy.py --family runs/family-default [--n 200] [--csv out.csv]

Runs lm-eval (`simple_evaluate`, the kbit task folder, every kbit_* task) on each
model of a `kbit-family build` folder and prints a markdown table of accuracy
minus chance in points, averaged over the subtasks of each (family, level), with
the standard error of that mean. `--csv` also writes one row per (model, task).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def evaluate_family(family_dir: Path, n: int, batch_size: int, model_name: str):
    """One pandas row per (model, task): acc, its stderr, chance, items."""
    import pandas as pd
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from kbit_tasks import tasks_dir
    from kbit_tasks.generators import SUBTASKS, task_name

    if model_name == "kbit-hf":
        import kbit_tasks.model  # noqa: F401  (registers kbit-hf)
    # Read each finished member's own record rather than the manifest, so a partial build
    # (`kbit-family build --only ...`) can already be measured.
    members = sorted((json.loads(p.read_text())["model"] | {"path": p.parent.name}
                      for p in family_dir.glob("*/family.json") if p.parent.name != "tokenizer"),
                     key=lambda m: m["params"])
    tasks = [task_name(f, s, lvl) for f, s, levels in SUBTASKS for lvl in levels]
    # simple_evaluate ignores its own `metadata` when given a TaskManager: n goes here.
    manager = TaskManager(include_path=tasks_dir(), include_defaults=False, metadata={"n": n})
    rows = []
    for m in members:
        out = simple_evaluate(model=model_name, model_args=f"pretrained={family_dir / m['path']},dtype=float32",
                              tasks=tasks, task_manager=manager, device="cpu", batch_size=batch_size,
                              log_samples=True)
        for task in tasks:
            res = out["results"][task]
            docs = out["samples"][task]
            rows.append({"model": m["name"], "params": m["params"], "task": task,
                         "family": docs[0]["doc"]["family"], "level": docs[0]["doc"]["level"],
                         "acc": res["acc,none"], "stderr": res["acc_stderr,none"],
                         "chance": sum(d["doc"]["chance"] for d in docs) / len(docs), "n": len(docs)})
    return pd.DataFrame(rows)


def summary_table(df) -> str:
    """Markdown: rows = sizes, columns = (family, level), cells = mean(acc - chance) +- s.e. in points."""
    df = df.assign(delta=100 * (df.acc - df.chance), var=(100 * df.stderr) ** 2)
    g = df.groupby(["model", "params", "family", "level"], sort=False)
    cells = g.agg(delta=("delta", "mean"), var=("var", "sum"), k=("delta", "size")).reset_index()
    cells["se"] = (cells["var"].apply(math.sqrt) / cells["k"])
    cols = list(dict.fromkeys(zip(cells.family, cells.level)))
    head = "| model | params | " + " | ".join(f"{f} l{lvl}" for f, lvl in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for (model, params), sub in cells.groupby(["model", "params"], sort=False):
        by = {(r.family, r.level): f"{r.delta:+.1f} ± {r.se:.1f}" for r in sub.itertuples()}
        lines.append(f"| {model} | {params:,} | " + " | ".join(by[c] for c in cols) + " |")
    fam = df.groupby(["model", "params", "family"], sort=False).agg(delta=("delta", "mean"), var=("var", "sum"),
                                                                     k=("delta", "size")).reset_index()
    fam["se"] = fam["var"].apply(math.sqrt) / fam["k"]
    fams = list(dict.fromkeys(fam.family))
    lines += ["", "| model | params | " + " | ".join(fams) + " |", "|" + "---|" * (len(fams) + 2)]
    for (model, params), sub in fam.groupby(["model", "params"], sort=False):
        by = {r.family: f"{r.delta:+.1f} ± {r.se:.1f}" for r in sub.itertuples()}
        lines.append(f"| {model} | {params:,} | " + " | ".join(by[f] for f in fams) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True, type=Path, help="a `kbit-family build` output folder")
    parser.add_argument("--n", type=int, default=200, help="items per task (the tasks' default is 200)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="hf", choices=("hf", "kbit-hf"), help="lm-eval model class")
    parser.add_argument("--csv", type=Path, help="also write the per-task rows here")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a shared machine)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if not any(args.family.glob("*/config.json")):
        raise ValueError(f"family={str(args.family)!r} holds no model folders; run `kbit-family build` first")
    df = evaluate_family(args.family, args.n, args.batch_size, args.model)
    if args.csv:
        df.to_csv(args.csv, index=False)
    print(summary_table(df))


if __name__ == "__main__":
    main()
