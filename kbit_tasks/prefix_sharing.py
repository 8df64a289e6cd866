"""Score every choice of a multiple-choice item from one forward pass over its context.

lm-eval's HFLM (0.4.13) shares work between the requests of one context only when every
continuation is a single token; otherwise it runs context + continuation once per choice.
Here the requests are grouped by their context tokens; each batch of contexts runs once
(right-padded, with an attention mask), keeping its key/value cache and only the logits
of each context's last position (they score the first continuation token). The other
continuation tokens are then scored in a second, batched pass that feeds `continuation[:-1]`
on top of the cache rows of its context. The numbers are HFLM's: continuation token i is
scored from the logits at position len(context) + i - 1, log-softmaxed in HFLM's
`softmax_dtype`, summed, and is_greedy is the per-token argmax check.

lm-eval has no hook for this ("TODO: implement some kind of efficient-request-middleware
that lumps together requests with the same context" in HFLM._loglikelihood_tokens), and
transformers' generation utilities score one sequence per row, so it is written here.
Requests it cannot serve exactly go back to HFLM's own path (see `split_requests`).
"""
from __future__ import annotations

import inspect
from collections import defaultdict

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import DynamicCache

Request = tuple[tuple[str, str] | None, list[int], list[int]]


def unsupported_reason(model) -> str | None:
    """Why this model cannot share prefixes exactly, or None when it can."""
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder model"
    if getattr(config, "sliding_window", None) is not None:
        return "sliding-window attention (its cache keeps only the window)"  # correct, but not worth the risk
    params = inspect.signature(model.forward).parameters
    missing = [p for p in ("position_ids", "attention_mask", "logits_to_keep") if p not in params]
    if cache_keyword(model) is None:
        missing.append("a cache argument")
    return f"forward() lacks {', '.join(missing)}" if missing else None


def cache_keyword(model) -> str | None:
    """The forward() argument that takes a KV cache: `cache` from transformers 5.2x on
    (`past_key_values` still accepted with a deprecation warning), `past_key_values` before."""
    params = inspect.signature(model.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in params), None)


def split_requests(requests: list[Request], max_length: int) -> tuple[list[list[int]], list[int]]:
    """(groups of request indices that share a context, indices left to HFLM).

    Left to HFLM: a context with a single request (nothing to share) and any group in
    which a request must be truncated to max_length (HFLM cuts context + continuation
    from the left, so the requests would no longer share their context)."""
    by_context: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, (_, context, _) in enumerate(requests):
        by_context[tuple(context)].append(index)
    groups, rest = [], []
    for context, indices in by_context.items():
        fits = all(len(context) + len(requests[i][2]) - 1 <= max_length for i in indices)
        if len(indices) > 1 and fits:
            groups.append(indices)
        else:
            rest.extend(indices)
    return groups, rest


def _pad(rows: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token ids and their attention mask."""
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def _rows_of(cache: DynamicCache, index: torch.Tensor) -> DynamicCache:
    """A new cache holding the given batch rows of `cache` (rows may repeat)."""
    return DynamicCache(ddp_cache_data=[(layer.keys[index], layer.values[index]) for layer in cache.layers])


def score_groups(lm, requests: list[Request], groups: list[list[int]], batch_size: int,
                 disable_tqdm: bool = True) -> dict[int, tuple[float, bool]]:
    """(logprob, is_greedy) of every request in `groups`, by request index.

    `lm` is an HFLM: its `_model_call` runs the model (it must pass keyword arguments on,
    as kbit-hf's does), its `softmax_dtype` and `cache_hook` are honoured."""
    # Longest contexts first, as HFLM does: an out-of-memory batch fails at once.
    groups = sorted(groups, key=lambda g: (-len(requests[g[0]][1]), requests[g[0]][1]))
    results: dict[int, tuple[float, bool]] = {}
    bar = tqdm(total=sum(map(len, groups)), disable=disable_tqdm or lm.rank != 0,
               desc="Running loglikelihood requests (prefix sharing)")
    for start in range(0, len(groups), batch_size):
        chunk = groups[start: start + batch_size]
        for index, answer in _score_chunk(lm, requests, chunk, batch_size).items():
            results[index] = answer
            request_str = requests[index][0]
            if request_str is not None:
                lm.cache_hook.add_partial("loglikelihood", request_str, answer)
            bar.update(1)
    bar.close()
    return results


def _score_chunk(lm, requests, chunk, batch_size) -> dict[int, tuple[float, bool]]:
    device, softmax_dtype, cache_arg = lm.device, lm.softmax_dtype, cache_keyword(lm.model)
    contexts = [requests[g[0]][1] for g in chunk]
    ids, mask = _pad(contexts, device)
    lengths = mask.sum(dim=1)
    cache = DynamicCache()
    # Context pass: keys/values of every context position, logits only at its last one.
    last = lm._model_call(ids, attention_mask=mask, use_cache=True, logits_to_keep=(lengths - 1).view(-1, 1),
                          **{cache_arg: cache})
    first = F.log_softmax(last[:, 0], dim=-1, dtype=softmax_dtype)  # [contexts, vocab]
    first_greedy = first.argmax(dim=-1)

    scores: dict[int, list[torch.Tensor]] = {}
    greedy: dict[int, bool] = {}
    rows = []  # (context row, request index) of continuations longer than one token
    for row, group in enumerate(chunk):
        for index in group:
            token = requests[index][2][0]
            scores[index] = [first[row, token].view(1)]
            greedy[index] = bool(first_greedy[row] == token)
            if len(requests[index][2]) > 1:
                rows.append((row, index))

    # Continuation pass: continuation[:-1] on top of its context's cache rows, batched.
    for start in range(0, len(rows), batch_size):
        part = rows[start: start + batch_size]
        context_rows = torch.tensor([row for row, _ in part], device=device)
        conts = [requests[index][2] for _, index in part]
        cont_ids, _ = _pad([c[:-1] for c in conts], device)
        width = cont_ids.shape[1]
        attention = torch.cat([mask[context_rows], torch.ones_like(cont_ids)], dim=1)
        positions = lengths[context_rows].view(-1, 1) + torch.arange(width, device=device)
        logits = lm._model_call(cont_ids, attention_mask=attention, position_ids=positions, use_cache=True,
                                **{cache_arg: _rows_of(cache, context_rows)})
        logprobs = F.log_softmax(logits, dim=-1, dtype=softmax_dtype)
        for r, ((_, index), cont) in enumerate(zip(part, conts)):
            targets = torch.tensor(cont[1:], dtype=torch.long, device=device)
            step = logprobs[r, : len(cont) - 1]
            scores[index].append(step.gather(1, targets.view(-1, 1)).view(-1))
            greedy[index] = greedy[index] and bool((step.argmax(dim=-1) == targets).all())
    return {index: (float(torch.cat(parts).sum()), greedy[index]) for index, parts in scores.items()}
