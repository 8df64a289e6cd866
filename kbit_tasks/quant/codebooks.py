"""Codebooks: the values a k-bit data type can take, as sorted 1-D tensors in [-1, 1].

Small pure functions in the manner of `bitsandbytes.functional` (create_linear_map,
create_fp8_map, create_dynamic_map, create_normal_map), generalised to k = 2..8 bits
and returned without bitsandbytes' zero padding to 256 entries. The int, fp and
dynamic maps reproduce bitsandbytes' values exactly (tests check it); we write them
here because bitsandbytes is only a test dependency and its maps are built in Python
loops with padding, not because they differ.
"""
from __future__ import annotations

import torch

QUANT_TYPES = ("int", "fp", "dynamic", "quantile", "nf")  # as bitsandbytes/transformers name them
QUANT_BITS = (2, 3, 4, 5, 6, 7, 8)

# Exponent bits of the float type per k, as in Dettmers & Zettlemoyer (2023) for k = 3..8.
# k = 2 has room for one sign and one exponent bit and no mantissa: the map is {-1, 0, 1}.
FP_EXPONENT_BITS = {2: 1, 3: 2, 4: 2, 5: 3, 6: 3, 7: 4, 8: 4}

# Values the quantile map is estimated from: ample for at most 256 quantiles, and it bounds
# the memory of torch.quantile's sort (which refuses inputs above 2**24 values anyway).
QUANTILE_SAMPLES = 2**20


def _signed(positive: torch.Tensor) -> torch.Tensor:
    """Sorted unique values of +-positive, scaled so the largest magnitude is 1."""
    values = torch.unique(torch.cat([positive, -positive]))
    return (values / values.abs().max()).float()


def create_linear_map(bits: int) -> torch.Tensor:
    """Symmetric integer type: 2**bits - 1 evenly spaced values (bnb create_linear_map).

    Built as integers / n so the zero is exact; bnb's float linspace puts it at about -3e-8.
    """
    n = 2 ** (bits - 1) - 1
    return torch.arange(-n, n + 1, dtype=torch.float64).div(n).float()


def create_fp_map(bits: int, exponent_bits: int | None = None) -> torch.Tensor:
    """Signed float type with a sign, `exponent_bits` exponent and the rest mantissa bits.

    Same encoding as bnb create_fp8_map: bias 2**(e-1), subnormals at exponent field 0.
    """
    e = FP_EXPONENT_BITS[bits] if exponent_bits is None else exponent_bits
    p = bits - 1 - e
    if e < 1 or p < 0:
        raise ValueError(f"exponent_bits={exponent_bits!r} does not fit {bits} bits; need 1..{bits - 1}")
    bias = 2 ** (e - 1)
    mantissa = torch.arange(2**p, dtype=torch.float64) / 2**p
    field = torch.arange(2**e, dtype=torch.float64).unsqueeze(1)
    lead = (field > 0).double()
    scale = torch.where(field > 0, 2.0 ** (bias + 1 - field), torch.tensor(2.0**-bias, dtype=torch.float64))
    return _signed(((lead + mantissa) * scale).flatten())


def create_dynamic_map(bits: int) -> torch.Tensor:
    """Dynamic-exponent type (Dettmers 2016) with bits - 1 exponent bits (bnb create_dynamic_map).

    Asymmetric like bnb's: +1.0 is a code, -1.0 is not.
    """
    max_exp = bits - 1
    magnitudes = []
    for i in range(max_exp):
        edges = torch.linspace(0.1, 1, 2**i + 1, dtype=torch.float32)
        magnitudes.append((10.0 ** (i - max_exp + 1)) * (edges[:-1] + edges[1:]) / 2.0)
    m = torch.cat(magnitudes)
    return torch.sort(torch.cat([m, -m, torch.tensor([0.0, 1.0])])).values


def _nf_probabilities(bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """NF's quantile levels: 2**(k-1) positive and 2**(k-1) - 1 negative, offset as QLoRA's NF4."""
    # The offset sits halfway between the outermost levels of a symmetric (2**k - 1) and an
    # asymmetric (2**k) equal-mass split; for k = 4 it is bnb's 0.9677083.
    offset = 1 - (1 / (2 * (2**bits - 1)) + 1 / (2 * 2**bits)) / 2
    positive = torch.linspace(offset, 0.5, 2 ** (bits - 1) + 1, dtype=torch.float64)[:-1]
    negative = torch.linspace(offset, 0.5, 2 ** (bits - 1), dtype=torch.float64)[:-1]
    return positive, negative


def _quantile_map(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    values = torch.cat([negative, torch.zeros(1, dtype=positive.dtype), positive])
    values = torch.sort(values).values
    return (values / values.abs().max()).float()


def create_normal_map(bits: int) -> torch.Tensor:
    """NormalFloat: equal-mass quantiles of N(0, 1) with an exact zero; k = 4 is bnb's NF4."""
    positive, negative = _nf_probabilities(bits)
    return _quantile_map(torch.special.ndtri(positive), -torch.special.ndtri(negative))


def create_quantile_map(values: torch.Tensor, bits: int) -> torch.Tensor:
    """NF's construction with the tensor's own empirical quantiles in place of the normal's.

    `values` are the absmax-normalised weights; large tensors are subsampled with a fixed
    stride (bounded memory), so the map is deterministic.
    """
    flat = values.detach().flatten().float()
    if flat.numel() > QUANTILE_SAMPLES:
        flat = flat[:: -(-flat.numel() // QUANTILE_SAMPLES)]
    positive, negative = _nf_probabilities(bits)
    levels = torch.cat([positive, 1 - negative]).to(flat.device, torch.float32)
    q = torch.quantile(flat, levels).double().cpu()
    n_pos = positive.numel()
    code = _quantile_map(q[:n_pos], q[n_pos:])
    # An all-zero tensor has no quantiles to scale by (0 / 0); any code book rounds it to zero.
    return code if torch.isfinite(code).all() else create_normal_map(bits)


def create_map(quant_type: str, bits: int, values: torch.Tensor | None = None) -> torch.Tensor:
    """The codebook of `quant_type` at `bits`; `values` (normalised weights) only for "quantile"."""
    if quant_type == "quantile":
        return create_quantile_map(values, bits)
    makers = {"int": create_linear_map, "fp": create_fp_map, "dynamic": create_dynamic_map,
              "nf": create_normal_map}
    if quant_type not in makers:
        raise ValueError(f"quant_type={quant_type!r} is not supported; choose one of {QUANT_TYPES}")
    return makers[quant_type](bits)
