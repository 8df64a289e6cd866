"""Shortcut battery: how far surface cues and a learned surface probe get on each kbit task.

Every cue (kbit_tasks/shortcuts: generic cues for every task, the v1 items' shortcuts for their
subtasks) is a lookup table fitted on n items of the training split and scored on n items of the
evaluation split (seed 0); the learned probe is a logistic regression over delexicalized
n-grams and choice-question relations, trained and scored the same way (with --forest, also a
random forest on the same features, in the task-cues column: slower). A score above
chance + 0.05 is flagged; the exit status is 1 if anything is flagged (unless --no-fail).
With --confirm, every flagged score is measured again on fresh items (seed + 1, 1000 items a
split), where a cue with no information crosses the bar with probability under 1e-3: only a
score flagged in both stages is a leak, and the exit status is 1 only for those.
"-" marks a cue that is constant on the task's items (nothing to read) or not scored there: a cue
(or the probe) that performs as many inference steps as the rung needs is the reasoning, not a
shortcut, so it is scored only on deeper items. The per-level
inference-depth distribution of the evaluation items follows the table.

    python scripts/task_shortcuts.py --n 300 --confirm
"""
from __future__ import annotations

import argparse
import sys

from kbit_tasks.generators import MAX_N
from kbit_tasks.shortcuts.battery import (
    CONFIRM_N, MARGIN, OPEN_LEAKS, PROBE, confirm, depth_counts, format_depths, run, tasks,
)
from kbit_tasks.shortcuts.cues import GENERIC


def _cell(score) -> str:
    return "-" if score.accuracy is None else f"{score.accuracy:.2f}" + ("*" if score.flagged else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="items per task and split (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed of both splits (default 0)")
    parser.add_argument("--tasks", nargs="+", metavar="PART", help="only tasks whose name contains one of these")
    parser.add_argument("--long", action="store_true", help="one row per task and cue, with z")
    parser.add_argument("--confirm", action="store_true",
                        help=f"measure every flagged score again on fresh items ({CONFIRM_N} a split, seed + 1); "
                        "fail only on scores flagged twice")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if something is flagged")
    parser.add_argument("--forest", action="store_true",
                        help="also a random forest on the probe's features (seconds a task more)")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= MAX_N:
        parser.error(f"--n {args.n} is not valid; use an integer from 1 to {MAX_N}")
    if args.seed < 0:
        parser.error(f"--seed {args.seed} is not valid; use an integer >= 0")
    if not tasks(args.tasks):
        parser.error(f"--tasks {' '.join(args.tasks)} matches no task; names look like kbit_logical_rules_l2")

    generic = [c.name for c in GENERIC]
    if args.long:
        print("| task | cue | accuracy | chance | z | flagged |\n|---|---|---|---|---|---|")
    else:
        print(f"| task | chance | {' | '.join(generic)} | task cues | {PROBE} | max - chance | max z |")
        print("|---" * (len(generic) + 6) + "|")
    all_scores, depths, seconds, failed = [], {}, [0.0, 0.0], []
    for name, scores, items, (gen_s, score_s), error in run(args.n, args.seed, args.tasks, forest=args.forest):
        seconds[0] += gen_s
        seconds[1] += score_s
        if error:
            failed.append(name)
            print(f"| {name} | generation failed: {error} |", flush=True)
            continue
        all_scores += scores
        depths[name] = depth_counts(items)
        by_cue = {s.cue: s for s in scores}
        applied = [s for s in scores if s.accuracy is not None]
        if args.long:
            for s in scores:
                z = "-" if s.accuracy is None else f"{s.z:+.1f}"
                print(f"| {name} | {s.cue} | {_cell(s)} | {s.chance:.2f} | {z} | {'yes' if s.flagged else ''} |")
            continue
        top = max(applied, key=lambda s: s.accuracy)
        specific = "; ".join(f"{s.cue}: {_cell(s)}" for s in scores if s.cue not in generic and s.cue != PROBE)
        print(f"| {name} | {top.chance:.2f} | " + " | ".join(_cell(by_cue[g]) for g in generic)
              + f" | {specific} | {_cell(by_cue[PROBE])} | {top.accuracy - top.chance:+.2f} ({top.cue}) "
              f"| {top.z:+.1f} |",
              flush=True)

    applied = [s for s in all_scores if s.accuracy is not None]
    flagged = [s for s in applied if s.flagged]
    expected = sum(s.null_flag_probability for s in applied)
    print(f"\n{len(flagged)} of {len(applied)} scores above chance + {MARGIN} (marked *; n = {args.n} items "
          f"per split, z = (acc - chance) / sqrt(chance (1 - chance) / n)). With no information in any cue, "
          f"about {expected:.1f} would cross the bar by chance alone.")
    for s in flagged:
        print(f"  {s.task} {s.cue}: {s.accuracy:.3f} (chance {s.chance:.2f}, z {s.z:+.1f})")
    leaks = flagged
    if args.confirm and flagged:
        again = {(s.task, s.cue): s for s in confirm(flagged, seed=args.seed + 1)}
        leaks = [s for s in flagged if again[(s.task, s.cue)].flagged]
        print(f"\nMeasured again on fresh items (seed {args.seed + 1}, n = {CONFIRM_N} per split; a cue with no "
              f"information crosses the bar there with probability under 1e-3):")
        for s in flagged:
            t = again[(s.task, s.cue)]
            measured = "constant on these items" if t.accuracy is None else f"{t.accuracy:.3f} (z {t.z:+.1f})"
            known = " (open, docs/validity.md)" if (s.task, s.cue) in OPEN_LEAKS else ""
            print(f"  {s.task} {s.cue}: {measured} "
                  + (f"LEAK: flagged in both stages{known}" if t.flagged else "within the bar: not a leak"))
        print(f"{len(leaks)} of {len(flagged)} flagged scores confirmed.")
    if failed:
        print(f"Not measured (items could not be generated): {', '.join(failed)}")
    print(f"Wall time: {seconds[0]:.0f} s generating items, {seconds[1]:.0f} s fitting and scoring cues and probe.")
    print("\n| task | inference depth of the evaluation items |\n|---|---|")
    for name, counts in depths.items():
        print(f"| {name} | {format_depths(counts)} |")
    return 1 if (leaks or failed) and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
