"""Per-cell claims: processes that share an output folder (ranks of a launch, SLURM array
tasks, an accidental second run) split the grid between them without talking to each other.

A claim is OUTPUT/.claims/<cell>.claim, holding {host, pid, claimed_at, token}, written to a
temporary file and hard-linked to its name (link fails if the name exists: atomic on local
file systems and on NFS v3+), so a claim is never seen half written. Its modification time
is the heartbeat: a thread touches it every `stale_after / 4` seconds while the cell runs. A
claim is stale when its heartbeat is older than `stale_after` seconds (default 600, env
KBIT_CLAIM_TIMEOUT), and at once when its holder is a process of this host that no longer
exists or when it is unreadable (empty, garbage). A stale claim is taken over under a second
lock file (<cell>.takeover, created the same way), re-checked under that lock, so two
processes never both take it. Written by hand: no library offers lock files that survive
processes killed with SIGKILL on a shared file system.
"""
from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kbit_tasks.sweep.store import create_json

log = logging.getLogger("kbit.sweep")

CLAIM_DIR = ".claims"
DEFAULT_STALE_AFTER = 600.0


def check_timeout(seconds, where: str = "claim timeout") -> float:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value < math.inf:
        raise ValueError(f"{where}={seconds!r} must be a number of seconds > 0 (default {DEFAULT_STALE_AFTER:g})")
    return value


def stale_after_default() -> float:
    return check_timeout(os.environ.get("KBIT_CLAIM_TIMEOUT", DEFAULT_STALE_AFTER), "KBIT_CLAIM_TIMEOUT")


def _holder(path: Path) -> dict | None:
    """The claim's content; None when it vanished or is unreadable (never half written)."""
    try:
        holder = json.loads(path.read_text())
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return holder if isinstance(holder, dict) and "token" in holder else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staleness(path: Path, stale_after: float) -> str | None:
    """Why the claim at `path` may be taken over, or None while its holder is alive."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return "released"
    holder = _holder(path)
    if holder is None:
        return "unreadable claim (left by a process killed while creating it)" if path.exists() else "released"
    who = f"{holder.get('host', '?')} pid {holder.get('pid', '?')}"
    if age > stale_after:
        return f"claim of {who} without heartbeat for {age:.0f} s (timeout {stale_after:g} s)"
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
            and not _alive(holder["pid"]):
        return f"claim of {who}, a process that no longer exists"
    return None


def describe(output: Path, cell_id: str, stale_after: float) -> str:
    """Who holds a cell's claim and when it expires without a heartbeat, for a reader."""
    path = Path(output) / CLAIM_DIR / f"{cell_id}.claim"
    holder = _holder(path) or {}
    try:
        left = stale_after - (time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return f"{cell_id} (released since)"
    return (f"{cell_id} (held by {holder.get('host', '?')} pid {holder.get('pid', '?')}; "
            f"stale in {max(left, 0):.0f} s unless its heartbeat goes on)")


@dataclass
class Claim:
    """A held claim; `release` (or leaving the `with` block) removes it if it is still ours."""

    path: Path
    token: str
    stale_after: float
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _beat: threading.Thread | None = field(default=None, repr=False)

    def ours(self) -> bool:
        return (_holder(self.path) or {}).get("token") == self.token

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.stale_after / 4):
            if not self.ours():
                log.warning("claim %s was taken over by another process (no heartbeat for too long)", self.path)
                return
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def start_heartbeat(self) -> "Claim":
        self._beat = threading.Thread(target=self._heartbeat, name=f"heartbeat {self.path.name}", daemon=True)
        self._beat.start()
        return self

    def release(self) -> None:
        self._stop.set()
        try:
            if self._beat is not None:
                self._beat.join()
        finally:  # also when Ctrl-C or SIGTERM lands in the join
            if self.ours():
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def try_claim(output: Path, cell_id: str, stale_after: float | None = None) -> Claim | None:
    """Claim the cell for this process, taking over a stale claim; None if another holds it."""
    stale_after = stale_after_default() if stale_after is None else stale_after
    folder = Path(output) / CLAIM_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{cell_id}.claim"
    token = uuid.uuid4().hex
    body = {"host": socket.gethostname(), "pid": os.getpid(), "token": token,
            "claimed_at": datetime.now(timezone.utc).isoformat()}
    if create_json(path, body):
        return Claim(path, token, stale_after)
    if staleness(path, stale_after) is None:
        return None
    lock = path.with_suffix(".takeover")
    if not create_json(lock, body):
        with_age = staleness(lock, stale_after)
        if with_age and with_age != "released":  # a taker killed inside the few lines below
            lock.unlink(missing_ok=True)
        return None
    try:
        why = staleness(path, stale_after)  # re-checked under the lock: maybe taken over already
        if why is None:
            return None
        if why != "released":
            log.warning("%s: taking over the %s", cell_id, why)
        path.unlink(missing_ok=True)
        return Claim(path, token, stale_after) if create_json(path, body) else None
    finally:
        lock.unlink(missing_ok=True)
