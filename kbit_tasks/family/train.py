"""CPU training of one family member: one item per row, loss on the answer, AdamW, warmup + cosine decay.

A plain loop rather than `transformers.Trainer`: the models are tiny, the data is
a short in-memory list, and the loop must show the same order of batches to every
size; Trainer's dataloader, accelerate and logging machinery would cost more
than the steps themselves on two cores.
"""
from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm
from transformers import LlamaForCausalLM, get_cosine_with_min_lr_schedule_with_warmup

from kbit_tasks.family.presets import Preset, Size
from kbit_tasks.tiny import llama_config


def encode(docs: list[tuple[str, str]], tokenizer) -> list[tuple[list[int], list[int]]]:
    """Token ids of each (prompt, answer) pair, tokenized apart.

    lm-eval tokenizes context + continuation whole and splits at the context's length; the
    byte-level pre-tokenizer cuts before the answer's leading space, so both give the same ids.
    """
    prompts = tokenizer([q for q, _ in docs], add_special_tokens=False)["input_ids"]
    answers = tokenizer([a for _, a in docs], add_special_tokens=False)["input_ids"]
    return list(zip(prompts, answers))


def collate(pairs: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows padded on the right to the longest; labels are -100 except on the answer tokens.

    Right padding needs no attention mask: causal attention never looks ahead to the pads.
    A padded row per item (rather than packed blocks) keeps the answer at a known place, so
    the loss can sit on it alone, as in instruction tuning.
    """
    width = max(len(q) + len(a) for q, a in pairs)
    ids = torch.full((len(pairs), width), pad_id)
    labels = torch.full((len(pairs), width), -100)
    for row, (q, a) in enumerate(pairs):
        ids[row, : len(q) + len(a)] = torch.tensor(q + a)
        labels[row, len(q): len(q) + len(a)] = torch.tensor(a)
    return ids, labels


def batch_order(n_docs: int, preset: Preset) -> torch.Tensor:
    """Item indices for every step: epoch after epoch, each a seeded permutation; the same for all sizes."""
    need = preset.steps * preset.batch_size
    gen = torch.Generator().manual_seed(preset.seed)
    epochs = [torch.randperm(n_docs, generator=gen) for _ in range(math.ceil(need / n_docs))]
    return torch.cat(epochs)[:need].view(preset.steps, preset.batch_size)


def answer_loss(model, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy on the answer tokens, the output head applied at those positions only.

    The same number as `model(input_ids=ids, labels=labels).loss`, but the head (a 49k-word
    vocabulary on a pretrained model) runs on a few answer positions instead of every token.
    """
    hidden = model.base_model(input_ids=ids).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    return torch.nn.functional.cross_entropy(model.get_output_embeddings()(hidden[keep]), target[keep])


def run_steps(model, data: list[tuple[list[int], list[int]]], order: torch.Tensor, pad_id: int, opt, sched,
              desc: str, progress: bool = True) -> list[float]:
    """One optimizer step per row of `order` (item indices), clipped at norm 1; returns the losses."""
    model.train()
    losses: list[float] = []
    bar = tqdm(order, desc=desc, disable=not progress, leave=False)
    for step_idx in bar:
        ids, labels = collate([data[i] for i in step_idx.tolist()], pad_id)
        loss = answer_loss(model, ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def train_model(size: Size, data: list[tuple[list[int], list[int]]], order: torch.Tensor, tokenizer,
                preset: Preset, progress: bool = True) -> tuple[LlamaForCausalLM, dict]:
    """Train one size from a seeded init; returns the model and its manifest entry."""
    torch.manual_seed(preset.seed)
    model = LlamaForCausalLM(llama_config(tokenizer, size.hidden, size.layers, size.heads))
    opt = torch.optim.AdamW(model.parameters(), lr=size.lr, betas=(0.9, 0.95), weight_decay=preset.weight_decay)
    sched = get_cosine_with_min_lr_schedule_with_warmup(opt, preset.warmup_steps, preset.steps,
                                                        min_lr_rate=preset.min_lr_ratio)
    start = time.perf_counter()
    losses = run_steps(model, data, order, tokenizer.pad_token_id, opt, sched, f"train {size.name}", progress)
    tail = losses[-max(1, len(losses) // 20):]  # last 5% of steps: less noisy than the final batch
    params = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight.numel() + model.get_output_embeddings().weight.numel()
    return model, {
        "name": size.name, "hidden": size.hidden, "layers": size.layers, "heads": size.heads, "lr": size.lr,
        "params": params, "params_non_embedding": params - embed,
        "tokens_seen": sum(len(data[i][0]) + len(data[i][1]) for i in order.view(-1).tolist()),
        "answers_seen": int(order.numel()),
        "first_loss": losses[0], "final_loss": sum(tail) / len(tail),
        "seconds": round(time.perf_counter() - start, 2),
    }
