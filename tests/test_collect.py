"""`collect` reads group, level, chance and the precision label from the record (the task
config's metadata that lm-eval returns, written there by the kbit tasks from the generators'
items), never from names; a task that is not a kbit task gets empty group, level and chance;
records of kbit < 0.2.0 are named stale and left out."""
import math
from pathlib import Path

import pandas as pd
import pytest

import kbit_tasks
from kbit_tasks.generators import generate
from kbit_tasks.sweep import collect
from kbit_tasks.sweep.collect import COLUMNS
from kbit_tasks.sweep.store import atomic_write_json

RESULT = {"alias": "x", "acc,none": 0.5, "acc_stderr,none": 0.1, "brier_score,none": 0.6,
          "brier_score_stderr,none": "N/A"}


def _record(tasks: dict, *, label="int4-b64", cell="tiny__int4-b64", kbit_version=kbit_tasks.__version__,
            params=None, **extra):
    """A finished cell record as the runner writes it; `tasks`: name -> its config metadata."""
    report = {"params_total": 1000, "bits_per_param": 4.25, "total_bits": 4250,
              "config": {"bits": 4, "quant_type": "int", "blocksize": 64, "outliers": 0.0, "label": label}}
    return {"status": "done", "cell": cell, "finished_at": "2026-12-01T00:00:00+00:00",
            "model": {"name": "tiny", "parallelize": False},
            "fingerprint": {"kbit_version": kbit_version, "params": params},
            "lm_eval": {"config": {"quant_report": report}, "results": {t: dict(RESULT) for t in tasks},
                        "n-samples": {t: {"original": 10, "effective": 10} for t in tasks},
                        "configs": {t: {"task": t, "metadata": meta} for t, meta in tasks.items()}},
            **extra}


def _table(tmp_path: Path, *records) -> pd.DataFrame:
    for i, rec in enumerate(records):
        atomic_write_json(tmp_path / f"tiny__cell{i}.json", rec)
    table = collect([tmp_path])
    assert list(table.columns) == COLUMNS
    return table


def _row(table, task, metric="acc"):
    (row,) = table[(table.task == task) & (table.metric == metric)].to_dict("records")
    return row


def test_group_level_and_chance_come_from_the_task_metadata_not_the_name(tmp_path):
    meta = {"version": 2.0, "family": "causal", "subtask": "dsep", "level": 3, "chance": 0.125}
    table = _table(tmp_path, _record({
        "my_renamed_task": meta,  # does not follow kbit_<family>_<subtask>_l<level>
        "kbit_logical_syllogism_l1": meta | {"family": "inductive", "level": 2},  # the name would say logical, 1
    }))
    expected = {"my_renamed_task": ("causal", 3), "kbit_logical_syllogism_l1": ("inductive", 2)}
    for task, (group, level) in expected.items():
        for metric in ("acc", "brier_score"):
            row = _row(table, task, metric)
            assert (row["group"], row["level"], row["chance"]) == (group, level, 0.125)
    assert _row(table, "my_renamed_task")["successes"] == 5


def test_a_task_that_is_not_a_kbit_task_has_empty_group_level_and_chance(tmp_path):
    kbit = {"family": "logical", "subtask": "syllogism", "level": 1, "chance": 0.5}
    table = _table(tmp_path, _record({"local_task": {"version": 1.0}, "no_metadata": None,
                                      "kbit_logical_syllogism_l1": kbit}))
    for task in ("local_task", "no_metadata"):
        row = _row(table, task)
        assert pd.isna(row["group"]) and pd.isna(row["level"]) and math.isnan(row["chance"])
        assert row["value"] == 0.5 and row["successes"] == 5  # the rest of the row is there
    assert _row(table, "kbit_logical_syllogism_l1")["group"] == "logical"
    assert table.chance.dtype == "float64" and str(table.level.dtype) == "Int64"


