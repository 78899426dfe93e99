"""report.md, the comment a reviewer reads on the pull request, rendered from its template.

`render` returns text and writes nothing. The markdown always fits GitHub's comment limit:
long tables are cut first, then the log, and the report says what was cut and where the
full data is.
"""

from __future__ import annotations

import functools
import html as htmllib
from collections.abc import Callable
from typing import Any

from mlci import __version__, numbers
from mlci.judge.evidence import SliceTable
from mlci.judge.gates import RuleResult, Verdict
from mlci.record import reused_line
from mlci.report import rules, tables
from mlci.report.fit import COMMENT_LIMIT, fit
from mlci.report.value import ICONS, Plot, Report

MARKER = "<!-- mlci-report:{name} -->"


def marker(name: str) -> str:
    return MARKER.format(name=name)


def verdict_words(verdict: Verdict) -> tuple[str, str]:
    if not verdict.passed:
        return "❌", "failed"
    if not verdict.blessed:
        return "⚠️", f"passed, {verdict.skipped} rule{'s' if verdict.skipped != 1 else ''} skipped"
    return "✅", "passed"


def render(
    report: Report,
    *,
    image_url: Callable[[Plot], str] | None = None,
    limit: int = COMMENT_LIMIT,
) -> str:
    """The comment body; `image_url` maps a plot to its link (default: a relative path)."""
    url = image_url or (lambda p: p.href)
    for rows, log_lines, slice_rows in (
        (None, 40, 50),
        (300, 40, 30),
        (100, 20, 20),
        (30, 0, 10),
        (10, 0, 5),
    ):
        text = _render(report, url, rows=rows, log_lines=log_lines, slice_rows=slice_rows)
        if len(text) <= limit:
            return text
    cut = "\n_The report was cut to fit GitHub's comment limit; see result.json._\n"
    return fit(text, limit, cut, in_bytes=False)[0]


def _render(
    report: Report, url: Callable[[Plot], str], *, rows: int | None, log_lines: int, slice_rows: int
) -> str:
    icon, words = verdict_words(report.verdict)
    p = report.precision
    context = {
        "name": report.name,
        "title": tables.escape(report.title),
        "verdict_icon": icon,
        "verdict_text": words,
        "summary": _summary(report),
        "baseline_line": tables.escape(report.baseline.describe()),
        # without a baseline, describe() already is the list of reasons: shown once
        "tried": tables.escape("; ".join(report.baseline.tried)) if report.baseline.found else "",
        "gate_rows": [gate_row(r, p) for r in report.verdict.results],
        "slice_tables": [_slices(s, slice_rows, p) for s in report.slices],
        "metric_table": tables.markdown(report.comparison, p, limit=rows),
        "plots": [
            {"url": _attr(url(pl)), "title": _attr(pl.title), "width": pl.width}
            for pl in report.plots
        ],
        "details": _details(report, log_lines),
        "footer": _footer(report),
    }
    return str(_template().render(**context))


@functools.lru_cache(maxsize=1)
def _template() -> Any:
    """The comment template, loaded once: render() may try several sizes to fit."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from mlci.resources import templates_dir

    env = Environment(
        loader=FileSystemLoader(templates_dir()),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("report.md.j2")


def _summary(report: Report) -> str:
    v, rows = report.verdict, report.comparison.rows
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("better", "worse")}
    parts = [f"{len(v.results) - v.failed - v.skipped} of {len(v.results)} rules passed"]
    if v.failed:
        parts.append(f"**{v.failed} failed**")
    if v.skipped:
        parts.append(f"{v.skipped} skipped")
    metrics = f"{len(rows)} metrics"
    if report.comparison.has_baseline:
        metrics += f": {counts['better']} better, {counts['worse']} worse"
    lines = [" · ".join([*parts, metrics])]
    if report.head.reused_from:
        lines.append(f"_Head: {reused_line(report.head.reused_from)}._")
    lines += [f"> ⚠️ {tables.escape(n)}" for n in report.notes]
    return "\n\n".join(lines)


def gate_row(result: RuleResult, precision: int) -> dict[str, str]:
    """One rule's row of the gates table; the matrix report shows the same rows per job."""
    rule = result.rule
    bounds = [
        f"≥ {rule.min:g}" if rule.min is not None else "",
        f"≤ {rule.max:g}" if rule.max is not None else "",
        f"drop ≤ {rule.max_drop}" if rule.max_drop is not None else "",
        f"rise ≤ {rule.max_rise}" if rule.max_rise is not None else "",
    ]
    text = f"{tables.code(result.metric)} " + ", ".join(b for b in bounds if b)
    if rule.noise is not None:
        text += f" (noise {rule.noise:.0%})"
    if rule.slices:
        text += f" per {tables.escape(', '.join(rule.slices))}"
    return {
        "icon": ICONS.get(result.outcome, result.outcome),
        "rule": text,
        "base": numbers.number(result.base, precision),
        "head": numbers.number(result.head, precision),
        "reason": tables.escape(result.reason),
    }


def _slices(table: SliceTable, limit: int, precision: int) -> dict[str, Any]:
    rows = table.rows
    return {
        "title": tables.escape(table.title),
        "rows": [rules.slice_cells(r, table, precision) for r in rows[:limit]],
        "failed": table.failed,
        "more": max(0, len(rows) - limit),
    }


def _details(report: Report, log_lines: int) -> str:
    head, info = report.head, report.head.info
    lines = [
        f"- head: `{head.sha[:12]}`"
        + (" (uncommitted changes)" if head.dirty else "")
        + f", trained by {tables.escape(str(info.get('trained_by', 'unknown')))}"
    ]
    if head.reused_from:
        lines.append(f"- {reused_line(head.reused_from)}")
    fp = info.get("fingerprints") or {}
    if fp:
        shown = (f"{tables.escape(str(k))} {tables.code(str(v))}" for k, v in fp.items() if v)
        lines.append("- fingerprints: " + ", ".join(shown))
    if report.timings:
        lines.append("- timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    lines.append(f"- mlci {__version__}")
    if log_lines and report.log_tail.strip():
        tail = "\n".join(report.log_tail.rstrip().splitlines()[-log_lines:]).replace("```", "'''")
        lines += [
            "",
            f"Training log (last {min(log_lines, len(tail.splitlines()))} lines):",
            "",
            "```text",
            tail,
            "```",
        ]
    base_tail = report.baseline.log_tail.strip()
    if log_lines and base_tail:
        tail = "\n".join(base_tail.splitlines()[-log_lines:]).replace("```", "'''")
        lines += ["", "Baseline training log:", "", "```text", tail, "```"]
    return "\n".join(lines) + "\n"


def _attr(value: str) -> str:
    """A value inside a quoted HTML attribute of the template."""
    return htmllib.escape(value, quote=True)


def _footer(report: Report) -> str:
    parts = [f"mlci {__version__}", f"report `{report.name}`", f"head `{report.head.sha[:7]}`"]
    if report.run_url:
        parts.append(f"[workflow run]({report.run_url})")
    return " · ".join(parts)
