"""k-bit simulated blockwise weight quantization and exact bit accounting.

Read it like `bitsandbytes.functional`: codebooks are tensors made by small pure
functions, quantize_dequantize is one stateless call, quantize_model applies it to a
transformers model and returns a QuantReport with the model's size in bits.
"""
from kbit_tasks.quant.codebooks import (FP_EXPONENT_BITS, QUANT_TYPES, create_dynamic_map, create_fp_map,
                                        create_linear_map, create_map, create_normal_map,
                                        create_quantile_map)
from kbit_tasks.quant.config import BITS, BLOCKSIZES, QuantConfig
from kbit_tasks.quant.core import n_blocks, quantize_dequantize
from kbit_tasks.quant.modules import QuantReport, quantize_model, storage_widths, targets
from kbit_tasks.quant.pristine import PRISTINE, PristineWeights, pristine_weights

__all__ = ["BITS", "PRISTINE", "PristineWeights", "BLOCKSIZES", "FP_EXPONENT_BITS", "QUANT_TYPES", "QuantConfig",
           "QuantReport", "create_dynamic_map", "create_fp_map", "create_linear_map", "create_map", "create_normal_map",
           "create_quantile_map", "n_blocks", "pristine_weights", "quantize_dequantize", "quantize_model",
           "storage_widths", "targets"]
