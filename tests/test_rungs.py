"""Rungs deeper than the shipped ones, written as task YAMLs into a user's folder: named, loaded
and labelled with their own level, and no --metadata key can relabel a task's level."""
import dataclasses

import pytest

import kbit_tasks
from kbit_tasks import generators
from kbit_tasks.generators import content_hash, generate, get_subtask
from kbit_tasks.tasks.rungs import main, parse_rung


@pytest.fixture
def ordering_ships_one_rung(monkeypatch):
    """Ordering as if it shipped only rung 1 of the three its generator builds, so that the test
    holds whatever the ladders ship."""
    sub = get_subtask("logical", "ordering")
    monkeypatch.setitem(generators._REGISTRY, sub.key, dataclasses.replace(sub, levels=(1,), max_level=3))


def task_manager(*paths, **metadata):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(paths), include_defaults=False, metadata=metadata)


def test_a_written_rung_is_its_own_task_with_its_own_level(ordering_ships_one_rung, tmp_path, capsys):
    main(["--out", str(tmp_path), "ordering:2-3"])
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == ["kbit_logical_ordering_l2.yaml",
                                                              "kbit_logical_ordering_l3.yaml"]
    assert "--include_path" in capsys.readouterr().out
    tasks = task_manager(str(tmp_path), n=6).load(["kbit_logical_ordering_l3"])["tasks"]
    (task,) = tasks.values()
    items = generate("logical", "ordering", 3, 6)
    assert list(task.test_docs()) == items
    meta = task.dump_config()["metadata"]
    assert meta["level"] == 3 and meta["content_hash"] == content_hash(items)
    assert task.dump_config()["task_alias"] == "logical ordering l3"


@pytest.mark.slow
def test_a_written_rung_runs_through_kbit_eval(ordering_ships_one_rung, tmp_path, tiny_model_dir, capsys,
                                               monkeypatch):
    import functools
    import sys

    import lm_eval.tasks

    from kbit_tasks.cli.eval import main as eval_main

    monkeypatch.setattr(lm_eval.tasks, "TaskManager",
                        functools.partial(lm_eval.tasks.TaskManager, include_defaults=False))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    main(["--out", str(tmp_path), "logical/ordering:2"])
    eval_main(["run", "--model", "hf", "--model_args", f"pretrained={tiny_model_dir}", "--include_path",
               str(tmp_path), "--tasks", "kbit_logical_ordering_l2,kbit_logical_ordering_l1", "--limit", "2",
               "--device", "cpu", "--metadata", '{"n": 4}'])
    out = capsys.readouterr().out
    assert "logical ordering l2" in out and "logical ordering l1" in out


@pytest.mark.parametrize("spec, message", [
    ("ordering:1", "shipped are 1, deeper ones it can build: 2 to 3"),
    ("ordering:4", "levels '4' are not valid"),
    ("ordering:x", "levels 'x' are not valid"),
    ("ordering", "write SUBTASK:LEVELS"),
    ("nosuch:7", "SUBTASK one of logical/syllogism"),
])
def test_bad_rungs_are_one_line(ordering_ships_one_rung, spec, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--out", str(tmp_path / "out"), spec])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_an_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit) as exit_:
        main(["--out", str(tmp_path / "afile"), "rules:7"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and "afile' is a file; give a folder" in err


def test_a_subtask_that_ships_every_rung_says_so():
    sub = get_subtask("logical", "rules")
    if sub.deepest > max(sub.levels):
        pytest.skip("rules builds rungs beyond the shipped ones")
    with pytest.raises(ValueError, match="none: it ships every rung it can build"):
        parse_rung("rules:9")


@pytest.mark.parametrize("metadata, error", [({"level": 3}, TypeError), ({"depth": 3}, ValueError),
                                             ({"levels": [3]}, ValueError)])
def test_no_metadata_key_relabels_a_tasks_level(metadata, error):
    """lm-eval passes --metadata to the loader beside the task's own level: "level" collides
    (lm-eval's call fails) and the names a user might try instead are refused, so no result of
    kbit_..._l1 ever holds another level's items."""
    with pytest.raises(error, match="level|rung"):
        task_manager(kbit_tasks.tasks_dir(), n=4, **metadata).load(["kbit_logical_ordering_l1"])
