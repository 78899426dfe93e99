"""The lock under run records and report directories, on real files (test_concurrent.py
races real `mlci run` processes on it)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from mlci import lock


def test_a_lock_file_naming_a_dead_owner_is_taken_over_and_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = tmp_path / ".abc.lock"
    path.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))

    with lock.held(path, "the thing") as waited:
        assert not waited
        assert json.loads(path.read_text())["pid"] != dead.pid  # now it names this process
        with lock.held(path, "the thing") as again:  # the holder may take it again
            assert not again
        assert path.exists()

    assert not path.exists()
    err = capsys.readouterr().err
    assert f"took over a stale lock left by pid {dead.pid} (no longer running): " in err


def test_a_released_lock_leaves_nothing_to_take_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / ".abc.lock"
    for _ in range(2):
        with lock.held(path, "the thing"):
            pass
    assert not path.exists() and "stale" not in capsys.readouterr().err


def test_a_lock_that_cannot_be_made_warns_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("in the way")
    with lock.held(tmp_path / "a-file" / ".abc.lock", "the thing") as waited:
        assert not waited
    err = capsys.readouterr().err
    assert "mlci: warning: cannot lock " in err and "going on without the lock" in err


def test_a_waiter_names_the_holder_that_has_not_written_its_pid_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The holder takes the flock, then writes its pid: a run that comes in between must
    still say whom it waits for, not "another mlci run"."""
    import fcntl
    import os
    import threading
    import time

    path = tmp_path / ".abc.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held, the file still empty

    def wait() -> None:
        with lock.held(path, "the thing"):
            pass

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)  # the waiter is blocked on the flock by now
    os.pwrite(fd, json.dumps({"pid": 4242, "host": socket.gethostname()}).encode(), 0)
    time.sleep(0.3)
    path.unlink()  # released as a holder releases: the file goes, then the lock
    os.close(fd)
    waiter.join(timeout=10)

    assert not waiter.is_alive()
    assert "mlci: waiting for pid 4242, which holds the thing" in capsys.readouterr().err
