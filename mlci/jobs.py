"""Where `mlci run` runs decides what it does: a pull_request job publishes the report on
GitHub, a push to the base branch records the note, anything else is a dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import atomic, output
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
    from mlci.publish.github import PublishResult


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
    if mode == "pr":
        _check_checkout(ws, ctx)
    if mode == "push":
        from mlci import baseline as baselines

        base_branch = baselines.base_branch(ws, ctx.default_branch)
        if base_branch:  # baseline.ref may name it as the remote's branch or in full
            base_branch = base_branch.removeprefix("refs/heads/").removeprefix("origin/")
        if ctx.base_ref is not None and ctx.base_ref == base_branch:
            if ctx.provider == "github" and ws.repo.is_shallow():
                _fetch_parent(ws, base_branch)
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
    if ctx.provider == "github":
        _fetch_base(ws, base, ci_base)
    outcome = run_loop(ws, base=base, out=out, ci_base=ci_base, run_url=ctx.run_url)
    _after_verdict(ws, outcome, pr=ctx.pr_number if mode == "pr" else None, push=False)
    code = outcome.exit_code
    if mode == "pr":
        _write_pull(ctx, outcome.paths["md"].parent)
        code = publish_github(
            ws, ctx, outcome.paths["md"].parent, outcome.exit_code, strict=strict_publish
        )
    else:
        local_publish(ws, ctx, outcome.paths["md"])
    return RunResult(exit_code=code, text=summary_lines(outcome, ws.config.precision))


def _check_checkout(ws: Workspace, ctx: CIContext) -> None:
    """The commit trained must be the PR's head or its merge: pull_request_target checks
    out the base branch, whose model would be reported green on the PR's head."""
    head, want = ws.repo.head_sha(), ctx.head_sha
    if want is None or head == want or want in ws.repo.parents(head):
        return
    raise UsageError(
        f"the checkout is {head[:7]}, neither the pull request's head {want[:7]} nor a "
        f"merge of it ({ctx.event} job)",
        where="GITHUB_EVENT_PATH",
        hint="run mlci on the pull_request event (templates/workflows/mlci.yml); "
        "pull_request_target checks out the base branch unless actions/checkout is given "
        "`ref: ${{ github.event.pull_request.head.sha }}`",
    )


def _fetch_base(ws: Workspace, base: str | None, ci_base: str | None) -> None:
    """In CI the checkout may be one commit deep: fetch the base branch to the merge-base."""
    from mlci import baseline as baselines
    from mlci.errors import GitError
    from mlci.git import fetch as shallow

    ref = baselines.resolve_ref(ws, base, ci_base)
    if not ws.repo.is_shallow():
        try:
            ws.repo.resolve(ref)
            return
        except GitError:
            pass
    line = shallow.fetch_base(ws.repo, ref.removeprefix("origin/"))
    if line:
        output.info(line)


def _fetch_parent(ws: Workspace, branch: str) -> None:
    """A depth-1 checkout of a push lacks the parent the record is compared with."""
    from mlci.git.fetch import fetch_branch

    problem = fetch_branch(ws.repo, branch, deepen=1)
    if problem:
        output.warn(f"could not fetch the parent of {branch} from origin: {problem}")
    else:
        output.info(f"mlci: fetched the parent commit of {branch} from origin (shallow clone)")


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


def _write_pull(ctx: CIContext, report_dir: Path) -> None:
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
    from mlci.judge import gates

    if result.get("verdict") != "passed":
        output.result("\n".join([*gates.failed_in_result(result), "verdict: failed"]))


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


def record_push(ws: Workspace, ctx: CIContext, out: Path | None) -> RunResult:
    """A push to the base branch: train, record the note and push it to origin; then judge
    the commit against its parent's note, so `blessed` can gate a deploy job."""
    from mlci import notes
    from mlci import record as records
    from mlci.baseline import Baseline
    from mlci.report import build as assemble

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
    local_publish(ws, ctx, outcome.paths["md"])
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
