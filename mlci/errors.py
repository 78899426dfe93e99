"""Every failure a user can act on is an MlciError: it carries its exit code and a hint.

The CLI's single error boundary turns one into the line
``mlci: error: WHAT (WHERE). HINT``; anything else is a bug in mlci (exit 4).
"""

from __future__ import annotations

import re
from enum import IntEnum


class Exit(IntEnum):
    """The exit codes every command keeps (README, "Commands")."""

    PASSED = 0
    GATE_FAILED = 1
    USAGE = 2
    RUN_FAILED = 3
    BUG = 4
    INTERRUPTED = 130


class MlciError(Exception):
    """A failure with a known cause: what happened, where, and what to do next."""

    exit_code: Exit = Exit.RUN_FAILED

    def __init__(
        self, what: str, *, where: str | None = None, hint: str | None = None, detail: str = ""
    ) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.hint = hint
        self.detail = detail  # extra lines shown below the error line (a log tail)

    def line(self) -> str:
        return f"mlci: error: {one_line(self.sentence())}"

    def sentence(self) -> str:
        """WHAT (WHERE). HINT: the error as one sentence, for a report as much as a terminal."""
        text = self.what
        if self.where:
            text += f" ({self.where})"
        text += "."
        if self.hint:
            hint = self.hint[0].upper() + self.hint[1:]
            text += f" {hint}" if hint[-1] in ".?!" else f" {hint}."
        return text


def one_line(text: str) -> str:
    """Control characters (a newline in a name, a file's bytes) shown escaped, so an error
    stays the one line a CI log and a grep can rely on."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class ConfigError(MlciError):
    """mlci.yaml is missing, unreadable or invalid."""

    exit_code = Exit.USAGE


class UsageError(MlciError):
    """The command line or the files it names are wrong."""

    exit_code = Exit.USAGE


class MetricsError(MlciError):
    """A metrics or params file cannot be read."""

    exit_code = Exit.RUN_FAILED


class TrainingError(MlciError):
    """The training command failed, timed out or wrote no metrics."""

    exit_code = Exit.RUN_FAILED


class GitError(MlciError):
    """git could not answer: no repository, a missing ref, a shallow clone."""

    exit_code = Exit.RUN_FAILED


class PublishError(MlciError):
    """GitHub refused or failed a request."""

    exit_code = Exit.RUN_FAILED
