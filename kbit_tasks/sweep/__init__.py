"""The sweep: a model family x precisions x tasks grid, resumable, shared between processes
(`accelerate launch`, SLURM array tasks, a second run) by per-cell claims, collected into one
tidy table. Command line: `kbit-sweep` (kbit_tasks/cli/sweep.py).
"""
from __future__ import annotations

from kbit_tasks.sweep.collect import collect, write_table
from kbit_tasks.sweep.config import SweepConfig, expand_precisions, load_config, parse_config
from kbit_tasks.sweep.grid import Cell, Placement, build_grid, parse_shard, select
from kbit_tasks.sweep.runner import RunSummary, run

__all__ = ["Cell", "Placement", "RunSummary", "SweepConfig", "build_grid", "collect", "expand_precisions",
           "load_config", "parse_config", "parse_shard", "run", "select", "write_table"]
