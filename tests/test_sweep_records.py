"""Records without a model: defensive reading, claims between processes, the fingerprint."""
import json
import multiprocessing
import os
import re
import struct
import time

import pytest

from kbit_tasks.sweep.claims import CLAIM_DIR, try_claim
from kbit_tasks.sweep.fingerprint import differences, model_fingerprint
from kbit_tasks.sweep.store import CORRUPT_DIR, CorruptRecord, cell_records, quarantine, read_record

REPORT = {"params_total": 10, "bits_per_param": 16.0, "total_bits": 160,
          "config": {"bits": 16, "quant_type": "fp", "blocksize": 64, "label": "16bit"}}
GOOD = {"status": "done", "cell": "m__16bit", "model": {"name": "m", "params": None},
        "lm_eval": {"config": {"quant_report": REPORT}, "results": {}, "n-samples": {}},
        "finished_at": "2026-01-01T00:00:00"}


@pytest.mark.parametrize("text, reason", [
    (json.dumps(GOOD)[:50], "not valid JSON"),
    ("null", "holds NoneType null"),
    ("[]", "holds list []"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "model"}), "missing model"),
    (json.dumps(GOOD | {"lm_eval": {"results": {}, "config": {}}}), "missing lm_eval.n-samples"),
    (json.dumps(GOOD | {"status": "half"}), "status='half'"),
])
def test_corrupt_records_are_named_and_moved_aside(tmp_path, text, reason):
    path = tmp_path / "m__16bit.json"
    path.write_text(text)
    with pytest.raises(CorruptRecord, match=re.escape(reason)) as err:
        read_record(path)
    assert str(path) in str(err.value)
    [(listed, found)] = cell_records(tmp_path)  # listed as corrupt, not raised
    assert listed == path and isinstance(found, CorruptRecord)
    moved = quarantine(err.value)
    assert not path.exists() and moved.parent == tmp_path / CORRUPT_DIR and moved.read_text() == text
    assert quarantine(err.value) is None  # another process moved it first: no error


def test_a_good_record_reads_back(tmp_path):
    (tmp_path / "m__16bit.json").write_text(json.dumps(GOOD))
    assert read_record(tmp_path / "m__16bit.json") == GOOD and read_record(tmp_path / "none.json") is None


def test_a_claim_is_held_once_and_released_only_by_its_holder(tmp_path):
    first = try_claim(tmp_path, "cell", stale_after=60)
    assert first is not None and try_claim(tmp_path, "cell", stale_after=60) is None
    body = json.loads(first.path.read_text())
    assert body["pid"] == os.getpid() and body["host"] and body["claimed_at"]
    first.release()
    second = try_claim(tmp_path, "cell", stale_after=60)
    assert second is not None
    first.release()  # no longer its claim: must not remove the second holder's
    assert second.path.exists() and second.ours()
    second.release()
    assert not second.path.exists()


def test_a_claim_without_heartbeat_is_taken_over(tmp_path, caplog):
    held = try_claim(tmp_path, "cell", stale_after=60)
    past = time.time() - 61
    os.utime(held.path, (past, past))  # its holder stopped beating (a dead node)
    taker = try_claim(tmp_path, "cell", stale_after=60)
    assert taker is not None and not held.ours()
    assert "without heartbeat for 61 s (timeout 60 s)" in caplog.text
    assert not list((tmp_path / CLAIM_DIR).glob("*.takeover"))


def test_the_heartbeat_keeps_a_long_cell_claimed(tmp_path):
    with try_claim(tmp_path, "cell", stale_after=0.4).start_heartbeat() as held:
        time.sleep(1.0)  # 2.5 timeouts: only the heartbeat keeps it fresh
        assert try_claim(tmp_path, "cell", stale_after=0.4) is None and held.ours()
    assert not held.path.exists()


def test_a_claim_of_a_dead_process_on_this_host_is_taken_at_once(tmp_path):
    proc = multiprocessing.get_context("fork").Process(target=_claim_and_exit, args=(str(tmp_path),))
    proc.start()
    proc.join()
    assert (tmp_path / CLAIM_DIR / "cell.claim").exists()
    assert try_claim(tmp_path, "cell", stale_after=3600) is not None


def _claim_and_exit(folder):
    try_claim(folder, "cell", stale_after=3600)
    os._exit(0)  # like SIGKILL: no release


