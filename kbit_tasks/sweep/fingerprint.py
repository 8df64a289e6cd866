"""What produced a cell record, so a finished record is reused only if all of it still matches.

The fingerprint of a cell (stored in its record as `fingerprint`) covers every input that
changes a number (docs/sweep.md lists it for users; tests/test_sweep_fingerprint.py edits each):
- the model: its resolved folder (a local path made absolute, or a hub id with the cached
  snapshot's revision); the sha256 of every other file at the folder's top level up to 64 MiB
  (config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
  special_tokens_map.json, added_tokens.json, chat_template.jinja/.json, vocab/merges,
  tokenizer.model, ...; README/LICENSE/.gitattributes excepted); and for each weights file
  (*.safetensors, *.bin, *.pt, *.pth, *.gguf, or any file over 64 MiB) its name, size and
  modification time plus, for safetensors, the sha256 of its header (every tensor's name,
  dtype, shape and offsets). No weights are read. A model retrained in place changes the
  mtimes; a copied folder with new mtimes is (conservatively) a changed model;
- the model's `params` override and the quantization (every QuantConfig field);
- the evaluation spec (config.SweepConfig.evaluation_spec): num_fewshot, the few-shot seed,
  limit, dtype, seed, metadata, bootstrap_iters and the kbit-hf arguments the model is built
  with (batch sizes, compute_dtype, softmax_dtype, prefix_sharing);
- per task: the content hash of its items (they hold family, subtask, level and chance, so
  it also covers the task metadata `collect` reads), its version, and the sha256 of its
  lm-eval config (prompt templates, delimiters, few-shot split and sampler, metrics);
- the kbit version.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import asdict
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
HASHED_UP_TO = 64 << 20  # bytes; a larger file is taken for weights (size and mtime only)
INERT = ("README.md", "LICENSE", "LICENSE.txt", "LICENSE.md", ".gitattributes")  # change no number


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
    files, weights = {}, {}
    for file in sorted(folder.iterdir()):
        if not file.is_file() or file.name in INERT:
            continue
        stat = file.stat()  # follows the hub cache's symlinks to the blobs
        if file.suffix in WEIGHT_SUFFIXES or stat.st_size > HASHED_UP_TO:
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            if file.suffix == ".safetensors":
                entry["header_sha256"] = _safetensors_header_hash(file)
            weights[file.name] = entry
        else:
            files[file.name] = _sha256_file(file)
    return {"source": path, "folder": str(folder), "revision": revision, "files": files, "weights": weights}


def _config_sha256(task) -> str:
    """sha256 of the task's lm-eval config as lm-eval dumps it (prompt, delimiters, few-shot
    split and sampler, metrics), less where the YAML lies and the loader function (the items'
    content hash covers what it makes)."""
    config = task.dump_config()
    config.pop("custom_dataset", None)
    config["metadata"] = {k: v for k, v in (config.get("metadata") or {}).items() if k != "config_source"}
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def task_fingerprint(tasks: dict) -> dict:
    """Per task: the content hash of its items, its version and its config's hash."""
    out = {}
    for name, task in tasks.items():
        meta = task.config.metadata or {}
        out[name] = {"content_hash": meta.get("content_hash"), "version": meta.get("version"),
                     "config_sha256": _config_sha256(task)}
    return out


def cell_fingerprint(cell, config, tasks: dict, model: dict) -> dict:
    """Everything that produced a cell's numbers (see module docstring); `tasks` from
    task_fingerprint, `model` from model_fingerprint (each computed once per run)."""
    from kbit_tasks import __version__

    return {"model": model, "params": cell.model.params,
            "quant": asdict(cell.quant), "evaluation": config.evaluation_spec(),
            "tasks": tasks, "kbit_version": __version__}


def without_tasks(fingerprint: dict) -> dict:
    """The part of a fingerprint that all of a record's tasks share."""
    return {key: value for key, value in fingerprint.items() if key != "tasks"}


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
