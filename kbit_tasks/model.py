"""The lm-eval model "kbit-hf": a Hugging Face causal LM with k-bit simulated weights.

Importing this module registers it, so `kbit-eval --model kbit-hf --model_args
pretrained=DIR,bits=3,quant_type=nf,blocksize=64,dtype=bfloat16` works. The weights are loaded once and the
pristine weights kept (`pristine=`: on the GPU, read back from the safetensors files, or a
CPU copy; see kbit_tasks/quant/pristine.py), so `requantize` moves between precisions
without ever quantizing an already-quantized model.

The arguments read as HFLM users type them: `dtype` is HFLM's (the torch dtype to load in)
and `quant_type` is the quantization data type (int, fp, dynamic, quantile, nf), as
bitsandbytes and transformers name it. An old `dtype=nf` is refused with what to write.
`compute_dtype` upcasts after loading: a model stored in bfloat16 and run in float32 (CPU
matmuls in bf16 are several times slower) still counts 16 bits per unquantized parameter,
and its weights stay exactly the bf16 values.

`prefix_sharing` (default true) scores all continuations of a context from one pass over
it (kbit_tasks/prefix_sharing.py): the same (logprob, is_greedy) as HFLM, fewer tokens.
`prefix_sharing=false` gives HFLM's own loglikelihood path.
"""
from __future__ import annotations

from dataclasses import fields

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

import torch

from kbit_tasks import prefix_sharing
from kbit_tasks.arguments import RENAMED, TORCH_DTYPES, refuse_renamed
from kbit_tasks.quant import PRISTINE, QuantConfig, QuantReport, pristine_weights, quantize_model, storage_widths

COMPUTE_DTYPES = TORCH_DTYPES[1:]


@register_model("kbit-hf")
class KbitHFLM(HFLM):
    """HFLM whose weight matrices are quantized after loading (on the model's device).

    `pretrained` may be a folder, a hub id or an already-loaded transformers model; an
    in-memory model is quantized in place (its pristine weights are copied to CPU).
    """

    def __init__(self, pretrained, bits: int = 16, quant_type: str = "fp", blocksize: int | str = 64,
                 outliers: float = 0.0, quantize_embeddings: bool = False, quantize_head: bool = False,
                 dtype="auto", compute_dtype: str | None = None, pristine: str = "auto",
                 prefix_sharing: bool = True, **kwargs):
        # Validate before HFLM loads any weights: a typo must not cost a model load.
        config = check_model_args(dict(
            bits=bits, quant_type=quant_type, blocksize=blocksize, outliers=outliers,
            quantize_embeddings=quantize_embeddings, quantize_head=quantize_head, dtype=dtype,
            compute_dtype=compute_dtype, pristine=pristine, prefix_sharing=prefix_sharing, **kwargs))
        self.prefix_sharing = prefix_sharing
        self._load_dtype = dtype  # for the device map, decided before loading
        super().__init__(pretrained, dtype=dtype, **kwargs)
        _refuse_offloaded(self._model)
        self._pristine = pristine_weights(self._model, pristine)
        self._storage_bits = storage_widths(self._model)  # counted as stored, before any upcast
        if compute_dtype is not None:
            self._model.to(getattr(torch, compute_dtype))
        self.quant_report: QuantReport = self.requantize(config)

    def _get_accelerate_args(self, *args, **kwargs) -> dict:
        """HFLM's placement, but with the device map decided here: a `parallelize=True` model that
        does not fit its GPUs is refused before any weight loads, instead of being offloaded to
        CPU or disk (offloaded weights are not in memory, so they cannot be quantized)."""
        placement = super()._get_accelerate_args(*args, **kwargs)
        if placement.get("device_map") == "auto" and placement.get("max_memory"):
            placement["max_memory"] = self._usable_memory(placement["max_memory"])
            placement["device_map"] = device_map_in_memory(self._config, placement["max_memory"], self._load_dtype)
        return placement

    def _usable_memory(self, max_memory: dict) -> dict:
        """The memory a `parallelize=True` model may fill: HFLM's choice (every visible GPU, or
        this `accelerate launch` process's share of them)."""
        return max_memory

    def requantize(self, config: QuantConfig) -> QuantReport:
        """Quantize the pristine weights to `config`; bits=16 restores them bit for bit."""
        if not isinstance(config, QuantConfig):
            raise ValueError(f"config={config!r} is not a QuantConfig")
        self.quant_report = quantize_model(self._model, config, pristine=self._pristine,
                                           storage_bits=self._storage_bits)
        return self.quant_report

    def _model_call(self, inps, attn_mask=None, labels=None, **model_kwargs):
        """HFLM's model call; keyword arguments (a KV cache, positions, logits_to_keep) go to
        the model, so prefix sharing's passes are timed and autocast like HFLM's own."""
        if not model_kwargs:
            return super()._model_call(inps, attn_mask, labels)
        with torch.no_grad(), torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype,
                                             enabled=self.mixed_precision_dtype is not None):
            return self.model(input_ids=inps, **model_kwargs).logits

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        """Requests that share a context are scored from one pass over it; the rest (and all
        of them when sharing is off or the model cannot share) take HFLM's path."""
        if not self.prefix_sharing or self.backend != "causal" or prefix_sharing.unsupported_reason(self.model):
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        groups, rest = prefix_sharing.split_requests(requests, self.max_length)
        results = dict(zip(rest, super()._loglikelihood_tokens(
            [requests[i] for i in rest], disable_tqdm=disable_tqdm, override_bs=override_bs))) if rest else {}
        if groups:
            batch_size = override_bs or self.batch_size
            if batch_size == "auto":  # HFLM's detection, on the longest shared request
                longest = max((i for g in groups for i in g), key=lambda i: len(requests[i][1]) + len(requests[i][2]))
                batch_size = self._detect_batch_size([requests[longest]])
            results |= prefix_sharing.score_groups(self, requests, groups, int(batch_size), disable_tqdm)
        return [results[i] for i in range(len(requests))]

    @property
    def quant_config(self) -> QuantConfig:
        return self.quant_report.config

    def get_model_info(self) -> dict:
        """HFLM's model info plus the quantization report (the config and its label, the
        parameters, bits per parameter and total bits, each stated there once), so
        results["config"] carries the model's bits."""
        return super().get_model_info() | {
            "quant_report": self.quant_report.to_dict(),
            "pristine": self._pristine.describe(),
            "prefix_sharing": self.prefix_sharing,
        }


