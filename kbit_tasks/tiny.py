"""Tiny random-weight causal LMs with a locally trained tokenizer, for offline plumbing.

Their accuracy means nothing; they exist so tests, benchmarks and the README's
examples can load a real Hugging Face folder through `--model hf` / `kbit-hf`
without the hub.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

ARCHS = ("gpt2", "llama")


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer trained in seconds with `tokenizers`, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def _sample_text() -> list[str]:
    # Plain English-ish filler: enough byte pairs for a small vocabulary.
    words = ("all some no every wug is are not a the if then because causes true false "
             "yes no before after more less than order list next rule answer question").split()
    return [" ".join(words[(i * 7 + j) % len(words)] for j in range(40)) for i in range(200)]


def _special_tokens(tokenizer) -> dict:
    return dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def llama_config(tokenizer, hidden: int, layers: int, heads: int = 4):
    """kbit's one Llama recipe, for these tiny models and the reference family: an MLP four
    times the width, a KV head per head, untied embeddings, the tokenizer's special tokens."""
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=1024,
                       tie_word_embeddings=False, **_special_tokens(tokenizer))


def make_tiny_model(out_dir: str | Path, arch: str = "gpt2", seed: int = 0, hidden: int = 64,
                    layers: int = 2, vocab_size: int = 512) -> Path:
    """Save a random `arch` model and its tokenizer to `out_dir` (a Hugging Face folder) and return it."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config

    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r} is not supported; choose one of {ARCHS}")
    out = Path(out_dir)
    tokenizer = train_tokenizer(_sample_text(), vocab_size=vocab_size)
    if arch == "gpt2":
        config = GPT2Config(n_embd=hidden, n_layer=layers, n_head=4, n_positions=1024, **_special_tokens(tokenizer))
    else:
        config = llama_config(tokenizer, hidden, layers)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Save a tiny random-weight causal LM folder (offline).")
    parser.add_argument("out_dir")
    parser.add_argument("--arch", choices=ARCHS, default="gpt2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_tiny_model(args.out_dir, arch=args.arch, seed=args.seed))
