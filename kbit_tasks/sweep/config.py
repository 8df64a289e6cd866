"""The sweep config: read a YAML file, expand it and validate all of it before any model loads.

Every problem a user can fix by editing the config (an unknown key, a missing local
folder, a task pattern that matches nothing, an unwritable output folder, a bad
precision) is one ValueError naming the bad value and the valid choices, raised here,
so a multi-day sweep never dies an hour in on a typo.
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kbit_tasks.arguments import BATCH_SIZES, TORCH_DTYPES, check_metadata, refuse_renamed, valid_batch_size
from kbit_tasks.model_sources import check_model_source

TOP_KEYS = ("models", "precisions", "tasks", "num_fewshot", "batch_size", "max_batch_size", "limit", "device",
            "dtype", "compute_dtype", "seed", "output", "metadata", "bootstrap_iters", "processes_per_gpu")
MODEL_KEYS = ("path", "name", "params", "parallelize")
PRECISION_KEYS = ("bits", "quant_type", "blocksize", "outliers", "quantize_embeddings", "quantize_head")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class ModelSpec:
    """One model of the family: where it comes from, how it is named in the results."""

    path: str
    name: str
    params: int | None = None  # overrides the counted parameters (e.g. a paper's "70M" convention)
    parallelize: bool = False  # spread over every GPU this process owns (device_map="auto")


@dataclass(frozen=True)
class SweepConfig:
    models: tuple[ModelSpec, ...]
    precisions: tuple  # of kbit_tasks.quant.QuantConfig
    tasks: tuple[str, ...]  # concrete task names the patterns matched
    output: Path
    task_patterns: tuple[str, ...] = ("kbit_*",)
    num_fewshot: int = 0
    batch_size: int | str = 1
    max_batch_size: int = 64  # the ceiling of batch_size auto (HFLM's default)
    limit: int | float | None = None
    device: str = "auto"
    dtype: str = "float32"  # the torch dtype to load in (HFLM's `dtype`)
    compute_dtype: str | None = None  # upcast after loading (bf16 storage, float32 CPU matmuls); None: as loaded
    seed: int = 0
    metadata: dict = field(default_factory=dict)  # lm-eval --metadata, e.g. {"n": 50} items per task
    bootstrap_iters: int = 1000
    processes_per_gpu: int = 1  # how many processes of a node may share one GPU (see docs/sweep.md)

    def model_args(self) -> dict:
        """The kbit-hf (HFLM) arguments every cell's model is built with, beside the loaded model."""
        # softmax in float32: fp16/bf16 log-probabilities are coarse and overflow at low bits
        return {"batch_size": self.batch_size, "max_batch_size": self.max_batch_size,
                "compute_dtype": self.compute_dtype, "softmax_dtype": "float32", "prefix_sharing": True}

    def evaluation_spec(self) -> dict:
        """The settings (all but the task list) that change a cell's numbers: one sweep folder
        holds one spec, and a finished cell is reused only if its record's spec matches."""
        return {"num_fewshot": self.num_fewshot, "fewshot_random_seed": self.seed, "limit": self.limit,
                "dtype": self.dtype, "seed": self.seed, "metadata": self.metadata,
                "bootstrap_iters": self.bootstrap_iters, "model_args": self.model_args()}


def _check_keys(entry: dict, valid: tuple[str, ...], where: str) -> None:
    refuse_renamed(entry, f"{where}: ", sep=": ")
    for key in entry:
        if key not in valid:
            raise ValueError(f"{where}: unknown key {key!r}; valid keys are {', '.join(valid)}")


def _check_model_source(spec: ModelSpec, where: str) -> None:
    try:
        check_model_source(spec.path)
    except ValueError as err:
        raise ValueError(f"{where}: model {err}") from None
    folder = Path(os.path.expanduser(spec.path))
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise ValueError(f"{where}: model folder {spec.path!r} has no config.json; is it a transformers model folder?")


