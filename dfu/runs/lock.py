"""One driver per run folder: a lock file naming its host and process.

A second driver on the same run would run the same units twice and interleave their files.
The lock is created exclusively (``O_EXCL``); a lock whose process is gone on this host is
taken over (a driver killed with SIGKILL cannot remove it); one held by another host cannot
be checked from here, so the message says how to clear it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from dfu.evaluation.results import RunError


class RunLock:
    def __init__(self, path: Path):
        self.path, self.held = Path(path), False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # the second try follows the removal of a dead process's lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_or_clear()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(
                    {
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                    },
                    f,
                )
            self.held = True
            return
        raise RunError(f"{self.path}: could not take the run's lock")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def _refuse_or_clear(self) -> None:
        try:
            owner = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return  # released meanwhile, or being written: try again
        run = self.path.parent
        if owner.get("host") != socket.gethostname():
            raise RunError(
                f"run {run} is in use by a driver on host {owner.get('host')} (pid "
                f"{owner.get('pid')}, since {owner.get('since')}); if that driver "
                f"is gone, delete {self.path} and rerun"
            )
        if _alive(int(owner.get("pid", -1))):
            raise RunError(
                f"run {run} is in use by pid {owner['pid']} on this host (since "
                f"{owner.get('since')}); wait for it or choose another --name"
            )
        self.path.unlink(missing_ok=True)  # its driver died: take the run over

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
