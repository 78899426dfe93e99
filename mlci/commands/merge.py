"""`mlci merge`: the report directories of a matrix of jobs made into one report, one
verdict and, on a pull request, one comment, check run and status."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlci import matrix, output
from mlci.commands import Done
from mlci.commands import publish as publishing
from mlci.commands.loop import default_out
from mlci.errors import UsageError
from mlci.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from mlci.ci import CIContext


def main(
    config: Path | None,
    dirs: list[Path],
    *,
    name: str | None,
    out: Path | None,
    dry_run: bool,
    strict: bool,
) -> int:
    """`mlci merge DIR...`: exit 1 when a job failed or its directory cannot be read."""
    from mlci import ci

    ctx = ci.from_env()
    ws = open_workspace(config, report_name=name, optional=True)
    done = run(ws, ctx, dirs, out=out, dry_run=dry_run, strict=strict)
    output.result(done.text)
    return done.exit_code


def run(
    ws: Workspace,
    ctx: CIContext,
    dirs: list[Path],
    *,
    out: Path | None,
    dry_run: bool,
    strict: bool,
) -> Done:
    """Read the jobs, write the merged report, publish it where the context says."""
    from mlci import ci
    from mlci.report import build as assemble
    from mlci.report import matrix as merge_report

    out_dir = out or default_out(ws)
    if any(out_dir.resolve() == d.resolve() for d in dirs):
        raise UsageError(
            f"--out {out_dir} is one of the job directories",
            where="--out",
            hint="write the merged report to a directory of its own",
        )
    head = ws.repo.head_sha()
    loaded = [matrix.load(d, head) for d in dirs]
    merged = matrix.combine(
        loaded, name=ws.config.report.name, title=ws.config.report.title, head_sha=head
    )
    mode = "dry-run" if dry_run else ctx.mode
    if mode == "pr":
        ci.check_repository(ctx, ws.repo.remote_url())
    out_dir = assemble.prepare_out_dir(out_dir)
    merge_report.write(merged, out_dir, ws.config.precision, run_url=ctx.run_url)
    for job in merged.broken:
        output.warn(f"job {job.name}: {job.problem}")
    code = 0 if merged.passed else 1
    if mode == "pr":
        code = publishing.publish_github(ws, ctx, out_dir, code, strict=strict)
    else:
        if not dry_run:
            output.info(
                "mlci: not a pull_request job in GitHub Actions: nothing is posted "
                "(the merged report stays on disk)"
            )
        publishing.local_publish(ws, ctx, out_dir / "report.md")
    return Done(code, _summary_text(merged, out_dir))


def _summary_text(merged: matrix.Merged, out_dir: Path) -> str:
    from mlci.config import display_path
    from mlci.report import rules

    lines = []
    for job in merged.jobs:
        if not job.ok:
            lines.append(f"failed  {job.name}: {job.problem}")
        else:
            skipped = " (rules skipped)" if job.passed and not job.blessed else ""
            lines.append(f"{job.result['verdict']:<7} {job.name}{skipped}")
            lines.extend("  " + line for line in rules.failed_in_result(job.result))
    failed = [j.name for j in merged.jobs if not j.passed]
    verdict = "passed" if merged.passed else f"failed ({', '.join(failed)})"
    lines.append(f"verdict: {verdict}")
    for name in ("report.md", "report.html", "result.json"):
        lines.append(f"{name.split('.')[1]:>4}: {display_path(out_dir / name)}")
    return "\n".join(lines)
