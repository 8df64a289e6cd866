"""kbit_tasks.atomic: a failed write leaves the old file and no temporary file behind and names
its path; files follow the umask; unwritable folders are found before work; stale temporaries go."""
import errno
import os
import tempfile
import time

import pytest

from kbit_tasks.atomic import atomic_folder, atomic_write, check_writable_dir, remove_stale_temps


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results.csv"
    atomic_write(path, lambda tmp: open(tmp, "w").write("a,b\n1,2\n"))

    def torn(tmp):
        with open(tmp, "w") as fh:
            fh.write("a,b\n1,")  # half a table, then the process "dies"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, torn)
    assert path.read_text() == "a,b\n1,2\n"
    assert os.listdir(tmp_path) == ["results.csv"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "shared.json", lambda tmp: open(tmp, "w").write("{}"))
        os.umask(0o077)
        atomic_write(tmp_path / "private.json", lambda tmp: open(tmp, "w").write("{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "shared.json").stat().st_mode & 0o777 == 0o644  # mkstemp alone gives 0600
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600


def test_a_failed_write_names_its_path(tmp_path):
    def full_disk(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")  # what write() raises: no file name

    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'cell.json'}: No space left on device"):
        atomic_write(tmp_path / "cell.json", full_disk)
    assert os.listdir(tmp_path) == []


def test_writable_check_finds_full_disk_read_only_and_files(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_writable_dir(tmp_path / "file")
    assert check_writable_dir(tmp_path / "new" / "folder").is_dir()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # a probe of zero bytes would pass on a full disk
    with pytest.raises(ValueError, match=f"'{tmp_path}' is not writable: No space left on device"):
        check_writable_dir(tmp_path)
    monkeypatch.setattr(os, "fsync", real_fsync)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(ValueError, match="Read-only file system"):
        check_writable_dir(tmp_path)
    assert os.listdir(tmp_path) == ["file", "new"]


def test_stale_temporary_files_are_removed_young_ones_kept(tmp_path):
    old, young, record = tmp_path / ".cell.json.abc.tmp", tmp_path / ".cell.json.def.tmp", tmp_path / "cell.json"
    for path in (old, young, record):
        path.write_text("{")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    os.utime(record, (time.time() - 3600, time.time() - 3600))
    assert remove_stale_temps(tmp_path, older_than_s=600) == [old]
    assert sorted(os.listdir(tmp_path)) == [".cell.json.def.tmp", "cell.json"]


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    """A failure leaves the old folder and no temporary one; success replaces it, with the umask's mode."""
    final = tmp_path / "model"
    with atomic_folder(final) as tmp:
        (tmp / "config.json").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(final) as tmp:
        (tmp / "config.json").write_text("half")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["model"] and (final / "config.json").read_text() == "old"
    old = os.umask(0o022)
    try:
        with atomic_folder(final) as tmp:
            (tmp / "weights").write_text("new")
    finally:
        os.umask(old)
    assert os.listdir(final) == ["weights"] and final.stat().st_mode & 0o777 == 0o755  # mkdtemp alone: 0700


def test_read_json_gives_none_for_what_a_cache_rebuilds(tmp_path):
    """The family and control caches read their stamps through it: a missing, torn or misplaced
    file means "build again", not an error."""
    from kbit_tasks.atomic import atomic_write_json, read_json

    atomic_write_json(tmp_path / "ok.json", {"fingerprint": "abc"})
    (tmp_path / "torn.json").write_text('{"fingerprint": ')
    (tmp_path / "file").write_text("x")
    assert read_json(tmp_path / "ok.json") == {"fingerprint": "abc"}
    assert read_json(tmp_path / "torn.json") is None
    assert read_json(tmp_path / "missing.json") is None
    assert read_json(tmp_path / "file" / "family.json") is None  # a file where a folder should be