def _claim_many(folder, cells, queue, finish):
    won = []
    for cell in cells:
        claim = try_claim(folder, cell, stale_after=60)
        if claim is not None:
            won.append(cell)  # held to the end, like a cell being computed
    queue.put(won)
    finish.wait(60)  # alive until all are done: a dead holder's claim may be taken over


def test_concurrent_processes_each_win_distinct_cells(tmp_path):
    cells = [f"c{i}" for i in range(60)]
    ctx = multiprocessing.get_context("fork")
    queue, finish = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claim_many, args=(str(tmp_path), cells, queue, finish)) for _ in range(4)]
    for p in procs:
        p.start()
    won = [queue.get(timeout=60) for _ in procs]
    finish.set()
    for p in procs:
        p.join()
    flat = [c for w in won for c in w]
    assert sorted(flat) == sorted(cells)  # each cell claimed exactly once


def _safetensors(path, header: dict, payload: bytes = b"\0" * 8):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + payload)


def test_model_fingerprint_sees_config_weights_and_retraining(tmp_path):
    (tmp_path / "config.json").write_text('{"n_layer": 2}')
    _safetensors(tmp_path / "model.safetensors", {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
    (tmp_path / "tokenizer.json").write_text("{}")
    base = model_fingerprint(str(tmp_path))
    assert base["folder"] == str(tmp_path.resolve()) and set(base["weights"]) == {"model.safetensors"}
    assert differences(base, model_fingerprint(str(tmp_path))) == []
    (tmp_path / "config.json").write_text('{"n_layer": 3}')
    assert [d.split(" ")[0] for d in differences(base, model_fingerprint(str(tmp_path)))] == ["files.config.json"]
    (tmp_path / "config.json").write_text('{"n_layer": 2}')
    _safetensors(tmp_path / "model.safetensors", {"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}})
    changed = {d.split(" ")[0] for d in differences(base, model_fingerprint(str(tmp_path)))}
    assert "weights.model.safetensors.header_sha256" in changed
    _safetensors(tmp_path / "model.safetensors", {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                 payload=b"\1" * 8)  # retrained in place: same header and size, new contents
    os.utime(tmp_path / "model.safetensors", ns=(0, base["weights"]["model.safetensors"]["mtime_ns"] + 10**9))
    assert [d.split(" ")[0] for d in differences(base, model_fingerprint(str(tmp_path)))] == \
        ["weights.model.safetensors.mtime_ns"]


def test_differences_say_what_changed_in_one_line():
    old = {"evaluation": {"batch_size": 8, "limit": 4}, "params": None, "tasks": {"t": {"content_hash": "a" * 64}}}
    new = {"evaluation": {"batch_size": 16, "limit": 4}, "params": 70, "tasks": {"t": {"content_hash": "b" * 64}}}
    assert differences(old, new) == ["params null -> 70", "evaluation.batch_size 8 -> 16",
                                      "tasks.t.content_hash changed"]
    assert differences(None, new) == ["the record has no fingerprint (written by an older kbit)"]


def test_force_redoes_records_older_than_the_run_not_those_finished_since(tmp_path):
    from kbit_tasks.sweep.runner import refuse_mismatch, verdict

    path = tmp_path / "m__16bit.json"
    path.write_text(json.dumps(GOOD | {"fingerprint": {"a": 1, "tasks": {}}}))  # finished 2026-01-01
    assert verdict(path, {"a": 1, "tasks": {}}).state == "finished"
    assert verdict(path, {"a": 1, "tasks": {}}, "2026-06-01T00:00:00+00:00").why == "--force"
    assert verdict(path, {"a": 1, "tasks": {}}, "2025-06-01T00:00:00+00:00").state == "finished"  # another's
    changed = verdict(path, {"a": 2, "tasks": {}})
    assert changed.why == "the record no longer matches: a 1 -> 2" and changed.mismatch
    with pytest.raises(ValueError, match=r"m__16bit.json was made by something else \(a 1 -> 2\)"):
        refuse_mismatch(path, changed)


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_bad_claim_timeout_is_rejected(monkeypatch, value):
    from kbit_tasks.sweep.claims import stale_after_default

    monkeypatch.setenv("KBIT_CLAIM_TIMEOUT", value)
    with pytest.raises(ValueError, match="KBIT_CLAIM_TIMEOUT=.* must be a number of seconds > 0"):
        stale_after_default()
