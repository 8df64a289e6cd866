"""Quantize a transformers model's weight matrices in place and count its size in bits exactly."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from kbit_tasks.quant.config import QuantConfig
from kbit_tasks.quant.core import n_blocks, n_outlier_columns, quantize_dequantize

SCALE_BITS = 16    # one fp16 absmax constant per block, as counted in the paper
OUTLIER_BITS = 16  # outlier columns are stored in 16 bit


@dataclass(frozen=True)
class _Target:
    """One weight matrix that can be quantized; `kinds` ⊆ {linear, embedding, head}."""

    name: str
    param: nn.Parameter
    kinds: frozenset
    transposed: bool  # GPT-2 Conv1D stores [in, out]; we quantize along input dims as for Linear

    def selected(self, config: QuantConfig) -> bool:
        return ("linear" in self.kinds or ("embedding" in self.kinds and config.quantize_embeddings)
                or ("head" in self.kinds and config.quantize_head))

    def matrix_shape(self) -> tuple[int, int]:
        shape = tuple(self.param.shape)
        return shape[::-1] if self.transposed else shape


def targets(model: nn.Module) -> list[_Target]:
    """Linear and Conv1D weights, embeddings and the LM head; a tied embedding/head counts once."""
    from transformers.pytorch_utils import Conv1D

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    found: dict[int, _Target] = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, Conv1D)):
            kind = "head" if module is head else "linear"
        elif isinstance(module, nn.Embedding):
            kind = "embedding"
        else:
            continue
        key = id(module.weight)
        if key in found:  # tied weights: one tensor, both roles
            found[key] = _Target(found[key].name, module.weight, found[key].kinds | {kind}, found[key].transposed)
        else:
            found[key] = _Target(f"{name}.weight", module.weight, frozenset({kind}), isinstance(module, Conv1D))
    return list(found.values())


def storage_widths(model: nn.Module) -> dict[str, int]:
    """Each parameter's width in bits as the model holds it now (call before any upcast)."""
    return {name: p.element_size() * 8 for name, p in model.named_parameters()}


@dataclass(frozen=True)
class QuantReport:
    """What was quantized and the model's size in bits (block scales and outliers included).

    bits_per_param = total_bits / params_total, averaged over all parameters; parameters left
    unquantized count at their storage width (32 for a float32 model, 16 for fp16/bf16).
    """

    config: QuantConfig
    modules: list
    params_total: int
    params_quantized: int
    params_outlier: int
    params_unquantized: int
    bits_per_param: float
    total_bits: int
    bytes: int

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "modules": list(self.modules),
                **{k: getattr(self, k) for k in ("params_total", "params_quantized", "params_outlier",
                                                 "params_unquantized", "bits_per_param", "total_bits",
                                                 "bytes")}}


def _quantize(target: _Target, source: torch.Tensor, config: QuantConfig) -> torch.Tensor:
    weight = source.t() if target.transposed else source
    out = quantize_dequantize(weight.contiguous(), config.bits, config.quant_type, config.blocksize, config.outliers)
    return out.t() if target.transposed else out


def _quantized_bits(shape: tuple[int, int], config: QuantConfig) -> tuple[int, int, int]:
    """(params at k bits, params kept as outliers, bits) of one [out, in] matrix."""
    rows, cols = shape
    outlier_cols = n_outlier_columns(cols, config.outliers)
    quantized = rows * (cols - outlier_cols)
    outlier = rows * outlier_cols
    bits = quantized * config.bits + n_blocks((rows, cols - outlier_cols), config.blocksize) * SCALE_BITS
    return quantized, outlier, bits + outlier * OUTLIER_BITS


@torch.no_grad()
def quantize_model(model: nn.Module, config: QuantConfig,
                   pristine: Mapping[str, torch.Tensor] | None = None,
                   storage_bits: dict[str, int] | None = None) -> QuantReport:
    """Quantize `model`'s selected weight matrices in place (on their device) and report its size.

    With `pristine` (from `pristine_weights`), every weight is first restored from it, so a
    model is never quantized twice; bits=16 then restores the original weights bit for bit.
    `storage_bits` (parameter name -> width, from `storage_widths`) counts a model loaded in
    16 bit but upcast to compute in float32 at its stored width; by default the width is the
    parameter's current element size.
    """
    modules, quantized, outlier, quantized_bits, covered = [], 0, 0, 0, set()
    for target in targets(model):
        source = pristine[target.name].to(target.param.device) if pristine is not None else target.param
        if config.bits == 16 or not target.selected(config):
            if pristine is not None:
                target.param.copy_(source)
            continue
        target.param.copy_(_quantize(target, source, config))
        q, o, b = _quantized_bits(target.matrix_shape(), config)
        modules.append(target.name)
        quantized, outlier, quantized_bits = quantized + q, outlier + o, quantized_bits + b
        covered.add(id(target.param))
    params = dict(model.named_parameters())  # shared (tied) parameters appear once
    total = sum(p.numel() for p in params.values())
    widths = storage_bits or storage_widths(model)
    rest_bits = sum(p.numel() * widths[name] for name, p in params.items() if id(p) not in covered)
    total_bits = quantized_bits + rest_bits
    return QuantReport(config=config, modules=modules, params_total=total, params_quantized=quantized,
                       params_outlier=outlier, params_unquantized=total - quantized - outlier,
                       bits_per_param=total_bits / total, total_bits=total_bits, bytes=-(-total_bits // 8))
