"""The lm-eval model "kbit-hf": a Hugging Face causal LM with k-bit simulated weights.

Importing this module registers it, so `kbit-eval --model kbit-hf --model_args
pretrained=DIR,bits=3,dtype=nf,blocksize=64` works. The weights are loaded once and a
pristine CPU copy kept, so `requantize` moves between precisions without ever
quantizing an already-quantized model.

`dtype` here is the quantization data type (int, fp, dynamic, quantile, nf), as in the
paper; HFLM's own `dtype` (the torch dtype to load in) is passed as `torch_dtype`.
`compute_dtype` upcasts after loading: a model stored in bfloat16 and run in float32 (CPU
matmuls in bf16 are several times slower) still counts 16 bits per unquantized parameter,
and its weights stay exactly the bf16 values.
"""
from __future__ import annotations

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

import torch

from kbit_tasks.quant import QuantConfig, QuantReport, pristine_weights, quantize_model, storage_widths

COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


@register_model("kbit-hf")
class KbitHFLM(HFLM):
    """HFLM whose weight matrices are quantized after loading (on the model's device).

    `pretrained` may be a folder, a hub id or an already-loaded transformers model; an
    in-memory model is quantized in place (its pristine weights are kept on CPU).
    """

    def __init__(self, pretrained, bits: int = 16, dtype: str = "fp", blocksize: int | str = 64,
                 outliers: float = 0.0, quantize_embeddings: bool = False, quantize_head: bool = False,
                 torch_dtype="auto", compute_dtype: str | None = None, **kwargs):
        # Validate before HFLM loads any weights: a typo must not cost a model load.
        config = QuantConfig(bits=bits, dtype=dtype, blocksize=blocksize, outliers=outliers,
                             quantize_embeddings=quantize_embeddings, quantize_head=quantize_head)
        if compute_dtype is not None and compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype={compute_dtype!r} is not supported; choose one of {COMPUTE_DTYPES}")
        super().__init__(pretrained, dtype=torch_dtype, **kwargs)
        self._pristine = pristine_weights(self._model)
        self._storage_bits = storage_widths(self._model)  # counted as stored, before any upcast
        if compute_dtype is not None:
            self._model.to(getattr(torch, compute_dtype))
        self.quant_report: QuantReport = self.requantize(config)

    def requantize(self, config: QuantConfig) -> QuantReport:
        """Quantize the pristine weights to `config`; bits=16 restores them bit for bit."""
        if not isinstance(config, QuantConfig):
            raise ValueError(f"config={config!r} is not a QuantConfig")
        self.quant_report = quantize_model(self._model, config, pristine=self._pristine,
                                           storage_bits=self._storage_bits)
        return self.quant_report

    @property
    def quant_config(self) -> QuantConfig:
        return self.quant_report.config

    def get_model_info(self) -> dict:
        """HFLM's model info plus the quantization, so results["config"] carries the model's bits."""
        report = self.quant_report
        return super().get_model_info() | {
            "quant": report.config.to_dict(),
            "params": report.params_total,
            "bits_per_param": report.bits_per_param,
            "total_bits": report.total_bits,
            "quant_report": report.to_dict(),
        }
