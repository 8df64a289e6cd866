"""The positive control: a pretrained model fine-tuned here on low-depth train-split items.

A sweep in which every model reads chance cannot show that the pipeline would see
reasoning if it were there. The control is a model that has learned the skill on
the generators' train split (a lexicon disjoint from the eval one, or for number-only
items a disjoint hash class of the question text; seeds far from
the evaluation seed, and every evaluation question dropped anyway), on the rungs
whose items need at most `max_depth` inference steps. Its eval-split accuracy on
deeper rungs says whether what it learned carries; its precision sweep says at how
many bits the learned skill collapses. See docs/family.md.

Only the top `train_layers` blocks train (the embeddings and the lower blocks stay
frozen, so back-propagation stops there): on two CPU cores that roughly halves a
step of a 135M-parameter model against full fine-tuning.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kbit_tasks.atomic import atomic_folder, atomic_write_json, read_json

CONTROL_FILE = "control.json"
# Bump when the training code's meaning changes, so old caches rebuild.
CONTROL_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """What the control learns and how; its fingerprint (this, the base weights and the versions of
    the subtasks it trains on, whose items change with them) keys the cache."""

    name: str
    subtasks: tuple[tuple[str, str], ...]  # (family, subtask) pairs
    max_depth: int  # train on items that need at most this many inference steps
    items_per_level: int  # train items drawn per (subtask, level) before the depth filter
    steps: int
    batch_size: int
    lr: float
    train_layers: int  # the top blocks that train; the rest of the model stays frozen
    warmup_steps: int = 5
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    seed: int = 0
    corpus_seed: int = 2_000_003  # generator seeds start here; evaluation uses seed 0
    heldout_n: int = 200  # eval items (seed 0, the tasks' default n) are dropped from the training items

    def fingerprint(self, base_dir: str | Path) -> str:
        from kbit_tasks.generators import get_subtask

        items = {f"{family}/{subtask}": get_subtask(family, subtask).version for family, subtask in self.subtasks}
        blob = json.dumps({"version": CONTROL_VERSION, "base": weights_hash(base_dir), "items": items,
                           **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# listfn rather than ordering: top-8 recipes of up to 80 steps never learned ordering's one-step
# comparison (likely because its answer is a parity of name order, relation word and question
# word), while this one takes SmolLM2 from 0.38 to 0.95 on 100 rung-1 eval items (docs/family.md).
RECIPES: dict[str, Recipe] = {
    "default": Recipe(name="default", subtasks=(("inductive", "listfn"),), max_depth=1, items_per_level=800,
                      steps=80, batch_size=8, lr=5e-4, train_layers=12),
    # As small as still runs every part: for tests.
    "ci": Recipe(name="ci", subtasks=(("inductive", "listfn"),), max_depth=1, items_per_level=8,
                 steps=2, batch_size=2, lr=1e-3, train_layers=1, warmup_steps=1),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"recipe={name!r} is unknown; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def weights_hash(base_dir: str | Path) -> str:
    """sha256 over the base model's config and weight files: a re-converted or other base rebuilds."""
    base = Path(base_dir)
    files = sorted(base.glob("*.safetensors")) + sorted(base.glob("*.bin"))
    if not (base / "config.json").exists() or not files:
        raise ValueError(f"base={str(base)!r} is not a Hugging Face model folder (config.json and weights)")
    digest = hashlib.sha256()
    for f in [base / "config.json", *files]:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()


def shipped_levels(recipe: Recipe) -> list[tuple[str, str, int]]:
    """Every shipped (family, subtask, level) of the recipe's subtasks, in ladder order."""
    from kbit_tasks.generators import get_subtask

    return [(fam, sub, lvl) for fam, sub in recipe.subtasks for lvl in get_subtask(fam, sub).levels]


def training_items(recipe: Recipe) -> list[dict]:
    """Train-split items of depth <= max_depth, none whose question is an evaluation question.

    A level whose sample of items is all deeper than max_depth is skipped before its items are drawn.
    """
    from kbit_tasks.family.corpus import eval_questions, train_items
    from kbit_tasks.generators import generate

    keys = [(i, key) for i, key in enumerate(shipped_levels(recipe))
            if min(it["depth"] for it in generate(*key, n=4, seed=recipe.corpus_seed, split="train"))
            <= recipe.max_depth]
    if not keys:
        raise ValueError(f"no shipped level of {list(recipe.subtasks)} has items of depth <= {recipe.max_depth}")
    held_out = eval_questions(recipe.heldout_n, tuple(key for _, key in keys))
    items = []
    for i, key in keys:
        drawn = train_items(*key, recipe.items_per_level, recipe.corpus_seed + 1000 * i, held_out)
        items += [it for it in drawn if it["depth"] <= recipe.max_depth]
    return items


