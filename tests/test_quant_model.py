"""quantize_model on real transformers models: which weights change and the bit count, by hand."""
import math

import pytest
import torch

from kbit_tasks.quant import QuantConfig, pristine_weights, quantize_dequantize, quantize_model


@pytest.fixture
def gpt2(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir)


@pytest.fixture
def llama(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_llama_dir)


def test_gpt2_conv1d_counts_by_hand(gpt2):
    h, v, layers, positions = 64, gpt2.config.vocab_size, 2, gpt2.config.n_positions
    per_layer_matrices = h * 3 * h + h * h + h * 4 * h + 4 * h * h   # c_attn, attn c_proj, c_fc, mlp c_proj
    per_layer_rest = 3 * h + h + 4 * h + h + 4 * h                      # their biases + 2 LayerNorms (w, b)
    total = v * h + positions * h + layers * (per_layer_matrices + per_layer_rest) + 2 * h  # lm_head tied
    before = {n: p.clone() for n, p in gpt2.named_parameters()}
    report = quantize_model(gpt2, QuantConfig(bits=4, quant_type="nf", blocksize=64))
    quantized = layers * per_layer_matrices
    assert (report.params_total, report.params_quantized, report.params_outlier) == (total, quantized, 0)
    assert report.params_unquantized == total - quantized
    assert report.total_bits == quantized * 4 + quantized // 64 * 16 + (total - quantized) * 32
    assert report.bits_per_param == report.total_bits / total and report.bytes == math.ceil(report.total_bits / 8)
    assert len(report.modules) == 4 * layers and "transformer.wte.weight" not in report.modules
    # Conv1D stores [in, out]: blocks run along input dimensions, as for a Linear [out, in]
    w = before["transformer.h.0.attn.c_attn.weight"]
    assert torch.equal(gpt2.transformer.h[0].attn.c_attn.weight,
                       quantize_dequantize(w.t().contiguous(), 4, "nf", 64).t())
    assert torch.equal(gpt2.transformer.wte.weight, before["transformer.wte.weight"])
    assert torch.equal(gpt2.transformer.h[0].ln_1.weight, before["transformer.h.0.ln_1.weight"])


def test_llama_row_blocks_outliers_and_head_by_hand(llama):
    h, v, layers = 64, llama.config.vocab_size, 2
    config = QuantConfig(bits=3, quant_type="int", blocksize="row", outliers=0.02, quantize_head=True)
    report = quantize_model(llama, config)
    # q, k, v, o: [64, 64] with ceil(0.02 * 64) = 2 outlier columns; gate, up: [256, 64] also 2;
    # down: [64, 256] with ceil(5.12) = 6; lm_head: [v, 64] with 2. "row": one scale per row.
    shapes = [(h, h)] * 4 + [(4 * h, h)] * 2 + [(h, 4 * h)]
    matrices = shapes * layers + [(v, h)]
    outlier_cols = [math.ceil(0.02 * cols) for _, cols in matrices]
    quantized = sum(r * (c - o) for (r, c), o in zip(matrices, outlier_cols))
    outlier = sum(r * o for (r, _), o in zip(matrices, outlier_cols))
    scales = sum(r for r, _ in matrices)
    total = sum(p.numel() for p in llama.parameters())
    assert (report.params_quantized, report.params_outlier) == (quantized, outlier)
    assert report.total_bits == quantized * 3 + scales * 16 + outlier * 16 + (total - quantized - outlier) * 32
    assert "lm_head.weight" in report.modules and "model.embed_tokens.weight" not in report.modules


def test_embeddings_switch_and_sixteen_bits(llama):
    pristine = pristine_weights(llama)
    with_emb = quantize_model(llama, QuantConfig(bits=4, quantize_embeddings=True), pristine)
    without = quantize_model(llama, QuantConfig(bits=4), pristine)
    v, h = llama.config.vocab_size, 64
    assert with_emb.params_quantized - without.params_quantized == v * h
    baseline = quantize_model(llama, QuantConfig(bits=16), pristine)
    assert baseline.modules == [] and baseline.total_bits == 32 * baseline.params_total
    assert all(torch.equal(p, pristine[n]) for n, p in llama.named_parameters() if n in pristine)


def test_tied_embedding_quantized_once_when_head_requested(gpt2):
    report = quantize_model(gpt2, QuantConfig(bits=4, quantize_head=True))
    assert "transformer.wte.weight" in report.modules and gpt2.lm_head.weight is gpt2.transformer.wte.weight
    assert report.params_total == sum(p.numel() for p in gpt2.parameters())


def test_requantize_from_pristine_equals_fresh_quantization(tiny_llama_dir, llama):
    from transformers import AutoModelForCausalLM

    pristine = pristine_weights(llama)
    quantize_model(llama, QuantConfig(bits=3, quant_type="fp"), pristine)
    quantize_model(llama, QuantConfig(bits=5, quant_type="nf", blocksize=128), pristine)
    fresh = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    quantize_model(fresh, QuantConfig(bits=5, quant_type="nf", blocksize=128))
    assert all(torch.equal(a, b) for a, b in zip(llama.state_dict().values(), fresh.state_dict().values()))
