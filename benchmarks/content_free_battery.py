"""The shortcut battery on content-free texts: does the calibration prompt carry a cue?

    python benchmarks/content_free_battery.py --n 300
    python benchmarks/content_free_battery.py --n 1000 --seed 1 --tasks syllogism_l1 --only mood

Each task's items, train and eval split, get their question replaced by its content-free form
(`content_free` in kbit_tasks/tasks/utils.py; choices and gold kept); every cue and the probe
are fitted on the train items and scored on the eval items. One row per task: the best score
above chance, its z, and every score above chance + 0.05.
"""
from __future__ import annotations

import argparse

from kbit_tasks.generators import check_n_seed, generate, task_name
from kbit_tasks.shortcuts.battery import score_items, tasks
from kbit_tasks.tasks.utils import content_free


def content_free_items(family: str, subtask: str, level: int, n: int, seed: int, split: str) -> list[dict]:
    return [{**it, "question": content_free(it["question"], it["choices"])}
            for it in generate(family, subtask, level, n, seed=seed, split=split)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="items per split (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="*", default=None, metavar="PART",
                        help="only tasks whose name contains one of these, e.g. logical dsep_l1")
    parser.add_argument("--only", nargs="*", default=None, metavar="CUE", help="only these cues (names as printed)")
    args = parser.parse_args(argv)
    try:
        check_n_seed(args.n, args.seed)
    except ValueError as err:
        parser.error(str(err))
    chosen = tasks(args.tasks)
    if not chosen:
        parser.error(f"--tasks {' '.join(args.tasks)} matches no task; names look like kbit_logical_rules_l1")
    print("| task | chance | scores | best - chance | z | above chance + 0.05 |\n|---|---|---|---|---|---|")
    for family, subtask, level in chosen:
        train, test = (content_free_items(family, subtask, level, args.n, args.seed, split)
                       for split in ("train", "eval"))
        only = set(args.only) if args.only else None
        scores = [s for s in score_items(task_name(family, subtask, level), train, test, only)
                  if s.accuracy is not None]
        if not scores:
            print(f"| {task_name(family, subtask, level)} | - | 0 | - | - | - |", flush=True)
            continue
        best = max(scores, key=lambda s: s.accuracy)
        flagged = "; ".join(f"{s.cue} {s.accuracy:.3f}" for s in scores if s.flagged) or "-"
        print(f"| {best.task} | {best.chance:.2f} | {len(scores)} | {best.accuracy - best.chance:+.3f} ({best.cue}) "
              f"| {best.z:+.1f} | {flagged} |", flush=True)


if __name__ == "__main__":
    main()
