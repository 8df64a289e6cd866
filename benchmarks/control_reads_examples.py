"""Does a model answer listfn by reading the examples, or from a prior over the rules?

    python benchmarks/control_reads_examples.py runs/control/model runs/pretrained/SmolLM2-135M-Instruct

A listfn item shows input/output examples of one hidden rule and asks for the query's output.
Without the examples the rule cannot be known, so a model that reads them must fall to chance
there; a model that reaches its accuracy from a prior over which rules are common (or over the
shapes of the choices) keeps it. For each model folder and rung this prints the accuracy on the
eval items (seed 0) as they are and with every example line removed (only the instruction and
the query stay), each with its 95 % Wilson interval, scored as lm-eval's `acc` scores them: the
summed log-likelihood of " " + choice after the prompt, through lm-eval's HFLM.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def without_examples(question: str) -> str:
    """The prompt with its example lines dropped: the instruction and the query line stay."""
    lines = question.split("\n")
    return "\n".join([lines[0], lines[-1]])


def accuracy(lm, items: list[dict], prompt) -> tuple[int, int]:
    """(right, n) under lm-eval's `acc`: the choice with the largest summed log-likelihood."""
    from lm_eval.api.instance import Instance

    requests = [Instance("loglikelihood", it, (prompt(it["question"]), f" {choice}"), idx=i)
                for it in items for i, choice in enumerate(it["choices"])]
    scores = iter(lm.loglikelihood(requests, disable_tqdm=True))
    right = 0
    for it in items:
        lls = [next(scores)[0] for _ in it["choices"]]
        right += max(range(len(lls)), key=lls.__getitem__) == it["gold"]
    return right, len(items)


def check_args(parser, args) -> None:
    """Every argument checked before any model loads: one line naming the bad value (exit 2)."""
    from pathlib import Path

    from kbit_tasks.arguments import check_device
    from kbit_tasks.generators import check_level, check_n_seed, get_subtask

    try:
        for level in args.levels:
            check_level(get_subtask("inductive", "listfn"), level)
        check_n_seed(args.n, 0)
        check_device(args.device, "--device ")
    except ValueError as err:
        parser.error(str(err))
    for folder in args.models:
        if Path(folder).is_dir() and not (Path(folder) / "config.json").is_file():
            parser.error(f"{folder!r} is a folder without config.json, not a Hugging Face model folder")
        if not Path(folder).is_dir() and os.environ.get("HF_HUB_OFFLINE") == "1":
            parser.error(f"{folder!r} is not a model folder, and the hub is offline (HF_HUB_OFFLINE=1)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="Hugging Face model folders (or hub ids)")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2], help="listfn rungs (default 1 2)")
    parser.add_argument("--n", type=int, default=100, help="eval items a rung (default 100)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    check_args(parser, args)
    from lm_eval.models.huggingface import HFLM
    from statsmodels.stats.proportion import proportion_confint

    from kbit_tasks.generators import generate

    print("| model | rung | n | as shown [95 % CI] | examples removed [95 % CI] |\n|---|---|---|---|---|")
    for folder in args.models:
        lm = HFLM(pretrained=folder, device=args.device, dtype="float32", batch_size=16)
        for level in args.levels:
            items = generate("inductive", "listfn", level, n=args.n, seed=0)
            cells = []
            for prompt in (lambda q: q, without_examples):
                right, n = accuracy(lm, items, prompt)
                lo, hi = proportion_confint(right, n, method="wilson")
                cells.append(f"{right / n:.2f} [{lo:.2f}, {hi:.2f}]")
            print(f"| {folder} | l{level} | {args.n} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
