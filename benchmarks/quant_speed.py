"""Speed and memory of quantize_dequantize per data type and k, against torch.clone of the same weights.

Prints params/s and the time ratio to a clone measured in the same run (goal: every dtype
within 20x a clone), and the peak extra memory of one call in units of the weight's size.
CPU peak memory is the rise of the peak RSS (VmHWM, reset first) in a fresh subprocess per dtype;
CUDA uses torch.cuda.max_memory_allocated.

    python benchmarks/quant_speed.py                          # CPU, one 4096^2 fp32 weight
    python benchmarks/quant_speed.py --device cuda --params 1e9 --torch-dtype float16
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from kbit_tasks.quant import QUANT_TYPES, quantize_dequantize


def weights(params: float, device: str, torch_dtype: torch.dtype, side: int = 4096) -> list[torch.Tensor]:
    g = torch.Generator(device=device).manual_seed(0)
    n = max(1, round(params / side**2))
    return [torch.randn(side, side, generator=g, device=device, dtype=torch_dtype) for _ in range(n)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_time(fn, tensors, device: str, repeat: int) -> float:
    """Fastest of `repeat` passes over all tensors (the usual defence against noisy neighbours)."""
    best = float("inf")
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        for t in tensors:
            fn(t)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def peak_extra_cuda(fn, tensor: torch.Tensor) -> float:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    out = fn(tensor)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base - out.numel() * out.element_size()
    return extra / (tensor.numel() * tensor.element_size())


def _status_bytes(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_extra_cpu_child(dtype: str, bits: int, blocksize, torch_dtype: str) -> float:
    """Run in a fresh process: peak RSS rise of one call beyond its output, per weight size (Linux).

    Writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the current RSS, so earlier
    peaks (imports, the weight's own creation) cannot hide this call's.
    """
    t = torch.empty(4096, 4096, dtype=getattr(torch, torch_dtype)).normal_()
    quantize_dequantize(torch.randn(64, 64), bits, dtype, 64)  # warm up lazy initialisation
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_bytes("VmRSS")
    out = quantize_dequantize(t, bits, dtype, blocksize)
    peak = _status_bytes("VmHWM")
    return (peak - before - out.numel() * out.element_size()) / (t.numel() * t.element_size())


def peak_extra_cpu(dtype: str, bits: int, blocksize, torch_dtype: str) -> float:
    code = (f"import torch; torch.set_num_threads(1); from benchmarks.quant_speed import peak_extra_cpu_child as f; "
            f"print(f({dtype!r}, {bits}, {blocksize!r}, {torch_dtype!r}))")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--params", type=float, default=4096**2, help="total parameters, in 4096x4096 matrices")
    p.add_argument("--torch-dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--quant_types", nargs="+", default=list(QUANT_TYPES), choices=QUANT_TYPES)
    p.add_argument("--bits", nargs="+", type=int, default=[2, 3, 4, 5, 6, 7, 8])
    p.add_argument("--blocksize", default=64, type=lambda s: s if s == "row" else int(s))
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for both clone and quantization")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tensors = weights(args.params, args.device, getattr(torch, args.torch_dtype))
    n = sum(t.numel() for t in tensors)
    clone = best_time(torch.clone, tensors, args.device, args.repeat)
    print(f"device={args.device} params={n:,} torch_dtype={args.torch_dtype} blocksize={args.blocksize} "
          f"threads={args.threads}\nclone: {n / clone:.3g} params/s")
    print(f"{'dtype':>9} {'bits':>4} {'params/s':>10} {'x clone':>8} {'peak extra':>10}")
    rows = []
    for dtype in args.quant_types:
        peak = (peak_extra_cuda(lambda t, dtype=dtype: quantize_dequantize(t, 4, dtype, args.blocksize), tensors[0])
                if args.device.startswith("cuda") else peak_extra_cpu(dtype, 4, args.blocksize, args.torch_dtype))
        for bits in args.bits:
            seconds = best_time(lambda t, bits=bits, dtype=dtype: quantize_dequantize(t, bits, dtype, args.blocksize),
                                tensors, args.device, args.repeat)
            rows.append(dict(dtype=dtype, bits=bits, params_per_s=n / seconds, ratio=seconds / clone,
                             peak_extra=peak))
            print(f"{dtype:>9} {bits:>4} {n / seconds:>10.3g} {seconds / clone:>8.1f} {peak:>9.2f}x", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(vars(args), params=n, clone_params_per_s=n / clone, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
