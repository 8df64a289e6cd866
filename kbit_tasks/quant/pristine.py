"""Where the unquantized weights live between precisions, so that a node's memory holds them once.

`requantize` always starts from the pristine weights (never from an already-quantized model).
Keeping them as a CPU copy per process costs a whole model of host memory per GPU process
(8 x 24 GB for a 12B fp16 model on an 8-GPU node). So there are three places to keep them:

- "device": a copy beside the weights on their GPU, when twice the quantizable weights fit
  in the GPU's free memory; fastest, costs no host memory.
- "file": nothing copied; each tensor is read back from the model's safetensors files
  (memory-mapped, so every process of a node shares the OS page cache). Used only for tensors
  that read back bit for bit equal to the loaded weight (checked once at load; transformers
  may rename or convert a key, e.g. Pythia's `embed_out` -> `lm_head`); others are copied.
- "cpu": a CPU copy per process (an in-memory model, or no safetensors files).

"auto" picks the first that applies in that order.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from kbit_tasks.quant.modules import targets

PRISTINE = ("auto", "device", "file", "cpu")
DEVICE_HEADROOM = 2.0  # a GPU copy only when twice the weights fit: room is left for activations


class PristineWeights(Mapping):
    """name -> unquantized tensor of each quantizable weight (`targets(model)`), read on demand."""

    def __init__(self, copies: dict[str, torch.Tensor], files: dict[str, tuple[Path, str, torch.dtype]],
                 where: str):
        self._copies, self._files, self.where = copies, files, where

    def __getitem__(self, name: str) -> torch.Tensor:
        if name in self._copies:
            return self._copies[name]
        path, key, dtype = self._files[name]
        return _read(path, key).to(dtype)  # as transformers cast it when loading

    def __iter__(self):
        yield from self._copies
        yield from self._files

    def __len__(self) -> int:
        return len(self._copies) + len(self._files)

    def host_bytes(self) -> int:
        """Bytes this process holds in host (CPU) memory for the pristine weights."""
        return sum(t.numel() * t.element_size() for t in self._copies.values() if t.device.type == "cpu")

    def describe(self) -> dict:
        return {"where": self.where, "copied": len(self._copies), "from_files": len(self._files),
                "host_bytes": self.host_bytes()}


def _read(path: Path, key: str) -> torch.Tensor:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.get_tensor(key)


def pristine_weights(model: nn.Module, where: str = "cpu") -> PristineWeights:
    """Keep the unquantized weights of `model` (call right after loading, before any upcast)."""
    if where not in PRISTINE:
        raise ValueError(f"pristine={where!r} is not valid; choose one of {PRISTINE}")
    params = {t.name: t.param for t in targets(model)}
    if where in ("auto", "device") and _device_copy_fits(params.values()):
        return PristineWeights({n: p.detach().clone() for n, p in params.items()}, {}, "device")
    if where == "device":
        raise ValueError("pristine=device needs the weights on a GPU with room for a second copy "
                         "(twice the quantizable weights free); use pristine=auto, file or cpu")
    files = _file_sources(model, params) if where in ("auto", "file") else {}
    copies = {n: p.detach().to("cpu", copy=True) for n, p in params.items() if n not in files}
    return PristineWeights(copies, files, "file" if files else "cpu")


def _device_copy_fits(params) -> bool:
    params = list(params)
    devices = {p.device for p in params}
    if len(devices) != 1 or next(iter(devices)).type != "cuda":
        return False
    (device,) = devices
    free, _ = torch.cuda.mem_get_info(device)
    return free >= DEVICE_HEADROOM * sum(p.numel() * p.element_size() for p in params)


def safetensors_files(name_or_path: str) -> list[Path]:
    """The safetensors files of a local folder or of a hub id already in the local cache."""
    folder = Path(name_or_path)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(name_or_path, allow_patterns=["*.safetensors"], local_files_only=True))
        except Exception:  # not a hub id, or not cached: nothing to read back from
            return []
    return sorted(folder.glob("*.safetensors"))


def _file_sources(model: nn.Module, params: dict[str, nn.Parameter]) -> dict[str, tuple[Path, str, torch.dtype]]:
    """For each weight, a (file, key) that reads back exactly equal to it; weights without one
    are left out (and copied by the caller)."""
    from safetensors import safe_open

    files = safetensors_files(str(getattr(model.config, "_name_or_path", "") or getattr(model, "name_or_path", "")))
    if not files:
        return {}
    prefix = getattr(model, "base_model_prefix", "") or ""
    found: dict[str, tuple[Path, str, torch.dtype]] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            for name, param in params.items():
                if name in found or param.device.type == "meta":
                    continue
                for key in _candidate_keys(name, prefix):
                    if key in keys and _equal(f.get_tensor(key), param):
                        found[name] = (path, key, param.dtype)
                        break
    return found


def _candidate_keys(name: str, prefix: str) -> list[str]:
    """The checkpoint keys a parameter may have been loaded from (with or without the base
    model's prefix, as transformers accepts both)."""
    keys = [name]
    if prefix and name.startswith(prefix + "."):
        keys.append(name[len(prefix) + 1:])
    elif prefix:
        keys.append(f"{prefix}.{name}")
    return keys


def _equal(stored: torch.Tensor, param: torch.Tensor) -> bool:
    return stored.shape == param.shape and torch.equal(stored.to(param.device, param.dtype), param.detach())
