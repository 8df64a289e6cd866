"""The positive control: held-out training items, a cached atomic build on a tiny model, its sweeps and report."""
import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

from kbit_tasks.family.control import RECIPES, build_control, training_items, write_report, write_sweeps
from kbit_tasks.family.control import build as control_build

CI = RECIPES["ci"]


@pytest.fixture(scope="module")
def control(tiny_llama_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("control") / "model"
    return out, build_control(CI, tiny_llama_dir, out, progress=False)


def test_training_items_are_train_split_low_depth_and_hold_no_eval_question():
    from kbit_tasks.generators import generate, get_subtask

    recipe = dataclasses.replace(CI, items_per_level=200)
    items = training_items(recipe)
    assert len(items) >= 100 and {it["depth"] for it in items} <= set(range(1, recipe.max_depth + 1))
    text = "\n".join(it["question"] for it in items)
    for fam, sub in recipe.subtasks:
        for lvl in get_subtask(fam, sub).levels:
            leaked = [it["question"] for it in generate(fam, sub, lvl, n=200, seed=0) if it["question"] in text]
            assert not leaked, f"{len(leaked)} evaluation questions of level {lvl} are in the training items"


def test_an_eval_question_is_dropped_even_if_the_split_failed(monkeypatch):
    """The explicit held-out filter works on its own: a colliding training item is removed."""
    from kbit_tasks.family import corpus

    items = training_items(CI)
    victim = items[0]["question"]
    real = corpus.eval_questions
    monkeypatch.setattr(corpus, "eval_questions", lambda n, keys: real(n, keys) | {victim})
    assert victim not in [it["question"] for it in training_items(CI)]


def test_answer_loss_is_the_models_own_loss(tiny_model_dir, tiny_llama_dir):
    """The head applied at the answer positions only gives the number transformers gives (GPT-2 and Llama)."""
    import torch
    from transformers import AutoModelForCausalLM

    from kbit_tasks.family.train import answer_loss, collate

    ids, labels = collate([([5, 6, 7, 8], [9, 10]), ([5, 11], [12])], pad_id=0)
    for folder in (tiny_model_dir, tiny_llama_dir):
        model = AutoModelForCausalLM.from_pretrained(folder)
        with torch.no_grad():
            assert answer_loss(model, ids, labels).item() == pytest.approx(
                model(input_ids=ids, labels=labels).loss.item(), rel=1e-5)


def test_build_trains_only_the_top_blocks_and_records_it(control, tiny_llama_dir):
    from safetensors.torch import load_file

    out, record = control
    base, tuned = load_file(tiny_llama_dir / "model.safetensors"), load_file(out / "model.safetensors")
    changed = {k for k in base if not np.array_equal(base[k].numpy(), tuned[k].float().numpy())}
    top = {k for k in base if k.startswith("model.layers.1.")}  # the tiny llama has two blocks
    assert changed and changed <= top
    assert record["params_trained"] < record["params"] and record["answers_seen"] == CI.steps * CI.batch_size
    assert json.loads((out / control_build.CONTROL_FILE).read_text()) == record
    assert [lvl for _, _, lvl in record["trained_levels"]] and max(record["depths_seen"]) <= CI.max_depth


def test_second_build_is_a_cache_hit_and_another_recipe_is_not(control, tiny_llama_dir, monkeypatch):
    out, record = control
    monkeypatch.setattr(control_build, "training_items", lambda recipe: pytest.fail("retrained a cached control"))
    assert build_control(CI, tiny_llama_dir, out, progress=False) == record
    with pytest.raises(pytest.fail.Exception, match="retrained"):
        build_control(dataclasses.replace(CI, lr=5e-4), tiny_llama_dir, out, progress=False)


def test_new_items_of_a_trained_subtask_retrain_the_control(control, tiny_llama_dir, monkeypatch):
    from kbit_tasks import generators

    out, _ = control
    real = generators.get_subtask
    monkeypatch.setattr(generators, "get_subtask",
                        lambda f, s: dataclasses.replace(real(f, s), version=real(f, s).version + 0.1))
    monkeypatch.setattr(control_build, "training_items", lambda recipe: pytest.fail("retrained"))
    with pytest.raises(pytest.fail.Exception, match="retrained"):
        build_control(CI, tiny_llama_dir, out, progress=False)


def test_killed_build_leaves_no_folder_that_passes_for_a_control(tiny_llama_dir, tmp_path, monkeypatch):
    from kbit_tasks.family import train

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(train, "run_steps", killed)
    with pytest.raises(RuntimeError, match="killed"):
        build_control(CI, tiny_llama_dir, tmp_path / "model", progress=False)
    assert not (tmp_path / "model").exists() and not list(tmp_path.glob(f"*/{control_build.CONTROL_FILE}"))


def test_sweeps_cover_every_rung_at_16_bits_and_the_trained_rungs_by_precision(control, tiny_llama_dir, tmp_path):
    from kbit_tasks.generators import get_subtask, task_name
    from kbit_tasks.sweep.config import load_config

    out, record = control
    depth_yaml, precision_yaml = write_sweeps(record, out, tiny_llama_dir, tmp_path, limit=12)
    depth, precision = load_config(depth_yaml), load_config(precision_yaml)
    fam, sub = CI.subtasks[0]
    assert set(depth.tasks) == {task_name(fam, sub, lvl) for lvl in get_subtask(fam, sub).levels}
    assert [m.name for m in depth.models] == ["control", "pretrained"] and [q.bits for q in depth.precisions] == [16]
    assert set(precision.tasks) == {task_name(*key) for key in record["trained_levels"]}
    assert [q.bits for q in precision.precisions] == [2, 3, 4, 5, 6, 7, 8] and precision.limit == 12


def _table(control_acc: dict, base_acc: float, n: int = 96, control_l2: float = 0.25) -> pd.DataFrame:
    """A collected table: the control at several bit widths on level 1, both models at 16 bits on levels 1-2."""
    rows = []
    for model, level, bits, acc in ([("control", 1, b, a) for b, a in control_acc.items()]
                                    + [("control", 2, 16, control_l2), ("pretrained", 1, 16, base_acc),
                                       ("pretrained", 2, 16, base_acc)]):
        bpp = bits + (16 / 64 if bits < 16 else 0)
        rows.append(dict(model=model, params=135e6, bits=bits, quant_type="fp", blocksize=64, bits_per_param=bpp,
                         total_bits=135e6 * bpp, log2_total_bits=np.log2(135e6 * bpp),
                         task=f"kbit_inductive_listfn_l{level}", group="inductive", level=level, metric="acc",
                         value=round(acc * n) / n, stderr=0.05, n=n, successes=round(acc * n), chance=0.25))
    return pd.DataFrame(rows)


RECORD = {"recipe": dataclasses.asdict(CI), "trained_levels": [["inductive", "listfn", 1]], "train_items": 10,
          "depths_seen": [1], "params": 100, "params_trained": 10, "first_loss": 1.0, "final_loss": 0.5,
          "seconds": 1.0, "seconds_per_step": 0.5, "torch_threads": 2}


def test_report_says_what_was_found(tmp_path, monkeypatch):
    from kbit_tasks.shortcuts import battery

    monkeypatch.setattr(battery, "OPEN_LEAKS", frozenset({("kbit_inductive_listfn_l2", battery.PROBE)}))
    learned = {2: 0.25, 3: 0.25, 4: 0.27, 5: 0.9, 6: 0.92, 7: 0.93, 8: 0.92, 16: 0.93}
    _table(learned, 0.25, control_l2=0.5).to_csv(tmp_path / "results.csv", index=False)
    text = write_report(tmp_path / "results.csv", RECORD, tmp_path / "control.md", n_boot=19).read_text()
    assert re.search(r"\*\*Learned\*\*: above chance and above its base on 1 of 1 trained rungs: "
                     r"kbit_inductive_listfn_l1 \(\+0\.68, p = [0-9.e-]+\)", text)
    assert re.search(r"\*\*Deeper rungs\*\*: above chance and above the base on "
                     r"kbit_inductive_listfn_l2 \(\+0\.25", text)
    assert "zero-shot**: above chance on no rung" in text and "No better than its base" not in text
    # the 16-bit row: the rung's mean depth read off its items, trained on, chance, base, control, gain
    assert re.search(r"\| kbit_inductive_listfn_l1 \| 1 \| 1\.0 \| yes \| 0\.25 \| 0\.25 \[[^|]*"
                     r"\| 0\.93 \[[^|]*\| \+0\.68 \(", text)
    assert "| 5 | 5.25 |" in text and "Fit: " in text
    # a rung with an open leak in the battery: its depth is marked and a gain there is not carry
    assert re.search(r"\| kbit_inductive_listfn_l2 \| 2 \| 2\.0! \| no \|", text)
    assert "With an open leak in the shortcut battery: kbit_inductive_listfn_l2." in text
    assert "! An open leak in the shortcut battery" in text
    assert ("**Precision, kbit_inductive_listfn_l1**: at chance at 2, 3, 4; above chance at 5, 6, 7, 8, 16; "
            "not detectably below 16 bits at 5, 6, 7, 8, 16 bits; the fit: ") in text


def test_report_figure_draws_the_table_it_reports(tmp_path, monkeypatch):
    """The figure beside the report: each model's 16-bit accuracy by rung (a rung a model lacks is
    left out, not shifted), and the trained rung's precision sweep with each cell's bit width and
    the fit's verdict."""
    from kbit_tasks.report import build

    drawn_figures = []
    real_save = build.save_figure
    monkeypatch.setattr(build, "save_figure", lambda fig, path: (drawn_figures.append(fig), real_save(fig, path)))
    table = _table({2: 0.25, 3: 0.25, 4: 0.25, 5: 0.9, 6: 0.9, 7: 0.9, 8: 0.9, 16: 0.9}, 0.25, n=40, control_l2=0.5)
    table[~((table["model"] == "pretrained") & (table["level"] == 1))].to_csv(tmp_path / "results.csv", index=False)
    out = write_report(tmp_path / "results.csv", RECORD, tmp_path / "control.md", n_boot=19)
    assert "](control.png)" in out.read_text()
    assert (tmp_path / "control.png").read_bytes().startswith(b"\x89PNG")
    by_rung, by_bits = drawn_figures[0].axes
    drawn = {c.get_label(): (list(c.lines[0].get_xdata()), list(c.lines[0].get_ydata())) for c in by_rung.containers}
    assert drawn == {"pretrained, zero-shot": (pytest.approx([0.92]), [0.25]),
                     "control": (pytest.approx([0.08, 1.08]), [36 / 40, 0.5])}
    assert [t.get_text() for t in by_rung.get_xticklabels()] == ["listfn l1\n(trained)", "listfn l2"]
    assert [t.get_text() for t in by_bits.texts] == ["2", "3", "4", "5", "6", "7", "8", "16"]
    title = by_bits.get_title()
    assert "kbit_inductive_listfn_l1" in title and re.search(r"existence p = [0-9.e-]+\)", title)
    located = "a threshold located" in out.read_text()
    assert ("no threshold located" in title) != located


def test_report_says_so_when_the_control_did_not_learn(tmp_path):
    flat = {b: 0.25 for b in (2, 3, 4, 5, 6, 7, 8, 16)}
    _table(flat, 0.25).to_csv(tmp_path / "results.csv", index=False)
    text = write_report(tmp_path / "results.csv", RECORD, tmp_path / "control.md", n_boot=19).read_text()
    assert "**The control did not learn**" in text
    assert "Fit: no threshold detectable" in text and "no threshold located" in text


def test_beating_chance_is_not_learning_where_the_base_already_did(tmp_path):
    """A control no better than a base that is itself above chance has learned nothing here."""
    same = {2: 0.25, 3: 0.25, 4: 0.3, 5: 0.45, 6: 0.45, 7: 0.45, 8: 0.45, 16: 0.45}
    _table(same, 0.45, control_l2=0.45).to_csv(tmp_path / "results.csv", index=False)
    text = write_report(tmp_path / "results.csv", RECORD, tmp_path / "control.md", n_boot=19).read_text()
    assert "**The control did not learn**" in text
    assert "**No better than its base** though above chance: kbit_inductive_listfn_l1;" in text
    assert "above the base on none of the rungs it never trained on" in text


def test_a_rung_without_a_base_row_is_said_so_not_counted_as_no_better(tmp_path):
    table = _table({b: 0.5 for b in (2, 3, 4, 5, 6, 7, 8, 16)}, 0.25)
    table = table[~((table["model"] == "pretrained") & (table["level"] == 1))]
    table.to_csv(tmp_path / "results.csv", index=False)
    text = write_report(tmp_path / "results.csv", RECORD, tmp_path / "control.md", n_boot=19).read_text()
    assert "**No base to compare** on kbit_inductive_listfn_l1" in text and "No better than its base" not in text


def test_a_table_with_two_rows_for_one_cell_is_refused(tmp_path):
    table = _table({16: 0.9, 8: 0.9, 4: 0.5}, 0.25)
    pd.concat([table, table.iloc[[0]]]).to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(ValueError, match=r"2 rows share a \(model, task, bits\), e\.g\. control kbit_inductive"):
        write_report(tmp_path / "results.csv", RECORD, tmp_path / "control.md", n_boot=19)


def test_gain_is_no_evidence_where_the_score_test_is_undefined():
    from kbit_tasks.family.control.report import _gain

    assert _gain({"successes": 12, "n": 12, "value": 1.0}, {"successes": 12, "n": 12, "value": 1.0}) == (0.0, 1.0)
    assert _gain({"successes": 40, "n": 48, "value": 40 / 48}, {"successes": 12, "n": 48, "value": 0.25})[1] < 1e-6


def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys):
    from kbit_tasks.family.control.__main__ import main

    def run(*args):
        with pytest.raises(SystemExit) as exit_:
            main(list(args))
        return exit_.value.code, capsys.readouterr().err

    code, err = run("build", "--base", str(tmp_path), "--out", str(tmp_path / "m"))
    assert code == 2 and "is not a Hugging Face model folder" in err and len(err.strip().splitlines()) == 1
    code, err = run("build", "--base", str(tmp_path), "--out", str(tmp_path / "m"), "--threads", "0")
    assert code == 2 and "--threads 0: must be a positive integer" in err
    code, err = run("build", "--base", str(tmp_path), "--out", str(tmp_path / "m"), "--recipe", "huge")
    assert code == 2 and "invalid choice: 'huge'" in err
    code, err = run("report", str(tmp_path / "none.csv"), "--control", str(tmp_path), "-o", str(tmp_path / "c.md"))
    assert code == 2 and "holds no finished control" in err


