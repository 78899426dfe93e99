"""The files a report writes in its directory: report.md (exactly the comment body),
report.html and result.json for machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlci import __version__, redact
from mlci.report.html import to_html
from mlci.report.markdown import render
from mlci.report.value import Report


def result_data(report: Report) -> dict[str, Any]:
    """result.json: rows, gate outcomes, verdict and baseline provenance."""
    v = report.verdict
    return {
        "schema": 1,
        "name": report.name,
        "verdict": "passed" if v.passed else "failed",
        "blessed": v.blessed,
        "failed_gates": v.failed,
        "skipped_gates": v.skipped,
        "head": {
            "sha": report.head.sha,
            "dirty": report.head.dirty,
            "trained_by": report.head.info.get("trained_by"),
            "reused_from": report.head.reused_from,
        },
        "baseline": report.baseline.to_dict(),
        "gates": v.to_dict(),
        "comparison": report.comparison.to_dict(),
        "slices": [{"title": s.title, "rows": list(s.data)} for s in report.slices],
        "plots": [p.href for p in report.plots],
        "timings": dict(report.timings),
        "notes": list(report.notes),
        "mlci": __version__,
    }


def write(report: Report, out_dir: Path) -> dict[str, Path]:
    """report.md (exactly the comment body), report.html and result.json in out_dir."""
    markdown_text = redact.text(render(report))
    paths = {
        "md": out_dir / "report.md",
        "html": out_dir / "report.html",
        "json": out_dir / "result.json",
    }
    paths["md"].write_text(markdown_text, encoding="utf-8")
    images = {p.href: p.path for p in report.plots}
    paths["html"].write_text(to_html(markdown_text, report.title, images), encoding="utf-8")
    data = json.dumps(result_data(report), indent=2, allow_nan=False)
    paths["json"].write_text(redact.text(data) + "\n", encoding="utf-8")
    return paths
