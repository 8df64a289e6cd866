"""`kbit-fit` (kbit_tasks.cli.fit): every mistake is one line `kbit-fit: error: ...`, exit 2,
found before any fitting; `fitting` itself imports nothing from kbit_tasks."""
import subprocess
import sys

import numpy as np
import pytest

from kbit_tasks.report.simulate import simulate_table


def kbit_fit(capsys, *args):
    """Run `kbit-fit ARGS` in this process: (exit status, stdout, stderr)."""
    from kbit_tasks.cli.fit import main as fit_main

    try:
        fit_main([str(a) for a in args])
        code = 0
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit_cli") / "results.csv"
    simulate_table(seed=0, tasks=("kbit_a_l1", "kbit_b_l1")).to_csv(path, index=False)
    return path


def test_help(capsys):
    code, out, _ = kbit_fit(capsys, "--help")
    assert code == 0 and "usage: kbit-fit" in out and "--by" in out


@pytest.mark.parametrize("out, message", [
    ("{file}", "-o '{file}' is a file; give a folder for the report"),
    ("{file}/sub", "-o '{file}/sub': cannot write the report there (Not a directory)"),
])
def test_unwritable_report_folder_is_refused_before_fitting(tmp_path, table, monkeypatch, capsys, out, message):
    from kbit_tasks.cli import fit as fit_cli
    import fitting

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(fitting, "fit_threshold", lambda *a, **k: pytest.fail("fitted before checking -o"))
    with pytest.raises(SystemExit) as stop:
        fit_cli.main([str(table), "-o", out.format(file=blocker)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"kbit-fit: error: {message.format(file=blocker)}\n"


def test_all_missing_x_is_one_line(tmp_path, table, capsys):
    import pandas as pd

    bad = tmp_path / "nan.csv"
    pd.read_csv(table).assign(log2_total_bits=np.nan).to_csv(bad, index=False)
    code, _, err = kbit_fit(capsys, bad, "-o", tmp_path / "rep")
    assert code == 2
    assert err.splitlines() == ["kbit-fit: error: no usable rows: each of the 60 row(s) has a missing (NaN) "
                                       "value in one of 'log2_total_bits', 'successes', 'n', 'chance'"]


def test_an_infinite_x_is_one_line_naming_column_and_value(tmp_path, table, capsys):
    import pandas as pd

    bad = tmp_path / "inf.csv"
    t = pd.read_csv(table)
    t.loc[5, "log2_total_bits"] = np.inf
    t.to_csv(bad, index=False)
    code, _, err = kbit_fit(capsys, bad, "-o", tmp_path / "rep")
    assert code == 2
    assert err.splitlines() == ["kbit-fit: error: column 'log2_total_bits' has infinite value inf at row 5: every "
                                "value must be finite (leave a cell empty to drop it)"]


def test_a_group_without_usable_rows_still_gives_a_report(tmp_path, table, capsys):
    import pandas as pd

    part = pd.read_csv(table)
    part.loc[part["task"] == "kbit_b_l1", "log2_total_bits"] = np.nan
    part.to_csv(tmp_path / "part.csv", index=False)
    code, _, err = kbit_fit(capsys, tmp_path / "part.csv", "--by", "task", "--n-boot", "0", "-o", tmp_path / "rep")
    assert code == 0, err
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| task=kbit_b_l1 |" in report and "no usable rows" in report
    assert (tmp_path / "rep" / "plots" / "task-kbit_b_l1.png").read_bytes()[:4] == b"\x89PNG"


def test_fitting_imports_nothing_from_kbit_tasks():
    """Every fitting module imported in a fresh interpreter pulls in no kbit_tasks module; the
    same probe does see one once kbit_tasks.cli.fit (which uses kbit_tasks) is imported."""
    probe = ("import importlib, pkgutil, sys, fitting\n"
             "kbit = lambda: sorted(k for k in sys.modules if k.split('.')[0] == 'kbit_tasks')\n"
             "for m in pkgutil.iter_modules(fitting.__path__): importlib.import_module('fitting.' + m.name)\n"
             "print(kbit())\n"
             "import kbit_tasks.cli.fit\n"
             "print(kbit())\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    clean, planted = out.stdout.splitlines()
    assert clean == "[]"
    assert "'kbit_tasks.atomic'" in planted
