"""The battery's second stage: a flagged score is measured again on fresh items, and only a
score flagged twice is a leak. It must confirm a planted leak, clear the same cue on random
labels, and clear a cue that carries nothing on a real task; the script's exit status follows
the confirmed leaks, not the first-stage flags."""
import importlib.util
from pathlib import Path

import pytest
from test_shortcuts import LEAKS, toy

from kbit_tasks.shortcuts import battery
from kbit_tasks.shortcuts.battery import Score, confirm
from kbit_tasks.shortcuts.cues import GENERIC

TASK = "kbit_logical_ordering_l1"  # any real task name: the toy items below stand in for its items


def _toy_splits(build, random_labels=False):
    """A `_generate_splits` that builds toy items from `build`, fresh for every seed."""
    def splits(family, subtask, level, n, seed):
        return tuple(toy(build, split, n, random_labels, seed) for split in ("train", "eval"))
    return splits


@pytest.mark.parametrize("random_labels", [False, True])
def test_confirm_keeps_a_planted_leak_and_clears_noise(monkeypatch, random_labels):
    monkeypatch.setattr(battery, "_generate_splits", _toy_splits(LEAKS["length rank"], random_labels))
    first = Score(TASK, "length rank", 0.31, 0.25, 300)
    [again] = confirm([first], n=400, seed=1)
    assert (again.task, again.cue, again.n) == (TASK, "length rank", 400)
    if random_labels:
        assert not again.flagged and again.accuracy < 0.25 + 0.05
    else:
        assert again.flagged and again.accuracy > 0.9


def test_confirm_measures_only_the_flagged_cues_and_the_probe(monkeypatch):
    monkeypatch.setattr(battery, "_generate_splits", _toy_splits(LEAKS["last mention"]))
    flagged = [Score(TASK, "last mention", 0.4, 0.25, 300), Score(TASK, battery.PROBE, 0.4, 0.25, 300)]
    again = confirm(flagged, n=200, seed=3)
    assert sorted(s.cue for s in again) == sorted(s.cue for s in flagged)
    assert all(s.flagged for s in again)


def test_confirm_clears_an_uninformative_cue_on_a_real_task():
    """Ordering's gold position is balanced by construction: "position" carries nothing."""
    [again] = confirm([Score(TASK, "position", 0.56, 0.5, 300)], n=300, seed=1)
    assert abs(again.accuracy - 0.5) < 0.05 and not again.flagged


def _script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "task_shortcuts.py"
    spec = importlib.util.spec_from_file_location("task_shortcuts", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("confirmed", [False, True])
def test_script_fails_on_confirmed_leaks_only(monkeypatch, capsys, confirmed):
    script = _script()
    item = {"question": "Q", "choices": ["a", "b"], "gold": 0, "chance": 0.5, "subtask": "toy", "depth": 1}
    flagged = Score(TASK, GENERIC[0].name, 0.7, 0.5, 300)

    quiet = [Score(TASK, c.name, 0.5, 0.5, 300) for c in GENERIC[1:]] + [Score(TASK, battery.PROBE, 0.5, 0.5, 300)]

    def run(n, seed, only, forest):
        assert not forest  # opt-in
        yield TASK, [flagged] + quiet, [item], (0.0, 0.0), None

    monkeypatch.setattr(script, "run", run)
    monkeypatch.setattr(script, "confirm", lambda scores, seed: [
        Score(s.task, s.cue, 0.7 if confirmed else 0.51, s.chance, 1000) for s in scores])
    assert script.main(["--n", "300"]) == 1  # without --confirm every flag fails the run
    assert script.main(["--n", "300", "--confirm"]) == (1 if confirmed else 0)
    out = capsys.readouterr().out
    assert ("LEAK: flagged in both stages" if confirmed else "within the bar: not a leak") in out
    assert f"{int(confirmed)} of 1 flagged scores confirmed." in out