def test_a_params_override_is_the_fingerprints_and_rescales_total_bits(tmp_path):
    """The config's `params` is stated once, in the fingerprint (it changes the numbers that
    make a record reusable); collect reads it there, at the report's bits per parameter."""
    table = _table(tmp_path, _record({"t": {}}, params=2000))
    assert set(table.params) == {2000} and set(table.total_bits) == {2000 * 4.25}
    assert set(_table(tmp_path, _record({"t": {}})).params) == {1000}  # none: the counted parameters


def test_the_precision_label_is_the_quantization_reports_not_the_cell_name(tmp_path):
    table = _table(tmp_path, _record({"t": {}}, label="fp4-b32-o0.01", cell="whatever__name"))
    assert set(table.precision) == {"fp4-b32-o0.01"}


def test_records_of_kbit_before_0_2_are_named_stale_not_read(tmp_path):
    """Their task configs carry no group, level or chance, and their fingerprint no longer
    matches (kbit-sweep run redoes them): collect names them and leaves them out."""
    from kbit_tasks.sweep.collect import TASK_METADATA_SINCE

    assert TASK_METADATA_SINCE == (0, 2, 0) and tuple(map(int, kbit_tasks.__version__.split("."))) >= (0, 2, 0)
    new = _record({"kbit_logical_rules_l1": {"family": "logical", "level": 1, "chance": 0.5}}, cell="a")
    old = _record({"kbit_causal_dsep_l2": {"version": 2.0, "content_hash": "h"}}, cell="b", kbit_version="0.1.0",
                  chance={"kbit_causal_dsep_l2": 0.5})
    no_fingerprint = _record({"kbit_logical_rules_l3": {}}, cell="c", label="16bit")
    del no_fingerprint["fingerprint"]
    for i, rec in enumerate((new, old, no_fingerprint)):
        atomic_write_json(tmp_path / f"tiny__cell{i}.json", rec)
    problems: list[str] = []
    table = collect([tmp_path], problems)
    assert set(table.task) == {"kbit_logical_rules_l1"}
    assert [p.split(": ", 1)[1] for p in problems] == [
        "written by kbit 0.1.0, before task configs carried their metadata; kbit-sweep run redoes it",
        "written by kbit < 0.2.0 (no fingerprint), before task configs carried their metadata; "
        "kbit-sweep run redoes it"]
    assert problems[0].startswith(f"stale record {tmp_path / 'tiny__cell1.json'}")


def test_a_new_record_ignores_a_top_level_chance(tmp_path):
    """Chance is computed once, by the generators; a record's other numbers are not consulted."""
    table = _table(tmp_path, _record({"t": {"family": "causal", "level": 1, "chance": 0.25}}, chance={"t": 0.9}))
    assert _row(table, "t")["chance"] == 0.25


def test_a_kbit_task_carries_the_generators_family_level_and_chance(tmp_path):
    """What lm-eval returns as results["configs"][task]["metadata"] (task.dump_config()), also
    for a copy of a kbit task under another name in the user's own task folder."""
    from lm_eval.tasks import TaskManager

    template = Path(kbit_tasks.tasks_dir()) / "_kbit_template_yaml"
    (tmp_path / "renamed.yaml").write_text(
        f"include: {template}\ntask: my_renamed_rules\n"
        "dataset_kwargs: {family: logical, subtask: rules, level: 2}\n")
    manager = TaskManager(include_path=[kbit_tasks.tasks_dir(), str(tmp_path)], include_defaults=False,
                          metadata={"n": 6})
    tasks = manager.load(["my_renamed_rules", "kbit_inductive_sequence_l2"])["tasks"]
    for name, (family, subtask, level) in {"my_renamed_rules": ("logical", "rules", 2),
                                           "kbit_inductive_sequence_l2": ("inductive", "sequence", 2)}.items():
        meta = tasks[name].dump_config()["metadata"]
        items = generate(family, subtask, level, 6)
        assert (meta["family"], meta["subtask"], meta["level"]) == (family, subtask, level)
        assert meta["chance"] == items[0]["chance"] == 1 / len(items[0]["choices"])


