"""kbit_tasks.atomic: a failed write leaves the old file and no temporary file behind."""
import os

import pytest

from kbit_tasks.atomic import atomic_write


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results.csv"
    atomic_write(path, lambda tmp: open(tmp, "w").write("a,b\n1,2\n"))

    def torn(tmp):
        with open(tmp, "w") as fh:
            fh.write("a,b\n1,")  # half a table, then the process "dies"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, torn)
    assert path.read_text() == "a,b\n1,2\n"
    assert os.listdir(tmp_path) == ["results.csv"]
