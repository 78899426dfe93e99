"""GitHub's limits on the text mlci posts, and the one way mlci cuts markdown to them.

Standard library only: the CLI imports this (through mlci.ci) on every command.
"""

from __future__ import annotations

COMMENT_LIMIT = 65_536  # characters of an issue comment body
CHECK_LIMIT = 65_535  # UTF-8 bytes of a check run's output.summary
SUMMARY_LIMIT = 1024 * 1024  # UTF-8 bytes; GitHub drops the whole step summary above it


def fit(text: str, limit: int, note: str, *, in_bytes: bool) -> tuple[str, bool]:
    """The text, or its head cut at a line boundary plus `note`, within limit; and
    whether it was cut.

    The limit counts characters or UTF-8 bytes. A whole line is never split (no half table
    row), and an open code fence or <details> at the cut is closed so the note shows.
    When not even the note fits, the answer is ("", True).
    """

    def size(t: str) -> int:
        return len(t.encode("utf-8")) if in_bytes else len(t)

    if size(text) <= limit:
        return text, False
    if size(note) > limit:
        return "", True
    head = text
    for _ in range(3):
        budget = limit - size(note) - size(_closers(head))
        head = _prefix(head, budget, in_bytes)
        if "\n" in head:
            head = head[: head.rindex("\n") + 1]
        if size(head + _closers(head) + note) <= limit:
            return head + _closers(head) + note, True
    return _prefix(head, limit - size(note), in_bytes) + note, True


def _prefix(text: str, budget: int, in_bytes: bool) -> str:
    budget = max(budget, 0)
    if not in_bytes:
        return text[:budget]
    return text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")


def _closers(head: str) -> str:
    fences = sum(1 for line in head.splitlines() if line.lstrip().startswith("```"))
    opened = head.count("<details") - head.count("</details>")
    return ("```\n" if fences % 2 else "") + "</details>\n" * max(opened, 0)
