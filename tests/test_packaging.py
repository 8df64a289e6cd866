"""What a plain install (no extras) can import: the shortcut battery loads without scikit-learn
and, when its probe runs, names the extra to add."""
import subprocess
import sys

import pytest

WITHOUT_SKLEARN = "import sys; sys.modules['sklearn'] = None  # as if not installed\n"


@pytest.mark.slow
def test_the_battery_imports_without_scikit_learn_and_names_the_extra():
    code = WITHOUT_SKLEARN + (
        "import kbit_tasks.shortcuts.battery\n"
        "from kbit_tasks.shortcuts.probe import probe_accuracy\n"
        "probe_accuracy([], [])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].endswith("install it with: pip install 'kbit[battery]'")
