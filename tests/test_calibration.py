"""A label prior must not pass for reasoning or hide it: the constant-answer share, and accuracy
after contextual calibration (Zhao et al. 2021) against a content-free prompt that carries no
cue of its own (the shortcut battery over content-free items runs with the battery over the
real ones, on the same items: tests/test_shortcuts.py::test_real_tasks_have_no_shortcut)."""
import re

import pytest
from lm_eval.api.model import LM

import kbit_tasks
from kbit_tasks.generators import SUBTASKS, generate
from kbit_tasks.generators.lexicon import NONCE
from kbit_tasks.tasks.utils import CONTENT_FREE, content_free, modal_share


def test_modal_share_reads_one_for_a_constant_answer():
    assert modal_share([1] * 10) == 1.0
    assert modal_share([0, 1] * 5) == 0.5
    assert modal_share([0, 1, 2, 2]) == 0.5


@pytest.mark.parametrize("family,subtask,level", [(f, s, levels[0]) for f, s, levels in SUBTASKS])
def test_the_content_free_prompt_keeps_the_format_and_drops_the_content(family, subtask, level):
    for item in generate(family, subtask, level, 6):
        text = content_free(item["question"], item["choices"])
        before, after = item["question"].split("\n"), text.split("\n")
        assert len(after) == len(before)
        assert not re.search(r"\d", text)
        asks = max((i for i, line in enumerate(before) if line.endswith("?")), default=-1)
        for i, line in enumerate(after):
            left = [w for w in NONCE.findall(line) if not (i == asks and w in item["choices"])]
            assert not left, (line, left)
            # the templates stay: the line with its content slots emptied
            assert re.sub(rf"{re.escape(CONTENT_FREE)}|{NONCE.pattern}|-?\d+", "", line, flags=re.I) == \
                re.sub(rf"{NONCE.pattern}|-?\d+", "", before[i], flags=re.I)
    if subtask == "ordering":  # the names asked about stay where they are asked
        assert all(text.split("\n")[-2].endswith(f"{c[0]} or {c[1]}?")
                   for text, c in [(content_free(it["question"], it["choices"]), it["choices"])
                                   for it in generate(family, subtask, level, 6)])


class LeaningLM(LM):
    """A model with a strong label prior and a weak signal: every answer gets `lean` nats if it is
    the one the model leans to (the named answer, or the name asked about last), and the gold
    answer gets `signal` nats more when the prompt holds the item's content."""

    def __init__(self, items, lean="No", strength=5.0, signal=2.0):
        super().__init__()
        self.gold = {it["question"]: it["choices"][it["gold"]] for it in items}
        self.lean, self.strength, self.signal = lean, strength, signal

    def leaning_to(self, ctx):
        if self.lean == "last named":
            return re.findall(r"(\w+)\?\nAnswer:$", ctx)[-1]
        return self.lean

    def loglikelihood(self, requests):
        out = []
        for request in requests:
            ctx, continuation = request.args
            answer = continuation.strip()
            question = next((q for q in self.gold if ctx.endswith(q)), None)
            ll = (self.strength * (answer == self.leaning_to(ctx))
                  + self.signal * (question is not None and self.gold[question] == answer))
            out.append((ll - 10.0, False))
        return out

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError

    def generate_until(self, requests):
        raise NotImplementedError


@pytest.mark.parametrize("name,lean", [("kbit_logical_syllogism_l1", "No"),
                                       ("kbit_causal_intervention_l1", "Yes"),
                                       ("kbit_logical_ordering_l1", "last named")])
@pytest.mark.slow
def test_a_constant_prior_reads_one_and_calibration_recovers_the_signal(name, lean):
    import lm_eval
    from lm_eval.tasks import TaskManager

    family, subtask, level = name.split("_")[1:]
    items = generate(family, subtask, int(level[1:]), 20)
    tm = TaskManager(include_path=kbit_tasks.tasks_dir(), include_defaults=False, metadata={"n": 20})
    for shots in (0, 3):
        row = lm_eval.simple_evaluate(model=LeaningLM(items, lean), tasks=[name], task_manager=tm,
                                      num_fewshot=shots)["results"][name]
        assert row["acc,none"] == 0.5  # one constant answer on balanced items
        assert row["constant_share,none"] == 1.0
        assert row["acc_calibrated,none"] == 1.0  # the signal, once the prior is taken out
