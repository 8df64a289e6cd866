"""Cell records -> the tidy results table of docs/fitting.md ("The tidy table") (the sweep/fitting contract).

Everything a row says is read from the record, nothing from names: the precision label from
the quantization report (`quant_report.config.label`), and a task's group (its family), level
and chance from the task config's metadata that lm-eval returns (`lm_eval.configs[task].metadata`,
written there by the kbit tasks from the generators' own item fields; kbit_tasks/tasks/utils.py).
A task that is not a kbit task has no such metadata: its group, level and chance are empty."""
from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pandas as pd

from kbit_tasks.atomic import atomic_write

from kbit_tasks.sweep.store import CorruptRecord, cell_records

log = logging.getLogger("kbit.sweep")

COLUMNS = ["model", "params", "bits", "quant_type", "blocksize", "bits_per_param", "total_bits", "log2_total_bits",
           "task", "group", "level", "metric", "value", "stderr", "n", "successes", "chance",
           # beyond the contract: what tells two precisions with equal (bits, quant_type, blocksize) apart
           "precision", "outliers"]
COUNT_METRICS = ("acc", "acc_norm")  # proportions of n items; the others are means of continuous scores
FORMATS = (".csv", ".parquet")
TASK_METADATA_SINCE = (0, 2, 0)  # the first kbit whose task configs carry family, level and chance
# Only for records of kbit < 0.2.0 (see legacy_task_info): the task name pattern of that time.
LEGACY_TASK_NAME = re.compile(r"kbit_(?P<group>[a-z]+)_.+_l(?P<level>\d+)")


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan  # lm-eval writes "N/A"


def _version(text) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:3])


def written_before_task_metadata(record: dict) -> bool:
    """A record of kbit < 0.2.0 (its fingerprint's kbit_version, or no fingerprint at all)."""
    fingerprint = record.get("fingerprint")
    return not isinstance(fingerprint, dict) or _version(fingerprint.get("kbit_version")) < TASK_METADATA_SINCE


def task_info(record: dict, task: str) -> dict:
    """The task's group, level and chance, from the metadata of its config in the record
    (None where it has none: a task that is not a kbit task)."""
    if written_before_task_metadata(record):
        return legacy_task_info(record, task)
    meta = (record["lm_eval"].get("configs", {}).get(task) or {}).get("metadata") or {}
    return {"group": meta.get("family"), "level": meta.get("level"), "chance": meta.get("chance")}


def legacy_task_info(record: dict, task: str) -> dict:
    """Records of kbit < 0.2.0 only: their task configs did not carry family, level and chance,
    so group and level are read from the task name (kbit_<family>_<subtask>_l<level>) and chance
    from the record's top-level `chance` (which the runner of that time computed per task)."""
    name = LEGACY_TASK_NAME.fullmatch(task)
    return {"group": name["group"] if name else None, "level": int(name["level"]) if name else None,
            "chance": (record.get("chance") or {}).get(task)}


def cell_rows(record: dict) -> list[dict]:
    """One row per (task, metric) of a finished cell."""
    report, quant, evaluation = record["quant_report"], record["quant"], record["lm_eval"]
    params = record["model"].get("params") or report["params_total"]
    # A parameter-count override rescales total bits at the measured bits per parameter.
    total_bits = params * report["bits_per_param"] if record["model"].get("params") else report["total_bits"]
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


def check_folder(folder: str | Path) -> Path:
    """A sweep output folder that exists and holds at least one cell record."""
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"{str(folder)!r}: no such folder")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file; give a sweep output folder")
    if not any(p for p in folder.glob("*.json") if not p.name.startswith(".")):
        raise ValueError(f"{str(folder)!r} holds no cell records (*.json); is it a sweep output folder?")
    return folder


def collect(folders: list[str | Path], problems: list[str] | None = None) -> pd.DataFrame:
    """The tidy table of every finished cell in the folders. Failed cells and corrupt records
    are skipped with a warning naming the file (and appended to `problems`); a cell found in
    two folders is kept once (the most recently finished)."""
    problems = [] if problems is None else problems
    records = [(path, rec) for folder in folders for path, rec in cell_records(check_folder(folder))]
    for path, rec in records:
        if isinstance(rec, CorruptRecord):
            problems.append(f"corrupt record {path}: {rec.reason}")
        elif rec["status"] != "done":
            last = (rec.get("traceback") or "").strip().splitlines()[-1:] or ["?"]
            problems.append(f"failed cell {path}: {last[0]}")
    for problem in problems:
        log.warning("skipping %s", problem)
    done = sorted((rec for _, rec in records if isinstance(rec, dict) and rec["status"] == "done"),
                  key=lambda r: r["finished_at"])
    legacy = sum(map(written_before_task_metadata, done))
    if legacy:
        log.warning("%d records written by kbit < 0.2.0: their group and level are read from the task names and "
                    "chance from the record (kbit-sweep run redoes them)", legacy)
    table = pd.DataFrame([row for rec in done for row in cell_rows(rec)], columns=COLUMNS)
    key = ["model", "precision", "task", "metric"]
    duplicated = table.duplicated(key, keep="last")
    if duplicated.any():
        log.warning("%d rows found in more than one folder; keeping the most recent", int(duplicated.sum()))
    table = table[~duplicated].sort_values(["model", "total_bits", "precision", "task", "metric"])
    types = {"n": "Int64", "successes": "Int64", "level": "Int64", "chance": "float64"}
    return table.astype(types).reset_index(drop=True)


def write_table(table: pd.DataFrame, out: str | Path) -> Path:
    """CSV or parquet by suffix, written to a temporary name and renamed (never a half table)."""
    out = Path(out)
    if out.suffix not in FORMATS:
        raise ValueError(f"output {str(out)!r}: unsupported suffix {out.suffix!r}; use one of {', '.join(FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        return atomic_write(out, lambda tmp: table.to_csv(tmp, index=False))
    return atomic_write(out, lambda tmp: table.to_parquet(tmp, index=False))
