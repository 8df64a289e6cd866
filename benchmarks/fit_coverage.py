"""Coverage, false-positive rate and power of the binomial threshold fit, by simulation.

Design: 6 model sizes (70M..2.8B) x 5 precisions (3, 4, 5, 8, 16 bit), 300 items per cell,
planted psi = 31.5 (log2 total bits, 3.0 Gbit) with logit slopes 0.05 before and 1.55 after.
Prints one markdown table; docs/fitting.md quotes it with this command:

    python benchmarks/fit_coverage.py --reps 400 --boot-reps 200 --n-boot 99
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from fitting.simulate import existence_p, interval_covers


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400, help="data sets per chance level for coverage")
    ap.add_argument("--boot-reps", type=int, default=200, help="data sets per chance level for the tests")
    ap.add_argument("--n-boot", type=int, default=99, help="bootstrap replicates per existence test")
    ap.add_argument("--alpha", type=float, default=0.05)
    args = ap.parse_args(argv)
    print("| chance | 95% CI coverage | false positives (no break) | power (planted break) | seconds |")
    print("|---|---|---|---|---|")
    for chance in (0.5, 0.25):
        t = time.perf_counter()
        cov = np.mean([interval_covers(10_000 + i, chance) for i in range(args.reps)])
        seeds = np.arange(args.boot_reps)
        fp = np.mean(existence_p(20_000 + seeds, chance, None, args.n_boot) <= args.alpha)
        power = np.mean(existence_p(30_000 + seeds, chance, 31.5, args.n_boot) <= args.alpha)
        se = lambda p, n: np.sqrt(p * (1 - p) / n)  # noqa: E731
        print(f"| {chance} | {cov:.3f} ± {se(cov, args.reps):.3f} (n={args.reps}) | "
              f"{fp:.3f} ± {se(fp, args.boot_reps):.3f} (n={args.boot_reps}, B={args.n_boot}) | "
              f"{power:.3f} (n={args.boot_reps}) | {time.perf_counter() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
