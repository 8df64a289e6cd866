"""kbit-sweep end to end on a tiny local model: records, resume, the reuse rule, corrupt
records, failures, claims between processes (a launch, two runs), kill -9."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from kbit_tasks.cli.sweep import main
from kbit_tasks.sweep import collect, parse_config, run
from kbit_tasks.sweep.collect import COLUMNS
from kbit_tasks.sweep.store import CORRUPT_DIR, cell_records

TASKS = ["kbit_logical_*_l1"]  # a slice of the suite keeps the tests inside their time budget
PRECISIONS = [{"bits": 16}, {"bits": [3, 4], "quant_type": "int", "blocksize": 32}]
N_CELLS = 3


def _raw(model_dir, output, **extra):
    return {"models": [{"path": str(model_dir), "name": "tiny"}], "precisions": PRECISIONS, "tasks": TASKS,
            "limit": 8, "batch_size": 8, "device": "cpu", "output": str(output),
            "dtype": "bfloat16", "compute_dtype": "float32", **extra}  # stored in 16 bit, run in 32


def _env():
    # Subprocesses: offline, one thread each (2 cores are shared), no stray ranks inherited,
    # this checkout's kbit_tasks even when run from another folder.
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def _one_cell(model_dir, output, **extra):
    """The smallest real cell: one precision, one task, two items."""
    return _raw(model_dir, output, precisions=[{"bits": 16}], tasks=["kbit_logical_syllogism_l1"], limit=2, **extra)


@pytest.fixture(scope="module")
def swept(tiny_model_dir, tmp_path_factory):
    """One in-process sweep everyone compares against."""
    out = tmp_path_factory.mktemp("sweep")
    config = parse_config(_raw(tiny_model_dir, out))
    return config, run(config)


@pytest.mark.slow
def test_sweep_writes_one_complete_record_per_cell(swept):
    config, summary = swept
    assert summary.done == ["tiny__16bit", "tiny__int3-b32", "tiny__int4-b32"] and not summary.failed
    records = [rec for _, rec in cell_records(config.output)]
    assert [r["cell"] for r in records] == summary.done
    for rec in records:
        assert rec["status"] == "done"
        assert set(rec["lm_eval"]["results"]) == set(config.tasks)
        hashes = {t: cfg["metadata"]["content_hash"] for t, cfg in rec["lm_eval"]["configs"].items()}
        assert all(isinstance(h, str) and len(h) == 64 for h in hashes.values()) and set(hashes) == set(config.tasks)
        for task, cfg in rec["lm_eval"]["configs"].items():  # what collect reads; chance from the generators
            meta = cfg["metadata"]
            assert (meta["family"], meta["level"]) == ("logical", 1) and task == f"kbit_logical_{meta['subtask']}_l1"
            assert meta["chance"] in (1 / 2, 1 / 3, 1 / 4)
        assert "chance" not in rec  # computed once, by the generators, carried in the task metadata
        assert rec["versions"]["lm_eval"] and rec["versions"]["torch"] and rec["git_revision"]
        report = rec["lm_eval"]["config"]["quant_report"]
        assert report["config"]["bits"] == rec["fingerprint"]["quant"]["bits"]
        assert not {"quant", "quant_report", "content_hashes", "spec", "seed"} & set(rec)  # each fact once
        assert rec["model"] == {"name": "tiny", "parallelize": False} and "kbit" not in rec["versions"]
        assert rec["fingerprint"]["model"]["source"] == str(config.models[0].path)
        assert 0 < rec["seconds_forward"] < rec["seconds"]
        assert rec["nonfinite_loglikelihoods"] == {t: 0 for t in config.tasks}
        assert rec["fingerprint"]["model"]["files"]["config.json"]
        assert rec["fingerprint"]["evaluation"]["model_args"]["batch_size"] == 8
        assert {t: v["content_hash"] for t, v in rec["fingerprint"]["tasks"].items()} == hashes
        assert os.stat(config.output / f"{rec['cell']}.json").st_mode & 0o777 == 0o666 & ~_umask()
    assert not list((config.output / ".claims").iterdir())  # every claim released
    bpp = {r["cell"]: r["lm_eval"]["config"]["quant_report"]["bits_per_param"] for r in records}
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


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_rerun_skips_finished_cells_and_can_refuse_changed_settings(swept, tiny_model_dir):
    config, _ = swept
    mtimes = {p: p.stat().st_mtime_ns for p, _ in cell_records(config.output)}
    again = run(config)
    assert again.skipped == again.cells and not again.done
    assert {p: p.stat().st_mtime_ns for p, _ in cell_records(config.output)} == mtimes
    changed = parse_config(_raw(tiny_model_dir, config.output, limit=4))
    for mismatch in (None, "refuse"):
        with pytest.raises(ValueError, match=r"holds a sweep with other settings \(limit 8 -> 4\)"):
            run(changed, on_mismatch=mismatch)
    assert {p: p.stat().st_mtime_ns for p, _ in cell_records(config.output)} == mtimes


@pytest.mark.slow
def test_a_changed_model_task_content_or_setting_reruns_the_cell(tiny_model_dir, tmp_path, monkeypatch, caplog):
    """Each change that alters the numbers re-runs the cell and says why; nothing else does."""
    from kbit_tasks import generators
    from kbit_tasks.tiny import make_tiny_model

    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    config = parse_config(_one_cell(model, tmp_path / "out"))
    assert run(config).done == ["tiny__16bit"] and run(config).skipped == ["tiny__16bit"]

    make_tiny_model(model, arch="llama")  # rebuilt at the same path, another architecture
    summary = run(config)
    assert summary.done == ["tiny__16bit"] and "model.files.config.json changed" in summary.rerun["tiny__16bit"]
    assert "tiny__16bit: running again: the record no longer matches: model.files.config.json changed" in caplog.text

    real_build = generators.build

    def upgraded(*args, **kwargs):  # a new kbit whose generator words the items differently
        return [item | {"question": item["question"] + " "} for item in real_build(*args, **kwargs)]

    monkeypatch.setattr(generators, "build", upgraded)
    summary = run(config)
    assert summary.done == ["tiny__16bit"]
    assert summary.rerun["tiny__16bit"].endswith("tasks.kbit_logical_syllogism_l1.content_hash changed")
    monkeypatch.undo()

    assert run(config).rerun["tiny__16bit"].endswith("content_hash changed")  # back to today's items
    summary = run(parse_config(_one_cell(model, tmp_path / "out", batch_size=4, bootstrap_iters=10)),
                  on_mismatch="rerun")  # new settings for the folder: asked for
    assert summary.rerun["tiny__16bit"].endswith(
        "evaluation.bootstrap_iters 1000 -> 10; evaluation.model_args.batch_size 8 -> 4")
    params = _one_cell(model, tmp_path / "out", batch_size=4, bootstrap_iters=10)
    params["models"][0]["params"] = 1000
    assert run(parse_config(params)).rerun["tiny__16bit"].endswith(": params null -> 1000")
    assert len(list((tmp_path / "out" / ".replaced").iterdir())) == 5  # every replaced record kept


@pytest.mark.slow
def test_a_truncated_record_is_moved_aside_and_redone(swept, tiny_model_dir, tmp_path, capsys, caplog):
    config, _ = swept
    out = shutil.copytree(config.output, tmp_path / "out")
    victim = out / "tiny__int3-b32.json"
    os.truncate(victim, 5000)
    (out / "tiny__16bit.json").write_text("null")
    stale_tmp = out / ".tiny__int4-b32.json.x1y2.tmp"  # left by a killed write
    stale_tmp.write_text('{"status": "do')
    os.utime(stale_tmp, (time.time() - 7200, time.time() - 7200))

    broken = {p: p.read_bytes() for p in (victim, out / "tiny__16bit.json")}
    table = collect([out])  # moved aside with a warning naming the files
    assert set(table.precision) == {"int4-b32"} and not victim.exists()
    assert (f"corrupt record {victim}: not valid JSON" in caplog.text
            and "tiny__16bit.json: holds NoneType" in caplog.text)
    main(["collect", str(out), "-o", str(tmp_path / "t.csv")])  # not strict: exit 0
    with pytest.raises(SystemExit) as strict:
        main(["collect", str(out), "-o", str(tmp_path / "t.csv"), "--strict"])
    assert strict.value.code == 1 and "2 problems" in capsys.readouterr().out
    for path, data in broken.items():  # broken again, now for the run to find
        path.write_bytes(data)

    summary = run(parse_config(_raw(tiny_model_dir, out)))
    assert summary.done == ["tiny__16bit", "tiny__int3-b32"] and summary.skipped == ["tiny__int4-b32"]
    assert summary.rerun["tiny__int3-b32"].startswith("corrupt record (not valid JSON")
    moved = sorted(p.name.split(".json-")[0] for p in (out / CORRUPT_DIR).iterdir())
    assert moved == ["tiny__16bit", "tiny__16bit", "tiny__int3-b32", "tiny__int3-b32"] and not stale_tmp.exists()
    pd.testing.assert_frame_equal(collect([out]), collect([config.output]))


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_launch_with_a_broken_model_finishes_the_other_cells_and_exits_0(swept, tiny_model_dir, tmp_path):
    """2 ranks under accelerate launch; one model cannot load. Its cells are recorded as failed,
    the ranks share the good model's cells by claims, and both exit 0 (a rank exiting 1 would
    make torchrun kill its sibling mid-cell)."""
    config, _ = swept
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    raw = _raw(tiny_model_dir, tmp_path / "out")
    raw["models"].append({"path": str(broken), "name": "broken"})
    cfg = _write_config(tmp_path / "sweep.yaml", raw)
    # The GPU-node launch itself (accelerate's --multi_gpu is torchrun), with device: cpu in the
    # config; accelerate's --cpu flag would start one process (several need MPI).
    launch = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                             "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                             "-m", "kbit_tasks.sweep", "run", cfg], env=_env(), timeout=400,
                            capture_output=True, text=True)
    assert launch.returncode == 0, launch.stderr[-3000:]
    records = {r["cell"]: r for _, r in cell_records(tmp_path / "out")}
    assert len(records) == 2 * N_CELLS and {r["placement"]["world"] for r in records.values()} == {2}
    assert {c for c, r in records.items() if r["status"] == "failed"} == {c for c in records if c.startswith("broken")}
    done = [int(m) for m in re.findall(r"(\d+) done", launch.stdout)]
    assert len(done) == 2 and sum(done) == N_CELLS  # every good cell computed once
    pd.testing.assert_frame_equal(collect([tmp_path / "out"]), collect([config.output]))


@pytest.mark.slow
def test_two_unsharded_runs_on_one_folder_compute_each_cell_once(swept, tiny_model_dir, tmp_path):
    """An accidental resubmit: two plain runs of the same config, started together, from a
    folder that is not a git checkout (no "fatal: not a git repository" per cell)."""
    config, _ = swept
    cfg = _write_config(tmp_path / "sweep.yaml", _raw(tiny_model_dir, tmp_path / "out"))
    procs = [subprocess.Popen([sys.executable, "-m", "kbit_tasks.sweep", "run", cfg], env=_env(), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=400) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    done = [int(re.search(r"(\d+) done", out).group(1)) for out, _ in outputs]
    assert sum(done) == N_CELLS, outputs  # each cell computed by exactly one of them
    assert not any("not a git repository" in err for _, err in outputs)
    pd.testing.assert_frame_equal(collect([tmp_path / "out"]), collect([config.output]))


@pytest.mark.slow
def test_nan_logits_are_counted_and_auto_batch_size_is_found_once(tiny_model_dir, tmp_path, monkeypatch):
    import torch
    from lm_eval.models.huggingface import HFLM

    from kbit_tasks.sweep import runner

    real_load, real_detect, probes, loaded = runner.load_lm, HFLM._detect_batch_size, [], []

    def counted_detect(self, *args, **kwargs):
        probes.append(1)
        return real_detect(self, *args, **kwargs)

    def load_with_nan_logits(*args):
        lm = real_load(*args)
        lm.model.lm_head.register_forward_hook(lambda module, inputs, out: out * float("nan"))
        loaded.append(lm)
        return lm

    monkeypatch.setattr(HFLM, "_detect_batch_size", counted_detect)
    monkeypatch.setattr(runner, "load_lm", load_with_nan_logits)
    raw = _one_cell(tiny_model_dir, tmp_path, batch_size="auto", max_batch_size=4)
    config = parse_config(raw | {"precisions": PRECISIONS})
    assert len(run(config).done) == N_CELLS
    assert len(probes) == 1 and loaded[0].max_batch_size == 4  # once per model, not per cell
    assert loaded[0].softmax_dtype == torch.float32
    for _, rec in cell_records(tmp_path):
        [(task, count)] = rec["nonfinite_loglikelihoods"].items()
        assert task == "kbit_logical_syllogism_l1" and count >= 2 * 2  # every choice of both items


@pytest.mark.slow
def test_kill_minus_nine_then_rerun_completes_without_duplicates(swept, tiny_model_dir, tmp_path):
    config, _ = swept
    out = tmp_path / "out"
    cfg = _write_config(tmp_path / "sweep.yaml", _raw(tiny_model_dir, out))
    cmd = [sys.executable, "-m", "kbit_tasks.sweep", "run", cfg]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list(out.glob("*__*.json")) and time.time() < deadline and proc.poll() is None:
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


def test_cli_collect_rejects_unknown_format(swept, tmp_path, capsys):
    config, _ = swept
    with pytest.raises(SystemExit) as exit_:
        main(["collect", str(config.output), "-o", str(tmp_path / "results.xlsx")])
    assert exit_.value.code == 2 and "kbit-sweep: error: output" in capsys.readouterr().err
    main(["collect", str(config.output), "-o", str(tmp_path / "results.parquet")])
    assert pd.read_parquet(tmp_path / "results.parquet").shape == collect([config.output]).shape


@pytest.mark.slow
def test_a_cell_matches_a_plain_lm_eval_run(swept, tiny_model_dir):
    """The sweep's shortcuts (one model load, requantize, tasks built once) change no number."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    import kbit_tasks.model  # noqa: F401  registers kbit-hf
    from kbit_tasks import tasks_dir

    config, _ = swept
    last = dict((r["cell"], r) for _, r in cell_records(config.output))["tiny__int4-b32"]  # third cell of the model
    plain = lm_eval.simple_evaluate(
        model="kbit-hf", model_args=f"pretrained={tiny_model_dir},bits=4,quant_type=int,blocksize=32,device=cpu,"
                                  "dtype=bfloat16,compute_dtype=float32",
        tasks=list(config.tasks), limit=8, batch_size=8, log_samples=False, bootstrap_iters=1000,
        task_manager=TaskManager(include_path=tasks_dir(), include_defaults=False), random_seed=0,
        numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0)
    assert plain["results"] == last["lm_eval"]["results"]


