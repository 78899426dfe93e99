"""Where `mlci run` runs decides what it does: a pull_request job publishes the report on
GitHub, a push to the base branch records the note, anything else is a dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci import output
from mlci.errors import PublishError, UsageError
from mlci.pipeline import (
    Outcome,
    default_out,
    find_baseline,
    run_loop,
    summary_lines,
    write_report,
)
from mlci.workspace import Workspace

if TYPE_CHECKING:
    from mlci.ci import CIContext


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    text: str


def run(
    ws: Workspace,
    ctx: CIContext,
    *,
    dry_run: bool,
    base: str | None,
    out: Path | None,
    strict_publish: bool = False,
) -> RunResult:
    """`mlci run`: the loop for where it runs (a PR, a push to the base branch, or a dry run)."""
    mode = "dry-run" if dry_run else ctx.mode
    if mode in ("pr", "push"):
        from mlci import ci

        ci.check_repository(ctx, ws.repo.remote_url())
    if mode == "push":
        base_branch = ws.config.baseline.ref or ctx.default_branch or ws.repo.default_branch()
        if ctx.base_ref is not None and ctx.base_ref == base_branch:
            return record_push(ws, ctx, out)
        output.info(
            f"mlci: a push to {ctx.base_ref or 'a tag'}, not to the base branch "
            f"{base_branch}: nothing is recorded; running as a dry run"
        )
        mode = "dry-run"
    elif mode == "dry-run" and not dry_run:
        output.info(
            "mlci: not a pull_request or push job in GitHub Actions: running as a dry "
            "run (nothing is published)"
        )
    # the PR's base branch, else (workflow_dispatch) the repository's default from the payload
    ci_base = ctx.base_ref if ctx.is_pull_request else ctx.default_branch
    outcome = run_loop(ws, base=base, out=out, ci_base=ci_base, run_url=ctx.run_url)
    _after_verdict(ws, outcome, pr=ctx.pr_number if mode == "pr" else None, push=False)
    code = outcome.exit_code
    if mode == "pr":
        code = publish_github(
            ws, ctx, outcome.paths["md"].parent, outcome.exit_code, strict=strict_publish
        )
    else:
        _local_publish(ws, ctx, outcome.paths["md"])
    return RunResult(exit_code=code, text=summary_lines(outcome, ws.config.precision))


def publish_github(
    ws: Workspace, ctx: CIContext, report_dir: Path, verdict_code: int, *, strict: bool
) -> int:
    """Post the rendered report on the PR; a GitHub failure is one line and the verdict's
    exit code stands (exit 3 with --strict-publish)."""
    from mlci.publish import github

    result = github.publish(
        ctx,
        report_dir,
        name=ws.config.report.name,
        github=ws.config.github,
        config_file=ws.in_repo(ws.config.path.name),
    )
    md = report_dir / "report.md"
    md.write_text(result.body, encoding="utf-8")  # report.md is exactly the comment body
    for line in result.done:
        output.info(f"mlci: published {line}")
    for line in result.skipped:
        output.warn(f"skipped {line}")
    for line in result.errors:
        output.warn(f"GitHub: {line}")
    _local_publish(ws, ctx, md, comment_url=result.comment_url or "")
    if strict and result.errors:
        raise PublishError(
            f"publishing on GitHub failed: {result.errors[0]}",
            where=ctx.api_url,
            hint="re-run the job once GitHub answers, or drop --strict-publish to let the "
            "verdict stand",
        )
    return verdict_code


def publish_last(
    ws: Workspace, ctx: CIContext, out: Path | None, *, dry_run: bool, strict: bool
) -> int:
    """`mlci publish`: post the last rendered report where the context says."""
    import json

    report_dir = out or default_out(ws)
    try:
        result = json.loads((report_dir / "result.json").read_text(encoding="utf-8"))
        verdict, head = result["verdict"], result["head"]["sha"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(
            f"no rendered report in {report_dir}",
            hint="run `mlci report` or `mlci run --dry-run` first, or pass --out DIR",
        ) from e
    if head != ws.repo.head_sha():  # another commit's report must not become this one's check
        raise UsageError(
            f"the report in {report_dir} is of {head[:7]}, but HEAD is {ws.repo.head_sha()[:7]}",
            hint="run `mlci run --dry-run` (or `mlci diff`, then `mlci report`) for this commit",
        )
    code = 0 if verdict == "passed" else 1
    if dry_run or ctx.mode != "pr":
        if not dry_run:
            output.info(
                "mlci: not a pull_request job in GitHub Actions: nothing to post "
                "(the report stays on disk)"
            )
        _local_publish(ws, ctx, report_dir / "report.md")
        return code
    return publish_github(ws, ctx, report_dir, code, strict=strict)


def record_push(ws: Workspace, ctx: CIContext, out: Path | None) -> RunResult:
    """A push to the base branch: train, record the note and push it to origin; then judge
    the commit against its parent's note, so `blessed` can gate a deploy job."""
    from mlci import assemble, notes
    from mlci import record as records
    from mlci.baseline import Baseline

    result = notes.record(ws, push=True)
    head = records.find(ws.root, result.sha)
    assert head is not None  # notes.record trains when there is no record
    parents = ws.repo.first_parent_walk(result.sha, 2)
    if len(parents) == 2:
        found = find_baseline(ws, base="HEAD~1", head_sha=result.sha, allow_retrain=False)
    else:
        found = Baseline(
            strategy="none",
            ref="(none)",
            merge_base=None,
            detail="the first commit has no parent to compare with",
        )
    out_dir = assemble.prepare_out_dir(out or default_out(ws))
    outcome = write_report(ws, head, found, out_dir, run_url=ctx.run_url)
    _after_verdict(ws, outcome, pr=None, push=True)
    _local_publish(ws, ctx, outcome.paths["md"])
    return RunResult(
        exit_code=outcome.exit_code,
        text=result.summary() + "\n" + summary_lines(outcome, ws.config.precision),
    )


def _after_verdict(ws: Workspace, outcome: Outcome, *, pr: int | None, push: bool) -> None:
    """Tag the head's MLflow run; on a push to the base branch, move the registry alias."""
    if ws.config.train.mlflow is not None:
        from mlci.publish import mlflow

        register = ws.config.mlflow.register if push else None
        mlflow.after_verdict(
            outcome.report.head,
            outcome.verdict,
            outcome.paths["md"].parent,
            pr=pr,
            register=register,
        )


def _local_publish(ws: Workspace, ctx: CIContext, md: Path, comment_url: str = "") -> None:
    """Step outputs and the job summary: no API call, so every mode writes them."""
    import json

    from mlci.publish import local

    result = json.loads((md.parent / "result.json").read_text(encoding="utf-8"))
    outputs = local.step_outputs(
        verdict=result["verdict"],
        blessed=bool(result["blessed"]),
        report=md,
        failed=int(result["failed_gates"]),
        comment_url=comment_url,
    )
    done = local.publish(
        ctx, outputs, md.read_text(encoding="utf-8") if ws.config.github.summary else None
    )
    if done:
        output.info("mlci: wrote the " + " and the ".join(done))