def file_name(name: str) -> str:
    """A model name as it appears in cell ids and file names: every run of characters other
    than letters, digits, '.', '_' and '-' becomes one '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def check_file_names(specs) -> None:
    """Two models whose names clean to one file name would share records (one model's numbers
    under the other's name), and a name cleaning to a dot-name would make hidden files: both
    refused, naming the models."""
    seen: dict[str, str] = {}
    for spec in specs:
        clean = file_name(spec.name)
        if clean.startswith(".") or len(clean) > 150:
            raise ValueError(f"models: name {spec.name!r} would make the file name {clean!r} (hidden or too long); "
                             "give a 'name' of at most 150 characters that starts with a letter or digit")
        if clean in seen:
            raise ValueError(f"models: names {seen[clean]!r} and {spec.name!r} both make the file name {clean!r}; "
                             "give one of them another 'name'")
        seen[clean] = spec.name


def parse_models(raw: Any) -> tuple[ModelSpec, ...]:
    """Models as hub ids / folders, or mappings {path, name, params, parallelize}; names must be
    unique, also as file names."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"models must be a non-empty list of paths or mappings, got {raw!r}")
    specs = []
    for i, entry in enumerate(raw):
        where = f"models[{i}]"
        entry = {"path": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ValueError(f"{where}: expected a path string or a mapping with 'path', got {entry!r}")
        _check_keys(entry, MODEL_KEYS, where)
        params = entry.get("params")
        if params is not None and (not isinstance(params, int) or params <= 0):
            raise ValueError(f"{where}: params={params!r} must be a positive integer")
        if not isinstance(entry.get("parallelize", False), bool):  # bool("false") is True
            raise ValueError(f"{where}: parallelize={entry['parallelize']!r} must be true or false (unquoted)")
        name = entry.get("name") or Path(entry["path"].rstrip("/")).name
        spec = ModelSpec(path=entry["path"], name=str(name), params=params,
                         parallelize=entry.get("parallelize", False))
        _check_model_source(spec, where)
        specs.append(spec)
    names = [s.name for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"models: name {name!r} is used twice; give each model a distinct 'name'")
    check_file_names(specs)
    return tuple(specs)


def expand_precisions(raw: Any) -> list[dict]:
    """Cartesian shorthand: in each entry, a list value means "each of these", e.g.
    {bits: [3, 4], blocksize: [64, 128]} is four precisions. A lone mapping is a one-entry list."""
    entries = [raw] if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"precisions must be a mapping or a non-empty list of mappings, got {raw!r}")
    expanded = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"precisions[{i}]: expected a mapping like {{bits: 4}}, got {entry!r}")
        _check_keys(entry, PRECISION_KEYS, f"precisions[{i}]")
        keys = list(entry)
        values = [v if isinstance(v, list) else [v] for v in entry.values()]
        expanded += [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    return expanded


def parse_precisions(raw: Any) -> tuple:
    """QuantConfig per expanded entry (its own validation names bad values), one per label:
    the label names everything that changes the weights, so {bits: [4, 16], quant_type: [fp, int]}
    is fp4, int4 and one 16-bit baseline."""
    from kbit_tasks.quant import QuantConfig

    configs = {}
    for i, entry in enumerate(expand_precisions(raw)):
        try:
            cfg = QuantConfig(**entry)
        except (TypeError, ValueError) as err:
            raise ValueError(f"precisions (expanded entry {i}: {entry}): {err}") from None
        configs.setdefault(cfg.label, cfg)
    return tuple(configs.values())


def resolve_tasks(patterns: Any) -> tuple[str, ...]:
    """Expand lm-eval patterns over kbit's task names (not groups or tags, so no task runs twice)."""
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import pattern_match

    from kbit_tasks import tasks_dir

    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"tasks must be a pattern or a list of patterns like 'kbit_*', got {patterns!r}")
    available = TaskManager(include_path=tasks_dir(), include_defaults=False).all_subtasks
    for pattern in patterns:
        if not pattern_match([pattern], available):
            raise ValueError(f"tasks: pattern {pattern!r} matches no task; available tasks: "
                             f"{', '.join(available[:12])}{' ...' if len(available) > 12 else ''}")
    return tuple(pattern_match(patterns, available))


def check_writable(output: Path) -> Path:
    """Create the output folder and prove a record can be written there (read-only, full disk)."""
    from kbit_tasks.atomic import check_writable_dir

    try:
        return check_writable_dir(output)
    except ValueError as err:
        raise ValueError(f"output: {err}") from None