@pytest.mark.slow
def test_a_cell_held_by_a_process_that_dies_is_taken_over_at_the_end_of_the_walk(tiny_model_dir, tmp_path, caplog,
                                                                                 monkeypatch):
    """A claim by a process on another node, beating when the walk reaches its cell, silent
    afterwards: the walk leaves that cell, then takes it over once the claim is stale."""
    import json

    from kbit_tasks.sweep import runner
    from kbit_tasks.sweep.claims import CLAIM_DIR

    config = parse_config(_one_cell(tiny_model_dir, tmp_path) | {"precisions": PRECISIONS})
    claim = tmp_path / CLAIM_DIR / "tiny__16bit.claim"
    claim.parent.mkdir()
    claim.write_text(json.dumps({"host": "another-node", "pid": 1, "token": "theirs"}))
    real_claim, real_load, beats = runner.try_claim, runner.load_lm, []

    def beat_first(output, cell_id, stale_after):
        if cell_id == "tiny__16bit" and not beats:
            os.utime(claim)  # the other node's last heartbeat, just now
            beats.append(cell_id)
        return real_claim(output, cell_id, stale_after)

    def slow_load(*args):
        time.sleep(2.5)  # longer than the timeout: the other node's claim goes stale meanwhile
        return real_load(*args)

    monkeypatch.setattr(runner, "try_claim", beat_first)
    monkeypatch.setattr(runner, "load_lm", slow_load)
    summary = run(config, stale_after=2.0)
    assert summary.done == ["tiny__int3-b32", "tiny__int4-b32", "tiny__16bit"] and not summary.taken
    assert "tiny__16bit: taking over the claim of another-node pid 1 without heartbeat" in caplog.text
    monkeypatch.undo()
    held = parse_config(_one_cell(tiny_model_dir, tmp_path / "live") | {"precisions": PRECISIONS})
    (tmp_path / "live" / CLAIM_DIR).mkdir()
    (tmp_path / "live" / CLAIM_DIR / "tiny__16bit.claim").write_text(
        json.dumps({"host": "another-node", "pid": 1, "token": "theirs"}))
    summary = run(held)  # default timeout: the holder is alive, its cell is left to it
    assert summary.taken == ["tiny__16bit"] and len(summary.done) == 2
