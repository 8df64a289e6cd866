"""Atomic file writes: a crash at any moment leaves the old file or the new one, never a torn one.

Cell records, family manifests, the tidy table and fit reports all go through here, so a
long run that is killed never leaves a half-written file that looks finished.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """`write(tmp)` fills a temporary file beside `path`; it is fsynced, renamed over `path`,
    and the folder fsynced. A failure removes the temporary file and re-raises."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def atomic_write_json(path: str | Path, data, **dump_kwargs) -> Path:
    """`json.dump(data, **dump_kwargs)` through `atomic_write`."""
    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(data, fh, **dump_kwargs)

    return atomic_write(path, write)
