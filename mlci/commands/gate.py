"""`mlci gate`: the rules of mlci.yaml applied to the last comparison; exit 1 if one fails.
Light on purpose: no training, no git walk, no plotting libraries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlci import output
from mlci.commands.loop import judge
from mlci.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from mlci.judge.gates import Verdict


def main(config: Path | None) -> int:
    """`mlci gate`: prints one line per rule and exits with the verdict."""
    from mlci.report import rules

    ws = open_workspace(config)
    verdict = gate_last(ws)
    output.result(rules.format_rules(verdict, ws.config.precision))
    return 0 if verdict.passed else 1


def gate_last(ws: Workspace) -> Verdict:
    from mlci import last

    saved = last.load(ws.root)
    head = ws.repo.head_sha()
    if saved.head.sha != head:
        output.warn(
            f"the last comparison is of {saved.head.sha[:7]}, but HEAD is {head[:7]}: "
            "run `mlci diff` to compare HEAD"
        )
    output.info(f"mlci: gating {saved.head.sha[:7]} against {saved.baseline.describe()}")
    judged = judge(ws, saved.head, saved.baseline, saved.evidence)
    if judged.evidence != saved.evidence:  # computed now: keep it for the next gate
        last.save(ws.root, saved.head, saved.baseline, saved.timings, judged.evidence)
    return judged.verdict
