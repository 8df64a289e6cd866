"""What the sweep's tokenization cache (SweepLM._encode_pair) saves: one process, one model,
several precisions, the same tasks in every cell, run once with the cache and once without.

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 python benchmarks/tokenize_cache.py [--limit 50] [--model DIR]

Prints, per run, the tokenizer calls (HFLM.tok_encode) and their seconds, and the seconds
inside cells, and checks that both runs gave the same numbers. Default model: a tiny
random-weight GPT-2 (kbit_tasks.tiny), on which lm-eval's Python, not the forward pass,
dominates a cell: the case where tokenization matters most.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

PRECISIONS = [{"bits": 16}, {"bits": 8, "quant_type": "int"}, {"bits": 4, "quant_type": "fp"},
              {"bits": 3, "quant_type": "int"}]


def sweep(model: str, output: Path, limit: int, tasks: str, cached: bool) -> dict:
    from lm_eval.models.huggingface import HFLM

    from kbit_tasks.sweep import parse_config, run
    from kbit_tasks.sweep.lm import SweepLM
    from kbit_tasks.sweep.store import cell_records

    counted = {"calls": 0, "seconds": 0.0}
    real_encode, real_once = HFLM.tok_encode, SweepLM._encode_pair

    def timed_encode(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return real_encode(self, *args, **kwargs)
        finally:
            counted["calls"] += 1
            counted["seconds"] += time.perf_counter() - start

    HFLM.tok_encode = timed_encode
    SweepLM._encode_pair = real_once if cached else HFLM._encode_pair
    try:
        config = parse_config({"models": [{"path": model, "name": "m"}], "precisions": PRECISIONS, "tasks": tasks,
                               "limit": limit, "batch_size": 16, "device": "cpu", "output": str(output)})
        run(config)
    finally:
        HFLM.tok_encode, SweepLM._encode_pair = real_encode, real_once
    records = [rec for _, rec in cell_records(output)]
    return counted | {"cells": sum(r["seconds"] for r in records),
                      "results": {r["cell"]: r["lm_eval"]["results"] for r in records}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=50, help="items per task")
    parser.add_argument("--tasks", default="kbit_*")
    parser.add_argument("--model", help="a model folder (default: a tiny random GPT-2)")
    args = parser.parse_args()
    from kbit_tasks.tiny import make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(make_tiny_model(Path(tmp) / "tiny", arch="gpt2"))
        runs = {cached: sweep(model, Path(tmp) / f"out-{cached}", args.limit, args.tasks, cached)
                for cached in (False, True)}
    print(f"{len(PRECISIONS)} precisions x tasks {args.tasks!r}, limit {args.limit}, model {args.model or 'tiny gpt2'}")
    print(f"{'tokenization':>14} {'tok_encode calls':>17} {'tok_encode s':>13} {'s in cells':>11}")
    for cached, r in runs.items():
        print(f"{'cached' if cached else 'every cell':>14} {r['calls']:>17,} {r['seconds']:>13.2f} {r['cells']:>11.1f}")
    same = runs[False]["results"] == runs[True]["results"]
    print(f"same results with and without the cache: {same}")


if __name__ == "__main__":
    main()