@pytest.mark.slow  # nine sweep cells through lm-eval on the tiny model (about a minute on 2 idle cores)
def test_demo_stage_end_to_end_on_the_tiny_model(control, tiny_llama_dir, tmp_path):
    """build -> sweeps -> kbit-sweep run -> collect -> report, as scripts/demo.sh chains them."""
    from kbit_tasks.family.control.__main__ import main as control_main
    from kbit_tasks.cli.sweep import main as sweep_main

    out, record = control
    control_main(["sweeps", "--control", str(out), "--base", str(tiny_llama_dir), "--out", str(tmp_path),
                  "--limit", "2"])
    for name in ("depth", "precision"):
        sweep_main(["run", str(tmp_path / f"{name}.yaml")])
    sweep_main(["collect", str(tmp_path / "cells-depth-limit2"), str(tmp_path / "cells-precision-limit2"),
                "-o", str(tmp_path / "results.csv")])
    control_main(["report", str(tmp_path / "results.csv"), "--control", str(out), "-o", str(tmp_path / "c.md")])
    text = (tmp_path / "c.md").read_text()
    table = pd.read_csv(tmp_path / "results.csv")
    assert set(table["model"]) == {"control", "pretrained"}
    assert sorted(table.loc[table["model"] == "control", "bits"].unique()) == [2, 3, 4, 5, 6, 7, 8, 16]
    assert "## What was found" in text and text.count("Fit: ") == len(record["trained_levels"])
    assert (tmp_path / "c.png").stat().st_size > 0
