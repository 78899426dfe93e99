"""`mlci publish`: post the last rendered report (or, with --from, the report a fork's job
uploaded) on the pull request; and the publishing every report-writing command shares:
GitHub, the step outputs and job summary, MLflow tags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import atomic, output
from mlci.commands.loop import Outcome, default_out
from mlci.errors import PublishError, UsageError
from mlci.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from mlci.ci import CIContext
    from mlci.publish.github import PublishResult


def main(
    config: Path | None,
    *,
    name: str | None,
    out: Path | None,
    dry_run: bool,
    strict: bool,
    from_dir: Path | None,
) -> int:
    """`mlci publish [--from DIR]`: the exit code is the report's verdict."""
    from mlci import ci

    ctx = ci.from_env()
    if from_dir is not None:
        return publish_from(ctx, from_dir, strict=strict)
    ws = open_workspace(config, report_name=name)
    return publish_last(ws, ctx, out, dry_run=dry_run, strict=strict)


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
    atomic.write_text(md, result.body)  # report.md is exactly the comment body
    _say(result)
    local_publish(ws, ctx, md, comment_url=result.comment_url or "")
    _strict(ctx, result, strict=strict)
    return verdict_code


def _say(result: PublishResult) -> None:
    """One line per part published, skipped or failed."""
    for line in result.done:
        output.info(f"mlci: published {line}")
    for line in result.skipped:
        output.warn(f"skipped {line}")
    for line in result.errors:
        output.warn(f"GitHub: {line}")


def _strict(ctx: CIContext, result: PublishResult, *, strict: bool) -> None:
    """With --strict-publish a GitHub failure is exit 3; else the verdict stands."""
    if strict and result.errors:
        raise PublishError(
            f"publishing on GitHub failed: {result.errors[0]}",
            where=ctx.api_url,
            hint="re-run the job once GitHub answers, or drop --strict-publish to let the "
            "verdict stand",
        )


def write_pull(ctx: CIContext, report_dir: Path) -> None:
    """Say in the report directory (the artifact) which PR and head sha it is for, so that
    `mlci publish --from` can refuse another PR's report."""
    import json

    from mlci.publish.artifact import PULL_FILE

    pull = {"repository": ctx.repository, "pr": ctx.pr_number, "head_sha": ctx.head_sha}
    (report_dir / PULL_FILE).write_text(json.dumps(pull) + "\n", encoding="utf-8")


def publish_from(ctx: CIContext, src: Path, *, strict: bool) -> int:
    """`mlci publish --from DIR` in a workflow_run job: post the report a fork's pull_request
    job uploaded. Repository, PR and head sha come from the event only; the artifact is
    checked as untrusted input (see publish/artifact.py). Needs no checkout."""
    import dataclasses
    import json
    import tempfile

    from mlci.config import GithubConfig
    from mlci.publish import artifact, github

    if ctx.event != "workflow_run":
        raise UsageError(
            f"--from posts a report for the pull request of a workflow_run event, and this "
            f"is {'a ' + ctx.event + ' event' if ctx.event else 'not a GitHub Actions job'}",
            where="--from",
            hint="run it in the workflow of templates/workflows/mlci-publish.yml "
            "(on: workflow_run), or drop --from",
        )
    if ctx.trigger not in ("pull_request", "pull_request_target"):
        output.info(
            f"mlci: the run that triggered this one was a {ctx.trigger or 'unknown'} event, "
            "not a pull request: nothing to post"
        )
        return 0
    number = ctx.pr_number if ctx.pr_number is not None else github.find_pull(ctx)
    pr_ctx = dataclasses.replace(ctx, pr_number=number, run_url=ctx.trigger_url or ctx.run_url)
    assert pr_ctx.head_sha is not None  # the workflow_run payload always has one
    with tempfile.TemporaryDirectory(prefix="mlci-artifact-") as tmp:
        checked = artifact.check(src, Path(tmp), pr=number, head_sha=pr_ctx.head_sha)
        for line in checked.ignored:
            output.warn(line)
        output.info(f"mlci: posting report {checked.name} on #{number} at {pr_ctx.head_sha[:12]}")
        _say_failed(json.loads((Path(tmp) / "result.json").read_text(encoding="utf-8")))
        result = github.publish(
            pr_ctx, Path(tmp), name=checked.name, github=GithubConfig(), config_file="mlci.yaml"
        )
    _say(result)
    _strict(pr_ctx, result, strict=strict)
    return 0 if checked.verdict == "passed" else 1


def _say_failed(result: dict[str, Any]) -> None:
    """Exit 1 lists the failed rules, for a report rendered earlier or by another job."""
    from mlci.report import rules

    if result.get("verdict") != "passed":
        output.result("\n".join([*rules.failed_in_result(result), "verdict: failed"]))


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
            "no rendered report",
            where=str(report_dir),
            hint="run `mlci report` or `mlci run --dry-run` first, or pass --out DIR",
        ) from e
    if head != ws.repo.head_sha():  # another commit's report must not become this one's check
        raise UsageError(
            f"the report is of {head[:7]}, but HEAD is {ws.repo.head_sha()[:7]}",
            where=str(report_dir),
            hint="run `mlci run --dry-run` (or `mlci diff`, then `mlci report`) for this commit",
        )
    code = 0 if verdict == "passed" else 1
    _say_failed(result)
    if dry_run or ctx.mode != "pr":
        if not dry_run:
            output.info(
                "mlci: not a pull_request job in GitHub Actions: nothing to post "
                "(the report stays on disk)"
            )
        local_publish(ws, ctx, report_dir / "report.md")
        return code
    return publish_github(ws, ctx, report_dir, code, strict=strict)


def after_verdict(ws: Workspace, outcome: Outcome, *, pr: int | None, push: bool) -> None:
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


def local_publish(ws: Workspace, ctx: CIContext, md: Path, comment_url: str = "") -> None:
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
