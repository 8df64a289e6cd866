"""The kbit-hf model as the sweep builds it (runner.load_lm, a SweepLM): float32 log-probabilities
from 16-bit models, tokenization done once per model rather than once per cell, and the
per-cell counters kept as fields."""
import pytest
import torch

from kbit_tasks.sweep.config import ModelSpec, SweepConfig
from kbit_tasks.sweep.grid import Placement
from kbit_tasks.sweep.runner import load_lm

PAIRS = [("The cat sat on", " the mat"), ("One two three", " four five six"), ("Rule: if A then B. A holds.", " B")]


def _sweep_lm(folder, tmp_path, dtype: str):
    config = SweepConfig(models=(), precisions=(), tasks=(), output=tmp_path, dtype=dtype, batch_size=1)
    return load_lm(ModelSpec(path=str(folder), name="m"), config, Placement(), "cpu")


def _scores(lm) -> list[float]:
    from lm_eval.api.instance import Instance

    requests = [Instance("loglikelihood", doc={}, arguments=pair, idx=0) for pair in PAIRS]
    return [logprob for logprob, _ in lm.loglikelihood(requests)]


def _float32_reference(lm) -> list[float]:
    """The same model's 16-bit logits, log-softmaxed and summed in float32."""
    out = []
    for context, continuation in PAIRS:
        context_enc, continuation_enc = lm._encode_pair(context, continuation)
        with torch.no_grad():  # HFLM's input: everything but the last token
            logits = lm.model(torch.tensor([(context_enc + continuation_enc)[:-1]])).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)[len(context_enc) - 1:]
        out.append(logprobs.gather(1, torch.tensor(continuation_enc)[:, None]).sum().item())
    return out


def _rounded_to(values: list[float], dtype: torch.dtype) -> list[bool]:
    return [torch.tensor(v, dtype=torch.float64).to(dtype).item() == v for v in values]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_16_bit_models_give_float32_log_probs(tiny_llama_dir, tmp_path, dtype):
    lm = _sweep_lm(tiny_llama_dir, tmp_path, dtype)
    assert lm.model.dtype == getattr(torch, dtype)  # run in 16 bit, as loaded
    scores, reference = _scores(lm), _float32_reference(lm)
    assert scores == pytest.approx(reference, rel=1e-6, abs=1e-6)
    assert not all(_rounded_to(scores, getattr(torch, dtype)))
    # The check catches HFLM's default (softmax in the model's dtype): 16-bit sums, off the reference.
    lm.softmax_dtype = None
    sixteen = _scores(lm)
    assert all(_rounded_to(sixteen, getattr(torch, dtype)))
    assert sixteen != pytest.approx(reference, rel=1e-6, abs=1e-6)


def test_each_request_is_tokenized_once_per_model(tiny_model_dir, tmp_path):
    lm = _sweep_lm(tiny_model_dir, tmp_path, "float32")
    calls, tok_encode = [], lm.tok_encode
    lm.tok_encode = lambda string, **kwargs: calls.append(string) or tok_encode(string, **kwargs)
    first = _scores(lm)
    tokenized = len(calls)
    assert tokenized == 2 * len(PAIRS)  # context + continuation, and the context alone
    assert _scores(lm) == first and len(calls) == tokenized  # a second cell: nothing tokenized again
    context_enc, _ = lm._encode_pair(*PAIRS[0])
    context_enc.append(-1)  # a caller editing its copy
    assert lm._encode_pair(*PAIRS[0])[0][-1] != -1


def test_the_per_cell_counters_are_fields_that_start_cell_zeroes(tiny_model_dir, tmp_path):
    from lm_eval.api.instance import Instance

    lm = _sweep_lm(tiny_model_dir, tmp_path, "float32")
    requests = [Instance("loglikelihood", doc={}, arguments=pair, idx=0, metadata=("t", 0, 1)) for pair in PAIRS]
    lm.loglikelihood(requests)
    assert lm.seconds_forward > 0 and lm.nonfinite == {"t": 0} and "_model_call" not in vars(lm)
    lm.start_cell()
    assert lm.seconds_forward == 0 and not lm.nonfinite and lm._encoded  # the cache outlives the cell


def test_the_sweep_loads_by_name_as_one_process_under_a_launcher(tiny_model_dir, tmp_path, monkeypatch):
    """kbit-eval's load path (HFLM loads the folder), yet under torchrun/accelerate launch each
    sweep process stays a whole evaluation: no process group, rank 0 of 1, the launcher's
    variables back afterwards."""
    import os

    launcher = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29512"}
    for name, value in launcher.items():
        monkeypatch.setenv(name, value)
    # joining the group would wait forever for a rank 0 that never comes: fail at once instead
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda *a, **k: pytest.fail("joined a process group"))
    lm = _sweep_lm(tiny_model_dir, tmp_path, "float32")
    assert lm.pretrained == str(tiny_model_dir) and not hasattr(lm, "accelerator")
    assert (lm.rank, lm.world_size) == (0, 1) and not torch.distributed.is_initialized()
    assert {name: os.environ[name] for name in launcher} == launcher


def test_a_parallelized_sweep_model_is_mapped_onto_its_own_gpus_only(tiny_model_dir, tmp_path, monkeypatch):
    """One device-map decision (kbit-hf's, which refuses offloading), fed only the GPUs that
    grid.Placement gives this process; HFLM alone would offer it every visible GPU."""
    import lm_eval.models.huggingface as hf

    lm = _sweep_lm(tiny_model_dir, tmp_path, "float32")
    lm.gpus = [1]
    monkeypatch.setattr(hf, "get_max_memory", lambda: {0: 10**9, 1: 10**9, 2: 10**9, "cpu": 10**10})
    placement = lm._get_accelerate_args(parallelize=True, device_map=None, gpus=3)
    assert placement["max_memory"] == {1: 10**9} and placement["device_map"] == {"": 1}
    monkeypatch.setattr(hf, "get_max_memory", lambda: {1: 1000, 2: 10**9})  # too small: refused, not offloaded
    with pytest.raises(ValueError, match="does not fit in max_memory=\\{1: 1000\\}"):
        lm._get_accelerate_args(parallelize=True, device_map=None, gpus=3)


def test_a_parallelized_model_measures_only_its_own_gpus(tmp_path, monkeypatch):
    """The sweep measures the free memory of this process's GPUs alone (HFLM, left to itself,
    would put a CUDA context on every visible GPU from every process)."""
    from kbit_tasks.sweep import lm as sweep_lm

    measured, built = [], {}
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda g: measured.append(g) or (10**9 * (g + 1), 0))
    monkeypatch.setattr(sweep_lm, "SweepLM", lambda **kwargs: built.update(kwargs))
    config = SweepConfig(models=(), precisions=(), tasks=(), output=tmp_path, dtype="bfloat16", batch_size=1)
    spec = ModelSpec(path="/m", name="m", parallelize=True)
    load_lm(spec, config, Placement(local_rank=1, local_world=2), "cuda:2")
    assert sorted(measured) == [2, 3] and built["gpus"] == [2, 3]
    assert built["parallelize"] and built["max_memory_per_gpu"] == 3 * 10**9 and built["device"] == "cuda:2"
