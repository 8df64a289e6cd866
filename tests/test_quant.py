"""kbit_tasks.quant against bitsandbytes (the reference implementation) and its own properties."""
import functools

import pytest
import torch

bnb_f = pytest.importorskip("bitsandbytes.functional")

from kbit_tasks.quant import (BITS, QUANT_TYPES, FP_EXPONENT_BITS, QuantConfig, create_dynamic_map,  # noqa: E402
                              create_fp_map, create_linear_map, create_map, create_normal_map,
                              create_quantile_map, quantize_dequantize)

K_RANGE = range(3, 9)


@functools.cache  # keep every map alive: bnb's CPU kernel caches by the code's address and
def _bnb_map(dtype, k):  # gives stale results when a new map reuses a freed one's memory
    e = FP_EXPONENT_BITS[k]
    return {"int": lambda: bnb_f.create_linear_map(True, k),
            "fp": lambda: bnb_f.create_fp8_map(True, e, k - 1 - e, k),
            "dynamic": lambda: bnb_f.create_dynamic_map(True, k - 1, k)}[dtype]()


def _values(bnb_map, n):
    """bnb pads k-bit maps with exact zeros up to 256 entries; keep the n real values."""
    values = torch.unique(bnb_map)
    return values if values.numel() == n else torch.unique(bnb_map[bnb_map != 0])


