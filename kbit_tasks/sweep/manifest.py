"""A sweep folder knows its grid: OUTPUT/manifest.json names the cells and tasks it should
hold and the one evaluation spec (config.SweepConfig.evaluation_spec) they are computed
under. `run` writes it before any work; a config with another spec on the same folder is
refused (one line naming the differences) unless `--mismatch rerun` asks to redo the grid;
`collect` checks records against it (and `--strict` fails on any cell it lacks).

Two processes starting at once cannot both write a different manifest: the first one is
created by hard-linking a complete temporary file to the name (fails if the name exists),
and the loser compares against the winner's.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from kbit_tasks.atomic import atomic_write_json
from kbit_tasks.sweep.fingerprint import differences
from kbit_tasks.sweep.store import create_json

log = logging.getLogger("kbit.sweep")

MANIFEST = "manifest.json"
KIND = "kbit-sweep grid"


def grid_manifest(config, cells) -> dict:
    """What the folder should hold: every cell of the config's grid (all shards), its tasks, its spec."""
    return {"kind": KIND, "spec": config.evaluation_spec(), "tasks": list(config.tasks),
            "cells": [cell.id for cell in cells], "written_at": datetime.now(timezone.utc).isoformat()}


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, None without one; a ValueError naming the file if it is unreadable."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a sweep manifest ({err}); move it away to start the folder afresh") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND or not isinstance(manifest.get("spec"), dict):
        raise ValueError(f"{path} is not a kbit-sweep manifest; is {str(folder)!r} another program's folder?")
    return manifest


def check_manifest(folder: Path, manifest: dict, allow_new_spec: bool, write: bool = True) -> str | None:
    """Make `manifest` the folder's (with write=False only check): None when the folder is new
    or already serves this spec and grid, else one line saying what changes. Another spec is a
    ValueError unless allow_new_spec (then its finished cells are redone, the old records kept)."""
    path = Path(folder) / MANIFEST
    old = read_manifest(folder)
    if old is None:
        if not write or create_json(path, manifest):
            return None
        old = read_manifest(folder)  # another process wrote it first
    changed = differences(old["spec"], manifest["spec"])
    if changed and not allow_new_spec:
        raise ValueError(f"{folder} holds a sweep with other settings ({'; '.join(changed[:3])}); use another "
                         "output folder, or --mismatch rerun to redo its cells with these settings "
                         "(the old records are kept in .replaced/)")
    if changed:
        why = f"the folder's settings change ({'; '.join(changed[:3])}): every finished cell is redone"
    elif (old.get("cells"), old.get("tasks")) != (manifest["cells"], manifest["tasks"]):
        added = [t for t in manifest["tasks"] if t not in (old.get("tasks") or [])]
        new_cells = [c for c in manifest["cells"] if c not in (old.get("cells") or [])]
        why = (f"the grid changes: {len(new_cells)} new cells, {len(added)} new tasks"
               + (f" ({', '.join(added[:3])}{' ...' if len(added) > 3 else ''})" if added else ""))
    else:
        return None
    if write:
        atomic_write_json(path, manifest, indent=1)
        log.warning("%s: %s", path, why)
    return why
