"""Atomic file writes: a crash at any moment leaves the old file or the new one, never a torn one.

Cell records, family manifests, the tidy table and fit reports all go through here, so a
long run that is killed never leaves a half-written file that looks finished. Files get the
mode the umask gives (mkstemp's 0600 would hide them from others sharing a cluster folder),
and a failed write names its path (the kernel's ENOSPC does not).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

TEMP_SUFFIX = ".tmp"


def umask_mode(base: int = 0o666) -> int:
    """`base` less the process's umask (read by setting it, the only portable way)."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """`write(tmp)` fills a temporary file beside `path`; it is fsynced, given the umask's mode,
    renamed over `path`, and the folder fsynced. A failure removes the temporary file and
    re-raises; an OSError is re-raised naming `path`."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        os.close(fd)
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:
            raise OSError(err.errno, f"cannot write {path}: {err.strerror}") from err
        raise
    return path


def atomic_write_json(path: str | Path, data, **dump_kwargs) -> Path:
    """`json.dump(data, **dump_kwargs)` through `atomic_write`."""
    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(data, fh, **dump_kwargs)

    return atomic_write(path, write)


def read_json(path: str | Path) -> dict | None:
    """The JSON file an atomic write left at `path`, or None if it is missing or not JSON (a
    cache that is absent or unreadable is rebuilt, not an error)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def atomic_folder(path: str | Path):
    """Yields a temporary folder beside `path` to fill; on success it gets the umask's mode and
    is renamed to `path` (an older `path` is removed first), on failure it is removed. A reader
    never finds a half-written folder under the final name."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        tmp.chmod(umask_mode(0o777))  # mkdtemp's 0700 would hide it from others sharing the folder
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_writable_dir(folder: str | Path, probe_bytes: int = 1 << 20) -> Path:
    """Create `folder` if needed and prove that `probe_bytes` can be written and synced there,
    so a read-only or full disk is found before any model loads (an empty probe file would
    pass on a full disk). Raises ValueError naming the folder."""
    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{str(folder)!r} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-") as fh:
            fh.write(b"\0" * probe_bytes)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as err:
        raise ValueError(f"folder {str(folder)!r} is not writable: {err.strerror or err}") from None
    return folder


def remove_stale_temps(folder: str | Path, older_than_s: float) -> list[Path]:
    """Delete temporary files of writes killed mid-way (`.NAME.XXXX.tmp`, probes) older than
    `older_than_s`; younger ones may belong to a live writer."""
    removed = []
    cutoff = time.time() - older_than_s
    for pattern in (f".*{TEMP_SUFFIX}", ".probe-*"):
        for tmp in Path(folder).glob(pattern):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed.append(tmp)
            except FileNotFoundError:
                pass  # another process cleaned it first
    return removed
