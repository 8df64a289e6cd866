"""kbit-sweep end to end on a tiny local model: records, resume, failures, 2 processes, kill -9."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from kbit_tasks.sweep import collect, main, parse_config, run
from kbit_tasks.sweep.collect import COLUMNS
from kbit_tasks.sweep.store import cell_records

TASKS = ["kbit_logical_*_l1"]  # a slice of the suite keeps the tests inside their time budget
PRECISIONS = [{"bits": 16}, {"bits": [3, 4], "dtype": "int", "blocksize": 32}]
N_CELLS = 3


def _raw(model_dir, output, **extra):
    return {"models": [{"path": str(model_dir), "name": "tiny"}], "precisions": PRECISIONS, "tasks": TASKS,
            "limit": 8, "batch_size": 8, "device": "cpu", "output": str(output),
            "torch_dtype": "bfloat16", "compute_dtype": "float32", **extra}  # stored in 16 bit, run in 32


def _env():
    # Subprocesses: offline, one thread each (2 cores are shared), no stray ranks inherited.
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return env | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def swept(tiny_model_dir, tmp_path_factory):
    """One in-process sweep everyone compares against."""
    out = tmp_path_factory.mktemp("sweep")
    config = parse_config(_raw(tiny_model_dir, out))
    return config, run(config)


def test_sweep_writes_one_complete_record_per_cell(swept):
    config, summary = swept
    assert summary.done == ["tiny__16bit", "tiny__int3-b32", "tiny__int4-b32"] and not summary.failed
    records = [rec for _, rec in cell_records(config.output)]
    assert [r["cell"] for r in records] == summary.done
    for rec in records:
        assert rec["status"] == "done"
        assert set(rec["lm_eval"]["results"]) == set(config.tasks)
        assert all(isinstance(h, str) and len(h) == 64 for h in rec["content_hashes"].values())
        assert set(rec["content_hashes"]) == set(config.tasks)
        assert rec["versions"]["lm_eval"] and rec["versions"]["torch"] and rec["git_revision"]
        assert rec["quant_report"]["config"]["bits"] == rec["quant"]["bits"]
        assert 0 < rec["seconds_forward"] < rec["seconds"]
    bpp = {r["cell"]: r["quant_report"]["bits_per_param"] for r in records}
    assert bpp["tiny__int3-b32"] < bpp["tiny__int4-b32"] < bpp["tiny__16bit"] == 16.0


def test_collect_gives_the_tidy_table(swept):
    config, _ = swept
    table = collect([config.output])
    assert list(table.columns) == COLUMNS
    assert not table.duplicated(["model", "precision", "task", "metric"]).any()
    assert set(table.metric) >= {"acc", "acc_norm", "brier_score", "gold_logprob"}
    assert len(table) == N_CELLS * len(config.tasks) * table.metric.nunique()
    acc = table[table.metric == "acc"]
    assert (acc.n == 8).all() and (acc.successes == (acc.value * 8).round()).all()
    assert table[table.metric == "brier_score"].successes.isna().all()
    assert acc.chance.between(0.2, 0.5).all() and set(acc.group) == {"logical"} and (acc.level == 1).all()
    assert (table.log2_total_bits == table.total_bits.map(lambda b: __import__("math").log2(b))).all()


def test_rerun_skips_finished_cells_and_refuses_changed_settings(swept, tiny_model_dir):
    config, _ = swept
    mtimes = {p: p.stat().st_mtime_ns for p, _ in cell_records(config.output)}
    again = run(config)
    assert again.skipped == again.cells and not again.done
    assert {p: p.stat().st_mtime_ns for p, _ in cell_records(config.output)} == mtimes
    changed = parse_config(_raw(tiny_model_dir, config.output, limit=4))
    with pytest.raises(ValueError, match="limit"):
        run(changed)


def test_a_failing_cell_is_recorded_and_the_sweep_goes_on(tiny_model_dir, tmp_path, monkeypatch):
    from kbit_tasks.model import KbitHFLM

    real = KbitHFLM.requantize

    def flaky(self, quant):
        if quant.bits == 3:
            raise RuntimeError("simulated CUDA error")
        return real(self, quant)

    monkeypatch.setattr(KbitHFLM, "requantize", flaky)
    config = parse_config(_raw(tiny_model_dir, tmp_path, limit=2, tasks=[TASKS[0].replace("*", "syllogism")]))
    summary = run(config)
    assert summary.failed == ["tiny__int3-b32"] and len(summary.done) == 2
    failed = dict((r["cell"], r) for _, r in cell_records(tmp_path))["tiny__int3-b32"]
    assert failed["status"] == "failed" and "simulated CUDA error" in failed["traceback"]
    assert set(collect([tmp_path]).precision) == {"16bit", "int4-b32"}
    monkeypatch.undo()
    assert run(config).done == ["tiny__int3-b32"]  # a failed cell is retried, finished ones are not


def _write_config(path, raw):
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_two_processes_give_the_same_table_as_one(swept, tiny_model_dir, tmp_path):
    config, _ = swept
    cfg = _write_config(tmp_path / "sweep.yaml", _raw(tiny_model_dir, tmp_path / "out"))
    # The GPU-node launch itself (accelerate's --multi_gpu is torchrun), with device: cpu in the
    # config; accelerate's --cpu flag would start one process (several need MPI).
    subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                    "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                    "-m", "kbit_tasks.sweep", "run", cfg], check=True, env=_env(), timeout=300)
    records = [r for _, r in cell_records(tmp_path / "out")]
    assert len(records) == N_CELLS and {(r["placement"]["rank"], r["placement"]["world"]) for r in records} == {(0, 2), (1, 2)}
    pd.testing.assert_frame_equal(collect([tmp_path / "out"]), collect([config.output]))


def test_kill_minus_nine_then_rerun_completes_without_duplicates(swept, tiny_model_dir, tmp_path):
    config, _ = swept
    out = tmp_path / "out"
    cfg = _write_config(tmp_path / "sweep.yaml", _raw(tiny_model_dir, out))
    cmd = [sys.executable, "-m", "kbit_tasks.sweep", "run", cfg]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list(out.glob("*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {r["cell"] for _, r in cell_records(out)}
    assert 1 <= len(finished) < N_CELLS, "the kill must land mid-sweep"
    assert run(parse_config(_raw(tiny_model_dir, out))).skipped == sorted(finished)  # the restart
    records = {r["cell"]: r for _, r in cell_records(out)}
    assert len(records) == N_CELLS and all(r["status"] == "done" for r in records.values())
    table = collect([out])
    assert not table.duplicated(["model", "precision", "task", "metric"]).any()
    pd.testing.assert_frame_equal(table, collect([config.output]))


def test_cli_collect_rejects_unknown_format(swept, tmp_path):
    config, _ = swept
    with pytest.raises(SystemExit, match="results.xlsx"):
        main(["collect", str(config.output), "-o", str(tmp_path / "results.xlsx")])
    main(["collect", str(config.output), "-o", str(tmp_path / "results.parquet")])
    assert pd.read_parquet(tmp_path / "results.parquet").shape == collect([config.output]).shape


def test_a_cell_matches_a_plain_lm_eval_run(swept, tiny_model_dir):
    """The sweep's shortcuts (one model load, requantize, tasks built once) change no number."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import kbit_tasks.model  # noqa: F401  registers kbit-hf
    from kbit_tasks import tasks_dir

    config, _ = swept
    last = dict((r["cell"], r) for _, r in cell_records(config.output))["tiny__int4-b32"]  # third cell of the model
    plain = lm_eval.simple_evaluate(
        model="kbit-hf", model_args=f"pretrained={tiny_model_dir},bits=4,dtype=int,blocksize=32,device=cpu,"
                                  "torch_dtype=bfloat16,compute_dtype=float32",
        tasks=list(config.tasks), limit=8, batch_size=8, log_samples=False, bootstrap_iters=1000,
        task_manager=TaskManager(include_path=tasks_dir(), include_defaults=False), random_seed=0,
        numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0)
    assert plain["results"] == last["lm_eval"]["results"]
