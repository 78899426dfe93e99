"""One module per command: what runs where (a pull request, a push, a dry run) and the
stages it calls, in order. cli.py parses the options and calls one `main` here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Done:
    """What a command that others build on returns: its exit code and what it prints."""

    exit_code: int
    text: str
