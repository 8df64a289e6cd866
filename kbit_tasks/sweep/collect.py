"""Cell records -> the tidy results table of docs/fitting.md ("The tidy table") (the sweep/fitting contract).

Everything a row says is read from lm-eval's results (a record's `lm_eval` part, or a
`kbit-eval --output_path` results file), nothing from names: the quantization and precision
label from kbit-hf's quantization report in the results' config (`config.quant_report`), and
a task's group (its family), level and chance from the task config's metadata that lm-eval
returns (`configs[task].metadata`, written there by the kbit tasks from the generators' own
item fields; kbit_tasks/tasks/utils.py). A task that is not a kbit task has no such metadata:
its group, level and chance are empty. The sweep adds only the model's name and its
fingerprint's `params` override."""
from __future__ import annotations

import json
import logging
import math
import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from kbit_tasks.atomic import atomic_write
from kbit_tasks.sweep.claims import CLAIM_DIR, describe, stale_after_default, staleness
from kbit_tasks.sweep.fingerprint import differences
from kbit_tasks.sweep.manifest import read_manifest
from kbit_tasks.sweep.store import RECORD_GLOB, CorruptRecord, cell_records, quarantine

log = logging.getLogger("kbit.sweep")

COLUMNS = ["model", "params", "bits", "quant_type", "blocksize", "bits_per_param", "total_bits", "log2_total_bits",
           "task", "group", "level", "metric", "value", "stderr", "n", "successes", "chance",
           # beyond the contract: what tells two precisions with equal (bits, quant_type, blocksize) apart
           "precision", "outliers"]
# proportions of n items; the others are means of continuous scores
COUNT_METRICS = ("acc", "acc_norm", "acc_calibrated")
FORMATS = (".csv", ".parquet")
TASK_METADATA_SINCE = (0, 2, 0)  # the first kbit whose task configs carry family, level and chance


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan  # lm-eval writes "N/A"


def _version(text) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:3])


def too_old(record: dict) -> str | None:
    """Why a sweep record cannot be read into the table (written by kbit < 0.2.0, whose task
    configs did not carry family, level and chance; its fingerprint no longer matches, so
    kbit-sweep run redoes it), or None."""
    fingerprint = record.get("fingerprint")
    version = fingerprint.get("kbit_version") if isinstance(fingerprint, dict) else None
    if _version(version) < TASK_METADATA_SINCE:
        return f"written by kbit {version or '< 0.2.0 (no fingerprint)'}, before task configs carried their metadata"
    return None


def task_info(record: dict, task: str) -> dict:
    """The task's group, level and chance, from the metadata of its config in the record
    (None where it has none: a task that is not a kbit task)."""
    meta = (record["lm_eval"].get("configs", {}).get(task) or {}).get("metadata") or {}
    return {"group": meta.get("family"), "level": meta.get("level"), "chance": meta.get("chance")}


def cell_rows(record: dict) -> list[dict]:
    """One row per (task, metric) of a finished cell."""
    evaluation = record["lm_eval"]
    report = evaluation["config"]["quant_report"]
    quant = report["config"]
    override = (record.get("fingerprint") or {}).get("params")  # the config's `params`, if any
    params = override or report["params_total"]
    # A parameter-count override rescales total bits at the measured bits per parameter.
    total_bits = params * report["bits_per_param"] if override else report["total_bits"]
    common = {"model": record["model"]["name"], "params": params, "bits": quant["bits"],
              "quant_type": quant["quant_type"],
              "blocksize": quant["blocksize"] if quant["bits"] < 16 else None,
              "bits_per_param": report["bits_per_param"],
              "total_bits": total_bits, "log2_total_bits": math.log2(total_bits),
              "precision": report["config"]["label"], "outliers": quant.get("outliers")}
    rows = []
    for task, result in evaluation["results"].items():
        info = task_info(record, task)
        n = evaluation["n-samples"][task]["effective"]
        for key, value in result.items():
            metric, _, filt = key.partition(",")
            if not filt or metric.endswith("_stderr"):
                continue  # alias, sample_len, and the stderr columns read below
            value = _number(value)
            rows.append({**common, "task": task, "group": info["group"], "level": info["level"],
                         "metric": metric, "value": value,
                         "stderr": _number(result.get(f"{metric}_stderr,{filt}")), "n": n,
                         "successes": round(value * n) if metric in COUNT_METRICS and not math.isnan(value) else None,
                         "chance": info["chance"]})
    return rows


