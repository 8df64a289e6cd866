"""The lm-eval model kbit-hf: validation before loading, requantize, and a real simple_evaluate run."""
import pytest
import torch

import kbit_tasks.model  # noqa: F401  (registers kbit-hf)
from kbit_tasks.model import KbitHFLM
from kbit_tasks import tasks_dir
from kbit_tasks.quant import QuantConfig

TASK = "kbit_logical_syllogism_l1"


def test_registered_under_kbit_hf():
    from lm_eval.api.registry import get_model

    assert get_model("kbit-hf") is KbitHFLM


def test_bad_quant_args_fail_before_loading_weights(monkeypatch):
    from lm_eval.models.huggingface import HFLM

    def never(*args, **kwargs):
        raise AssertionError("HFLM.__init__ ran before validation")

    monkeypatch.setattr(HFLM, "__init__", never)
    with pytest.raises(ValueError, match=r"blocksize=48 .*choose"):
        KbitHFLM(pretrained="/nonexistent", bits=4, blocksize=48)
    with pytest.raises(ValueError, match=r"quant_type=.float..*choose"):
        KbitHFLM(pretrained="/nonexistent", bits=4, quant_type="float")
    with pytest.raises(ValueError, match=r"'dtype' is now called 'quant_type' .*; write quant_type=nf"):
        KbitHFLM(pretrained="/nonexistent", bits=4, dtype="nf")  # kbit-hf's old spelling


def test_in_memory_model_requantize_from_pristine(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    original = {n: p.clone() for n, p in model.named_parameters()}
    lm = KbitHFLM(pretrained=model, tokenizer=AutoTokenizer.from_pretrained(tiny_llama_dir), bits=3, quant_type="nf",
                  batch_size=1)
    assert lm.quant_report.config.label == "nf3-b64"
    w = "model.layers.0.self_attn.q_proj.weight"
    three_bit = lm.model.get_parameter(w).clone()
    assert not torch.equal(three_bit, original[w])
    lm.requantize(QuantConfig(bits=4, quant_type="int"))
    lm.requantize(QuantConfig(bits=3, quant_type="nf"))
    assert torch.equal(lm.model.get_parameter(w), three_bit)  # from pristine, never re-quantized
    report = lm.requantize(QuantConfig(bits=16))
    assert all(torch.equal(p, original[n]) for n, p in lm.model.named_parameters())
    assert report.total_bits == 32 * report.params_total
    with pytest.raises(ValueError, match="QuantConfig"):
        lm.requantize({"bits": 4})


def test_stored_in_bf16_computed_in_float32_counts_16_bits(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16)
    stored = {n: p.clone() for n, p in model.named_parameters()}
    lm = KbitHFLM(pretrained=model, tokenizer=AutoTokenizer.from_pretrained(tiny_llama_dir), batch_size=1,
                  compute_dtype="float32")
    params = dict(lm.model.named_parameters())
    assert all(p.dtype == torch.float32 and torch.equal(p, stored[n].float()) for n, p in params.items())
    assert lm.quant_report.total_bits == 16 * lm.quant_report.params_total  # as stored, not as computed
    four = lm.requantize(QuantConfig(bits=4, quant_type="fp", blocksize=64))
    w = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(params[w], params[w].bfloat16().float())  # still bf16 values, now 4-bit ones
    assert not torch.equal(params[w], stored[w].float())
    q = four.params_quantized
    assert four.total_bits == q * 4 + (q // 64) * 16 + (four.params_total - q) * 16
    with pytest.raises(ValueError, match=r"compute_dtype='fp32'.*float32"):
        KbitHFLM(pretrained=model, compute_dtype="fp32")


@pytest.mark.slow
def test_simple_evaluate_carries_total_bits(tiny_model_dir):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    results = simple_evaluate(
        model="kbit-hf",
        model_args=f"pretrained={tiny_model_dir},bits=3,quant_type=nf,blocksize=64,device=cpu",
        tasks=[TASK],
        task_manager=TaskManager(include_path=tasks_dir(), include_defaults=False, metadata={"n": 6}),
        batch_size=2,
    )
    config = results["config"]
    report = config["quant_report"]
    assert report["config"]["label"] == "nf3-b64" and report["params_quantized"] == 98304  # eight Conv1D matrices
    assert report["bits_per_param"] == pytest.approx(report["total_bits"] / report["params_total"])
    assert not {"quant", "params", "bits_per_param", "total_bits"} & set(config)  # each fact once, in the report
    assert 0.0 <= results["results"][TASK]["acc,none"] <= 1.0
    assert results["results"][TASK]["sample_len"] == 6
