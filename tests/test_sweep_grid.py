"""kbit-sweep without a model: config validation, the precision shorthand, sharding, atomic writes."""
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from kbit_tasks.quant import QuantConfig
from kbit_tasks.sweep import build_grid, expand_precisions, parse_config, parse_shard, select
from kbit_tasks.sweep.config import ModelSpec, SweepConfig
from kbit_tasks.sweep.store import atomic_write_json


def test_cartesian_shorthand_expands_every_list():
    entries = expand_precisions([{"bits": [3, 4], "blocksize": [64, 128], "quant_type": "int"}, {"bits": 16}])
    assert entries == [{"bits": 3, "blocksize": 64, "quant_type": "int"},
                       {"bits": 3, "blocksize": 128, "quant_type": "int"},
                       {"bits": 4, "blocksize": 64, "quant_type": "int"},
                       {"bits": 4, "blocksize": 128, "quant_type": "int"},
                       {"bits": 16}]


def test_precisions_are_one_per_label(tmp_path, tiny_model_dir):
    # quant_type means nothing at 16 bit: the grid holds one baseline, not two.
    cfg = parse_config({"models": [str(tiny_model_dir)], "output": str(tmp_path),
                        "precisions": {"bits": [4, 16], "quant_type": ["fp", "int"]}})
    assert [q.label for q in cfg.precisions] == ["fp4-b64", "int4-b64", "16bit"]


def _base(tmp_path, model_dir):
    return {"models": [str(model_dir)], "precisions": [{"bits": 4}], "output": str(tmp_path / "out")}


@pytest.mark.parametrize("change, bad", [
    ({"metadata": {"nn": 5}}, "unknown key(s) 'nn'; valid keys are n, seed, distractors"),
    ({"metadata": {"n": 0}}, "n=0 is not valid"),
    ({"max_batch_size": 0}, "max_batch_size=0"),
    ({"models": [{"path": "./no/such/folder"}]}, "no such folder"),
    ({"modles": []}, "'modles'"),
    ({"models": [{"path": "MODEL", "size": 3}]}, "'size'"),
    ({"models": ["./no/such/folder"]}, "./no/such/folder"),
    ({"models": ["nobody-org/no-such-model"]}, "nobody-org/no-such-model"),
    ({"tasks": ["kbit_*", "kbit_nonsense_*"]}, "kbit_nonsense_*"),
    ({"tasks": 5}, "got 5"),
    ({"precisions": [{"bits": 9}]}, "bits=9"),
    ({"precisions": [{"bits": 4, "block": 64}]}, "'block'"),
    ({"device": "tpu"}, "'tpu'"),
    ({"compute_dtype": "fp32"}, "'fp32'"),
    ({"precisions": [{"bits": 4, "dtype": "nf"}]}, "'dtype' is now called 'quant_type' (as in kbit-hf's model_args); "
                                                   "write quant_type: nf"),
    ({"torch_dtype": "bfloat16"}, "'torch_dtype' is now called 'dtype' (as in kbit-hf's model_args); "
                                  "write dtype: bfloat16"),
    ({"limit": 0}, "limit=0"),
    ({"num_fewshot": 100}, "num_fewshot=100 is not valid for kbit_causal_correlation_l2; use 0 to 8"),
    ({"batch_size": "abc"}, "batch_size='abc'"),
    ({"models": [{"path": "MODEL", "parallelize": "false"}]}, "parallelize='false' must be true or false"),
    ({"output": "FILE/sub"}, "FILE/sub"),
])
def test_bad_config_is_one_clear_error(tmp_path, tiny_model_dir, monkeypatch, change, bad):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "FILE").write_text("a file, not a folder")
    raw = _base(tmp_path, tiny_model_dir) | json.loads(json.dumps(change).replace("FILE", str(tmp_path / "FILE"))
                                                      .replace("MODEL", str(tiny_model_dir)))
    with pytest.raises(ValueError) as err:
        parse_config(raw)
    assert bad.replace("FILE", str(tmp_path / "FILE")) in str(err.value)


def test_duplicate_model_names_are_rejected(tmp_path, tiny_model_dir):
    raw = _base(tmp_path, tiny_model_dir) | {"models": [str(tiny_model_dir), {"path": str(tiny_model_dir)}]}
    with pytest.raises(ValueError, match="used twice"):
        parse_config(raw)


def _grid(n_models=3, bits=(2, 3, 4, 5, 6, 8, 16)):
    cfg = SweepConfig(models=tuple(ModelSpec(path=f"/m{i}", name=f"m{i}") for i in range(n_models)),
                      precisions=tuple(QuantConfig(bits=b) for b in bits), tasks=("t",), output=Path("."))
    return build_grid(cfg)


@pytest.mark.parametrize("shards", [1, 2, 3, 5, 8, 30])
def test_shards_partition_the_grid_into_contiguous_blocks(shards):
    grid = _grid()
    parts = [select(grid, (i, shards)) for i in range(shards)]
    assert [c.id for part in parts for c in part] == [c.id for c in grid]  # in order, no cell twice
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("shards", [1, 2, 3])
@pytest.mark.parametrize("world", [1, 2, 4, 8])
def test_every_rank_walks_its_whole_shard_model_major_from_its_own_start(shards, world):
    for index in range(shards):
        shard = select(_grid(), (index, shards))
        walks = [select(_grid(), (index, shards), r, world) for r in range(world)]
        for walk in walks:
            assert sorted(c.id for c in walk) == sorted(c.id for c in shard)  # claims decide who runs what
            switches = sum(a.model != b.model for a, b in zip(walk, walk[1:]))
            assert switches <= len({c.model for c in shard})  # a model is loaded at most twice (wrap-around)
        starts = [w[0].id for w in walks if w]
        assert len(set(starts)) == min(world, len(shard))  # processes begin on different cells