@pytest.fixture(scope="module")
def gaussian():
    return torch.randn(64, 1024, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("k", K_RANGE)
def test_codebooks_equal_bitsandbytes(k):
    int_ours = create_linear_map(k)
    assert torch.allclose(int_ours, _values(_bnb_map("int", k), 2**k - 1), atol=1e-7)
    assert int_ours[2 ** (k - 1) - 1] == 0  # our zero is exact, bnb's linspace gives ~ -3e-8
    assert torch.equal(create_fp_map(k), torch.unique(_bnb_map("fp", k)))
    assert torch.equal(create_dynamic_map(k), torch.unique(_bnb_map("dynamic", k)))


def test_two_bit_codebooks():
    assert create_fp_map(2).tolist() == [-1.0, 0.0, 1.0]  # sign + 1 exponent bit: ternary
    for dtype in ("int", "dynamic", "nf"):
        assert create_map(dtype, 2).numel() in (3, 4)


def test_nf4_equals_bitsandbytes_normal_map():
    ref = torch.unique(bnb_f.create_normal_map())
    assert torch.allclose(create_normal_map(4), ref, atol=1e-6)
    for k in range(2, 9):  # the generalisation keeps NF's shape: 2**k codes, exact zero, +-1 ends
        code = create_normal_map(k)
        assert code.numel() == 2**k and 0.0 in code.tolist() and code[0] == -1 and code[-1] == 1


def test_quantile_map_has_exact_zero_and_follows_the_data():
    x = torch.rand(10_000, generator=torch.Generator().manual_seed(1)) ** 3  # skewed to 0, all >= 0
    code = create_quantile_map(x * 2 - 1, 4)
    assert code.numel() == 16 and 0.0 in code.tolist() and code.abs().max() == 1
    assert (code < -0.5).sum() > (code > 0.5).sum()  # the data crowd towards -1


def _exact_nearest(weight, code, blocksize):
    """Brute force: distance to every code ([numel, 2**k]; fine for a test-sized tensor)."""
    blocks = weight.reshape(-1, blocksize)
    absmax = blocks.abs().amax(1, keepdim=True)
    x = blocks / absmax
    dist = (x.unsqueeze(-1) - code).abs()
    best = dist.min(-1, keepdim=True).values
    tie = ((dist - best) < 1e-6).sum(-1) > 1
    return (code[dist.argmin(-1)] * absmax).reshape(weight.shape), tie.reshape(weight.shape)


@pytest.mark.parametrize("dtype", QUANT_TYPES)
@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_blockwise_equals_exact_nearest_code(gaussian, dtype, k):
    w = gaussian[:8]
    blocks = w.reshape(-1, 64)
    code = create_map(dtype, k, blocks / blocks.abs().amax(1, keepdim=True))
    exact, tie = _exact_nearest(w, code, 64)
    ours = quantize_dequantize(w, k, dtype, 64)
    assert torch.equal(ours[~tie], exact[~tie])


@pytest.mark.parametrize("dtype", ["int", "fp", "dynamic"])
@pytest.mark.parametrize("k", K_RANGE)
def test_blockwise_matches_bitsandbytes_except_ties(gaussian, dtype, k):
    blocksize = 64
    q, state = bnb_f.quantize_blockwise(gaussian, code=_bnb_map(dtype, k), blocksize=blocksize)
    ref = bnb_f.dequantize_blockwise(q, state)
    ours = quantize_dequantize(gaussian, k, dtype, blocksize)
    absmax = gaussian.reshape(-1, blocksize).abs().amax(1, keepdim=True)
    x, ref_n, ours_n = (t.reshape(-1, blocksize) / absmax for t in (gaussian, ref, ours))
    differ = (ref_n - ours_n).abs() > 1e-6
    # Where they differ, x sits (within bnb's search tolerance) halfway between two codes,
    # and ours is never the farther one: we round exactly to the nearest code.
    gap = (x - ref_n).abs() - (x - ours_n).abs()
    assert (gap[differ] >= -1e-7).all() and (gap[differ] < 5e-5).all()
    assert differ.float().mean() < 0.005


@pytest.mark.parametrize("blocksize", [32, 64, 256])
def test_nf4_matches_bitsandbytes_quantize_4bit(gaussian, blocksize):
    q, state = bnb_f.quantize_4bit(gaussian, blocksize=blocksize, quant_type="nf4")
    ref = bnb_f.dequantize_4bit(q, state)
    assert torch.allclose(quantize_dequantize(gaussian, 4, "nf", blocksize), ref, atol=2e-6)


def _rel_error(w, *args, **kw):
    return ((quantize_dequantize(w, *args, **kw) - w).norm() / w.norm()).item()


@pytest.mark.parametrize("dtype", QUANT_TYPES)
def test_error_falls_with_bits_and_smaller_blocks(gaussian, dtype):
    by_bits = [_rel_error(gaussian, k, dtype, 64) for k in (2, 3, 4, 6, 8)]
    assert by_bits == sorted(by_bits, reverse=True) and by_bits[-1] < 0.05
    by_block = [_rel_error(gaussian, 3, dtype, b) for b in (32, 256, 4096)]
    assert by_block == sorted(by_block)
    assert _rel_error(gaussian, 3, dtype, "row") > _rel_error(gaussian, 3, dtype, 32)


def test_four_bit_error_is_about_a_tenth(gaussian):
    for dtype in QUANT_TYPES:
        assert 0.07 < _rel_error(gaussian, 4, dtype, 64) < 0.15


def test_outliers_keep_the_widest_columns_and_help_at_three_bits(gaussian):
    w = gaussian.clone()
    w[:, :20] *= 20  # 2% of the 1024 input dimensions carry large weights
    out = quantize_dequantize(w, 3, "int", 64, outliers=0.02)
    assert torch.equal(out[:, :20], w[:, :20]) and not torch.equal(out[:, 20:], w[:, 20:])
    assert _rel_error(w[:, 20:], 3, "int", 64) < 0.3
    assert ((out - w)[:, 20:].norm() / w[:, 20:].norm()) < ((quantize_dequantize(w, 3, "int", 64) - w)[:, 20:].norm()
                                                           / w[:, 20:].norm())


@pytest.mark.parametrize("torch_dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_sixteen_bits_is_bit_for_bit_and_dtype_is_kept(gaussian, torch_dtype):
    w = gaussian.to(torch_dtype)
    out = quantize_dequantize(w, 16, "nf", 64)
    assert torch.equal(out, w) and out.data_ptr() != w.data_ptr()
    assert quantize_dequantize(w, 4, "fp", 64).dtype == torch_dtype


def test_odd_sizes_pad_the_last_block():
    w = torch.randn(3, 50, generator=torch.Generator().manual_seed(2))
    out = quantize_dequantize(w, 4, "int", 32)
    assert out.shape == w.shape and torch.isfinite(out).all()
    assert torch.equal(quantize_dequantize(torch.zeros(4, 64), 3, "nf", 64), torch.zeros(4, 64))


@pytest.mark.parametrize("kwargs, needle", [
    (dict(bits=1), "bits=1"), (dict(bits=9), "bits=9"), (dict(bits=True), "bits=True"),
    (dict(quant_type="float"), "quant_type='float'"), (dict(blocksize=48), "blocksize=48"),
    (dict(blocksize=8192), "blocksize=8192"), (dict(blocksize="col"), "blocksize='col'"),
    (dict(outliers=0.6), "outliers=0.6"), (dict(outliers=-0.1), "outliers=-0.1"),
    (dict(quantize_head="yes"), "quantize_head='yes'"),
])
def test_bad_config_names_value_and_choices(kwargs, needle):
    with pytest.raises(ValueError, match="choose") as info:
        QuantConfig(**kwargs)
    assert needle in str(info.value)
    if "quantize_head" not in kwargs:  # the functional API validates the same way
        with pytest.raises(ValueError, match="choose"):
            quantize_dequantize(torch.ones(64), **({"bits": 4} | kwargs))


def test_config_labels_and_blocksize_from_command_line():
    assert QuantConfig(bits=4, quant_type="fp", blocksize=64).label == "fp4-b64"
    assert QuantConfig(bits=3, quant_type="nf", blocksize="row", outliers=0.02, quantize_embeddings=True,
                       quantize_head=True).label == "nf3-row-o0.02-emb-head"
    assert QuantConfig(bits=16).label == "16bit" and 16 in BITS
    assert QuantConfig(bits=4, blocksize="128").blocksize == 128
