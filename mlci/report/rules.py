"""How gate results read as text: one line per rule for the terminal, the FAIL lines of
a report on disk, and the cells of a rule's slice table in the PR comment.

Stdlib only: `mlci gate` prints these and must start fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlci import numbers
from mlci.errors import one_line
from mlci.judge.evidence import SliceRow, SliceTable
from mlci.judge.gates import Check, RuleResult, Verdict
from mlci.report import tables

_CONDITIONS = {
    "min": ">= {}",
    "max": "<= {}",
    "max_drop": "drop <= {}",
    "max_rise": "rise <= {}",
    "slices": "on every {} slice",
}
_FAILURES = {
    "min": "{v} < {lim}",
    "max": "{v} > {lim}",
    "max_drop": "drop {v} > {lim}",
    "max_rise": "rise {v} > {lim}",
}


def format_rules(verdict: Verdict, precision: int = 4) -> str:
    """One line per rule (PASS / FAIL / SKIP and why), then the counts."""
    lines = [_line(r, precision) for r in verdict.results]
    passed = len(verdict.results) - verdict.failed - verdict.skipped
    lines.append(f"{passed} passed, {verdict.failed} failed, {verdict.skipped} skipped")
    return "\n".join(lines)


def failed_in_result(result: Mapping[str, object]) -> list[str]:
    """The FAIL lines of a rendered report's result.json: a command that exits 1 from a
    report on disk (publish, merge) lists the failed rules too. One line each, whatever a
    fork's artifact holds."""
    gates = result.get("gates")
    found = gates.get("results") if isinstance(gates, Mapping) else None
    rules = found if isinstance(found, list) else []
    return [
        one_line(f"FAIL {r.get('metric')}: {r.get('reason')}")
        for r in rules
        if isinstance(r, Mapping) and r.get("outcome") == "failed"
    ]


def _line(result: RuleResult, precision: int) -> str:
    if result.outcome == "passed":
        conds = ", ".join(_condition(c) for c in result.checks)
        shown = "" if result.head is None else f" ({result.head:.{precision}f})"
        return f"PASS {result.metric} {conds}{shown}{_noise_words(result)}"
    if result.outcome == "skipped":
        by_reason: dict[str, list[str]] = {}
        for c in result.checks:
            if c.outcome == "skipped":
                by_reason.setdefault(c.reason, []).append(c.bound)
        text = "; ".join(f"{', '.join(b)}: {why}" for why, b in by_reason.items())
        return f"SKIP {result.metric} {text}"
    if result.head is None or not math.isfinite(result.head):
        return f"FAIL {result.metric}: {result.reason}"
    failures = [_failure(c, precision) for c in result.checks if c.outcome == "failed"]
    return f"FAIL {result.metric}: " + "; ".join(failures)


def _noise_words(result: RuleResult) -> str:
    """The paired test's words ("within noise: ..."), which decided a relative check."""
    for c in result.checks:
        for sep in (", but ", "; "):
            if c.bound in ("max_drop", "max_rise") and sep in c.reason:
                tail = c.reason.rsplit(sep, 1)[1]
                if tail.startswith(("within noise", "significant")):
                    return f": {tail}"
    return ""


def _condition(check: Check) -> str:
    template = _CONDITIONS.get(check.bound)
    return template.format(check.limit) if template else f"{check.bound} {check.limit}".strip()


def _failure(check: Check, precision: int) -> str:
    template = _FAILURES.get(check.bound)
    if template is None or check.value is None or check.threshold is None:
        return check.reason
    limit = check.limit
    if check.limit.endswith("%"):
        limit += f" ({check.threshold:.{precision}f})"
    return template.format(v=f"{check.value:.{precision}f}", lim=limit) + _decided_by(check)


def _decided_by(check: Check) -> str:
    """The paired test that confirmed a relative breach, or why the plain bound decided."""
    if check.bound not in ("max_drop", "max_rise"):
        return ""
    for sep in (" (plain bound: ", "; significant"):
        if sep in check.reason:
            return check.reason[check.reason.index(sep) :]
    return ""


def slice_cells(row: SliceRow, table: SliceTable, precision: int) -> dict[str, str]:
    """One slice as the cells of its markdown row: label, n, base, head, delta, note."""
    if not row.gated:
        note = f"too small to gate (n < {table.min_size})"
    elif row.reason:
        note = f"❌ {row.reason}"
    else:
        note = "✅"
    if row.test:
        note += f" · {row.test}"
    return {
        "label": tables.escape(f"{row.column}={row.value}"),
        "n": str(row.n),
        "base": numbers.number(row.base, precision),  # no baseline predictions: "—", not NaN
        "head": numbers.number(row.head, precision),
        "delta": tables.signed(row.delta, precision),
        "note": tables.escape(note),
    }
