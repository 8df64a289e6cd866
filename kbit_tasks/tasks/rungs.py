"""Rungs deeper than the shipped ones, without code: writes one task YAML per asked rung into a
folder of yours, for `kbit-eval run --include_path FOLDER` (or `lm_eval --include_path FOLDER`
beside kbit's own folder). The tasks are named and labelled like the shipped ones
(`kbit_logical_rules_l7`, level 7 in their results), so a sweep, `collect` and the report read
them unchanged.

    python -m kbit_tasks.tasks.rungs --out my_rungs rules:7-8 causal/dsep:7

A level is not a `--metadata` key on purpose: lm-eval calls the loader with the metadata and the
YAML's dataset_kwargs side by side, so a "level" there would either collide with the task's own
(lm-eval stops with a TypeError) or, under another name, label level-7 items as the task's level.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from kbit_tasks.generators import SUBTASKS, get_subtask, task_name
from kbit_tasks.tasks._generate_configs import HERE, task_config, write

HEADER = "# Written by python -m kbit_tasks.tasks.rungs: a rung deeper than the shipped ones.\n"


def parse_rung(spec: str) -> list[tuple[str, str, int]]:
    """'rules:7-8', 'logical/rules:7,9' -> [(family, subtask, level), ...]; ValueError naming the
    valid choices for anything else."""
    name, _, levels = spec.partition(":")
    known = [f"{f}/{s}" for f, s, _ in SUBTASKS]
    matches = [k for k in known if name in (k, k.split("/")[1])]
    if len(matches) != 1 or not levels:
        raise ValueError(f"{spec!r} is not a rung; write SUBTASK:LEVELS (e.g. rules:7-8), SUBTASK one of "
                         f"{', '.join(known)}")
    family, subtask = matches[0].split("/")
    sub = get_subtask(family, subtask)
    try:
        asked = [n for part in levels.split(",") for n in _span(part)]
    except ValueError:
        asked = None
    deeper = range(max(sub.levels) + 1, sub.deepest + 1)
    if not asked or any(level not in deeper for level in asked):
        choices = f"{deeper.start} to {deeper.stop - 1}" if deeper else "none: it ships every rung it can build"
        raise ValueError(f"{spec!r}: levels {levels!r} are not valid for {family}/{subtask}; shipped are "
                         f"{', '.join(map(str, sub.levels))}, deeper ones it can build: {choices}")
    return [(family, subtask, level) for level in asked]


def _span(part: str) -> range:
    first, _, last = part.partition("-")
    return range(int(first), int(last or first) + 1)


def write_rungs(out: Path, rungs: list[tuple[str, str, int]]) -> list[Path]:
    """One YAML per rung in `out`, each including kbit's task template by its absolute path."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for family, subtask, level in rungs:
        path = out / f"{task_name(family, subtask, level)}.yaml"
        write(path, task_config(family, subtask, level, template=str(HERE / "_kbit_template_yaml")), HEADER)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kbit_tasks.tasks.rungs", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the task YAMLs into")
    parser.add_argument("rungs", nargs="+", metavar="SUBTASK:LEVELS",
                        help="e.g. rules:7-8 or causal/dsep:7,8 (levels beyond the shipped ones)")
    args = parser.parse_args(argv)
    try:
        if args.out.exists() and not args.out.is_dir():
            raise ValueError(f"--out {str(args.out)!r} is a file; give a folder (made if missing)")
        rungs = [r for spec in args.rungs for r in parse_rung(spec)]
        paths = write_rungs(args.out, rungs)
    except (ValueError, OSError) as err:
        parser.error(str(err))
    for path in paths:
        print(path)
    print(f"run them with: kbit-eval run --include_path {args.out} --tasks "
          f"{','.join(p.stem for p in paths)} ...")


if __name__ == "__main__":
    main()
