"""How far surface cues get on each kbit task, without reasoning.

For each task, a lookup-table guesser per cue is fitted on items of seed 1 (the majority
gold position for each value of the cue) and scored on the evaluation items (seed 0).
A cue that scores well above chance is a shortcut a model could learn instead of the
skill. Generic cues: the longest or shortest choice. Task cues: read from the text.

    python scripts/task_shortcuts.py [--n 300]
"""
from __future__ import annotations

import argparse
import re
from collections import Counter

from kbit_tasks.generators import SUBTASKS, generate, task_name


def _edges(q):
    return re.findall(r"^(\w+) directly causes (\w+)\.$", q, re.M)


def _degrees(q, *names):
    edges = _edges(q)
    return tuple((any(a == v for a, _ in edges), any(b == v for _, b in edges)) for v in names)


def _statement(q):
    return re.search(r'"(.+)"', q)[1]


CUES = {
    "syllogism": {
        "conclusion form": lambda q: " ".join(q.splitlines()[-3].split()[1:2]) + (" not" if " not " in q.splitlines()[-3] else ""),
        "premises all 'All'": lambda q: all(x.startswith("All") for x in q.splitlines()[1:-3]),
    },
    "rules": {
        "statement negated": lambda q: " not " in _statement(q),
        "attribute concluded by a rule": lambda q: any(
            x.startswith("If") and x.rstrip(".").split()[-1] == _statement(q).rstrip(".").split()[-1] for x in q.splitlines()
        ),
    },
    "intervention": {"in/out edges of both": lambda q: _degrees(q, *re.search(r"sets (\w+) to .* will (\w+) change", q).groups())},
    "dsep": {
        "in/out edges of both": lambda q: _degrees(q, *re.search(r"Are (\w+) and (\w+) statistically", q).groups()),
        "variables observed": lambda q: q.count(" and of ") + ("same value of" in q),
    },
    "correlation": {"in/out edges of both": lambda q: _degrees(q, *re.search(r"about (\w+) and (\w+) is", q).groups())},
}
GENERIC = {
    "longest choice": lambda it: max(range(len(it["choices"])), key=lambda i: len(it["choices"][i])),
    "shortest choice": lambda it: min(range(len(it["choices"])), key=lambda i: len(it["choices"][i])),
}


def lookup_accuracy(cue, fit, test) -> float:
    table = Counter((cue(it["question"]), it["gold"]) for it in fit)
    best = {}
    for (value, gold), count in sorted(table.items(), key=lambda kv: -kv[1]):
        best.setdefault(value, gold)
    return sum(best.get(cue(it["question"]), 0) == it["gold"] for it in test) / len(test)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="items per task and seed")
    args = parser.parse_args(argv)
    print(f"| task | chance | {' | '.join(GENERIC)} | task cue: accuracy |")
    print("|---|---|---|---|---|")
    for family, subtask, levels in SUBTASKS:
        for level in levels:
            fit = generate(family, subtask, level, args.n, seed=1)
            test = generate(family, subtask, level, args.n, seed=0)
            generic = [sum(pick(it) == it["gold"] for it in test) / len(test) for pick in GENERIC.values()]
            cues = "; ".join(f"{name}: {lookup_accuracy(cue, fit, test):.2f}" for name, cue in CUES.get(subtask, {}).items())
            print(f"| {task_name(family, subtask, level)} | {test[0]['chance']:.2f} | "
                  + " | ".join(f"{g:.2f}" for g in generic) + f" | {cues or '-'} |")


if __name__ == "__main__":
    main()
