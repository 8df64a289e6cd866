"""`kbit-eval`: lm-eval's CLI with the kbit tasks appended. In-process, with lm-eval's index of
its ~10,000 built-in tasks switched off (it costs a minute on 2 cores and tests nothing of ours)."""
import functools
import re
import subprocess
import sys

import pytest

import kbit_tasks
from kbit_tasks.cli import _with_kbit_tasks, eval_main
from kbit_tasks.generators import SUBTASKS, task_name

TASKS = sorted(task_name(f, s, lv) for f, s, levels in SUBTASKS for lv in levels)


@pytest.fixture
def kbit_only(monkeypatch):
    import lm_eval.tasks

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", functools.partial(lm_eval.tasks.TaskManager, include_defaults=False))
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # eval_main rewrites it for lm-eval's parser


def test_tasks_dir_one_liner():
    out = subprocess.run([sys.executable, "-c", "from kbit_tasks.cli import eval_main; eval_main(['--tasks-dir'])"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == kbit_tasks.tasks_dir()


def test_include_path_is_appended_to_every_subcommand():
    folder = kbit_tasks.tasks_dir()
    assert _with_kbit_tasks(["ls", "tasks"], folder) == ["ls", "tasks", "--include_path", folder]
    assert _with_kbit_tasks(["--model", "hf"], folder) == ["run", "--model", "hf", "--include_path", folder]
    assert _with_kbit_tasks(["--help"], folder) == ["--help"]
    assert _with_kbit_tasks(["ls", "--include_path", "x"], folder) == ["ls", "--include_path", "x"]


def test_ls_tasks_lists_every_kbit_task(kbit_only, capsys):
    eval_main(["ls", "tasks"])
    out = capsys.readouterr().out
    for name in TASKS + ["kbit", "kbit-logical", "kbit-causal", "kbit-inductive"]:
        assert re.search(rf"\|{name}\s*\|", out), name


def test_validate_accepts_every_task(kbit_only, capsys):
    eval_main(["validate", "--tasks", ",".join(TASKS)])
    assert "All tasks found and valid" in capsys.readouterr().out


def test_bad_metadata_fails_before_the_model_loads(kbit_only):
    with pytest.raises(ValueError, match=r"n=0 is not valid; use an integer from 1 to 10000"):
        eval_main(["run", "--model", "hf", "--model_args", "pretrained=/nonexistent", "--tasks", "kbit_*",
                   "--metadata", '{"n": 0}'])


def test_run_prints_the_table(kbit_only, tiny_model_dir, capsys):
    """Through the kbit-hf model, which `kbit-eval` registers."""
    eval_main(["run", "--model", "kbit-hf", "--model_args", f"pretrained={tiny_model_dir},bits=4", "--tasks", "kbit-logical",
               "--limit", "2", "--device", "cpu", "--batch_size", "16", "--metadata", '{"n": 6}'])
    out = capsys.readouterr().out
    for name in ("kbit-logical", "logical syllogism l1", "logical ordering l3"):
        assert name in out
    for metric in ("acc", "acc_norm", "brier_score", "gold_logprob"):
        assert f"|{metric}" in out.replace(" ", "")
