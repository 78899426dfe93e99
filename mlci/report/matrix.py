"""The merged report: a leaderboard of the jobs (base, head and delta of the key metrics,
each job's verdict, the best head marked), each job's rules folded under it, and one plot
across jobs. It always fits GitHub's comment limit: the folded rules of passing jobs go
first, then all folded rules, then leaderboard rows (result.json keeps everything).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlci import __version__, numbers
from mlci.config import Bound, GateRule
from mlci.judge.gates import RuleResult, Verdict
from mlci.matrix import Job, Merged, number
from mlci.report import tables
from mlci.report.fit import COMMENT_LIMIT, fit
from mlci.report.markdown import marker, verdict_words

BEST = "🏆"
PLOT_NAME = "jobs.png"
PLOT_LIMIT = 40  # bars in the plot across jobs; the rest are in the leaderboard
CUT_NOTE = "\n_The report was cut to fit GitHub's limit._\n"


def render(
    merged: Merged, precision: int, *, plot: str | None = None, run_url: str | None = None
) -> str:
    """The comment body, within GitHub's limit."""
    for details in ("all", "failing", "none"):
        text = _render(merged, precision, plot, run_url, details=details, rows=None)
        if len(text) <= COMMENT_LIMIT:
            return text
    rows = len(merged.jobs)
    while rows > 1:
        rows = rows * 3 // 4
        text = _render(merged, precision, plot, run_url, details="none", rows=rows)
        if len(text) <= COMMENT_LIMIT:
            return text
    return fit(text, COMMENT_LIMIT, CUT_NOTE, in_bytes=False)[0]


def _render(
    merged: Merged,
    precision: int,
    plot: str | None,
    run_url: str | None,
    *,
    details: str,
    rows: int | None,
) -> str:
    icon, words = _overall(merged)
    count = len(merged.jobs)
    parts = [
        marker(merged.name),
        f"## {icon} {tables.escape(merged.title)}: {words} · {count} job{'s' * (count != 1)}",
        "",
        _summary(merged),
        "",
        "### Leaderboard",
        "",
        *_leaderboard(merged, precision, rows),
        "",
    ]
    if plot:
        metric = tables.escape(merged.metrics[0]) if merged.metrics else "metric"
        parts += [
            "### Across jobs",
            "",
            f'<img src="{plot}" alt="{metric} by job" width="800">',
            "",
        ]
    folded = [j for j in merged.jobs if j.ok and j.rules and _shows(j, details)]
    if folded:
        parts += ["### Rules by job", ""]
        for job in folded:
            parts += _job_rules(job, precision)
    left = sum(1 for j in merged.jobs if j.ok and j.rules) - len(folded)
    if left:
        parts += [f"_The rules of {left} more jobs are in result.json (to fit the comment)._", ""]
    footer = [f"mlci {__version__}", f"report `{merged.name}`", f"head `{merged.head_sha[:7]}`"]
    if run_url:
        footer.append(f"[workflow run]({run_url})")
    parts.append(f"<sub>{' · '.join(footer)}</sub>")
    return "\n".join(parts) + "\n"


def _shows(job: Job, details: str) -> bool:
    return details == "all" or (details == "failing" and not job.blessed)


def _overall(merged: Merged) -> tuple[str, str]:
    if not merged.passed:
        return "❌", "failed"
    if not merged.blessed:
        return "⚠️", "passed, rules skipped"
    return "✅", "passed"


def _summary(merged: Merged) -> str:
    jobs = merged.jobs
    failed = [j.name for j in jobs if j.ok and not j.passed]
    skipped = [j.name for j in jobs if j.passed and not j.blessed]
    passed = sum(1 for j in jobs if j.passed)
    line = [f"{passed} of {len(jobs)} jobs passed"]
    if failed:
        line.append(f"**failed: {_names(failed)}**")
    if skipped:
        line.append(f"rules skipped: {_names(skipped)}")
    lines = [" · ".join(line)]
    lines += [
        f"> ❌ `{tables.escape(j.name)}`: {tables.escape(j.problem or '')}" for j in merged.broken
    ]
    return "\n\n".join(lines)