# Keyword arguments HFLM hands on to transformers' from_pretrained that make sense for kbit-hf;
# HFLM itself accepts any keyword there, so a typo would reach transformers after the load.
FROM_PRETRAINED_ARGS = ("attn_implementation", "low_cpu_mem_usage", "use_safetensors", "variant", "cache_dir",
                        "local_files_only", "token", "device_map")


def model_arg_names() -> list[str]:
    """Every argument kbit-hf takes: its own, HFLM's, and the from_pretrained ones above."""
    import inspect

    names = [n for cls in (KbitHFLM, HFLM) for n, p in inspect.signature(cls.__init__).parameters.items()
             if n != "self" and p.kind is not p.VAR_KEYWORD]
    return sorted(set(names) | set(FROM_PRETRAINED_ARGS))


def refuse_unknown_model_args(model_args: dict) -> None:
    """One line naming an unknown argument and the closest valid name, before anything loads."""
    import difflib

    valid = model_arg_names()
    for name in model_args:
        if name not in valid and name not in RENAMED:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown kbit-hf argument {name!r}; {hint}valid: {', '.join(valid)}")


def check_model_args(model_args: dict) -> QuantConfig:
    """Every kbit-hf argument that can be checked before loading (the constructor and kbit-eval's
    pre-check share it); returns the quantization config. A ValueError names the bad value."""
    refuse_renamed(model_args)
    refuse_unknown_model_args(model_args)
    config = QuantConfig(**{f.name: model_args[f.name] for f in fields(QuantConfig) if f.name in model_args})
    dtype = model_args.get("dtype", "auto")  # HFLM would fail on a bad one only while loading
    if dtype not in (*TORCH_DTYPES, None) and not isinstance(dtype, torch.dtype):
        raise ValueError(f"dtype={dtype!r} is not supported; choose one of {TORCH_DTYPES}")
    compute_dtype = model_args.get("compute_dtype")
    if compute_dtype is not None and compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype={compute_dtype!r} is not supported; choose one of {COMPUTE_DTYPES}")
    prefix = model_args.get("prefix_sharing", True)
    if not isinstance(prefix, bool):
        raise ValueError(f"prefix_sharing={prefix!r} is not supported; choose true or false")
    if model_args.get("pristine", "auto") not in PRISTINE:
        raise ValueError(f"pristine={model_args['pristine']!r} is not valid; choose one of {PRISTINE}")
    return config


def device_map_in_memory(config, max_memory: dict, dtype="auto") -> dict:
    """accelerate's "auto" device map for `config` loaded in `dtype` (a torch dtype, its name,
    or "auto": the checkpoint's), refused if any module would be offloaded."""
    from accelerate import infer_auto_device_map, init_empty_weights
    from transformers import AutoModelForCausalLM

    if dtype in (None, "auto"):
        dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or torch.float32
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    with init_empty_weights():
        empty = AutoModelForCausalLM.from_config(config, dtype=dtype)
    device_map = infer_auto_device_map(empty, max_memory=max_memory, dtype=dtype,
                                       no_split_module_classes=empty._no_split_modules or [])
    places = set(device_map.values())
    offloaded = {"disk"} | ({"cpu"} if places - {"cpu", "disk"} else set())
    if places & offloaded:
        size = sum(p.numel() * p.element_size() for p in empty.parameters()) / 2**20
        raise ValueError(
            f"the model ({size:,.1f} MiB in {dtype}) does not fit in max_memory={max_memory}: accelerate would "
            f"offload {sum(v in offloaded for v in device_map.values())} modules to "
            f"{'/'.join(sorted(places & offloaded))}, and kbit-hf must hold every weight in memory to "
            "quantize it; use more or larger GPUs, raise max_memory_per_gpu, or a smaller model")
    return device_map


def _refuse_offloaded(model) -> None:
    """The same refusal after loading, for offloading that the device map did not show."""
    meta = [name for name, p in model.named_parameters() if p.device.type == "meta"]
    if meta:
        raise ValueError(f"{len(meta)} weights (e.g. {meta[0]}) were offloaded by accelerate, not loaded; "
                         "kbit-hf must hold every weight in memory to quantize it; use more or larger "
                         "GPUs, raise max_memory_per_gpu, or a smaller model")
