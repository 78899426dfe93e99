"""`mlci report`: render the last comparison again (after editing the rules, say):
report.md, report.html, result.json and the plots."""

from __future__ import annotations

from pathlib import Path

from mlci import output
from mlci.commands.loop import Outcome, default_out, summary_lines, write_report
from mlci.workspace import Workspace, open_workspace


def main(config: Path | None, *, name: str | None, out: Path | None) -> int:
    """Exit 0 once rendered: the verdict is the exit code of `mlci gate` and `mlci run`."""
    ws = open_workspace(config, report_name=name)
    output.result(summary_lines(report_last(ws, out), ws.config.precision))
    return 0


def report_last(ws: Workspace, out: Path | None) -> Outcome:
    """The last comparison, judged with the rules of mlci.yaml now, into out."""
    from mlci import last
    from mlci.report import build as assemble

    saved = last.load(ws.root)
    out_dir = assemble.prepare_out_dir(out or default_out(ws))
    return write_report(
        ws, saved.head, saved.baseline, out_dir, timings=saved.timings, cached=saved.evidence
    )
