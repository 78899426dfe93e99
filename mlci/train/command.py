"""Run the user's own training command: live output, a log file, a timeout, clean kills.

The command runs in its own process group (a new session), so that a timeout or a
Ctrl-C can stop everything it started, and so that the terminal's SIGINT reaches only
mlci, which then decides how to stop the training.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, BinaryIO

from mlci import output
from mlci.errors import ConfigError, TrainingError

KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
TTY_TICK = 5.0  # refresh of the status line on a terminal
CI_TICK = 60.0  # a "still running" line in CI logs after this much silence
POLL = 0.25  # how often the loop looks at the clock when the command is silent
DRAIN = 2.0  # after the command exits, how long to wait for children that hold its output

NOT_FOUND_HINT = (
    "check train.command in mlci.yaml; the command runs, without a shell, from the "
    "directory of mlci.yaml"
)
FAILED_HINT = "the last lines of its log are below; the full log is in that file"
TIMEOUT_HINT = "raise train.timeout in mlci.yaml or make the training faster"


class _TimedOut(Exception):
    """The deadline passed while the command was still running."""


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    log_path: Path,
    label: str = "training",
) -> float:
    """Run argv to completion and return its duration in seconds; raise TrainingError."""
    if not argv:
        raise ConfigError("train.command is empty", where="train.command", hint=NOT_FOUND_HINT)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with log_path.open("wb") as log:
        proc = _spawn(argv, cwd=cwd, env=env, label=label)
        ticker = _Ticker(label, start)
        try:
            _pump(proc, log, deadline=start + timeout, ticker=ticker)
        except _TimedOut:
            ticker.close()
            _kill_group(proc, grace=KILL_GRACE)
            raise TrainingError(
                f"{label} timed out after {timeout:g}s",
                where=str(log_path),
                hint=TIMEOUT_HINT,
                detail=_tail_detail(log_path),
            ) from None
        except KeyboardInterrupt:
            ticker.close()
            _kill_group(proc, grace=1.0)
            raise
        ticker.close()
        code = proc.wait()
    duration = time.monotonic() - start
    if code != 0:
        raise _failure(argv, code, log_path, label)
    return duration


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log as a terminal would show them (progress bars collapsed)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max(65536, lines * 1024)))
            data = f.read()
    except OSError:
        return ""
    text = _ANSI.sub("", data.decode("utf-8", errors="replace")).rstrip("\n")
    shown = [_redrawn(line) for line in text.split("\n")]
    return "\n".join(shown[-lines:]) if text else ""


# colours, cursor moves and window titles (Keras and tqdm progress bars): a report shows text
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


def _redrawn(line: str) -> str:
    """A line as it ends up on a terminal: the last `\r` redraw, backspaces applied."""
    line = line.rstrip("\r").rsplit("\r", 1)[-1]
    if "\b" not in line:
        return line
    kept: list[str] = []
    for char in line:
        if char == "\b":
            if kept:
                kept.pop()
        else:
            kept.append(char)
    return "".join(kept)


def _spawn(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], label: str
) -> subprocess.Popen[bytes]:
    if not cwd.is_dir():
        raise TrainingError(f"{label} directory not found: {cwd}", where="train.command")
    full_env = command_env(env)
    try:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as e:
        raise TrainingError(
            f"{label} command not found: {argv[0]}", where="train.command", hint=NOT_FOUND_HINT
        ) from e
    except OSError as e:
        raise TrainingError(
            f"{label} command cannot run: {argv[0]}: {e.strerror or e}",
            where="train.command",
            hint="give the script a shebang line or call its interpreter, e.g. python train.py",
        ) from e


def command_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The command's environment: mlci's own, train.env on top, and never a token (a
    training that prints its environment would put it into the posted log tail)."""
    from mlci.redact import token_names

    full = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    for name in token_names(full):
        del full[name]
    return full


def _pump(
    proc: subprocess.Popen[bytes], log: BinaryIO, *, deadline: float, ticker: _Ticker
) -> None:
    """Copy the command's output to the log and the terminal until it ends or times out."""
    chunks: queue.Queue[bytes | None] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_read, args=(proc.stdout, chunks), daemon=True).start()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    exited_at: float | None = None
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise _TimedOut
        try:
            chunk = chunks.get(timeout=min(POLL, deadline - now))
        except queue.Empty:
            if proc.poll() is not None:  # a child it left behind may still hold the pipe
                exited_at = exited_at or now
                if now - exited_at >= DRAIN:
                    return
            ticker.silent(time.monotonic())
            continue
        if chunk is None:
            return
        log.write(chunk)
        log.flush()
        ticker.output(decoder.decode(chunk))


def _read(pipe: IO[bytes], chunks: queue.Queue[bytes | None]) -> None:
    """Reader thread: whatever is available, as soon as it is (partial lines too)."""
    with pipe:
        fd = pipe.fileno()
        while chunk := os.read(fd, 65536):
            chunks.put(chunk)
    chunks.put(None)


class _Ticker:
    """The elapsed-time indicator shown while the command is silent."""

    def __init__(self, label: str, start: float) -> None:
        self.label = label
        self.start = start
        self.tty = _stderr_is_tty()
        self.quiet_since = start
        self.status_shown = False
        self.line_start = True

    def output(self, text: str) -> None:
        if not text:
            return
        self._clear()
        output.raw(text)
        self.line_start = text.endswith("\n")
        self.quiet_since = time.monotonic()

    def silent(self, now: float) -> None:
        if now - self.quiet_since < (TTY_TICK if self.tty else CI_TICK):
            return
        self.quiet_since = now
        elapsed = format_elapsed(now - self.start)
        if self.tty:
            if self.line_start:  # never draw over a half-written line
                output.raw(f"\r\x1b[K[mlci] {self.label} {elapsed}")
                self.status_shown = True
            return
        if not self.line_start:
            output.raw("\n")
            self.line_start = True
        output.info(f"mlci: {self.label} still running ({elapsed})")

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self.status_shown:
            output.raw("\r\x1b[K")
            self.status_shown = False


def format_elapsed(seconds: float) -> str:
    """42s, 1m05s, 2h03m00s."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _kill_group(proc: subprocess.Popen[bytes], *, grace: float) -> None:
    """SIGTERM to the whole group, SIGKILL to whatever is left after `grace` seconds."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _signal_group(proc.pid, signal.SIGKILL)  # children that ignored SIGTERM
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, sig)


def _failure(argv: Sequence[str], code: int, log_path: Path, label: str) -> TrainingError:
    how = f"was killed by signal {_signal_name(-code)}" if code < 0 else f"exited with {code}"
    return TrainingError(
        f"{label} failed: `{shlex.join(argv)}` {how}",
        where=str(log_path),
        hint=FAILED_HINT,
        detail=_tail_detail(log_path),
    )


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return str(number)


def _tail_detail(log_path: Path) -> str:
    tail = log_tail(log_path)
    if not tail:
        return f"{log_path.name} is empty: the command printed nothing"
    return f"last lines of {log_path.name}:\n{tail}"
