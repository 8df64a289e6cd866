"""Checks of what a user types that kbit-eval's command line and a sweep config share: the
kbit tasks' metadata, kbit-hf's renamed arguments, the device, the batch size and the torch
dtypes. Each raises a ValueError naming the bad value and what to write, before anything loads."""
from __future__ import annotations

import re

# torch dtypes to load in ("auto": the checkpoint's); all but "auto" to compute in
TORCH_DTYPES = ("auto", "float32", "bfloat16", "float16")
# What lm-eval's HFLM takes as a device (an index may follow, cuda:1); any other name it would
# silently replace by the first GPU or the CPU.
DEVICE_KINDS = ("auto", "cpu", "cuda", "mps", "npu", "xpu", "hpu")
BATCH_SIZES = "a positive integer, 'auto' or 'auto:N'"
METADATA_KEYS = ("n", "seed", "distractors")  # what the kbit tasks' loader reads from lm-eval's metadata
# kbit-hf's old spellings -> today's: HFLM's `dtype` is the torch dtype to load in (once
# `torch_dtype`), and the quantization data type is `quant_type`, as bitsandbytes and
# transformers name it (once `dtype`, refused only where its value is a quantization type).
RENAMED = {"torch_dtype": ("dtype", "the torch dtype to load in"),
           "dtype": ("quant_type", "the quantization data type")}


def check_metadata(metadata, where: str = "metadata", other_tasks: bool = False) -> dict:
    """n, seed and distractors as the tasks' loader will check them; any other key is a typo
    unless the run holds `other_tasks`, to which it may belong."""
    from kbit_tasks.generators import DEFAULT_N, check_distractors, check_n_seed

    if not isinstance(metadata, dict):
        raise ValueError(f"{where}: {metadata!r} must be a mapping such as {{n: 50}}")
    unknown = sorted(set(metadata) - set(METADATA_KEYS))
    if unknown and not other_tasks:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"valid keys are {', '.join(METADATA_KEYS)}")
    try:
        check_n_seed(metadata.get("n", DEFAULT_N), metadata.get("seed", 0))
        check_distractors(metadata.get("distractors"))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return metadata


def check_device(device: str | None, where: str = "device=", choices=("auto", "cpu", "cuda", "mps")) -> None:
    """A device lm-eval knows, and an accelerator named explicitly (cuda, cuda:N, mps) that exists
    on this machine: lm-eval would run on the CPU instead, saying so only in an info log."""
    import torch

    kind, colon, index = (device or "").partition(":")
    if device and (kind not in DEVICE_KINDS or (colon and not index.isdigit())):
        raise ValueError(f"{where}{device!r} is not a device; choose one of {', '.join(choices)} "
                         "(cuda:N for the Nth GPU)")
    if kind not in ("cuda", "mps"):
        return
    usable = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not usable[kind] or (kind == "cuda" and index.isdigit() and int(index) >= torch.cuda.device_count()):
        raise ValueError(f"{where}{device!r} is not available on this machine; "
                         f"choose one of {', '.join(c for c in choices if usable.get(c, True))}")


def valid_batch_size(value) -> bool:
    """What lm-eval's HFLM takes as a batch size: BATCH_SIZES."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and bool(re.fullmatch(r"[1-9]\d*|auto(:[1-9]\d*)?", value))


def refuse_renamed(args: dict, where: str = "", sep: str = "=") -> None:
    """An old spelling must not reach transformers, or silently mean something else."""
    from kbit_tasks.quant.codebooks import QUANT_TYPES

    for old, (new, meaning) in RENAMED.items():
        if old in args and (old != "dtype" or args[old] in QUANT_TYPES):
            raise ValueError(f"{where}{old!r} is now called {new!r} (as in kbit-hf's model_args); "
                             f"write {new}{sep}{args[old]} ({new} is {meaning})")
