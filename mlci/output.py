"""The one place that prints: logs go to stderr, machine output to stdout, and no known
token in either (mlci.redact).

Nothing below the CLI calls print(); it calls these, so ``-q``/``-v`` and tests see
everything in one place.
"""

from __future__ import annotations

import contextlib
import os
import sys

from mlci.errors import one_line
from mlci.redact import text as _safe

QUIET, NORMAL, VERBOSE = 0, 1, 2
level = NORMAL


def set_level(value: int) -> None:
    global level
    level = value


def info(message: str) -> None:
    """Progress a user wants to see (hidden by -q)."""
    if level >= NORMAL:
        print(_safe(message), file=sys.stderr, flush=True)


def debug(message: str) -> None:
    """Details for -v."""
    if level >= VERBOSE:
        print(_safe(message), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """Something the user should know even with -q; one line, whatever names it quotes."""
    print(_safe(one_line(f"mlci: warning: {message}")), file=sys.stderr, flush=True)


def error(message: str) -> None:
    print(_safe(message), file=sys.stderr, flush=True)


def result(text: str) -> None:
    """What the command produced: a table, JSON, a path. Always on stdout."""
    text = _safe(text)
    try:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `mlci history | head -1`: the reader has what it wanted
        discard_stdout()


def discard_stdout() -> None:
    """The reader of stdout is gone: send the rest nowhere, so the command ends normally
    with its own exit code and no flush error at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # captured in tests
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def raw(text: str) -> None:
    """Streamed output (a training log) without a newline added; stderr, unless -q."""
    if level >= NORMAL:
        sys.stderr.write(_safe(text))
        sys.stderr.flush()
