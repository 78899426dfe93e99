"""The GitHub destination: plot images on the assets branch, the sticky pull-request
comment, the check run `mlci / NAME` and the commit status `mlci/NAME` on the PR's head sha.

The only package of mlci that talks to GitHub's API. It is imported lazily (by the
commands that publish, inside their functions); PyGithub and requests are imported inside
the functions that use them. Each step is one module (assets, comment, check, status),
each talks through client.Client.

Every failure ends up as one line in PublishResult (skipped or errors), never as an
exception: the verdict's exit code stands, and the CLI decides what --strict-publish means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.ci import CIContext
from mlci.config import GithubConfig
from mlci.errors import PublishError
from mlci.publish.github import assets, check, comment, files, status
from mlci.publish.github.client import Client, RateLimited, Session, StepFailed, error_message

if TYPE_CHECKING:
    from github.GithubException import GithubException

CHECK_TOKENS = (
    "only a GitHub App's token or the workflow's GITHUB_TOKEN (with `checks: write`) can "
    "create check runs, a personal access token cannot"
)
NO_TOKEN = "no token: set GITHUB_TOKEN (env: GITHUB_TOKEN: ${{ github.token }}) or MLCI_TOKEN"
PERMISSIONS = {
    "images": "contents",
    "comment": "pull-requests",
    "check run": "checks",
    "status": "statuses",
}
STEPS: dict[str, Callable[[Session], str]] = {
    "images": assets.post,
    "comment": comment.post,
    "check run": check.post,
    "status": status.post,
}


@dataclass(frozen=True)
class PublishResult:
    body: str  # the comment body as posted: report.md with image URLs (write it back there)
    comment_url: str | None
    done: tuple[str, ...]
    skipped: tuple[str, ...]  # one line each: what, why, and how to enable it
    errors: tuple[str, ...]  # failures left after retries, one line each (never the token)


def publish(
    ctx: CIContext,
    report_dir: Path,
    *,
    name: str,
    github: GithubConfig,
    config_file: str,
    client: Client | None = None,
) -> PublishResult:
    """Post the report in report_dir on the pull request of ctx; see PublishResult."""
    report = files.load(report_dir)
    parts, skipped = _parts(ctx, github, report)
    errors = [
        f"images: {p} is linked from report.md but not in {report_dir}" for p in report.missing
    ]
    if parts and not ctx.token:
        skipped.append(f"{', '.join(parts)}: {NO_TOKEN}")
        parts = []
    if not parts:
        return PublishResult(report.body, None, (), tuple(skipped), tuple(errors))
    own = client is None
    client = client or (
        Client(ctx)
        if ctx.throttle
        else Client(ctx, seconds_between_requests=None, seconds_between_writes=None)
    )
    session = Session(client, ctx, name, github, config_file, report, report.body)
    session.repo = f"/repos/{ctx.repository}"
    try:
        done = _run(session, parts, skipped, errors)
    finally:
        if own:
            client.close()
    return PublishResult(
        session.body, session.comment_url, tuple(done), tuple(skipped), tuple(errors)
    )


def find_pull(ctx: CIContext) -> int:
    """The open pull request whose head is ctx's head repository, branch and sha: how a
    workflow_run of a fork's PR (whose `pull_requests` is empty) finds its PR number."""
    import requests
    from github.GithubException import GithubException

    hint = "the pull request may be closed, or its branch pushed again since; re-run the job"
    if not (ctx.token and ctx.repository and ctx.head_repo and ctx.head_ref and ctx.head_sha):
        raise PublishError(
            "the workflow_run event names no pull request, and its head repository, branch "
            "or sha is unknown (or there is no token to look the pull request up)",
            where="GITHUB_EVENT_PATH",
            hint=hint,
        )
    owner = ctx.head_repo.split("/")[0]
    client = Client(ctx)
    try:
        _, pulls = client.call(
            "GET",
            f"/repos/{ctx.repository}/pulls",
            params={"head": f"{owner}:{ctx.head_ref}", "state": "open", "per_page": 100},
        )
    except (GithubException, requests.RequestException, RateLimited) as e:
        raise PublishError(
            f"could not look up the pull request of {ctx.head_repo}:{ctx.head_ref} "
            f"({client.last}: {getattr(e, 'status', type(e).__name__)})",
            where=ctx.api_url,
            hint="re-run the job once GitHub answers",
        ) from e
    finally:
        client.close()
    for pull in pulls:
        if (pull.get("head") or {}).get("sha") == ctx.head_sha:
            return int(pull["number"])
    raise PublishError(
        f"no open pull request from {ctx.head_repo}:{ctx.head_ref} at {ctx.head_sha[:12]} "
        f"in {ctx.repository}",
        where=ctx.api_url,
        hint=hint,
    )