@pytest.mark.slow
def test_collect_reads_a_kbit_eval_results_file_as_it_reads_a_sweep_record(tiny_model_dir, tmp_path):
    """Rows come from lm-eval's results alone: `kbit-eval --output_path` and a sweep cell of the
    same model, precision and items give the same table."""
    from kbit_tasks.cli.eval import main as eval_main
    from kbit_tasks.sweep import parse_config, run

    task = "kbit_logical_syllogism_l1"
    eval_main(["run", "--model", "kbit-hf", "--model_args", f"pretrained={tiny_model_dir},bits=4,quant_type=int,"
               "blocksize=32,dtype=float32,softmax_dtype=float32", "--tasks", task, "--limit", "4", "--device", "cpu",
               "--batch_size", "4", "--output_path", str(tmp_path / "eval")])
    [results] = (tmp_path / "eval").rglob("results_*.json")
    run(parse_config({"models": [str(tiny_model_dir)], "precisions": {"bits": 4, "quant_type": "int", "blocksize": 32},
                      "tasks": task, "limit": 4, "batch_size": 4, "device": "cpu", "output": str(tmp_path / "sweep")}))
    from_eval, from_sweep = collect([results]), collect([tmp_path / "sweep"])
    metrics = ("acc", "acc_norm", "brier_score", "gold_logprob", "constant_share", "acc_calibrated")
    assert sorted(from_eval.metric) == sorted(metrics) and set(from_eval.model) == {Path(tiny_model_dir).name}
    columns = [c for c in COLUMNS if c != "stderr"]  # bootstrap_iters differ (lm-eval's default, the sweep's)
    pd.testing.assert_frame_equal(from_eval[columns], from_sweep[columns])


def test_a_results_file_of_another_model_is_refused_with_one_line(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"results": {"t": {}}, "config": {"model": "hf"}, "n-samples": {}}')
    problems = []
    with pytest.raises(ValueError, match="no finished cell"):
        collect([path], problems)
    assert problems == [f"unreadable results file {path}: lm_eval.config has no quant_report: not a kbit-hf result"]


ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "kbit_tasks" / "tasks" / "README.md"]


def test_the_tidy_table_contract_in_the_docs_is_collects_columns():
    """docs/fitting.md "The tidy table" names every column of COLUMNS, in order, and no other."""
    import re

    text = (ROOT / "docs" / "fitting.md").read_text()
    section = text[text.index("## The tidy table"):].split("\n## ", 1)[0]
    documented = [re.findall(r"`(\w+)`", line.split("|")[1]) for line in section.splitlines()
                  if line.startswith("| `")]
    assert [name for names in documented for name in names] == COLUMNS


def test_the_docs_point_only_to_files_in_the_repository():
    """Relative links and the repository paths the docs name in backticks exist in a checkout
    (nothing under shared/ or other folders a user of the repository does not have)."""
    import re

    missing = []
    for doc in DOCS:
        text = doc.read_text()
        assert "shared/" not in text.replace("/shared/kbit", ""), f"{doc.name} points into shared/"
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if not target.startswith(("http://", "https://")) and not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {target}")
        for path in re.findall(r"`((?:kbit_tasks|tests|docs|scripts|benchmarks|fitting)/[\w./-]+\.(?:py|md|yaml))`",
                               text):
            if not (ROOT / path).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert not missing


def test_an_unknown_table_format_is_refused_before_any_record_is_read(tmp_path, capsys, monkeypatch):
    from kbit_tasks.cli import sweep as cli

    monkeypatch.setattr(cli, "collect", lambda *a: pytest.fail("read the records first"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["collect", str(tmp_path), "-o", str(tmp_path / "results.xlsx")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "unsupported suffix '.xlsx'; use one of" in err
