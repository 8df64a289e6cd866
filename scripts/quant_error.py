"""Relative quantization error ||Q(W) - W|| / ||W|| on Gaussian weights, per data type and k.

    python scripts/quant_error.py                 # 4096 x 4096 N(0, 1), B = 64, k = 3, 4, 5
"""
from __future__ import annotations

import argparse

import torch

from kbit_tasks.quant import QUANT_TYPES, quantize_dequantize


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bits", nargs="+", type=int, default=[3, 4, 5])
    p.add_argument("--blocksize", default=64, type=lambda s: s if s == "row" else int(s))
    p.add_argument("--size", type=int, default=4096)
    args = p.parse_args(argv)
    w = torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0))
    print("| dtype | " + " | ".join(f"k={k}" for k in args.bits) + " |")
    print("|---|" + "---|" * len(args.bits))
    for dtype in QUANT_TYPES:
        errs = [((quantize_dequantize(w, k, dtype, args.blocksize) - w).norm() / w.norm()).item() for k in args.bits]
        print(f"| {dtype} | " + " | ".join(f"{e:.4f}" for e in errs) + " |")


if __name__ == "__main__":
    main()
