"""benchmarks/control_reads_examples.py: the examples-removed prompt, and bad input as one line
before any model loads (the scoring itself runs lm-eval's HFLM; docs/family.md quotes its figures)."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reads():
    spec = importlib.util.spec_from_file_location("control_reads_examples",
                                                  ROOT / "benchmarks" / "control_reads_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("distractors", [0, 2])
def test_without_examples_keeps_the_instruction_and_the_query_only(reads, distractors):
    from kbit_tasks.generators import generate

    for item in generate("inductive", "listfn", 2, n=6, seed=0, distractors=distractors):
        lines = item["question"].split("\n")
        assert reads.without_examples(item["question"]).split("\n") == [lines[0], lines[-1]]
        assert lines[-1].endswith("Output:") and "Output: [" not in reads.without_examples(item["question"])


@pytest.mark.parametrize("argv, message", [
    (["--levels", "9"], "level=9 is not valid for inductive/listfn"),
    (["--n", "0"], "n=0 is not valid"),
])
def test_bad_input_is_one_line_before_any_model_loads(reads, tiny_model_dir, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        reads.main([str(tiny_model_dir), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and message in err[-1]


def test_a_missing_folder_is_refused_offline(reads, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SystemExit) as exit_:
        reads.main([str(tmp_path / "nowhere")])
    assert exit_.value.code == 2 and "is not a model folder, and the hub is offline" in capsys.readouterr().err
