"""QuantConfig: one validated quantization setting, checked before any weights load."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from kbit_tasks.quant.codebooks import QUANT_BITS, QUANT_TYPES

BITS = QUANT_BITS + (16,)
BLOCKSIZES = tuple(2**i for i in range(5, 13)) + ("row",)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not supported; choose True or False")
    return value


@dataclass(frozen=True)
class QuantConfig:
    """Weights at `bits` in data type `quant_type`, absmax blocks of `blocksize` values (or per "row").

    bits=16 is the unquantized baseline (quant_type, blocksize and outliers are then ignored).
    `outliers` is the fraction of input dimensions kept in 16 bit. Embeddings and the LM
    head stay unquantized unless switched on: the paper quantizes only the Linear layers.
    """

    bits: int = 16
    quant_type: str = "fp"
    blocksize: int | str = 64
    outliers: float = 0.0
    quantize_embeddings: bool = False
    quantize_head: bool = False

    def __post_init__(self):
        if isinstance(self.bits, bool) or self.bits not in BITS:
            raise ValueError(f"bits={self.bits!r} is not supported; choose one of {BITS}")
        if self.quant_type not in QUANT_TYPES:
            raise ValueError(f"quant_type={self.quant_type!r} is not supported; choose one of {QUANT_TYPES}")
        blocksize = self.blocksize
        if isinstance(blocksize, str) and blocksize.isdigit():
            blocksize = int(blocksize)  # "64" from a command line
        if isinstance(blocksize, bool) or blocksize not in BLOCKSIZES:
            raise ValueError(f"blocksize={self.blocksize!r} is not supported; choose a power of two "
                             f"from 32 to 4096 or 'row': {BLOCKSIZES}")
        object.__setattr__(self, "blocksize", blocksize)
        if isinstance(self.outliers, bool) or not isinstance(self.outliers, (int, float)) \
                or not 0.0 <= self.outliers <= 0.5:
            raise ValueError(f"outliers={self.outliers!r} is not supported; choose a fraction in [0, 0.5]")
        object.__setattr__(self, "outliers", float(self.outliers))
        _check_bool("quantize_embeddings", self.quantize_embeddings)
        _check_bool("quantize_head", self.quantize_head)

    @property
    def label(self) -> str:
        """A short stable name, e.g. "fp4-b64", "nf3-row-o0.02-emb-head", "16bit"."""
        if self.bits == 16:
            return "16bit"
        parts = [f"{self.quant_type}{self.bits}", "row" if self.blocksize == "row" else f"b{self.blocksize}"]
        if self.outliers:
            parts.append(f"o{self.outliers:g}")
        if self.quantize_embeddings:
            parts.append("emb")
        if self.quantize_head:
            parts.append("head")
        return "-".join(parts)

    def to_dict(self) -> dict:
        return asdict(self) | {"label": self.label}
