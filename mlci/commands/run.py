"""`mlci run`: the whole loop for where it runs. A pull_request job trains, compares,
judges, reports and publishes on GitHub; a push to the base branch records the note;
anywhere else (or --dry-run) it is everything but the network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlci import output
from mlci.commands import Done
from mlci.commands import publish as publishing
from mlci.commands import record as recording
from mlci.commands.loop import (
    Outcome,
    base_ref,
    default_out,
    find_baseline,
    preload_report_libraries,
    summary_lines,
    write_report,
)
from mlci.errors import UsageError
from mlci.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from mlci.ci import CIContext


def main(
    config: Path | None,
    *,
    name: str | None,
    cache: bool,
    dry_run: bool,
    base: str | None,
    out: Path | None,
    strict: bool,
) -> int:
    """`mlci run`: prints the rules, the verdict and the report's files."""
    from mlci import ci

    ctx = ci.from_env()
    ws = open_workspace(config, report_name=name, cache=cache)
    done = run(ws, ctx, dry_run=dry_run, base=base, out=out, strict_publish=strict)
    output.result(done.text)
    return done.exit_code


def run(
    ws: Workspace,
    ctx: CIContext,
    *,
    dry_run: bool,
    base: str | None,
    out: Path | None,
    strict_publish: bool = False,
) -> Done:
    """`mlci run`: the loop for where it runs (a PR, a push to the base branch, or a dry run)."""
    mode = _mode(ws, ctx, dry_run)
    if mode == "record":
        return recording.on_push(ws, ctx, out)
    # the PR's base branch, else (workflow_dispatch) the repository's default from the payload
    ci_base = ctx.base_ref if ctx.is_pull_request else ctx.default_branch
    if ctx.provider == "github":
        _fetch_base(ws, base, ci_base)
    outcome = train_and_report(ws, base=base, out=out, ci_base=ci_base, run_url=ctx.run_url)
    publishing.after_verdict(ws, outcome, pr=ctx.pr_number if mode == "pr" else None, push=False)
    code = outcome.exit_code
    if mode == "pr":
        publishing.write_pull(ctx, outcome.paths["md"].parent)
        code = publishing.publish_github(
            ws, ctx, outcome.paths["md"].parent, outcome.exit_code, strict=strict_publish
        )
    else:
        publishing.local_publish(ws, ctx, outcome.paths["md"])
    return Done(exit_code=code, text=summary_lines(outcome, ws.config.precision))


def _mode(ws: Workspace, ctx: CIContext, dry_run: bool) -> str:
    """pr, record (a push to the base branch) or dry-run; the checks each one needs first."""
    mode = "dry-run" if dry_run else ctx.mode
    if mode in ("pr", "push"):
        from mlci import ci

        ci.check_repository(ctx, ws.repo.remote_url())
    if mode == "pr":
        _check_checkout(ws, ctx)
    elif mode == "push":
        return _push_mode(ws, ctx)
    elif not dry_run:
        output.info(
            "mlci: not a pull_request or push job in GitHub Actions: running as a dry "
            "run (nothing is published)"
        )
    return mode


def _push_mode(ws: Workspace, ctx: CIContext) -> str:
    """A push records the note only on the base branch; elsewhere it is a dry run."""
    from mlci import baseline as baselines

    base_branch = baselines.base_branch(ws, ctx.default_branch)
    if base_branch:  # baseline.ref may name it as the remote's branch or in full
        base_branch = base_branch.removeprefix("refs/heads/").removeprefix("origin/")
    if ctx.base_ref is not None and ctx.base_ref == base_branch:
        if ctx.provider == "github" and ws.repo.is_shallow():
            _fetch_parent(ws, base_branch)
        return "record"
    output.info(
        f"mlci: a push to {ctx.base_ref or 'a tag'}, not to the base branch "
        f"{base_branch}: nothing is recorded; running as a dry run"
    )
    return "dry-run"


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


def train_and_report(
    ws: Workspace,
    *,
    base: str | None,
    out: Path | None,
    ci_base: str | None = None,
    run_url: str | None = None,
) -> Outcome:
    """train -> baseline -> compare -> gate -> report, all written to the report directory."""
    import time

    from mlci import last
    from mlci.report import build as assemble
    from mlci.train.runner import train_checkout

    out_dir = assemble.prepare_out_dir(out or default_out(ws))
    base_ref(ws, base, ci_base)  # a missing base fails now, not after an hour of training
    t0 = time.monotonic()
    preload_report_libraries(ws.config)
    head = train_checkout(ws)
    t1 = time.monotonic()
    found = find_baseline(ws, base=base, head_sha=head.sha, ci_base=ci_base, fetch_notes=True)
    timings = {"head training": t1 - t0, "baseline": time.monotonic() - t1}  # report order
    outcome = write_report(ws, head, found, out_dir, timings=timings, run_url=run_url, started=t0)
    last.save(ws.root, head, found, dict(outcome.report.timings), outcome.evidence)
    return outcome