def _parts(
    ctx: CIContext, gh: GithubConfig, report: files.ReportFiles
) -> tuple[list[str], list[str]]:
    """What to publish, in order, and one line for each part that is off and why."""
    wanted = {"comment": gh.comment, "check run": gh.check, "status": gh.status}
    keys = {"comment": "comment", "check run": "check", "status": "status"}
    skipped = [f"{p}: turned off (github.{keys[p]}: false)" for p, on in wanted.items() if not on]
    parts = [p for p, on in wanted.items() if on]
    if not ctx.repository or not ctx.head_sha:
        if parts:
            skipped.append(
                f"{', '.join(parts)}: not in a GitHub Actions pull-request job "
                "(GITHUB_REPOSITORY or the head sha is unknown); run mlci as a workflow step"
            )
        return [], skipped
    if "comment" in parts and ctx.pr_number is None:
        parts.remove("comment")
        skipped.append(f"comment: no pull request in this job (event {ctx.event})")
    if report.images and ("comment" in parts or "check run" in parts):
        parts.insert(0, "images")
    return parts, skipped


def _run(s: Session, parts: list[str], skipped: list[str], errors: list[str]) -> list[str]:
    import requests
    from github.GithubException import GithubException

    done = []
    for i, part in enumerate(parts):
        try:
            try:
                done.append(STEPS[part](s))
            except (GithubException, requests.RequestException, RateLimited) as e:
                raise _explain(s, part, parts[i:], e) from e
        except StepFailed as failed:
            (skipped if failed.skip else errors).append(failed.line)
            if failed.final:
                break
    return done


def _explain(s: Session, part: str, left: list[str], e: Exception) -> StepFailed:
    """The line for a failed step, and whether the steps left would fail the same way."""
    import requests
    from github.GithubException import GithubException

    if isinstance(e, RateLimited):
        return StepFailed(f"{part}: {e}", final=True)
    if isinstance(e, requests.RequestException):
        return StepFailed(
            f"{part}: no answer from {s.ctx.api_url} to {s.client.last} ({type(e).__name__})"
        )
    assert isinstance(e, GithubException)
    message = error_message(e)
    source = s.ctx.token_source or "the environment"
    if e.status == 401:
        return StepFailed(
            f"GitHub rejected the token in {source} (401 {message or 'Bad credentials'}): "
            f"it is wrong, expired or revoked; set {source} to a valid token",
            final=True,
        )
    if e.status == 403 and "not accessible by integration" in message.lower():
        return StepFailed(_read_only(s, left, e), final=True, skip=True)
    if e.status == 403 and part == "check run":
        return _check_refused(s, message)
    if e.status == 404 and not s.visible():
        return StepFailed(
            f"repository {s.ctx.repository} not found or not visible to the token in {source}: "
            "check the repository name and the token's access",
            final=True,
        )
    if e.status == 404 and part == "comment":
        return StepFailed(
            f"comment: pull request #{s.ctx.pr_number} not found in {s.ctx.repository} (404)"
        )
    data = e.data if isinstance(e.data, dict) else {}
    detail = "; ".join(
        str(x.get("message") or x.get("code"))
        for x in data.get("errors") or []
        if isinstance(x, dict)
    )
    why = f"{e.status} {message}" + (f": {detail}" if detail else "")
    if e.status >= 500:
        return StepFailed(
            f"{part}: GitHub kept answering {why} to {s.client.last}; re-run the job later"
        )
    return StepFailed(f"{part}: GitHub answered {why} to {s.client.last}")


def _read_only(s: Session, left: list[str], e: GithubException) -> str:
    source = s.ctx.token_source or "the token"
    needed = [PERMISSIONS[p] for p in left]
    accepted = (e.headers or {}).get("x-accepted-github-permissions")
    if s.ctx.is_fork and source == "GITHUB_TOKEN":
        why = "a fork's pull request gets a read-only GITHUB_TOKEN"
        how = (
            "to post the full report on forks' pull requests, add the workflow "
            "mlci-publish.yml (on: workflow_run; see docs/forks.md), which posts it from the "
            "job's artifact with a write token"
        )
    else:
        why = "403 Resource not accessible by integration"
        why += f", it needs {accepted}" if accepted else ""
        how = f"give {source} {_words(needed)} write"
        if source == "GITHUB_TOKEN":
            how = "give the job `permissions: {" + ", ".join(f"{p}: write" for p in needed) + "}`"
        elif "check run" in left:
            how += f"; {CHECK_TOKENS}"
    return f"{', '.join(left)}: the token in {source} may not write ({why}); {how}"


def _check_refused(s: Session, message: str) -> StepFailed:
    """A check run refused with 403 (a personal access token): the status still gates."""
    source = s.ctx.token_source or "the token"
    return StepFailed(
        f"check run: GitHub refused it for the token in {source} (403 {message}); "
        f"{CHECK_TOKENS}; the commit status mlci/{s.name} still gates the merge",
        skip=True,
    )


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
