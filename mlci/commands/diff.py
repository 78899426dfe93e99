"""`mlci diff`: HEAD's run record (or the metric files in the working tree) against the
baseline, printed as text, markdown or JSON and kept as the last comparison."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci import output
from mlci.commands.loop import compare, find_baseline
from mlci.errors import UsageError
from mlci.record import RunRecord
from mlci.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from mlci.baseline import Baseline
    from mlci.compare import Comparison


def main(config: Path | None, *, rev: str | None, base: str | None, fmt: str) -> int:
    """`mlci diff [REV] [--base REF] [--md|--json]`."""
    ws = open_workspace(config)
    if rev and base and rev != base:
        raise UsageError(
            f"two base revisions given: {rev} and --base {base}",
            where="mlci diff",
            hint="give the base once",
        )
    output.result(render(diff(ws, base=rev or base), ws.config.precision, fmt=fmt))
    return 0


@dataclass(frozen=True)
class Diff:
    head: RunRecord
    baseline: Baseline
    comparison: Comparison


def diff(ws: Workspace, *, base: str | None, ci_base: str | None = None) -> Diff:
    """head record -> baseline -> comparison, saved as the last comparison for `mlci gate`."""
    from mlci import last

    head = head_record(ws)
    found = find_baseline(ws, base=base, head_sha=head.sha, ci_base=ci_base)
    last.save(ws.root, head, found)
    return Diff(head=head, baseline=found, comparison=compare(ws, head, found))


def head_record(ws: Workspace) -> RunRecord:
    """HEAD's run record or, like `dvc metrics diff`, the metric files in the working tree."""
    from mlci import record as records
    from mlci.sources import metrics as metric_files
    from mlci.sources.params import read_params
    from mlci.train.runner import checkout_run_id

    sha = ws.repo.head_sha()
    found = records.find(ws.root, checkout_run_id(ws))
    if found is not None:
        return found
    files = ws.config.train.metrics
    if not files or not all((ws.root / f).exists() for f in files):
        raise UsageError(
            f"no run record for HEAD ({sha[:7]}) and no metric files in the working tree",
            where=str(records.run_dir(ws.root, checkout_run_id(ws))),
            hint="run `mlci train` first",
        )
    values = metric_files.read_metrics(files, ws.root)
    params = read_params(ws.config.train.params, ws.root) if ws.config.train.params else {}
    info = {
        "trained_by": "working-tree files",
        "dirty": ws.repo.is_dirty(),
        "metric_files": list(files),
        **records.sources_info(values.sources, list(files)),
    }
    return RunRecord(sha=sha, metrics=values.values, params=params, info=info)


def render(result: Diff, precision: int, *, fmt: str) -> str:
    """The comparison as text, a markdown table (sized for a PR comment) or JSON."""
    import json

    from mlci.report import tables
    from mlci.report.fit import COMMENT_LIMIT  # `diff --md` is meant for a PR comment

    if fmt == "json":
        doc = {
            "head": {"sha": result.head.sha, "dirty": result.head.dirty},
            "baseline": result.baseline.to_dict(),
            **result.comparison.to_dict(),
        }
        return json.dumps(doc, indent=2, allow_nan=False)
    title = f"baseline: {result.baseline.describe()}"
    if fmt == "md":
        head = f"_{tables.escape(title)}_\n\n"
        return head + tables.markdown_within(
            result.comparison, precision, COMMENT_LIMIT - len(head)
        )
    return f"{title}\n\n" + tables.text(result.comparison, precision)
