"""One JSON file per cell, written atomically, plus the provenance every record carries."""
from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from kbit_tasks import atomic


def _json_default(obj):
    # lm-eval's configs hold functions and numpy scalars; its own writer uses the same fallback.
    from lm_eval.utils import handle_non_serializable

    return handle_non_serializable(obj)


def atomic_write_json(path: Path, record: dict) -> None:
    """A cell record, written atomically (lm-eval's objects serialised as lm-eval does)."""
    atomic.atomic_write_json(path, record, indent=1, default=_json_default)


def cell_path(output: Path, cell_id: str) -> Path:
    return Path(output) / f"{cell_id}.json"


def read_record(path: Path) -> dict | None:
    """The cell's record, or None when there is none (temporary files are never read)."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def cell_records(folder: Path) -> list[tuple[Path, dict]]:
    """Every cell record in a sweep folder, in name order."""
    return [(p, read_record(p)) for p in sorted(Path(folder).glob("*.json")) if not p.name.startswith(".")]


@lru_cache(maxsize=1)
def provenance() -> dict:
    """Package versions and the git revision of the kbit checkout (None outside a git checkout)."""
    versions = {}
    for dist in ("kbit", "lm_eval", "torch", "transformers"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {"versions": versions, "git_revision": rev}
