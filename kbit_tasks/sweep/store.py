"""One JSON file per cell, written atomically, read defensively, plus the provenance every
record carries.

A record that cannot be trusted (truncated JSON, `null`, `[]`, a missing key) is a
`CorruptRecord`: `run` moves it to OUTPUT/.corrupt/ (kept for inspection) and redoes the
cell; `collect` skips it with a warning naming the file.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from kbit_tasks import atomic
from kbit_tasks.provenance import git_revision

log = logging.getLogger("kbit.sweep")

CORRUPT_DIR = ".corrupt"
REQUIRED = {"done": ("cell", "model", "quant", "quant_report", "lm_eval", "finished_at"),
            "failed": ("cell", "traceback")}
REQUIRED_LM_EVAL = ("results", "n-samples")


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


def quarantine(corrupt: CorruptRecord) -> Path | None:
    """Move a corrupt record to OUTPUT/.corrupt/<name>-<UTC time> and say so in one line;
    None when another process moved it first."""
    folder = corrupt.path.parent / CORRUPT_DIR
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = folder / f"{corrupt.path.name}-{stamp}"
    try:
        os.rename(corrupt.path, target)
    except FileNotFoundError:
        return None
    log.warning("corrupt record %s (%s): moved to %s; the cell is redone", corrupt.path, corrupt.reason, target)
    return target


def cell_records(folder: Path) -> list[tuple[Path, dict | CorruptRecord]]:
    """Every cell record in a sweep folder, in name order; an unreadable one as its CorruptRecord."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            found.append((path, read_record(path)))
        except CorruptRecord as err:
            found.append((path, err))
    return [(p, r) for p, r in found if r is not None]


@lru_cache(maxsize=1)
def provenance() -> dict:
    """Package versions and the git revision of the kbit checkout (None outside a git checkout),
    found once per process."""
    versions = {}
    for dist in ("kbit", "lm_eval", "torch", "transformers"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"versions": versions, "git_revision": git_revision(str(Path(__file__).parent))}
