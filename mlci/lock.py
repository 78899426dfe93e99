"""Locks on mlci's own files, so that two runs in one checkout never collide.

Self-hosted runners reuse one working directory for several jobs and people run two
`mlci run --dry-run` at once: a run claims what it is about to write (a run record, the
report directory) and a second run that wants it waits. A lock is an flock(2) on a small
file beside what it guards: the kernel drops it when its process ends, however it ends
(SIGKILL included), so a killed run never blocks the next. The holder writes its pid and
host into the file and deletes the file on release; a lock file that still names an
owner when it is taken was left by a run that died holding it, and the taker says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mlci import output
from mlci.config import display_path

OWNER_POLLS = 20  # x 50 ms: how long a waiter waits for the holder to name itself
_held: dict[str, int] = {}  # lock files this process holds -> depth (a holder may re-enter)


@contextlib.contextmanager
def held(path: Path, what: str) -> Iterator[bool]:
    """Hold the lock `path` while the block runs; True when another run held it first,
    so that what it guards may have changed meanwhile. Re-entrant within one process."""
    key = os.path.abspath(path)
    if key in _held or sys.platform == "win32":  # no flock on Windows: no locking there
        _held[key] = _held.get(key, 0) + 1
        try:
            yield False
        finally:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
        return
    try:
        fd, waited = _acquire(path, what)
    except OSError as e:  # a file system without flock, a read-only directory
        output.warn(
            f"cannot lock {display_path(path)} ({e.strerror or e}): going on without the "
            "lock, so another mlci run in this checkout at the same time may collide"
        )
        yield False
        return
    try:
        _take_over(fd, path)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        _held[key] = 1
        try:
            yield waited
        finally:
            del _held[key]
            with contextlib.suppress(OSError):
                path.unlink()  # before the unlock: a waiter on this file then tries anew
    finally:
        os.close(fd)  # releases the flock


def _acquire(path: Path, what: str) -> tuple[int, bool]:
    """An open, flocked descriptor of the file at `path` (the one there now: a holder
    deletes it on release, so a waiter that got the deleted one opens the new one)."""
    import fcntl

    waited = False
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    output.info(
                        f"mlci: waiting for {_describe(_owner_soon(fd))}, which holds {what}"
                    )
                waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)  # Ctrl-C ends the wait
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd, waited
        os.close(fd)


def _take_over(fd: int, path: Path) -> None:
    """A lock file that still names an owner was left by a run that died holding it."""
    owner = _owner(fd)
    if owner is None:
        return
    gone = owner.get("host") == socket.gethostname() and not _alive(owner.get("pid"))
    output.info(
        f"mlci: took over a stale lock left by {_describe(owner)}"
        f"{' (no longer running)' if gone else ''}: {display_path(path)}"
    )


def _owner(fd: int) -> dict[str, object] | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "pid" in data else None


def _owner_soon(fd: int) -> dict[str, object] | None:
    """The holder writes its pid just after it takes the lock: a waiter that came in
    between gives it a moment (a second at most) before it names no one."""
    for _ in range(OWNER_POLLS):
        owner = _owner(fd)
        if owner is not None:
            return owner
        time.sleep(0.05)
    return _owner(fd)


def _describe(owner: dict[str, object] | None) -> str:
    if owner is None:
        return "another mlci run"
    host = owner.get("host")
    here = host == socket.gethostname()
    return f"pid {owner.get('pid')}" + ("" if here or not host else f" on {host}")


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
