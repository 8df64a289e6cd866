"""Which code made a result: the git revision of a folder, asked quietly."""
from __future__ import annotations

import subprocess
from functools import lru_cache


@lru_cache(maxsize=None)
def git_revision(folder: str) -> str | None:
    """`git rev-parse HEAD` in `folder`; None outside a git checkout, with git's
    "fatal: not a git repository" kept off the user's terminal."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
