"""scripts/demo.sh rejects bad arguments at once, before any set-up or training."""
import subprocess
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.sh"


def _demo(*args):
    return subprocess.run(["bash", str(DEMO), *args], capture_output=True, text=True, timeout=30)


def test_unknown_model_is_refused_with_the_valid_choices():
    out = _demo("--model", "pythia")
    assert out.returncode == 2 and "'pythia' is not one of: family, smollm2" in out.stderr


def test_unknown_argument_is_refused():
    out = _demo("--fast")
    assert out.returncode == 2 and "unknown argument '--fast'" in out.stderr


def test_help_names_both_models():
    out = _demo("--help")
    assert out.returncode == 0 and "--model smollm2" in out.stdout and "--limit" in out.stdout


def test_bad_limit_is_refused_before_any_work():
    out = _demo("--limit", "ten")
    assert out.returncode == 2 and "--limit 'ten' must be a positive whole number" in out.stderr
