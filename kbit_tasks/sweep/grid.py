"""The grid of cells (model x precision), its split across jobs (shards), the order in which
each process walks its shard, and where each process runs.

Whole cells are the unit of parallelism: a process loads a model once and evaluates its
precisions on its own device, which beats lm-eval's data parallelism (a model copy on
every GPU, items split) whenever the model fits one GPU. Within a shard, processes do not
get fixed cells: each walks the whole shard and takes the cells nobody has claimed
(work stealing; see claims.py), so a slow or failed process delays nobody.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from kbit_tasks.sweep.config import ModelSpec, SweepConfig, file_name


@dataclass(frozen=True)
class Cell:
    """One (model, precision): loaded once, evaluated on every task, saved as one JSON file
    named by its id (`config.check_file_names` keeps ids distinct and visible)."""

    model: ModelSpec
    quant: object  # kbit_tasks.quant.QuantConfig

    @property
    def id(self) -> str:
        return f"{file_name(self.model.name)}__{self.quant.label}"


def build_grid(config: SweepConfig) -> list[Cell]:
    """Model-major order, as written in the config; the order every shard is cut from."""
    return [Cell(model, quant) for model in config.models for quant in config.precisions]


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' with 0 <= I < N (SLURM: --array=0-(N-1), --shard $SLURM_ARRAY_TASK_ID/N)."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ValueError(f"--shard {text!r} must be I/N with 0 <= I < N, e.g. 0/4")
    return int(match[1]), int(match[2])


def shard_cells(cells: list[Cell], shard: tuple[int, int] = (0, 1)) -> list[Cell]:
    """Shard I/N: the I-th of N contiguous, near-equal blocks of the model-major grid (an exact
    partition; contiguous so that a job loads as few models as possible)."""
    index, count = shard
    return cells[index * len(cells) // count:(index + 1) * len(cells) // count]


def select(cells: list[Cell], shard: tuple[int, int] = (0, 1), rank: int = 0, world: int = 1) -> list[Cell]:
    """The order in which process `rank` of `world` walks its shard: every cell of the shard
    once, model-major, starting at cell rank * len / world and wrapping around, so that the
    processes start on different cells and each keeps its loaded model while it walks."""
    mine = shard_cells(cells, shard)
    start = rank * len(mine) // world
    return mine[start:] + mine[:start]


@dataclass(frozen=True)
class Placement:
    """Where this process sits in an `accelerate launch` / torchrun job (env RANK, WORLD_SIZE,
    LOCAL_RANK, LOCAL_WORLD_SIZE); a plain run is rank 0 of 1."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    processes_per_gpu: int = 1  # > 1: small models, whose cells leave a GPU idle in lm-eval's Python

    @classmethod
    def from_env(cls) -> "Placement":
        env = os.environ
        world = int(env.get("WORLD_SIZE", 1))
        return cls(rank=int(env.get("RANK", 0)), world=world, local_rank=int(env.get("LOCAL_RANK", 0)),
                   local_world=int(env.get("LOCAL_WORLD_SIZE", world)))

    def gpus(self) -> list[int]:
        """The GPUs this process owns: an equal, disjoint slice of the node's visible GPUs; with
        processes_per_gpu > 1, one GPU shared by up to that many processes, spread evenly."""
        import torch

        count = torch.cuda.device_count()
        if self.local_world > count * self.processes_per_gpu:
            raise ValueError(f"{self.local_world} processes on this node but only {count} visible GPUs "
                             f"x processes_per_gpu={self.processes_per_gpu}; launch at most "
                             f"{count * self.processes_per_gpu} (--num_processes) or raise processes_per_gpu")
        if self.processes_per_gpu > 1:
            return [self.local_rank * count // self.local_world]
        per = count // self.local_world
        return list(range(self.local_rank * per, (self.local_rank + 1) * per))

    def device(self, wanted: str) -> str:
        """'auto'/'cuda' -> this process's first GPU (or cpu without one); anything else as given."""
        import torch

        if wanted in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.gpus()[0]}"
        if wanted == "cuda":
            raise ValueError("device='cuda' but torch sees no GPU; use device: cpu or auto")
        return "cpu" if wanted == "auto" else wanted

    def use_device(self, wanted: str) -> str:
        """`device(wanted)`, made torch's current CUDA device first: otherwise every rank's
        current device stays cuda:0 (a CUDA context of every rank on GPU 0, and synchronize()
        waiting on the wrong GPU)."""
        import torch

        device = self.device(wanted)
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        return device
