"""The fault battery: each case of the table in docs/sweep.md ("What the table guarantees"),
run against a real sweep of a tiny model. Each case ends in one clear line or the right table,
never a silently wrong one."""
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from kbit_tasks.cli.sweep import main
from kbit_tasks.sweep import collect, parse_config, run
from kbit_tasks.sweep.store import cell_records
from test_sweep_errors import _fails  # one line `kbit-sweep: error: ...`, exit 2, no traceback

TASK = "kbit_logical_syllogism_l1"
OTHER_TASK = "kbit_logical_rules_l1"
PRECISIONS = [{"bits": 16}, {"bits": 4, "quant_type": "int", "blocksize": 32}]
CELLS = ["tiny__16bit", "tiny__int4-b32"]


def _raw(model, output, **extra):
    return {"models": [{"path": str(model), "name": "tiny"}], "precisions": PRECISIONS, "tasks": [TASK],
            "limit": 2, "batch_size": 4, "device": "cpu", "output": str(output), **extra}


def _yaml(path, raw):
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _strict_fails(argv, capsys) -> str:
    """What `collect --strict` names, with its exit code 1."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 1
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def finished(tiny_model_dir, tmp_path_factory):
    """A finished two-cell sweep; tests copy its folder before changing anything."""
    out = tmp_path_factory.mktemp("finished") / "out"
    assert run(parse_config(_raw(tiny_model_dir, out))).done == CELLS
    return out


def _copy(finished, tmp_path):
    return shutil.copytree(finished, tmp_path / "out")


# 1 and 5: identities -------------------------------------------------------------------------

@pytest.mark.parametrize("names", [("pythia/70m", "pythia 70m"), ("a:b", "a?b")])
def test_1_two_names_that_clean_to_one_file_name_are_refused_naming_both(tiny_model_dir, tmp_path, capsys, names):
    raw = _raw(tiny_model_dir, tmp_path / "out")
    raw["models"] = [{"path": str(tiny_model_dir), "name": names[0]}, {"path": str(tiny_model_dir), "name": names[1]}]
    line = _fails(["run", _yaml(tmp_path / "c.yaml", raw)], capsys)
    assert repr(names[0]) in line and repr(names[1]) in line and "file name" in line
    assert not list((tmp_path / "out").glob("*__*.json"))


@pytest.mark.parametrize("name", [".hidden", "../up/B", ".."])
def test_5_names_that_make_hidden_or_escaping_files_are_refused(tiny_model_dir, tmp_path, capsys, name):
    raw = _raw(tiny_model_dir, tmp_path / "out")
    raw["models"][0]["name"] = name
    line = _fails(["run", _yaml(tmp_path / "c.yaml", raw), "--dry-run"], capsys)
    assert repr(name) in line and "hidden" in line


# 2: a folder knows its grid ------------------------------------------------------------------

@pytest.mark.slow
def test_2_a_second_config_with_other_settings_on_the_folder_is_refused(finished, tiny_model_dir, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    before = {p.name: p.read_bytes() for p in out.glob("*__*.json")}
    line = _fails(["run", _yaml(tmp_path / "b.yaml", _raw(tiny_model_dir, out, limit=3))], capsys)
    assert "holds a sweep with other settings (limit 2 -> 3)" in line and "--mismatch rerun" in line
    assert {p.name: p.read_bytes() for p in out.glob("*__*.json")} == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["limit"] == 2 and manifest["cells"] == CELLS and manifest["tasks"] == [TASK]


def test_2_two_processes_racing_to_write_different_manifests_never_both_win(tmp_path):
    from kbit_tasks.sweep.manifest import check_manifest

    first = {"kind": "kbit-sweep grid", "spec": {"limit": 16}, "tasks": ["t"], "cells": ["m__16bit"]}
    assert check_manifest(tmp_path, first, allow_new_spec=False) is None
    with pytest.raises(ValueError, match=r"other settings \(limit 16 -> 32\)"):
        check_manifest(tmp_path, first | {"spec": {"limit": 32}}, allow_new_spec=False)


def test_2_collect_refuses_a_table_of_records_with_different_specs(finished, tiny_model_dir, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    record = json.loads((out / "tiny__16bit.json").read_text())
    record["fingerprint"]["evaluation"]["limit"] = 3
    record["model"]["name"] = "tiny-b"
    (other / "tiny-b__16bit.json").write_text(json.dumps(record))
    line = _fails(["collect", str(out), str(other), "-o", str(tmp_path / "t.csv")], capsys)
    assert "2 evaluation specs (limit 2 -> 3" in line or "2 evaluation specs (limit 3 -> 2" in line
    assert not (tmp_path / "t.csv").exists()


# 3: collect --strict -------------------------------------------------------------------------

def test_3_strict_collect_names_missing_failed_dead_and_corrupt_cells(finished, tiny_model_dir, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    raw = _raw(tiny_model_dir, out, precisions=PRECISIONS + [{"bits": [3, 8], "quant_type": "int",
                                                               "blocksize": 32}])
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["cells"] += ["tiny__int3-b32", "tiny__int8-b32", "tiny__nf4-b64"]
    (out / "manifest.json").write_text(json.dumps(manifest))  # as a run of `raw` writes it
    assert parse_config(raw)
    (out / "tiny__int3-b32.json").write_text(json.dumps({"status": "failed", "cell": "tiny__int3-b32",
                                                         "traceback": "Traceback...\nRuntimeError: CUDA OOM"}))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / ".claims" / "tiny__int8-b32.claim").write_text(json.dumps(
        {"host": socket.gethostname(), "pid": int(dead.stdout), "token": "x"}))
    (out / "tiny__int4-b32.json").write_text('{"status": "done", "cell"')
    err = _strict_fails(["collect", str(out), "-o", str(tmp_path / "t.csv"), "--strict"], capsys)
    assert "4 problems" in err
    assert f"failed cell {out}/tiny__int3-b32.json: RuntimeError: CUDA OOM" in err
    assert f"missing cell {out}/tiny__int8-b32.json: claimed by a dead process" in err
    assert f"missing cell {out}/tiny__nf4-b64.json: not computed yet" in err
    assert f"corrupt record {out}/tiny__int4-b32.json: not valid JSON" in err
    assert (tmp_path / "t.csv").exists()  # the table of what finished is still written


# 4: every input that changes a number is fingerprinted ---------------------------------------

def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


EDITS = {
    "tokenizer.json": lambda p: _edit_json(p, lambda d: d["model"]["vocab"].update(
        {k: v for k, v in zip(list(d["model"]["vocab"])[:2], list(d["model"]["vocab"].values())[1::-1])})),
    "tokenizer_config.json": lambda p: _edit_json(p, lambda d: d.update(add_bos_token=True)),
    "special_tokens_map.json": lambda p: p.write_text(json.dumps({"bos_token": "<s>"})),
    "chat_template.jinja": lambda p: p.write_text("{{ messages[0]['content'] }}"),
    "vocab.json": lambda p: p.write_text(json.dumps({"a": 0})),
    "merges.txt": lambda p: p.write_text("#version: 0.2\na b\n"),
    "generation_config.json": lambda p: _edit_json(p, lambda d: d.update(temperature=0.5)),
    "config.json": lambda p: _edit_json(p, lambda d: d.update(layer_norm_epsilon=1e-3)),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_4_each_model_file_that_changes_numbers_is_in_the_fingerprint(tiny_model_dir, tmp_path, name):
    from kbit_tasks.sweep.fingerprint import differences, model_fingerprint

    model = shutil.copytree(tiny_model_dir, tmp_path / "m")
    if name in ("vocab.json", "merges.txt", "special_tokens_map.json", "chat_template.jinja"):
        (model / name).write_text("{}")  # a file the tiny model lacks, made present first
    before = model_fingerprint(str(model))
    EDITS[name](model / name)
    assert differences(before, model_fingerprint(str(model))) == [f"files.{name} changed"]


def test_4_kbit_hf_arguments_and_few_shot_settings_are_in_the_fingerprint(tiny_model_dir, tmp_path):
    from kbit_tasks.sweep.fingerprint import differences

    base = parse_config(_raw(tiny_model_dir, tmp_path / "o")).evaluation_spec()
    for change, key in [({"max_batch_size": 8}, "model_args.max_batch_size"),
                        ({"compute_dtype": "float32"}, "model_args.compute_dtype"),
                        ({"num_fewshot": 2}, "num_fewshot"), ({"seed": 3}, "fewshot_random_seed")]:
        spec = parse_config(_raw(tiny_model_dir, tmp_path / "o", **change)).evaluation_spec()
        assert key in {d.split(" ")[0] for d in differences(base, spec)}


def test_4_num_fewshot_is_validated_and_reaches_lm_eval(tiny_model_dir, tmp_path, monkeypatch):
    import lm_eval

    with pytest.raises(ValueError, match=r"num_fewshot=-1 must be an integer >= 0"):
        parse_config(_raw(tiny_model_dir, tmp_path / "o", num_fewshot=-1))
    seen = []
    monkeypatch.setattr(lm_eval, "simple_evaluate", lambda **kw: seen.append(kw) or 1 / 0)
    run(parse_config(_raw(tiny_model_dir, tmp_path / "o", num_fewshot=1, precisions=[{"bits": 16}])))
    assert seen[0]["num_fewshot"] == 1 and seen[0]["fewshot_random_seed"] == 0


def test_4_a_task_config_edit_changes_the_task_fingerprint():
    from lm_eval.tasks import TaskManager

    from kbit_tasks import tasks_dir
    from kbit_tasks.sweep.fingerprint import task_fingerprint

    task = TaskManager(include_path=tasks_dir(), include_defaults=False, metadata={"n": 4}).load([TASK])["tasks"]
    before = task_fingerprint(task)[TASK]
    task[TASK].config.fewshot_delimiter = "\n###\n"  # what a few-shot split or template edit changes
    after = task_fingerprint(task)[TASK]
    assert after["content_hash"] == before["content_hash"] and after["config_sha256"] != before["config_sha256"]


@pytest.mark.slow
def test_4_an_edited_tokenizer_reruns_the_cell_and_keeps_the_old_record(tiny_model_dir, tmp_path):
    model = shutil.copytree(tiny_model_dir, tmp_path / "m")
    config = parse_config(_raw(model, tmp_path / "out", precisions=[{"bits": 16}]))
    run(config)
    old = (tmp_path / "out" / "tiny__16bit.json").read_bytes()
    EDITS["tokenizer.json"](model / "tokenizer.json")
    summary = run(config)
    assert summary.done == ["tiny__16bit"] and "model.files.tokenizer.json changed" in summary.rerun["tiny__16bit"]
    [kept] = (tmp_path / "out" / ".replaced").iterdir()
    assert kept.read_bytes() == old  # 7: nothing finished is destroyed


# 6 and 11e: unreadable or impossible records --------------------------------------------------

@pytest.mark.parametrize("spoil, reason", [
    (lambda r: r["lm_eval"]["results"].update({TASK: "0.5"}), f"lm_eval.results['{TASK}'] is str, not a mapping"),
    (lambda r: r["lm_eval"]["results"][TASK].update({"acc,none": 7.5}), "acc=7.5 is not a proportion in [0, 1]"),
    (lambda r: r["lm_eval"]["n-samples"][TASK].update({"effective": 0}), "effective=0 is not a positive number"),
    (lambda r: r["lm_eval"]["config"]["quant_report"].update({"total_bits": "many"}), "cannot be read into the table"),
])
@pytest.mark.slow
def test_6_a_record_collect_cannot_read_is_moved_aside_and_the_rest_written(finished, tiny_model_dir, tmp_path,
                                                                            capsys, caplog, spoil, reason):
    out = _copy(finished, tmp_path)
    path = out / "tiny__int4-b32.json"
    record = json.loads(path.read_text())
    spoil(record)
    path.write_text(json.dumps(record))
    _strict_fails(["collect", str(out), "-o", str(tmp_path / "t.csv"), "--strict"], capsys)
    assert f"corrupt record {path}" in caplog.text and reason in caplog.text and not path.exists()
    assert set(__import__("pandas").read_csv(tmp_path / "t.csv").precision) == {"16bit"}
    path.write_text(json.dumps(record))
    summary = run(parse_config(_raw(tiny_model_dir, out)))  # the run redoes it
    assert summary.done == ["tiny__int4-b32"] and reason in summary.rerun["tiny__int4-b32"]


# 7: nothing finished destroyed; a new task evaluates only itself; the dry run says why ---------

@pytest.mark.slow
def test_7_new_settings_keep_the_old_records_and_a_new_task_evaluates_only_itself(finished, tiny_model_dir,
                                                                                   tmp_path, capsys, monkeypatch):
    import lm_eval

    out = _copy(finished, tmp_path)
    old = {p.name: p.read_bytes() for p in out.glob("*__*.json")}
    cfg = _yaml(tmp_path / "c.yaml", _raw(tiny_model_dir, out, tasks=[TASK, OTHER_TASK]))
    main(["run", cfg, "--dry-run"])
    assert capsys.readouterr().out.splitlines() == [f"add       {c}  (1 new task: {OTHER_TASK})" for c in CELLS]
    evaluated, real = [], lm_eval.simple_evaluate
    monkeypatch.setattr(lm_eval, "simple_evaluate", lambda **kw: evaluated.append(list(kw["tasks"])) or real(**kw))
    main(["run", cfg])
    assert [[t.config.task for t in tasks] for tasks in evaluated] == [[OTHER_TASK]] * 2
    for name, data in old.items():
        record, before = json.loads((out / name).read_text()), json.loads(data)
        assert record["lm_eval"]["results"][TASK] == before["lm_eval"]["results"][TASK]
        assert set(record["lm_eval"]["results"]) == {TASK, OTHER_TASK}
    assert not (out / ".replaced").exists()  # nothing was replaced, only added

    halved = _yaml(tmp_path / "h.yaml", _raw(tiny_model_dir, out, tasks=[TASK, OTHER_TASK], limit=1))
    _fails(["run", halved, "--dry-run"], capsys)  # other settings: refused, also in a dry run
    main(["run", halved, "--dry-run", "--mismatch", "rerun"])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"redo      {c}  (the record no longer matches: evaluation.limit 2 -> 1)" for c in CELLS]
    main(["run", halved, "--mismatch", "rerun"])
    kept = sorted(p.name.split(".json-")[0] for p in (out / ".replaced").iterdir())
    assert kept == CELLS  # the limit-2 records, kept
    assert collect([out]).n.eq(1).all()


# 8: signals ----------------------------------------------------------------------------------

def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return env | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                  "PYTHONPATH": os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)}


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_8_sigterm_and_ctrl_c_release_the_claim_and_say_how_to_resume(tiny_model_dir, tmp_path, sig, code):
    out = tmp_path / "out"
    raw = _raw(tiny_model_dir, out, precisions=[{"bits": b, "quant_type": "int", "blocksize": 32}
                                                for b in (3, 4, 5, 6, 8)] + [{"bits": 16}])
    proc = subprocess.Popen([sys.executable, "-m", "kbit_tasks.sweep", "run", _yaml(tmp_path / "c.yaml", raw)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not list(out.glob("*__*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    finished = len(list(out.glob("*__*.json")))
    assert proc.returncode == code and "Traceback" not in err, err
    assert f"kbit-sweep: interrupted: {finished} cells finished; rerun to resume" in err
    assert 1 <= finished < 6 and not list((out / ".claims").glob("*.claim"))


def test_8_a_signal_just_after_a_claim_is_taken_still_releases_it(tiny_model_dir, tmp_path, monkeypatch):
    from kbit_tasks.sweep import runner

    take = runner.try_claim

    def take_then_signal(*args, **kwargs):
        claim = take(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # lands before the caller holds the claim
        return claim

    monkeypatch.setattr(runner, "try_claim", take_then_signal)
    with pytest.raises(runner.Interrupted):
        run(parse_config(_raw(tiny_model_dir, tmp_path / "out")))
    assert not list((tmp_path / "out" / ".claims").glob("*.claim"))


# 9: claims -----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("content", ["", "{\"host\": ", "\0\0\0"])
def test_9_an_unreadable_claim_is_stale_at_once(finished, tiny_model_dir, tmp_path, content):
    out = _copy(finished, tmp_path)
    (out / "tiny__16bit.json").unlink()
    (out / ".claims" / "tiny__16bit.claim").write_text(content)
    summary = run(parse_config(_raw(tiny_model_dir, out)))
    assert summary.done == ["tiny__16bit"] and not summary.taken


def test_9_cells_taken_by_others_are_named_with_holder_and_expiry(finished, tiny_model_dir, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    (out / "tiny__16bit.json").unlink()
    (out / ".claims" / "tiny__16bit.claim").write_text(json.dumps({"host": "node7", "pid": 42, "token": "t"}))
    main(["run", _yaml(tmp_path / "c.yaml", _raw(tiny_model_dir, out))])
    captured = capsys.readouterr()
    assert "1 taken by other processes" in captured.out
    assert re.search(r"taken by other processes: tiny__16bit \(held by node7 pid 42; stale in 59\d s", captured.err)


# 10: kbit-hf arguments -----------------------------------------------------------------------

def test_10_an_unknown_kbit_hf_argument_is_one_line_with_the_closest_name_before_loading(monkeypatch):
    from lm_eval.models.huggingface import HFLM

    from kbit_tasks.cli.eval import check_kbit_model_args
    from kbit_tasks.model import KbitHFLM

    @functools.wraps(HFLM.__init__)  # the same signature, which names the valid arguments
    def never(*args, **kwargs):
        pytest.fail("HFLM.__init__ ran before validation")

    monkeypatch.setattr(HFLM, "__init__", never)
    with pytest.raises(ValueError, match=r"unknown kbit-hf argument 'quant_typ'; did you mean 'quant_type'\?"):
        KbitHFLM(pretrained="/nonexistent", bits=3, quant_typ="nf")
    with pytest.raises(ValueError, match=r"^--model_args: unknown kbit-hf argument 'blocksiz'; did you mean 'block"):
        check_kbit_model_args("pretrained=/m,bits=3,blocksiz=64")
    check_kbit_model_args({"pretrained": "/tmp", "bits": 3, "attn_implementation": "eager", "device": "cpu",
                           "batch_size": 2})


# 11: the smaller items -----------------------------------------------------------------------

def test_11_a_bad_claim_timeout_is_named_as_given(tiny_model_dir, tmp_path, capsys, monkeypatch):
    cfg = _yaml(tmp_path / "c.yaml", _raw(tiny_model_dir, tmp_path / "out"))
    monkeypatch.setenv("KBIT_CLAIM_TIMEOUT", "abc")
    assert "KBIT_CLAIM_TIMEOUT='abc' must be a number of seconds" in _fails(["run", cfg], capsys)
    monkeypatch.delenv("KBIT_CLAIM_TIMEOUT")
    line = _fails(["run", cfg, "--dry-run", "--claim-timeout", "-1"], capsys)
    assert "--claim-timeout=-1.0 must be a number of seconds > 0" in line


def test_11_collect_on_foreign_json_or_one_folder_twice_is_refused(finished, tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.json").write_text('{"results": {}}')
    assert "holds no cell records" in _fails(["collect", str(foreign), "-o", str(tmp_path / "t.csv")], capsys)
    line = _fails(["collect", str(finished), str(finished) + "/", "-o", str(tmp_path / "t.csv")], capsys)
    assert "is given twice" in line


def test_11_a_model_folder_without_config_json_is_refused(tiny_model_dir, tmp_path, capsys):
    model = shutil.copytree(tiny_model_dir, tmp_path / "m")
    (model / "config.json").unlink()
    line = _fails(["run", _yaml(tmp_path / "c.yaml", _raw(model, tmp_path / "out")), "--dry-run"], capsys)
    assert "has no config.json" in line and str(model) in line


@pytest.mark.slow
def test_11_a_failed_cell_says_why_on_its_console_line(tiny_model_dir, tmp_path, monkeypatch, caplog):
    from kbit_tasks.sweep import runner

    def broken(*args):
        raise OSError("model.safetensors: unexpected end of file")

    monkeypatch.setattr(runner, "load_lm", broken)
    summary = run(parse_config(_raw(tiny_model_dir, tmp_path / "out", precisions=[{"bits": 16}])))
    assert summary.failed == ["tiny__16bit"]
    assert "tiny 16bit: failed in 0.0 s, OSError: model.safetensors: unexpected end of file" in caplog.text
    assert [r["status"] for _, r in cell_records(tmp_path / "out")] == ["failed"]