@pytest.mark.parametrize("text", ["2/2", "-1/3", "1", "a/b", "0/0"])
def test_bad_shard_is_rejected(text):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "cell.json"
    atomic_write_json(path, {"status": "done", "v": 1})

    def torn_dump(obj, fh, **kwargs):
        fh.write('{"status": "do')  # half a record, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", torn_dump)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"status": "done", "v": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"status": "done", "v": 1}
    assert os.listdir(tmp_path) == ["cell.json"]


def test_processes_on_a_node_own_disjoint_gpus(monkeypatch):
    import torch

    from kbit_tasks.sweep.grid import Placement

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    owned = [Placement(rank=r, world=2, local_rank=r, local_world=2).gpus() for r in range(2)]
    assert owned == [[0, 1, 2, 3], [4, 5, 6, 7]]  # a parallelize model spreads over 4 GPUs
    assert [Placement(rank=r, world=8, local_rank=r, local_world=8).gpus() for r in range(8)] == [[g] for g in range(8)]
    with pytest.raises(ValueError, match="9 processes"):
        Placement(local_world=9).gpus()


def test_processes_per_gpu_lets_several_processes_share_each_gpu(monkeypatch):
    import torch

    from kbit_tasks.sweep.grid import Placement

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    shared = [Placement(local_rank=r, local_world=4, processes_per_gpu=2).gpus() for r in range(4)]
    assert shared == [[0], [0], [1], [1]]
    assert [Placement(local_rank=r, local_world=3, processes_per_gpu=2).gpus() for r in range(3)] == [[0], [0], [1]]
    with pytest.raises(ValueError, match=r"5 processes on this node but only 2 visible GPUs x processes_per_gpu=2"):
        Placement(local_world=5, processes_per_gpu=2).gpus()


@pytest.mark.parametrize("change, bad", [
    ({"processes_per_gpu": 0}, "processes_per_gpu=0 must be a positive integer"),
    ({"processes_per_gpu": 2, "batch_size": "auto"}, "batch_size='auto' with processes_per_gpu > 1"),
    ({"processes_per_gpu": 2, "models": [{"path": "MODEL", "parallelize": True}]}, "has parallelize: true"),
])
def test_gpu_sharing_refuses_what_sizes_itself_by_free_gpu_memory(tmp_path, tiny_model_dir, change, bad):
    raw = _base(tmp_path, tiny_model_dir) | json.loads(json.dumps(change).replace("MODEL", str(tiny_model_dir)))
    with pytest.raises(ValueError, match=re.escape(bad)):
        parse_config(raw)
    assert parse_config(_base(tmp_path, tiny_model_dir) | {"processes_per_gpu": 2}).processes_per_gpu == 2


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    from kbit_tasks.sweep import load_config

    bad = tmp_path / "sweep.yaml"
    bad.write_text("models: [a\nprecisions: {bits: 4}\n")
    with pytest.raises(ValueError, match=rf"{bad}'?: YAML syntax error at line \d+"):
        load_config(bad)


@pytest.mark.parametrize("device", ["mps", "cuda"])
def test_unavailable_device_is_rejected(device, monkeypatch):
    import torch

    from kbit_tasks.arguments import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError,
                       match=rf"device='{device}' is not available on this machine; choose one of auto, cpu"):
        check_device(device)
    check_device("cpu")


def test_rank_sets_its_own_cuda_device_and_the_timer_syncs_it(monkeypatch):
    """Without a GPU: torch.cuda faked, asserting which device set_device/synchronize get."""
    import torch

    from kbit_tasks.model import KbitHFLM
    from kbit_tasks.sweep.grid import Placement
    from kbit_tasks.sweep.lm import SweepLM

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", torch.device(d))))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append(("synchronize", torch.device(d))))
    device = Placement(rank=3, world=4, local_rank=3, local_world=4).use_device("auto")
    assert device == "cuda:3" and calls == [("set_device", torch.device("cuda:3"))]

    monkeypatch.setattr(KbitHFLM, "_model_call", lambda self, x, *args, **kwargs: x)  # no model: the forward
    lm = SweepLM.__new__(SweepLM)  # the timer without loading a model
    lm.seconds_forward, lm._device = 0.0, torch.device(device)
    assert lm._model_call(5) == 5
    assert calls[-1] == ("synchronize", torch.device("cuda:3")) and lm.seconds_forward > 0


def test_a_dry_run_plans_a_gpu_sweep_on_a_machine_without_one_and_says_so(tmp_path, tiny_model_dir, monkeypatch,
                                                                        capsys):
    """A login node plans what its GPU nodes will run (scripts/slurm/submit.sh): not refused, noted."""
    import torch

    from kbit_tasks.cli.sweep import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = tmp_path / "c.yaml"
    raw = _base(tmp_path, tiny_model_dir) | {"device": "cuda", "tasks": "kbit_logical_rules_l1", "metadata": {"n": 4}}
    config.write_text(yaml.safe_dump(raw))
    main(["run", str(config), "--dry-run"])
    out, err = capsys.readouterr()
    assert out.startswith("new ") and "note: device='cuda' is not available on this machine" in err
