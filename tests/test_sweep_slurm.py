"""The SLURM scripts in a fake SLURM environment: a stand-in `sbatch` that answers like a
federated cluster ("jobid;cluster"), array tasks run with --dry-run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kbit_tasks.sweep import build_grid, parse_config, select

SLURM = Path(__file__).resolve().parent.parent / "scripts" / "slurm"
ROOT = SLURM.parent.parent


@pytest.fixture
def setup(tmp_path, tiny_model_dir):
    raw = {"models": [{"path": str(tiny_model_dir), "name": "tiny"}],
           "precisions": [{"bits": 16}, {"bits": [3, 4, 5, 6], "quant_type": "int"}],
           "tasks": ["kbit_logical_syllogism_l1"], "device": "cpu", "output": str(tmp_path / "out")}
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "KBIT_SWEEP": f"{sys.executable} -m kbit_tasks.sweep", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return cfg, raw, env


@pytest.mark.slow
def test_submit_chains_collect_on_the_job_id_and_fixes_the_shard_count(setup, tmp_path):
    cfg, raw, env = setup
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    fake = bin_dir / "sbatch"
    fake.write_text(f'#!/bin/bash\necho "$@" >> {log}\nn=$(wc -l < {log})\necho "$((4240 + n));clusterA"\n')
    fake.chmod(0o755)
    out = subprocess.run(["bash", str(SLURM / "submit.sh"), str(cfg), "3"],
                         env=env | {"PATH": f"{bin_dir}:{env['PATH']}"}, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    array, collect = log.read_text().splitlines()
    assert array.startswith("--parsable --array=0-2 --export=ALL,SHARDS=3,HF_HUB_OFFLINE=1 ")
    assert collect.startswith("--parsable --dependency=afterany:4241 ") and collect.endswith(raw["output"])
    assert "sweep array 4241 (3 shards), collect 4242" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("task", [0, 2])
def test_an_array_task_runs_its_shard_of_a_fixed_count(setup, task):
    cfg, raw, env = setup
    # resubmitted alone (--array=2): SLURM_ARRAY_TASK_MAX is 2 of 2, the shard count stays 3
    env = env | {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MAX": str(task), "SHARDS": "3", "GPUS": "1"}
    out = subprocess.run(["bash", str(SLURM / "sweep_array.sbatch"), str(cfg), "--dry-run"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    expected = [c.id for c in select(build_grid(parse_config(raw)), (task, 3))]
    lines = out.stdout.splitlines()
    assert [line.split()[1] for line in lines[1:]] == expected and f"shard {task}/3" in lines[0]


def test_an_array_task_without_a_shard_count_refuses(setup):
    cfg, _, env = setup
    env = {k: v for k, v in env.items() if k != "SHARDS"} | {"SLURM_ARRAY_TASK_ID": "0", "GPUS": "1"}
    out = subprocess.run(["bash", str(SLURM / "sweep_array.sbatch"), str(cfg)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "SHARDS (the fixed number of shards" in out.stderr
