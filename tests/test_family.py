"""The reference family: held-out corpus, a real ci build that loads through lm-eval, caching, resume."""
import dataclasses
import json

import pytest

from kbit_tasks.family import PRESETS, build_family, get_preset
from kbit_tasks.family import build as build_mod
from kbit_tasks.family.corpus import build_corpus, render, task_keys


@pytest.fixture(scope="session")
def ci_family(tmp_path_factory):
    out = tmp_path_factory.mktemp("family-ci")
    return out, build_family("ci", out, progress=False)


def test_corpus_contains_no_evaluation_item_text():
    """Every eval question (default n=200, seed 0) is absent from a corpus drawn like the default one."""
    from kbit_tasks.generators import generate

    preset = dataclasses.replace(PRESETS["default"], items_per_task=60)
    corpus = "\n".join(build_corpus(preset))
    assert len(corpus) > 100_000  # a real corpus, not a vacuous one
    eval_items = [it for fam, sub, lvl in task_keys() for it in generate(fam, sub, lvl, n=200, seed=0)]
    leaked = [it["question"] for it in eval_items if it["question"] in corpus]
    assert not leaked, f"{len(leaked)} evaluation questions leaked into the corpus, e.g. {leaked[0]!r}"


def test_heldout_filter_drops_a_colliding_item(monkeypatch):
    """The explicit filter works even if the generators' lexicon split ever failed."""
    from kbit_tasks.family import corpus

    preset = PRESETS["ci"]
    docs = build_corpus(preset)
    from kbit_tasks.generators import generate

    fam, sub, lvl = task_keys()[0]
    victim = generate(fam, sub, lvl, n=1, seed=preset.corpus_seed, split="train")[0]
    assert render(victim) in docs
    monkeypatch.setattr(corpus, "eval_questions", lambda n: {victim["question"]})
    assert render(victim) not in build_corpus(preset)


def test_ci_family_builds_five_sizes_spanning_50x(ci_family):
    out, manifest = ci_family
    params = [m["params"] for m in manifest["models"]]
    assert len(params) >= 5 and params == sorted(params) and params[-1] >= 50 * params[0]
    for m in manifest["models"]:
        folder = out / m["path"]
        assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
        assert (folder / "tokenizer.json").exists()
        assert m["tokens_seen"] == get_preset("ci").tokens_per_model and m["final_loss"] > 0
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_ci_family_member_loads_through_lm_eval(ci_family):
    """A real loglikelihood request through lm-eval's HF model class, offline."""
    from lm_eval.models.huggingface import HFLM

    out, manifest = ci_family
    lm = HFLM(pretrained=str(out / manifest["models"][-1]["path"]), device="cpu", batch_size=2)
    from lm_eval.api.instance import Instance

    req = Instance("loglikelihood", {}, ("All wugs are daxes.\nAnswer:", " yes"), 0)
    (logprob, _greedy), = lm.loglikelihood([req])
    assert logprob < 0


def test_second_build_is_a_cache_hit(ci_family, monkeypatch):
    out, manifest = ci_family
    monkeypatch.setattr("kbit_tasks.family.corpus.build_corpus", _fail)
    assert build_family("ci", out, progress=False) == manifest


def test_killed_build_resumes_without_a_half_model(tmp_path, monkeypatch):
    """A crash while training the third size leaves two finished sizes, no manifest, no third folder."""
    from kbit_tasks.family import train

    preset = get_preset("ci")
    real = train.train_model
    calls = []

    def crash_on_third(size, *args, **kwargs):
        calls.append(size.name)
        if size == preset.sizes[2] and len(calls) == 3:
            raise RuntimeError("killed")
        return real(size, *args, **kwargs)

    monkeypatch.setattr(train, "train_model", crash_on_third)
    with pytest.raises(RuntimeError, match="killed"):
        build_family(preset, tmp_path, progress=False)
    assert not (tmp_path / build_mod.MANIFEST).exists()
    assert not (tmp_path / preset.sizes[2].name).exists()
    calls.clear()
    manifest = build_family(preset, tmp_path, progress=False)
    assert calls == [s.name for s in preset.sizes[2:]]  # the two finished sizes were kept
    assert [m["name"] for m in manifest["models"]] == [s.name for s in preset.sizes]


def test_bad_preset_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="preset='huge'.*'ci', 'default'"):
        build_family("huge", tmp_path)


def _fail(*args, **kwargs):
    raise AssertionError("a cache hit must not rebuild the corpus")
