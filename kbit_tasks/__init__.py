"""kbit: how many bits does a model need before it can reason?

`kbit_tasks` holds the lm-evaluation-harness extension: procedurally generated
reasoning tasks, k-bit weight quantization behind the `kbit-hf` model, the sweep
runner and the command-line entry points.
"""
from pathlib import Path

__version__ = "0.2.0"

TASKS_DIR = Path(__file__).resolve().parent / "tasks"


def tasks_dir() -> str:
    """The folder to pass to `lm_eval --include_path`."""
    return str(TASKS_DIR)
