"""Write a tidy results table with a planted threshold, for a demo of `kbit-fit`.

    python scripts/simulate_table.py -o runs/sim/results.csv
    kbit-fit runs/sim/results.csv --by task --precision bits -o runs/sim/report

Two tasks: one with a break at psi = 31.5 (log2 total bits = 3.0 Gbit), one with none
(a plain floor-logistic curve), so the report shows a detection and an honest refusal.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from kbit_tasks.report.simulate import simulate_table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", required=True, help="CSV (or .parquet) path to write")
    ap.add_argument("--psi", type=float, default=31.5, help="planted breakpoint, log2(total bits)")
    ap.add_argument("--chance", type=float, default=0.5)
    ap.add_argument("--items", type=int, default=300, help="items per cell")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    table = pd.concat([
        simulate_table(psi=args.psi, chance=args.chance, n_items=args.items, seed=args.seed,
                       tasks=("kbit_sim_threshold_l1",)).assign(group="sim-threshold"),
        simulate_table(psi=None, chance=args.chance, n_items=args.items, seed=args.seed + 1,
                       tasks=("kbit_sim_nobreak_l1",)).assign(group="sim-nobreak"),
    ], ignore_index=True)  # two families, so that the report's phase diagram shows both outcomes
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out) if out.suffix in (".parquet", ".pq") else table.to_csv(out, index=False)
    print(f"wrote {len(table)} rows to {out} (planted psi = {args.psi})")


if __name__ == "__main__":
    main()
