"""SweepLM: kbit-hf as the sweep drives it, many cells of one model in one process.

HFLM (lm-eval 0.4.13) is built for one evaluation per process; the sweep evaluates every
precision of a model with the same object, so it overrides, as lm-eval's own `SteeredModel`
does, the hooks where that costs or hides something, and keeps what it counts as fields
(reset per cell by `start_cell`):
- `_model_call`: forward passes timed (`seconds_forward`), to tell compute from overhead;
- `loglikelihood`: no per-call request bar (the sweep draws one over cells), and the inf/NaN
  log-likelihoods counted per task (`nonfinite`; a 2-3 bit model in 16-bit arithmetic can
  overflow, and lm-eval would silently score such an item as choice 0);
- `_encode_pair`: each (context, continuation) tokenized once per model, not once per cell
  (the tokenizer does not change with the weights);
- `_detect_batch_size`: `batch_size: auto` probed once per model and request length, not on
  every cell (HFLM resets and probes again on every loglikelihood call);
- `_usable_memory`: a `parallelize` model's device map fills only the GPUs this sweep process
  owns (`gpus`, from grid.Placement), not every visible one.
"""
from __future__ import annotations

import collections
import math
import time

import torch

from kbit_tasks.model import KbitHFLM


class SweepLM(KbitHFLM):
    def __init__(self, *args, gpus: list[int] | None = None, **kwargs):
        self.gpus = gpus
        self.seconds_forward = 0.0
        self.nonfinite: collections.Counter = collections.Counter()
        self._encoded: dict = {}
        self._batch_sizes: dict = {}
        super().__init__(*args, **kwargs)

    def start_cell(self) -> None:
        """Zero the per-cell counters (the caches stay: they belong to the model)."""
        self.seconds_forward = 0.0
        self.nonfinite.clear()

    def _usable_memory(self, max_memory: dict) -> dict:
        return {gpu: free for gpu, free in max_memory.items() if self.gpus is None or gpu in self.gpus}

    def _model_call(self, inps, attn_mask=None, labels=None, **model_kwargs):
        start = time.perf_counter()
        out = super()._model_call(inps, attn_mask, labels, **model_kwargs)
        if self.device.type == "cuda":  # kernels are asynchronous; wait for them (on this process's GPU)
            torch.cuda.synchronize(self.device)
        self.seconds_forward += time.perf_counter() - start
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = True):
        results = super().loglikelihood(requests, disable_tqdm=True)
        for request, (logprob, _greedy) in zip(requests, results):
            self.nonfinite[request.task_name] += not math.isfinite(logprob)
        return results

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        key = (context, continuation)
        if key not in self._encoded:
            self._encoded[key] = super()._encode_pair(context, continuation)
        context_enc, continuation_enc = self._encoded[key]
        return list(context_enc), list(continuation_enc)  # a caller's edit must not reach the cache

    def _detect_batch_size(self, requests=None, pos: int = 0):
        key = len(requests[pos][1]) + len(requests[pos][2]) if requests else None
        if key not in self._batch_sizes:
            self._batch_sizes[key] = super()._detect_batch_size(requests, pos)
        return self._batch_sizes[key]
