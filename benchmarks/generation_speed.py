"""Seconds to generate each task's evaluation items, in a fresh process per run.

Generation is what lm-eval pays before the first request of a task and what the shortcut
battery and the tests pay per split. CHANGELOG.md quotes the causal rows of:

    python benchmarks/generation_speed.py --n 200 --tasks causal
"""
from __future__ import annotations

import argparse
import time

from kbit_tasks.generators import SUBTASKS, check_n_seed, generate, task_name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="items per task (default 200)")
    parser.add_argument("--tasks", nargs="*", default=None, metavar="PART",
                        help="only tasks whose name contains one of these, e.g. causal dsep_l1")
    args = parser.parse_args(argv)
    try:
        check_n_seed(args.n, 0)
    except ValueError as err:
        parser.error(str(err))
    every = [(f, s, lv) for f, s, levels in SUBTASKS for lv in levels]
    chosen = [t for t in every if not args.tasks or any(part in task_name(*t) for part in args.tasks)]
    if not chosen:
        parser.error(f"--tasks {' '.join(args.tasks)} matches no task; names look like {task_name(*every[0])}")
    print(f"| task | seconds for {args.n} eval items |\n|---|---|")
    for family, subtask, level in chosen:
        start = time.perf_counter()
        generate(family, subtask, level, args.n)
        print(f"| {task_name(family, subtask, level)} | {time.perf_counter() - start:.1f} |", flush=True)


if __name__ == "__main__":
    main()
