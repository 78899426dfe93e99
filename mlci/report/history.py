"""`mlci history` as text: a table for the terminal, or JSON."""

from __future__ import annotations

from mlci import numbers
from mlci import record as records
from mlci.history import History


def table(h: History, precision: int) -> str:
    """One row per noted commit, oldest first; a line says what was left out."""
    if not h.entries:
        return (
            f"no notes on the last {h.walked} first-parent commits of {h.ref}: record "
            "some on the base branch with `mlci record --push`"
        )
    header = ["commit", "recorded", *h.columns]
    rows = [
        [
            e.short,
            e.created[:16].replace("T", " ") or "—",
            *[numbers.number(e.metrics.get(c), precision) for c in h.columns],
        ]
        for e in h.entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]
    if h.hidden:
        lines.append(
            f"({h.hidden} more metric{'s' if h.hidden != 1 else ''} not shown: "
            "pick one with --metric NAME, or use --json)"
        )
    return "\n".join(lines)


def to_json(h: History) -> str:
    """The entries, oldest first; NaN and inf as strings, like the run records."""
    return records.dump_json(
        [
            {
                "sha": e.sha,
                "short": e.short,
                "created": e.created or None,
                "metrics": {k: v for k, v in e.metrics.items() if h.metric in (None, k)},
            }
            for e in h.entries
        ]
    )
