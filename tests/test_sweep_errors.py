"""kbit-sweep's one error path: every mistake is one line `kbit-sweep: error: ...`, exit 2,
no traceback (--debug shows it), found before any model loads where it can be."""
import errno
import os
import tempfile

import pytest
import yaml

from kbit_tasks import atomic
from kbit_tasks.cli.sweep import main
from kbit_tasks.sweep import runner


def _config(tmp_path, model_dir, **extra):
    raw = {"models": [{"path": str(model_dir), "name": "tiny"}], "precisions": [{"bits": 16}],
           "tasks": ["kbit_logical_syllogism_l1"], "limit": 2, "batch_size": 4, "device": "cpu",
           "output": str(tmp_path / "out"), **extra}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _fails(argv, capsys, code=2) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == code and "Traceback" not in err, err
    [line] = [ln for ln in err.splitlines() if ln.startswith("kbit-sweep: error: ")]
    return line


@pytest.fixture
def no_model_load(monkeypatch):
    monkeypatch.setattr(runner, "load_lm", lambda *a: pytest.fail("a model was loaded before the error"))


@pytest.mark.parametrize("folder, message", [
    ("missing", "'{tmp}/missing': no such folder"),
    ("a-file", "'{tmp}/a-file' is a file; give a sweep output folder"),
    ("empty", "'{tmp}/empty' holds no cell records"),
])
def test_collect_on_a_wrong_folder(tmp_path, capsys, folder, message):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "empty").mkdir()
    line = _fails(["collect", str(tmp_path / folder), "-o", str(tmp_path / "t.csv")], capsys)
    assert message.format(tmp=tmp_path) in line and not (tmp_path / "t.csv").exists()


def test_yaml_syntax_error(tmp_path, capsys):
    (tmp_path / "sweep.yaml").write_text("models: [a\nprecisions: {bits: 4}\n")
    line = _fails(["run", str(tmp_path / "sweep.yaml")], capsys)
    assert f"sweep config '{tmp_path}/sweep.yaml': YAML syntax error at line" in line


@pytest.mark.parametrize("extra, message", [
    ({"metadata": {"nn": 5}}, "metadata: unknown key(s) 'nn'; valid keys are n, seed, distractors"),
    ({"metadata": {"n": 0}}, "metadata: n=0 is not valid"),
    ({"device": "mps"}, "device='mps' is not available on this machine; choose one of auto, cpu"),
    ({"models": ["./no/such/model"]}, "'./no/such/model': no such folder"),
])
def test_bad_config_values(tmp_path, tiny_model_dir, capsys, monkeypatch, no_model_load, extra, message):
    import torch

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert message in _fails(["run", _config(tmp_path, tiny_model_dir, **extra)], capsys)


def test_full_or_read_only_output_is_found_before_any_model_loads(tmp_path, tiny_model_dir, capsys, monkeypatch,
                                                                 no_model_load):
    cfg = _config(tmp_path, tiny_model_dir)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    line = _fails(["run", cfg], capsys)
    assert f"output: folder '{tmp_path}/out' is not writable: No space left on device" in line
    monkeypatch.undo()
    monkeypatch.setattr(runner, "load_lm", lambda *a: pytest.fail("a model was loaded before the error"))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    assert "is not writable: Read-only file system" in _fails(["run", cfg], capsys)


@pytest.mark.slow
def test_a_full_disk_mid_run_names_the_record_and_releases_the_claim(tmp_path, tiny_model_dir, capsys, monkeypatch):
    def no_space(path, data, **kwargs):  # the disk fills up while the cell computes
        def write(tmp):
            raise OSError(errno.ENOSPC, "No space left on device")
        return atomic.atomic_write(path, write)

    monkeypatch.setattr(atomic, "atomic_write_json", no_space)
    line = _fails(["run", _config(tmp_path, tiny_model_dir)], capsys)
    assert line == f"kbit-sweep: error: cannot write {tmp_path}/out/tiny__16bit.json: No space left on device"
    assert not list((tmp_path / "out" / ".claims").iterdir())
    assert sorted(os.listdir(tmp_path / "out")) == [".claims", "manifest.json"]  # no record, no temporary file


def test_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "sweep.yaml").write_text("models: [a\n")
    with pytest.raises(ValueError, match="YAML syntax error"):
        main(["run", str(tmp_path / "sweep.yaml"), "--debug"])
