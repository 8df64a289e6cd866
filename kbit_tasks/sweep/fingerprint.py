"""What produced a cell record, so a finished record is reused only if all of it still matches.

The fingerprint of a cell (stored in its record as `fingerprint`) covers:
- the model: its resolved folder (a local path made absolute, or a hub id with the cached
  snapshot's revision), the sha256 of config.json, and for each weights file (*.safetensors,
  *.bin, *.pt, *.pth, *.gguf, the shard index) its name, size and modification time plus, for
  safetensors, the sha256 of its header (every tensor's name, dtype, shape and offsets).
  Cheap by design: no weights are read. A model retrained in place changes the mtimes; a
  copied folder with new mtimes is (conservatively) a changed model;
- the model's `params` override and the quantization (every QuantConfig field);
- the evaluation: tasks, num_fewshot, limit, dtype, compute_dtype, seed, metadata,
  batch_size, max_batch_size, bootstrap_iters;
- each task's content hash (sha256 of its generated items; the items hold their family,
  subtask, level and chance, so it also covers the task metadata `collect` reads) and version,
  and the kbit version (0.2.0 moved group, level and chance into that metadata: records of
  earlier versions are re-run).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import asdict
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _safetensors_header_hash(path: Path) -> str:
    """sha256 of a safetensors file's JSON header (8-byte little-endian length, then JSON)."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        return hashlib.sha256(fh.read(min(length, 100 << 20))).hexdigest()


def resolve_model(path: str) -> tuple[Path | None, str | None]:
    """(folder holding the model's files, hub revision or None). A hub id resolves to its
    cached snapshot; (None, None) when it is not cached (the fingerprint then says so)."""
    from kbit_tasks.model_sources import looks_local

    if looks_local(path):
        return Path(os.path.expanduser(path)).resolve(), None
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(path, "config.json")
    if not isinstance(config, str):
        return None, None
    folder = Path(config).parent  # .../snapshots/<revision>/
    return folder, folder.name


def model_fingerprint(path: str) -> dict:
    """The model part of the fingerprint (see module docstring)."""
    folder, revision = resolve_model(path)
    if folder is None:
        return {"source": path, "revision": None, "folder": None}
    config = folder / "config.json"
    weights = {}
    for file in sorted(folder.iterdir()):
        if file.suffix in WEIGHT_SUFFIXES or file.name.endswith(".index.json"):
            stat = file.stat()  # follows the hub cache's symlinks to the blobs
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            if file.suffix == ".safetensors":
                entry["header_sha256"] = _safetensors_header_hash(file)
            weights[file.name] = entry
    return {"source": path, "folder": str(folder), "revision": revision,
            "config_sha256": _sha256_file(config) if config.is_file() else None, "weights": weights}


def task_fingerprint(tasks: dict) -> dict:
    """Per task: the content hash of its items and its version (from lm-eval's task config)."""
    out = {}
    for name, task in tasks.items():
        meta = task.config.metadata or {}
        out[name] = {"content_hash": meta.get("content_hash"), "version": meta.get("version")}
    return out


def cell_fingerprint(cell, config, tasks: dict, model: dict) -> dict:
    """Everything that produced a cell's numbers (see module docstring); `tasks` from
    task_fingerprint, `model` from model_fingerprint (each computed once per run)."""
    from kbit_tasks import __version__

    return {"model": model, "params": cell.model.params,
            "quant": asdict(cell.quant), "evaluation": config.evaluation_spec(),
            "tasks": tasks, "kbit_version": __version__}


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and value:
        return {k: v for key, sub in value.items() for k, v in _flatten(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def differences(old: dict | None, new: dict) -> list[str]:
    """What changed between a record's fingerprint and the current one, shortest first:
    'evaluation.batch_size 8 -> 16', 'model.weights.model.safetensors.mtime_ns changed'."""
    if not isinstance(old, dict):
        return ["the record has no fingerprint (written by an older kbit)"]
    before, after = _flatten(old), _flatten(new)
    changed = []
    for key in sorted(set(before) | set(after), key=lambda k: (k.count("."), k)):
        a, b = (json.dumps(side.get(key, "<absent>"), default=str) for side in (before, after))
        if a != b:  # hashes and timestamps say nothing to a reader: just "changed"
            changed.append(f"{key} changed" if max(len(a), len(b)) > 16 else f"{key} {a} -> {b}")
    return changed
