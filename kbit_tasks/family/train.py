"""CPU training of one family member: packed token blocks, AdamW, warmup + cosine decay.

A plain loop rather than `transformers.Trainer`: the models are tiny, the data is
one in-memory tensor, and the loop must show the same order of batches to every
size; Trainer's dataloader, accelerate and logging machinery would cost more
than the steps themselves on two cores.
"""
from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, get_cosine_with_min_lr_schedule_with_warmup

from kbit_tasks.family.presets import Preset, Size


def pack(docs: list[str], tokenizer, seq_len: int) -> torch.Tensor:
    """Documents joined by EOS and cut into (blocks, seq_len) rows, the tail dropped."""
    ids: list[int] = []
    for enc in tokenizer(docs, add_special_tokens=False)["input_ids"]:
        ids.extend(enc)
        ids.append(tokenizer.eos_token_id)
    rows = len(ids) // seq_len
    if rows == 0:
        raise ValueError(f"corpus of {len(ids)} tokens is shorter than one block (seq_len={seq_len})")
    return torch.tensor(ids[: rows * seq_len]).view(rows, seq_len)


def batch_order(n_blocks: int, preset: Preset) -> torch.Tensor:
    """Block indices for every step: epoch after epoch, each a seeded permutation; the same for all sizes."""
    need = preset.steps * preset.batch_size
    gen = torch.Generator().manual_seed(preset.seed)
    epochs = [torch.randperm(n_blocks, generator=gen) for _ in range(math.ceil(need / n_blocks))]
    return torch.cat(epochs)[:need].view(preset.steps, preset.batch_size)


def model_config(size: Size, tokenizer, seq_len: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=size.hidden, intermediate_size=4 * size.hidden,
        num_hidden_layers=size.layers, num_attention_heads=size.heads, num_key_value_heads=size.heads,
        max_position_embeddings=max(1024, seq_len), tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def train_model(size: Size, blocks: torch.Tensor, order: torch.Tensor, tokenizer, preset: Preset,
                progress: bool = True) -> tuple[LlamaForCausalLM, dict]:
    """Train one size from a seeded init; returns the model and its manifest entry."""
    torch.manual_seed(preset.seed)
    model = LlamaForCausalLM(model_config(size, tokenizer, preset.seq_len))
    opt = torch.optim.AdamW(model.parameters(), lr=size.lr, betas=(0.9, 0.95), weight_decay=preset.weight_decay)
    sched = get_cosine_with_min_lr_schedule_with_warmup(opt, preset.warmup_steps, preset.steps,
                                                        min_lr_rate=preset.min_lr_ratio)
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    bar = tqdm(order, desc=f"train {size.name}", disable=not progress, leave=False)
    for step_idx in bar:
        batch = blocks[step_idx]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    tail = losses[-max(1, len(losses) // 20):]  # last 5% of steps: less noisy than the final batch
    params = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight.numel() + model.get_output_embeddings().weight.numel()
    return model, {
        "name": size.name, "hidden": size.hidden, "layers": size.layers, "heads": size.heads, "lr": size.lr,
        "params": params, "params_non_embedding": params - embed,
        "tokens_seen": int(order.numel() * preset.seq_len),
        "first_loss": losses[0], "final_loss": sum(tail) / len(tail),
        "seconds": round(time.perf_counter() - start, 2),
    }
