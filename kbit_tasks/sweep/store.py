"""One JSON file per cell, written atomically, read defensively, plus the provenance every
record carries.

A record that cannot be trusted (truncated JSON, `null`, `[]`, a missing key, a value
`collect` cannot read or that is impossible) is a `CorruptRecord`: `run` and `collect` move
it to OUTPUT/.corrupt/ (kept for inspection) with a warning naming the file and the reason,
and `run` redoes the cell. A finished record that a run replaces (its fingerprint no longer
matches, --force) is first linked into OUTPUT/.replaced/: nothing finished is destroyed.
A cell's file is `<model>__<precision>.json` (config.check_file_names keeps the names
distinct and visible); other files of the folder are not records.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from kbit_tasks import atomic
from kbit_tasks.provenance import git_revision

log = logging.getLogger("kbit.sweep")

CORRUPT_DIR = ".corrupt"
REPLACED_DIR = ".replaced"
RECORD_GLOB = "*__*.json"
REQUIRED = {"done": ("cell", "model", "lm_eval", "finished_at"), "failed": ("cell", "traceback")}
REQUIRED_LM_EVAL = ("results", "n-samples", "config")


class CorruptRecord(ValueError):
    """A cell record that is there but cannot be read as one."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def _json_default(obj):
    # lm-eval's configs hold functions and numpy scalars; its own writer uses the same fallback.
    from lm_eval.utils import handle_non_serializable

    return handle_non_serializable(obj)


def atomic_write_json(path: Path, record: dict) -> None:
    """A cell record, written atomically (lm-eval's objects serialised as lm-eval does)."""
    atomic.atomic_write_json(path, record, indent=1, default=_json_default)


def create_json(path: Path, data: dict) -> bool:
    """Create `path` holding `data` only if no such file exists (False if one does), never seen
    half written: a complete temporary file is hard-linked to the name, which fails if the name
    exists (atomic on local file systems and NFS v3+, unlike O_EXCL followed by a write)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=atomic.TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
        os.chmod(tmp, atomic.umask_mode())
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def cell_path(output: Path, cell_id: str) -> Path:
    return Path(output) / f"{cell_id}.json"


def check_record(record, path: Path) -> dict:
    """The record if it has what its status promises, else CorruptRecord saying what is missing."""
    if not isinstance(record, dict):
        raise CorruptRecord(path, f"holds {type(record).__name__} {json.dumps(record)[:40]}, not a record")
    status = record.get("status")
    if status not in REQUIRED:
        raise CorruptRecord(path, f"status={status!r}; a record's status is one of {', '.join(REQUIRED)}")
    missing = [key for key in REQUIRED[status] if key not in record]
    if status == "done" and isinstance(record.get("lm_eval"), dict):
        missing += [f"lm_eval.{key}" for key in REQUIRED_LM_EVAL if key not in record["lm_eval"]]
    if missing:
        raise CorruptRecord(path, f"missing {', '.join(missing)}")
    return record


def read_record(path: Path) -> dict | None:
    """The cell's record, None when there is none, CorruptRecord when it is unreadable."""
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorruptRecord(path, f"not valid JSON ({err.msg} at line {err.lineno}, {len(text)} bytes)") from None
    return check_record(record, path)


def _aside(path: Path, subfolder: str) -> Path:
    folder = path.parent / subfolder
    folder.mkdir(exist_ok=True)
    return folder / f"{path.name}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')}"


def quarantine(corrupt: CorruptRecord, then: str = "the cell is redone") -> Path | None:
    """Move a corrupt record to OUTPUT/.corrupt/<name>-<UTC time> and say so in one line;
    None when another process moved it first or the folder is read-only (then only warned)."""
    try:
        target = _aside(corrupt.path, CORRUPT_DIR)
        os.rename(corrupt.path, target)
    except FileNotFoundError:
        return None
    except OSError as err:
        log.warning("corrupt record %s (%s): cannot move it aside (%s)", corrupt.path, corrupt.reason, err.strerror)
        return None
    log.warning("corrupt record %s (%s): moved to %s; %s", corrupt.path, corrupt.reason, target, then)
    return target


def keep_replaced(path: Path) -> Path:
    """Link a finished record about to be overwritten into OUTPUT/.replaced/<name>-<UTC time>
    (the atomic write then replaces the name, not the file: the old one lives on there)."""
    target = _aside(path, REPLACED_DIR)
    os.link(path, target)
    return target


def cell_records(folder: Path) -> list[tuple[Path, dict | CorruptRecord]]:
    """Every cell record in a sweep folder, in name order; an unreadable one as its CorruptRecord."""
    found = []
    for path in sorted(Path(folder).glob(RECORD_GLOB)):
        if path.name.startswith("."):  # a temporary file of an atomic write
            continue
        try:
            found.append((path, read_record(path)))
        except CorruptRecord as err:
            found.append((path, err))
    return [(p, r) for p, r in found if r is not None]


@lru_cache(maxsize=1)
def provenance() -> dict:
    """The versions of the packages kbit runs on and the git revision of the kbit checkout (None
    outside a git checkout), found once per process; kbit's own version is the fingerprint's."""
    versions = {}
    for dist in ("lm_eval", "torch", "transformers"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"versions": versions, "git_revision": git_revision(str(Path(__file__).parent))}
