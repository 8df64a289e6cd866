"""Family recipes: model sizes and one shared training schedule, Pythia style.

Pythia's point is that only size changes: every model sees the same tokens in
the same order with the same batch size and schedule (warmup, cosine decay to
10% of the peak learning rate). As in Pythia, the peak learning rate falls as
models grow; everything else is shared.

Recipe 2 trains like instruction tuning: one item per row (padded, not packed)
and the loss on the answer tokens only. With the loss on every token, the
models spent their capacity on the entropy of the random fictional names (the
answer is about one token in 114) and stayed at chance; see docs/family.md.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

# Bump when the recipe's meaning changes (corpus rendering, training loop), so old caches rebuild.
# 2: one item per row, loss on the answer tokens only, items per task set per family.
RECIPE_VERSION = 2


@dataclass(frozen=True)
class Size:
    """One Llama-architecture decoder; `lr` is its peak learning rate."""

    name: str
    hidden: int
    layers: int
    heads: int
    lr: float


@dataclass(frozen=True)
class Preset:
    """A whole family: sizes plus the corpus and schedule every size shares."""

    name: str
    sizes: tuple[Size, ...]
    items_per_task: tuple[tuple[str, int], ...]  # (family, train items per subtask and level); the data mix
    steps: int
    batch_size: int  # items (rows) per step
    vocab_size: int
    warmup_steps: int
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    corpus_seed: int = 1_000_003  # generator seeds start here; evaluation uses seed 0
    heldout_n: int = 200  # eval items (seed 0, the tasks' default n) are filtered out of the corpus

    @property
    def answers_per_model(self) -> int:
        return self.steps * self.batch_size

    def fingerprint(self) -> str:
        """A stable hash of the whole recipe: a cache built from another recipe never counts as a hit."""
        blob = json.dumps({"recipe_version": RECIPE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _size(hidden: int, layers: int, lr: float) -> Size:
    return Size(name=f"d{hidden}-l{layers}", hidden=hidden, layers=layers, heads=max(1, hidden // 32), lr=lr)


PRESETS: dict[str, Preset] = {
    "default": Preset(
        name="default",
        sizes=(_size(4, 1, 3e-3), _size(8, 1, 3e-3), _size(16, 1, 3e-3), _size(32, 2, 3e-3), _size(72, 2, 3e-3)),
        items_per_task=(("logical", 50), ("causal", 50), ("inductive", 800)),
        steps=700, batch_size=32, vocab_size=512, warmup_steps=25,
    ),
    # Same five-size shape, as small as still means something: for tests and CI.
    "ci": Preset(
        name="ci",
        sizes=(_size(8, 1, 3e-3), _size(16, 1, 3e-3), _size(32, 2, 3e-3), _size(64, 2, 3e-3),
               _size(96, 3, 3e-3)),
        items_per_task=(("logical", 4), ("causal", 4), ("inductive", 4)),
        steps=3, batch_size=4, vocab_size=384, warmup_steps=1,
    ),
}


def get_preset(name: str) -> Preset:
    """The named preset, or one ValueError naming the bad value and the valid choices."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is unknown; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
