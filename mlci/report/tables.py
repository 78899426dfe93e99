"""Metric and params tables as text for the terminal and as GitHub-flavoured markdown.

One place formats numbers, so `mlci diff`, the PR comment and the HTML preview agree.
Stdlib only: `mlci diff` must not pay for Jinja or pandas to print a table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from mlci.compare import Comparison, Row
from mlci.numbers import number
from mlci.report.fit import fit

TABLE_CUT_NOTE = (
    "\n_The table was cut here to fit GitHub's comment limit; `mlci diff --json` has all of it._\n"
)
MARK = {
    "better": "🟢 better",
    "worse": "🔴 worse",
    "unchanged": "unchanged",
    "added": "➕ added",
    "removed": "➖ removed",
    "invalid": "⚠️ not a number",
    "new": "",
}


def signed(value: float | None, precision: int) -> str:
    if value is None or math.isnan(value):
        return "—"
    text = number(value, precision)
    return text if text.startswith("-") else f"+{text}"


def percent(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 100:+.2f}%"


def metric_cells(row: Row, precision: int) -> list[str]:
    return [
        row.name,
        number(row.base, precision),
        number(row.head, precision),
        signed(row.delta, precision),
        percent(row.rel_delta),
        row.status,
    ]


HEADER = ["metric", "base", "head", "delta", "rel. delta", ""]


def markdown_rows(rows: Sequence[Row], precision: int) -> list[str]:
    out = []
    for row in rows:
        cells = metric_cells(row, precision)
        cells[0] = code(cells[0])
        cells[-1] = MARK.get(row.status, row.status)
        out.append("| " + " | ".join(cells) + " |")
    return out


def markdown(comparison: Comparison, precision: int, *, limit: int | None = None) -> str:
    """The metric table (and changed params) as markdown, cut at `limit` rows with a note."""
    rows = list(comparison.rows)
    shown = rows if limit is None else _most_changed(rows, limit)
    lines = ["| " + " | ".join(HEADER) + " |", "|:--|--:|--:|--:|--:|:--|"]
    lines += markdown_rows(shown, precision)
    if len(shown) < len(rows):
        lines.append("")
        lines.append(
            f"_{len(rows) - len(shown)} more metrics not shown (the largest changes "
            "come first); all are in result.json._"
        )
    params = comparison.changed_params()
    if params:
        lines += ["", "| param | base | head |", "|:--|:--|:--|"]
        lines += [f"| {code(p.name)} | {_value(p.base)} | {_value(p.head)} |" for p in params]
    return "\n".join(lines) + "\n"


def markdown_within(comparison: Comparison, precision: int, budget: int) -> str:
    """The markdown table, cut (largest changes first) to fit `budget` characters; what
    still does not fit with no metric row left (the params) is cut by fit()."""
    limit: int | None = None
    while True:
        text = markdown(comparison, precision, limit=limit)
        if len(text) <= budget:
            return text
        if limit == 0:
            return fit(text, budget, TABLE_CUT_NOTE, in_bytes=False)[0]
        rows = limit if limit is not None else len(comparison.rows)
        per_row = max(1, len(text) // max(rows, 1))
        limit = max(0, min(rows - 1, (budget - 600) // per_row))


def _most_changed(rows: list[Row], limit: int) -> list[Row]:
    """Keep the rows a reviewer needs first: worse, then by size of the relative change."""
    order = {"worse": 0, "invalid": 0, "removed": 1, "added": 1, "better": 2}

    def key(r: Row) -> tuple[int, float]:
        size = abs(r.rel_delta) if r.rel_delta is not None and math.isfinite(r.rel_delta) else 0.0
        return order.get(r.status, 3), -size

    keep = set(id(r) for r in sorted(rows, key=key)[:limit])
    return [r for r in rows if id(r) in keep]


def text(comparison: Comparison, precision: int) -> str:
    """An aligned plain-text table for the terminal."""
    body = [metric_cells(r, precision) for r in comparison.rows]
    out = _align([HEADER, *body]) if body else ["no metrics"]
    params = comparison.changed_params()
    if params:
        out += [
            "",
            *_align(
                [
                    ["param", "base", "head"],
                    *[[p.name, _plain(p.base), _plain(p.head)] for p in params],
                ]
            ),
        ]
    return "\n".join(out)


def _align(table: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [
            c.ljust(w) if i == 0 or i == len(row) - 1 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _plain(value: Any) -> str:
    return "—" if value is None else str(value)


def _value(value: Any) -> str:
    return "—" if value is None else code(str(value))


def escape(value: str) -> str:
    """Text shown as written in a markdown line or table cell, on GitHub and in the HTML
    preview alike: no HTML, no link, no table break, no @mention (a zero-width
    space after '@', as GitHub's own bots write it)."""
    text = " ".join(value.splitlines())
    text = _MARKUP.sub(r"\\\g<0>", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("@", "@\u200b")


def code(value: str) -> str:
    """A code span holding value: no backtick can close it, no '|' can split the cell."""
    text = " ".join(value.splitlines()).replace("`", "'").replace("|", "\\|")
    return f"`{text}`"


_MARKUP = re.compile(r"[\\`\[\]|]")