def _names(names: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(f"`{tables.escape(n)}`" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _leaderboard(merged: Merged, precision: int, rows: int | None) -> list[str]:
    header = ["", "job"]
    align = [":-:", ":--"]
    for m in merged.metrics:
        name = tables.escape(m)
        header += [f"{name} base", f"{name} head", "Δ"]
        align += ["--:", "--:", "--:"]
    header.append("rules")
    align.append(":--")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    jobs = merged.jobs if rows is None else merged.jobs[:rows]
    lines += [_job_row(merged, job, precision) for job in jobs]
    if rows is not None and rows < len(merged.jobs):
        lines += ["", f"_{len(merged.jobs) - rows} more jobs in result.json (to fit the comment)._"]
    if merged.best:
        first = merged.metrics[0]
        better = "higher" if merged.higher[first] else "lower"
        lines += ["", f"{BEST} the best head on `{tables.escape(first)}` ({better} is better)"]
    return lines


def _job_row(merged: Merged, job: Job, precision: int) -> str:
    name = f"`{tables.escape(job.name)}`" + (f" {BEST}" if job.name == merged.best else "")
    if not job.ok:
        cells = ["❌", name, *["—"] * (3 * len(merged.metrics)), "unreadable: see above"]
        return "| " + " | ".join(cells) + " |"
    cells = [_job_icon(job), name]
    for m in merged.metrics:
        row = job.row(m) or {}
        cells += [
            numbers.number(number(row.get("base")), precision),
            numbers.number(number(row.get("head")), precision),
            tables.signed(number(row.get("delta")), precision),
        ]
    rules = job.rules
    failed = sum(r.get("outcome") == "failed" for r in rules)
    skipped = sum(r.get("outcome") == "skipped" for r in rules)
    text = f"{len(rules) - failed - skipped} of {len(rules)} passed" if rules else "no rules"
    text += f", **{failed} failed**" if failed else ""
    text += f", {skipped} skipped" if skipped else ""
    return "| " + " | ".join([*cells, text]) + " |"


def _job_icon(job: Job) -> str:
    return "❌" if not job.passed else ("⚠️" if not job.blessed else "✅")


def _job_rules(job: Job, precision: int) -> list[str]:
    from mlci.report.markdown import gate_row

    results = [_rule_result(r) for r in job.rules]
    icon, words = verdict_words(Verdict(tuple(results)))
    opened = " open" if not job.passed else ""
    baseline = (job.result.get("baseline") or {}).get("description")
    where = f" · baseline: {tables.escape(str(baseline))}" if baseline else ""
    lines = [
        f"<details{opened}><summary>{icon} <b>{tables.escape(job.name)}</b>: {words}{where}"
        "</summary>",
        "",
        "| | rule | base | head | why |",
        "|:-:|:--|--:|--:|:--|",
    ]
    for result in results:
        g = gate_row(result, precision)
        lines.append(f"| {g['icon']} | {g['rule']} | {g['base']} | {g['head']} | {g['reason']} |")
    return [*lines, "", "</details>", ""]


def _rule_result(data: dict[str, Any]) -> RuleResult:
    """A rule outcome of result.json back as the value the report's table rows are made of."""
    rule = data.get("rule") if isinstance(data.get("rule"), dict) else {}
    assert isinstance(rule, dict)
    gate = GateRule(
        metric=str(data.get("metric")),
        min=number(rule.get("min")),
        max=number(rule.get("max")),
        max_drop=_bound(rule.get("max_drop")),
        max_rise=_bound(rule.get("max_rise")),
        noise=number(rule.get("noise")),
        slices=tuple(str(s) for s in rule.get("slices") or ()),
    )
    return RuleResult(
        rule=gate,
        metric=str(data.get("metric")),
        base=number(data.get("base")),
        head=number(data.get("head")),
        outcome=str(data.get("outcome")),
        checks=(),
        reason=str(data.get("reason") or ""),
    )


def _bound(value: Any) -> Bound | None:
    if isinstance(value, str) and value.endswith("%"):
        relative = number(value[:-1])
        return Bound(relative, relative=True) if relative is not None else None
    absolute = number(value)
    return Bound(absolute) if absolute is not None else None


def draw(merged: Merged, out_dir: Path) -> Path | None:
    """One figure across jobs: the first key metric's head (and base) per job, best first."""
    if not merged.metrics:
        return None
    metric = merged.metrics[0]
    bars = []
    for job in merged.jobs:
        row = (job.row(metric) or {}) if job.ok else {}
        head = number(row.get("head"))
        if head is not None:
            bars.append((job.name, number(row.get("base")), head, not job.passed))
    if not bars:
        return None
    from mlci.report.plots import matrix as merge_plot

    return merge_plot.jobs(bars, metric, merged.higher[metric], out_dir / PLOT_NAME, PLOT_LIMIT)


def write(merged: Merged, out_dir: Path, precision: int, *, run_url: str | None) -> None:
    """report.md, report.html, result.json and the plot, as a single job's report has them."""
    from mlci.matrix import result_data
    from mlci.report.html import to_html

    drawn = draw(merged, out_dir / "plots")
    plot = f"plots/{drawn.name}" if drawn else None
    markdown = render(merged, precision, plot=plot, run_url=run_url)
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    images = {plot: drawn} if plot and drawn else {}
    (out_dir / "report.html").write_text(to_html(markdown, merged.title, images), encoding="utf-8")
    data = result_data(merged, [plot] if plot else [])
    (out_dir / "result.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
