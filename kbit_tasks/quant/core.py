"""Simulated blockwise absmax quantization: quantize then dequantize, in vectorised torch.

A weight is flattened row-major and cut into blocks of `blocksize` values (as
bitsandbytes does), or one block per row with blocksize="row". Each block is scaled
by its absolute maximum into [-1, 1], every value is rounded to the nearest code of
the codebook, and the result is scaled back. Rounding bucketizes against the sorted
midpoints between codes, so memory is O(numel), never O(numel * 2**k), and large
tensors go through in chunks of blocks.
"""
from __future__ import annotations

import math

import torch

from kbit_tasks.quant.codebooks import QUANTILE_SAMPLES, create_map
from kbit_tasks.quant.config import QuantConfig

_CHUNK_ELEMENTS = 2**22  # values normalised and rounded at once; bounds temporary memory


def block_length(shape: torch.Size | tuple[int, ...], blocksize: int | str) -> int:
    """Values per absmax block: `blocksize`, or the row length for "row"."""
    return shape[-1] if blocksize == "row" else blocksize


def n_blocks(shape: torch.Size | tuple[int, ...], blocksize: int | str) -> int:
    """Absmax constants a tensor of `shape` needs (the last block may be partly padding)."""
    return -(-math.prod(shape) // block_length(shape, blocksize))


def n_outlier_columns(in_features: int, outliers: float) -> int:
    """Input dimensions kept in 16 bit for an outlier fraction: ceil(fraction * columns)."""
    return min(in_features, math.ceil(outliers * in_features - 1e-9)) if outliers > 0 else 0


def outlier_columns(weight: torch.Tensor, outliers: float) -> torch.Tensor:
    """Indices of the input dimensions (columns of [out, in]) with the largest weight spread (std)."""
    k = n_outlier_columns(weight.shape[-1], outliers)
    spread = weight.float().std(dim=0) if weight.shape[0] > 1 else weight.float().abs()[0]
    return torch.topk(spread, k).indices


def _blocks(weight: torch.Tensor, blocksize: int | str) -> torch.Tensor:
    """The weight as [n_blocks, block length] in its own dtype (a view unless the end needs padding)."""
    length = block_length(weight.shape, blocksize)
    flat = weight.reshape(-1)
    pad = (-flat.numel()) % length
    if pad:
        flat = torch.nn.functional.pad(flat, (0, pad))
    return flat.view(-1, length)


def _scales(blocks: torch.Tensor) -> torch.Tensor:
    """Each block's absmax as a column; 1 for an all-zero block (which then stays zero)."""
    absmax = blocks.abs().amax(dim=1, keepdim=True)
    return torch.where(absmax > 0, absmax, torch.ones_like(absmax))


def _round_blocks(blocks: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Nearest-code rounding of absmax-normalised float32 blocks, scaled back."""
    midpoints = (code[1:] + code[:-1]) / 2
    scale = _scales(blocks)
    idx = torch.bucketize(blocks / scale, midpoints, out_int32=True)
    return code[idx].mul_(scale)


def _quantize_dense(weight: torch.Tensor, bits: int, quant_type: str, blocksize: int | str) -> torch.Tensor:
    blocks = _blocks(weight, blocksize)
    if quant_type == "quantile":  # estimated from whole blocks taken at a fixed stride
        sample = blocks[:: -(-blocks.numel() // QUANTILE_SAMPLES)].float()
        code = create_map(quant_type, bits, sample / _scales(sample))
    else:
        code = create_map(quant_type, bits)
    code = code.to(weight.device)
    out = torch.empty_like(blocks)
    step = max(1, _CHUNK_ELEMENTS // blocks.shape[1])
    for start in range(0, blocks.shape[0], step):  # float32 temporaries for one chunk at a time
        out[start:start + step] = _round_blocks(blocks[start:start + step].float(), code)
    return out.view(-1)[: weight.numel()].view(weight.shape)


def quantize_dequantize(weight: torch.Tensor, bits: int, quant_type: str = "fp", blocksize: int | str = 64,
                        outliers: float = 0.0) -> torch.Tensor:
    """`weight` rounded to a k-bit `quant_type` with blockwise absmax scaling, returned in its own dtype.

    bits=16 returns an unchanged copy. With outliers > 0, that fraction of input dimensions
    (columns of a 2-D [out, in] weight) with the largest spread stays as is and the rest is
    quantized as one matrix.
    """
    config = QuantConfig(bits=bits, quant_type=quant_type, blocksize=blocksize, outliers=outliers)
    if config.bits == 16:
        return weight.clone()
    if not weight.is_floating_point():
        raise ValueError(f"weight dtype {weight.dtype} is not a floating point type")
    if config.outliers == 0 or weight.dim() != 2:
        return _quantize_dense(weight, config.bits, config.quant_type, config.blocksize)
    keep = torch.zeros(weight.shape[1], dtype=torch.bool, device=weight.device)
    keep[outlier_columns(weight, config.outliers)] = True
    out = weight.clone()
    if not keep.all():
        out[:, ~keep] = _quantize_dense(weight[:, ~keep], config.bits, config.quant_type, config.blocksize)
    return out
