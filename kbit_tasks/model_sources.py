"""Where a model comes from: a local folder or a hub id, and whether it can be loaded offline.

Both kbit-eval's `pretrained=` and a sweep config's `models:` are checked here before any
model loads: lm-eval and transformers would call a missing folder a malformed repo id.
"""
from __future__ import annotations

import os


def looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id (`org/name`)."""
    return path.startswith(("/", "./", "../", "~", ".")) or os.path.isdir(os.path.expanduser(path))


def check_model_source(path: str) -> None:
    """A local folder must exist; a hub id must be cached when the hub is off (HF_HUB_OFFLINE=1).
    Else a ValueError naming the path."""
    if looks_local(path):
        if not os.path.isdir(os.path.expanduser(path)):
            raise ValueError(f"{path!r}: no such folder")
        return
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(path, "config.json"), str):
            raise ValueError(f"{path!r}: no such folder, and not a model in the Hugging Face cache "
                             "(HF_HUB_OFFLINE=1 forbids downloading it)")
