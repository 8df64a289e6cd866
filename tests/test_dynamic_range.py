"""benchmarks/dynamic_range.py on the tiny model: one record per (task, shots) cell, reused only
when its spec matches, the table with intervals, and bad input as one line before any model loads."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dynamic_range():
    spec = importlib.util.spec_from_file_location("dynamic_range", ROOT / "benchmarks" / "dynamic_range.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wilson_interval_and_above_chance(dynamic_range):
    lo, hi = dynamic_range.wilson(0.5, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert dynamic_range.above_chance(0.65, 100, 0.5) and not dynamic_range.above_chance(0.58, 100, 0.5)


def test_a_rung_with_an_open_leak_is_marked_and_not_counted_as_depth(dynamic_range, monkeypatch):
    """Were listfn l2-l4 answerable in one step (an open leak, as they were in tasks 3.1), a model
    above chance there would not have shown depth 4, so the deepest rung read stays at l1."""
    from kbit_tasks.shortcuts import battery

    monkeypatch.setattr(battery, "OPEN_LEAKS", frozenset(
        (f"kbit_inductive_listfn_l{level}", "where the end entries come from") for level in (2, 3, 4)))
    def record(level, acc):
        return {"task": f"kbit_inductive_listfn_l{level}", "family": "inductive", "subtask": "listfn",
                "level": level, "shots": 0, "n": 200, "acc": acc, "acc_calibrated": acc, "constant_share": 0.3,
                "chance": 0.25}
    out = dynamic_range.table([record(1, 0.45), record(2, 0.25), record(3, 0.45), record(4, 0.45)])
    assert "| inductive/listfn | 0 | l1,l2!,l3!,l4! | l1 | l1 |" in out
    assert "- : none; a rung marked ! has an open leak" in out
    assert "| kbit_inductive_listfn_l4 | 0 | 200 | 0.450" in out


@pytest.mark.slow
def test_runs_resumes_and_prints_the_table(dynamic_range, tiny_model_dir, tmp_path, capsys, monkeypatch):
    model = ["--model", "hf", "--model_args", f"pretrained={tiny_model_dir}", "--tasks", "ordering_l1", "ordering_l2",
             "--n1", "6", "--out", str(tmp_path)]
    argv = [*model, "--n", "4", "--shots", "0", "2"]
    dynamic_range.main(argv)
    out = capsys.readouterr().out
    assert "4 cells, 0 reused" in out
    files = sorted(p.name for p in tmp_path.glob("*.json"))
    assert files == ["kbit_logical_ordering_l1.0shot.json", "kbit_logical_ordering_l1.2shot.json",
                     "kbit_logical_ordering_l2.0shot.json", "kbit_logical_ordering_l2.2shot.json"]
    record = json.loads((tmp_path / "kbit_logical_ordering_l1.2shot.json").read_text())
    assert record["spec"]["shots"] == 2 and record["spec"]["n"] == 6 and record["result"]["n"] == 6
    assert 0.5 <= record["result"]["constant_share"] <= 1.0 and record["result"]["chance"] == 0.5
    assert "| kbit_logical_ordering_l2 | 2 | 4 |" in out and "| logical/ordering | 0 | l1,l2 |" in out

    # a second run reuses every cell and loads no model; a changed spec runs its cells again
    monkeypatch.setattr(dynamic_range, "load_model", lambda *a: pytest.fail("loaded a model"))
    dynamic_range.main(argv)
    assert "4 cells, 4 reused" in capsys.readouterr().out
    # --table-only prints the finished cells of this spec (here rung 1 only) and runs nothing
    dynamic_range.main([*model, "--n", "7", "--shots", "0", "2", "--table-only"])
    out = capsys.readouterr().out
    assert "2 cells not run yet" in out and "| kbit_logical_ordering_l1 | 2 | 6 |" in out
    assert "| kbit_logical_ordering_l2 |" not in out and "| logical/ordering | 0 | l1 |" in out
    monkeypatch.undo()
    dynamic_range.main([*model, "--n", "5", "--shots", "0"])
    assert "2 cells, 1 reused" in capsys.readouterr().out
    assert json.loads((tmp_path / "kbit_logical_ordering_l2.0shot.json").read_text())["spec"]["n"] == 5


@pytest.mark.parametrize("argv, message", [
    (["--shots", "0", "99"], "use 0 to 8 (its few-shot pool: 4 train items per answer position"),
    (["--shots", "-1"], "--shots=-1 is not valid; use an integer >= 0"),
    (["--n1", "0"], "--n1: n=0 is not valid"),
    (["--tasks", "nosuch"], "--tasks nosuch matches no shipped task"),
    (["--model", "kbit-hf", "--model_args", "pretrained=/nonexistent,bits=9"], "bits=9"),
    (["--model", "kbit-hf", "--model_args", "pretrained=/tmp,dtype=bf16"], "dtype='bf16' is not supported"),
    (["--model", "hf", "--model_args", "pretrained=/nonexistent"], "pretrained='/nonexistent': no such folder"),
    (["--model", "nosuch", "--model_args", "pretrained=/tmp"], "nosuch"),
    (["--device", "gpu"], "--device 'gpu' is not a device; choose one of"),
    (["--model", "hf"], "--model hf needs --model_args"),
])
def test_bad_input_is_one_line_before_any_model_loads(dynamic_range, argv, message, tmp_path, capsys,
                                                      monkeypatch):
    monkeypatch.setattr(dynamic_range, "load_model", lambda *a: pytest.fail("loaded a model"))
    with pytest.raises(SystemExit) as exit_:
        dynamic_range.main([*argv, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and message in err, err
