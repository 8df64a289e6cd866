"""The reference family: held-out corpus, a real ci build that loads through lm-eval, caching, resume."""
import dataclasses
import json

import pytest

from kbit_tasks.family import PRESETS, build_family, get_preset
from kbit_tasks.family import build as build_mod
from kbit_tasks.family.corpus import build_corpus, prompt_and_answer, render, task_keys


@pytest.fixture(scope="session")
def ci_family(tmp_path_factory):
    """The ci family, trained once per session: every test that uses it is slow."""
    out = tmp_path_factory.mktemp("family-ci")
    return out, build_family("ci", out, progress=False)


@pytest.mark.slow  # generates every task's items (dsep and correlation dominate)
def test_corpus_contains_no_evaluation_item_text():
    """Every eval question (seed 0) is absent from a corpus drawn like the default one even with
    the held-out filter cut to one item a task: the two splits alone keep them apart (with the
    default filter, 200 items a task, the test could not tell a split that leaks from one that
    does not). 20 training and 30 eval items a task."""
    from kbit_tasks.generators import generate

    mix = tuple((fam, 20) for fam, _ in PRESETS["default"].items_per_task)
    preset = dataclasses.replace(PRESETS["default"], items_per_task=mix, heldout_n=1)
    corpus = "\n".join(q + a for q, a in build_corpus(preset))
    assert len(corpus) > 100_000  # a real corpus, not a vacuous one
    eval_items = [it for fam, sub, lvl in task_keys() for it in generate(fam, sub, lvl, n=30, seed=0)]
    leaked = [it["question"] for it in eval_items if it["question"] in corpus]
    assert not leaked, f"{len(leaked)} evaluation questions leaked into the corpus, e.g. {leaked[0]!r}"


@pytest.mark.slow
def test_heldout_filter_drops_a_colliding_item(monkeypatch):
    """The explicit filter works even if the generators' lexicon split ever failed."""
    from kbit_tasks.family import corpus

    preset = PRESETS["ci"]
    monkeypatch.setattr(corpus, "eval_questions", lambda n: frozenset())  # no filter: the victim is in
    docs = build_corpus(preset)
    from kbit_tasks.generators import generate

    fam, sub, lvl = task_keys()[0]
    victim = generate(fam, sub, lvl, n=1, seed=preset.corpus_seed, split="train")[0]
    assert prompt_and_answer(victim) in docs
    monkeypatch.setattr(corpus, "eval_questions", lambda n: {victim["question"]})
    assert prompt_and_answer(victim) not in build_corpus(preset)


def test_loss_falls_on_the_answer_tokens_only():
    """Recipe 2's mask: each row is one item, padded on the right; labels are the answer ids, -100 elsewhere."""
    from kbit_tasks.family.train import collate

    ids, labels = collate([([5, 6, 7], [8, 9]), ([5], [3])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7, 8, 9], [5, 3, 0, 0, 0]]
    assert labels.tolist() == [[-100, -100, -100, 8, 9], [-100, 3, -100, -100, -100]]


@pytest.mark.slow
def test_ci_family_builds_five_sizes_spanning_50x(ci_family):
    out, manifest = ci_family
    params = [m["params"] for m in manifest["models"]]
    assert len(params) >= 5 and params == sorted(params) and params[-1] >= 50 * params[0]
    for m in manifest["models"]:
        folder = out / m["path"]
        assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
        assert (folder / "tokenizer.json").exists()
        assert m["answers_seen"] == get_preset("ci").answers_per_model and m["final_loss"] > 0
        assert m["tokens_seen"] > m["answers_seen"]
    assert json.loads((out / "manifest.json").read_text()) == manifest


@pytest.mark.slow
@pytest.mark.parametrize("member", [0, -1], ids=["smallest", "largest"])
def test_ci_family_member_evaluates_through_kbit_hf(ci_family, member):
    """A real lm-eval run of a kbit task on a 4-bit family member, offline."""
    import kbit_tasks.model  # noqa: F401  (registers kbit-hf)
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from kbit_tasks import tasks_dir

    out, manifest = ci_family
    m = manifest["models"][member]
    results = simple_evaluate(
        model="kbit-hf", model_args=f"pretrained={out / m['path']},bits=4,device=cpu",
        tasks=["kbit_logical_ordering_l1"], batch_size=6,
        task_manager=TaskManager(include_path=tasks_dir(), include_defaults=False, metadata={"n": 6}),
    )
    assert results["results"]["kbit_logical_ordering_l1"]["sample_len"] == 6
    assert results["config"]["quant_report"]["params_total"] == m["params"]
    assert results["config"]["quant_report"]["params_quantized"] > 0
    assert 0.0 <= results["results"]["kbit_logical_ordering_l1"]["acc,none"] <= 1.0


def test_render_matches_the_text_lm_eval_scores():
    """Training text is exactly lm-eval's context + target_delimiter + gold choice for a kbit task."""
    from lm_eval.tasks import TaskManager

    from kbit_tasks import tasks_dir

    manager = TaskManager(include_path=tasks_dir(), include_defaults=False)
    task = manager.load(["kbit_inductive_property_l1"])["tasks"]["kbit_inductive_property_l1"]
    doc = next(iter(task.test_docs()))
    gold = task.doc_to_choice(doc)[task.doc_to_target(doc)]
    assert prompt_and_answer(doc) == (task.doc_to_text(doc), task.config.target_delimiter + gold)
    assert render(doc) == task.doc_to_text(doc) + task.config.target_delimiter + gold


@pytest.mark.slow
def test_second_build_is_a_cache_hit(ci_family, monkeypatch):
    out, manifest = ci_family
    monkeypatch.setattr("kbit_tasks.family.corpus.build_corpus", _fail)
    assert build_family("ci", out, progress=False) == manifest


@pytest.mark.slow
def test_cli_cache_hit_prints_the_family(ci_family, monkeypatch, capsys):
    from kbit_tasks.cli.family import main

    out, manifest = ci_family
    monkeypatch.setattr("kbit_tasks.family.corpus.build_corpus", _fail)
    main(["build", "--preset", "ci", "--out", str(out)])
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == [m["name"] for m in manifest["models"]]
    with pytest.raises(SystemExit):  # one line on stderr, exit 2 (tests/test_cli_eval.py)
        main(["build", "--preset", "ci", "--out", str(out), "--threads", "0"])


@pytest.mark.slow
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