def cached(recipe: Recipe, out: Path, fingerprint: str) -> dict | None:
    """The control's record if `out` holds this recipe's finished model, else None."""
    record = read_json(out / CONTROL_FILE)
    return record if record and record.get("fingerprint") == fingerprint else None


def build_control(recipe: str | Recipe, base_dir: str | Path, out_dir: str | Path, progress: bool = True) -> dict:
    """Fine-tune (or reuse) the control of `base_dir` into `out_dir`; return its record.

    The model is written under a temporary name and renamed into place with its record, so
    a killed build never leaves a folder that passes for a finished control.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    out = Path(out_dir)
    fingerprint = recipe.fingerprint(base_dir)
    hit = cached(recipe, out, fingerprint)
    if hit:
        return hit
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_with_min_lr_schedule_with_warmup

    from kbit_tasks.family.corpus import prompt_and_answer
    from kbit_tasks.family.train import batch_order, encode, run_steps

    items = training_items(recipe)
    random.Random(recipe.seed).shuffle(items)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    data = encode([prompt_and_answer(it) for it in items], tokenizer)
    order = batch_order(len(data), recipe)

    torch.manual_seed(recipe.seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    blocks = next(m for m in model.base_model.children() if isinstance(m, torch.nn.ModuleList))
    model.requires_grad_(False)
    blocks[-recipe.train_layers:].requires_grad_(True)
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=recipe.lr, betas=(0.9, 0.95), weight_decay=recipe.weight_decay)
    sched = get_cosine_with_min_lr_schedule_with_warmup(opt, recipe.warmup_steps, recipe.steps,
                                                        min_lr_rate=recipe.min_lr_ratio)
    start = time.perf_counter()
    losses = run_steps(model, data, order, pad_id, opt, sched, f"control {recipe.name}", progress)
    seconds = time.perf_counter() - start
    tail = losses[-max(1, len(losses) // 10):]
    record = {
        "fingerprint": fingerprint, "recipe": asdict(recipe), "base": str(Path(base_dir).resolve()),
        "train_items": len(items), "answers_seen": int(order.numel()),
        "trained_levels": sorted({(it["family"], it["subtask"], it["level"]) for it in items}),
        "depths_seen": sorted({it["depth"] for it in items}),
        "params": sum(p.numel() for p in model.parameters()), "params_trained": sum(p.numel() for p in trained),
        "first_loss": losses[0], "final_loss": sum(tail) / len(tail),
        "seconds": round(seconds, 1), "seconds_per_step": round(seconds / len(losses), 2),
        "torch_threads": torch.get_num_threads(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / CONTROL_FILE, record, indent=2)
    return read_json(out / CONTROL_FILE)  # as a cache hit reads it (JSON lists, not tuples)


def write_sweeps(record: dict, control_dir: str | Path, base_dir: str | Path, out_dir: str | Path,
                 limit: int) -> tuple[Path, Path]:
    """Two kbit-sweep configs: every shipped rung at 16 bits for the control and its base, and the
    control at k = 2..8 on the rungs it trained on (the precision sweep the fit reads)."""
    import yaml

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = Recipe(**{**record["recipe"], "subtasks": tuple(map(tuple, record["recipe"]["subtasks"]))})
    control = {"path": str(Path(control_dir).resolve()), "name": "control"}
    common = {"limit": limit, "batch_size": 64, "device": "cpu", "dtype": "bfloat16",
              "compute_dtype": "float32", "seed": 0}
    from kbit_tasks.generators import task_name

    depth = {"models": [control, {"path": str(Path(base_dir).resolve()), "name": "pretrained"}],
             "precisions": [{"bits": 16}],
             "tasks": [task_name(*key) for key in shipped_levels(recipe)],
             "output": str(out / f"cells-depth-limit{limit}"), **common}
    precision = {"models": [control],
                 "precisions": [{"bits": list(range(2, 9)), "quant_type": "fp", "blocksize": 64}],
                 "tasks": [task_name(*key) for key in record["trained_levels"]],
                 "output": str(out / f"cells-precision-limit{limit}"), **common}
    paths = out / "depth.yaml", out / "precision.yaml"
    for path, config in zip(paths, (depth, precision)):
        path.write_text("# Written by python -m kbit_tasks.family.control sweeps.\n"
                        + yaml.safe_dump(config, sort_keys=False))
    return paths


def control_folder_record(control_dir: str | Path) -> dict:
    record = read_json(Path(control_dir) / CONTROL_FILE)
    if record is None:
        raise ValueError(f"{str(control_dir)!r} holds no finished control ({CONTROL_FILE}); build it first")
    return record