def _problem_in(record: dict) -> str | None:
    """What makes a finished record unusable for the table (a value of the wrong shape, an
    impossible number), or None."""
    evaluation = record["lm_eval"]
    if not isinstance(record["model"], dict):
        return f"model is {type(record['model']).__name__}, not a mapping"
    if not isinstance((evaluation.get("config") or {}).get("quant_report"), dict):
        return "lm_eval.config has no quant_report: not a kbit-hf result"
    if not isinstance(evaluation.get("results"), dict) or not isinstance(evaluation.get("n-samples"), dict):
        return "lm_eval.results or lm_eval.n-samples is not a mapping"
    for task, result in evaluation["results"].items():
        if not isinstance(result, dict):
            return f"lm_eval.results[{task!r}] is {type(result).__name__}, not a mapping"
        n = (evaluation["n-samples"].get(task) or {}).get("effective")
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            return f"lm_eval.n-samples[{task!r}].effective={n!r} is not a positive number of items"
        for metric in COUNT_METRICS:
            value = result.get(f"{metric},none")
            if isinstance(value, (int, float)) and not 0 <= value <= 1:
                return f"{task} {metric}={value!r} is not a proportion in [0, 1] (of n={n})"
    return None


def check_done(record: dict, path: Path) -> dict:
    """The finished record if a table can be made from it, else CorruptRecord saying why."""
    reason = _problem_in(record)
    if reason is None:
        try:
            cell_rows(record)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as err:
            reason = f"cannot be read into the table ({type(err).__name__}: {err})"
    if reason is not None:
        raise CorruptRecord(path, reason)
    return record


def results_file(path: Path) -> dict:
    """An lm-eval results file of a kbit-hf run (`kbit-eval --output_path`) as a record: the
    results are its `lm_eval`, the model named after its `pretrained` folder or hub id."""
    try:
        results = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not an lm-eval results file ({err})") from None
    if not isinstance(results, dict) or not {"results", "config", "n-samples"} <= set(results):
        raise ValueError(f"{str(path)!r} is not an lm-eval results file (no results, config and n-samples)")
    config = results["config"]
    args = config.get("model_args") or ""
    pretrained = args.get("pretrained") if isinstance(args, dict) else dict(
        part.split("=", 1) for part in str(args).split(",") if "=" in part).get("pretrained")
    when = datetime.fromtimestamp(float(results.get("date") or 0), timezone.utc).isoformat()
    return {"status": "done", "model": {"name": Path(str(pretrained or config.get("model"))).name},
            "lm_eval": results, "finished_at": when, "file": str(path)}


def check_folders(folders) -> list[Path]:
    """Sweep output folders (or results files) that exist, each given once, each folder holding
    at least one cell record."""
    seen: dict[Path, str] = {}
    for folder in map(Path, folders):
        if not folder.exists():
            raise ValueError(f"{str(folder)!r}: no such folder")
        if folder.is_file() and folder.suffix == ".json":
            seen[folder.resolve()] = str(folder)
            continue
        if not folder.is_dir():
            raise ValueError(f"{str(folder)!r} is a file; give a sweep output folder or an lm-eval results .json")
        if folder.resolve() in seen:
            raise ValueError(f"{str(folder)!r} is given twice (also as {seen[folder.resolve()]!r}); "
                             "give each folder once")
        if not any(p for p in folder.glob(RECORD_GLOB) if not p.name.startswith(".")):
            raise ValueError(f"{str(folder)!r} holds no cell records (MODEL__PRECISION.json); "
                             "is it a kbit-sweep output folder?")
        seen[folder.resolve()] = str(folder)
    return list(seen)


def record_spec(record: dict) -> dict | None:
    """The evaluation spec a record was computed under (None for a record of an old kbit)."""
    fingerprint = record.get("fingerprint")
    return fingerprint.get("evaluation") if isinstance(fingerprint, dict) else None


