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