def _choice(raw: dict, key: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise ValueError(f"{key}={value!r} is not supported; choose one of {', '.join(choices)}")
    return value


def _number(raw: dict, key: str, default, ok, what: str):
    value = raw.get(key, default)
    if not ok(value):
        raise ValueError(f"{key}={value!r} must be {what}")
    return value


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_gpu_sharing(batch_size, models) -> None:
    """processes_per_gpu > 1 shares a GPU between processes that each assume it is theirs where
    they size things by its free memory: the `auto` batch-size probe and a `parallelize` device map."""
    if isinstance(batch_size, str):
        raise ValueError(f"batch_size={batch_size!r} with processes_per_gpu > 1: the auto probe fills the "
                         "GPU it assumes it has alone; give a number")
    for spec in models:
        if spec.parallelize:
            raise ValueError(f"models: {spec.name!r} has parallelize: true, which spreads a model over several "
                             "GPUs; processes_per_gpu > 1 is for models that fit one GPU several times")


def parse_config(raw: Any, output: str | Path | None = None) -> SweepConfig:
    """Validate a config mapping (as read from YAML) into a SweepConfig; `output` overrides the file's."""
    if not isinstance(raw, dict):
        raise ValueError(f"a sweep config must be a mapping with keys {', '.join(TOP_KEYS)}")
    _check_keys(raw, TOP_KEYS, "config")
    for key in ("models", "precisions", "output"):
        if key not in raw and not (key == "output" and output):
            raise ValueError(f"config: missing required key {key!r}")
    batch_size = _number(raw, "batch_size", 1, valid_batch_size, BATCH_SIZES)
    limit = _number(raw, "limit", None,
                    lambda v: v is None or (_is_int(v) and v > 0) or (isinstance(v, float) and 0 < v < 1),
                    "empty, a positive number of items, or a fraction in (0, 1)")
    metadata = check_metadata(raw.get("metadata") or {})
    processes_per_gpu = _number(raw, "processes_per_gpu", 1, lambda v: _is_int(v) and v > 0, "a positive integer")
    models = parse_models(raw["models"])
    if processes_per_gpu > 1:
        check_gpu_sharing(batch_size, models)
    patterns = raw.get("tasks", "kbit_*")
    tasks = resolve_tasks(patterns)
    num_fewshot = _number(raw, "num_fewshot", 0, lambda v: _is_int(v) and v >= 0, "an integer >= 0")
    from kbit_tasks.generators import DEFAULT_N
    from kbit_tasks.tasks.utils import check_num_fewshot

    check_num_fewshot(num_fewshot, tasks, metadata.get("n", DEFAULT_N))
    return SweepConfig(
        num_fewshot=num_fewshot,
        batch_size=batch_size,
        max_batch_size=_number(raw, "max_batch_size", 64, lambda v: _is_int(v) and v > 0, "a positive integer"),
        limit=limit,
        device=_choice(raw, "device", DEVICES, "auto"),
        dtype=_choice(raw, "dtype", TORCH_DTYPES, "float32"),
        compute_dtype=_choice(raw, "compute_dtype", TORCH_DTYPES[1:], None) if "compute_dtype" in raw else None,
        seed=_number(raw, "seed", 0, _is_int, "an integer"),
        bootstrap_iters=_number(raw, "bootstrap_iters", 1000, lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
        metadata=metadata,
        precisions=parse_precisions(raw["precisions"]),
        task_patterns=tuple([patterns] if isinstance(patterns, str) else patterns),
        tasks=tasks,
        models=models,
        processes_per_gpu=processes_per_gpu,
        output=check_writable(Path(os.path.expanduser(str(output or raw["output"])))),
    )


def load_config(path: str | Path, output: str | Path | None = None) -> SweepConfig:
    """Read and validate a sweep YAML file; relative paths inside it are relative to the working directory."""
    return parse_config(read_config(path), output=output)


def read_config(path: str | Path) -> Any:
    """A sweep YAML file as read, unvalidated; a missing file or a syntax error is a ValueError."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sweep config {str(path)!r} does not exist")
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"sweep config {str(path)!r}: YAML syntax error{where}: "
                         f"{getattr(err, 'problem', None) or err}") from None
    return raw