def _read_folder(folder: Path, problems: list[str]) -> list[dict]:
    """The finished, readable records of a folder that serve its manifest's spec; every other
    record is a problem (a corrupt one also moved aside), and so is a cell of the manifest
    without a finished record (missing, failed, claimed by a dead process, running)."""
    manifest = read_manifest(folder)
    done, reported = {}, set()
    for path, rec in cell_records(folder):
        reported.add(path.stem)
        if isinstance(rec, dict) and rec["status"] == "done":
            stale = too_old(rec)
            if stale:
                problems.append(f"stale record {path}: {stale}; kbit-sweep run redoes it")
                continue
            try:
                done[path.stem] = check_done(rec, path)
                continue
            except CorruptRecord as err:
                rec = err
        if isinstance(rec, CorruptRecord):
            problems.append(f"corrupt record {path}: {rec.reason}")
            quarantine(rec, then="kbit-sweep run redoes the cell")
        else:
            last = (rec.get("traceback") or "").strip().splitlines()[-1:] or ["?"]
            problems.append(f"failed cell {path}: {last[0]}")
    if manifest is None:
        log.warning("%s has no manifest (written by kbit-sweep run since records v3): "
                    "cells that never finished cannot be named", folder)
        return list(done.values())
    for cell_id, rec in list(done.items()):
        changed = differences(record_spec(rec), manifest["spec"])
        if changed:
            problems.append(f"stale record {folder / cell_id}.json: made with other settings than the folder's "
                            f"({'; '.join(changed[:2])}); kbit-sweep run redoes it")
            del done[cell_id]
        elif set(manifest["tasks"]) - set(rec["lm_eval"]["results"]):
            lacking = sorted(set(manifest["tasks"]) - set(rec["lm_eval"]["results"]))
            problems.append(f"incomplete cell {folder / cell_id}.json: lacks {len(lacking)} tasks ({lacking[0]}, ...)")
    for cell_id in (c for c in manifest["cells"] if c not in reported):
        problems.append(f"missing cell {folder / cell_id}.json: {_why_missing(folder, cell_id)}")
    return list(done.values())


def _why_missing(folder: Path, cell_id: str) -> str:
    claim, stale_after = folder / CLAIM_DIR / f"{cell_id}.claim", stale_after_default()
    if not claim.exists():
        return "not computed yet"
    stale = staleness(claim, stale_after)
    return f"claimed by a dead process ({stale})" if stale else f"running ({describe(folder, cell_id, stale_after)})"


def _read_file(path: Path, problems: list[str]) -> list[dict]:
    record = results_file(path)
    try:
        return [check_done(record, path)]
    except CorruptRecord as err:
        problems.append(f"unreadable results file {path}: {err.reason}")
        return []


def check_one_spec(records: list[dict]) -> None:
    """One table, one evaluation spec: records computed under different settings (other
    limits, few-shot, seeds, ...) are refused, naming the first difference."""
    specs: dict[str, list[dict]] = {}
    for rec in records:
        specs.setdefault(json.dumps(record_spec(rec), sort_keys=True, default=str), []).append(rec)
    unknown = specs.pop("null", [])
    if unknown and specs:
        log.warning("%d records state no evaluation spec (lm-eval results files, records of an old kbit): "
                    "they are not checked against the others", len(unknown))
    if len(specs) > 1:
        (a, *_), (b, *_) = list(specs.values())[:2]
        changed = "; ".join(differences(record_spec(a), record_spec(b))[:2])
        raise ValueError(f"the records hold {len(specs)} evaluation specs ({changed}, "
                         f"e.g. {a['cell']} and {b['cell']}); collect each spec into its own table")


def collect(folders: list[str | Path], problems: list[str] | None = None) -> pd.DataFrame:
    """The tidy table of every finished cell in the folders. Corrupt records (moved aside),
    failed, missing, stale or incomplete cells are named with a warning each and appended to
    `problems`; a cell found in two folders is kept once (the most recently finished)."""
    problems = [] if problems is None else problems
    done = [rec for folder in check_folders(folders)
            for rec in (_read_file(folder, problems) if folder.is_file() else _read_folder(folder, problems))]
    for problem in problems:
        log.warning("%s", problem)
    if not done:
        raise ValueError(f"no finished cell in {', '.join(map(str, folders))}; {len(problems)} problems: "
                         f"{problems[0] if problems else '-'}")
    check_one_spec(done)
    done.sort(key=lambda r: r["finished_at"])
    table = pd.DataFrame([row for rec in done for row in cell_rows(rec)], columns=COLUMNS)
    key = ["model", "precision", "task", "metric"]
    duplicated = table.duplicated(key, keep="last")
    if duplicated.any():
        log.warning("%d rows found in more than one folder; keeping the most recent", int(duplicated.sum()))
    table = table[~duplicated].sort_values(["model", "total_bits", "precision", "task", "metric"])
    types = {"n": "Int64", "successes": "Int64", "level": "Int64", "chance": "float64"}
    return table.astype(types).reset_index(drop=True)


def check_table_path(out: str | Path) -> Path:
    """A table's path must end in a suffix write_table writes (checked before collecting)."""
    out = Path(out)
    if out.suffix not in FORMATS:
        raise ValueError(f"output {str(out)!r}: unsupported suffix {out.suffix!r}; use one of {', '.join(FORMATS)}")
    return out


def write_table(table: pd.DataFrame, out: str | Path) -> Path:
    """CSV or parquet by suffix, written to a temporary name and renamed (never a half table)."""
    out = check_table_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        return atomic_write(out, lambda tmp: table.to_csv(tmp, index=False))
    return atomic_write(out, lambda tmp: table.to_parquet(tmp, index=False))
