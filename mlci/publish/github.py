"""The GitHub destination: plot images on the assets branch, the sticky pull-request
comment, the check run `mlci / NAME` and the commit status `mlci/NAME` on the PR's head sha.

The only module of mlci that imports PyGithub. It is itself imported lazily (by the
commands that publish, inside their functions), so `github` is imported at the top here.
It talks through PyGithub's Requester rather than its object model: one request per step
(no GET of the repository or the pull request first, so a re-run costs about six
requests), plain dicts back, and a retry policy of its own, because PyGithub's default
retry re-sends a POST whose answer was lost and so posts a second comment.

Every failure ends up as one line in PublishResult (skipped or errors), never as an
exception: the verdict's exit code stands, and the CLI decides what --strict-publish means.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import math
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import github
import requests
from github.GithubException import GithubException

from mlci import redact
from mlci.ci import CIContext
from mlci.config import GithubConfig
from mlci.errors import PublishError, UsageError
from mlci.report.markdown import COMMENT_LIMIT, marker

JSON = dict[str, Any]
CHECK_LIMIT = 65_535  # bytes of a check run's output.summary
ANNOTATIONS_PER_REQUEST = 50
DESCRIPTION_LIMIT = 140  # characters of a commit status description
CLOCK_SLACK = 2  # seconds: the Date header and created_at are whole seconds
RACE_WAIT = 5  # seconds to wait for a concurrent run's check run
REF_ATTEMPTS = 4  # tries to move the assets branch while concurrent runs move it too
IMAGE = re.compile(r'src="plots/([^"]+?\.(?:png|jpe?g|gif|svg))"', re.IGNORECASE)
NEXT_PAGE = re.compile(r'<([^>]+)>;\s*rel="next"')
COMMENT_NOTE = (
    "\n> [!WARNING]\n> mlci cut this report here to fit GitHub's limit of 65,536 characters "
    "for a comment: the full report is in the workflow run's artifacts and in result.json.\n"
)
CHECK_NOTE = (
    "\n> [!WARNING]\n> mlci cut this summary here to fit GitHub's limit of 65,535 bytes for a "
    "check run: the full report is in the pull-request comment, the workflow run's "
    "artifacts and result.json.\n"
)
CHECK_TOKENS = (
    "only a GitHub App's token or the workflow's GITHUB_TOKEN (with `checks: write`) can "
    "create check runs, a personal access token cannot"
)
NO_TOKEN = "no token: set GITHUB_TOKEN (env: GITHUB_TOKEN: ${{ github.token }}) or MLCI_TOKEN"
UPDATE_REFS = """
mutation($repo: ID!, $updates: [RefUpdate!]!) {
  updateRefs(input: {repositoryId: $repo, refUpdates: $updates}) { clientMutationId }
}"""
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
PERMISSIONS = {
    "images": "contents",
    "comment": "pull-requests",
    "check run": "checks",
    "status": "statuses",
}


@dataclass(frozen=True)
class PublishResult:
    body: str  # the comment body as posted: report.md with image URLs (write it back there)
    comment_url: str | None
    done: tuple[str, ...]
    skipped: tuple[str, ...]  # one line each: what, why, and how to enable it
    errors: tuple[str, ...]  # failures left after retries, one line each (never the token)


class Client:
    """PyGithub's requester with mlci's retry policy.

    Every request carries GitHub's media type and API version and has a timeout. A 5xx is
    retried with a bounded backoff; a secondary rate limit is waited out as Retry-After
    says, up to `max_wait` seconds in all (MLCI_GITHUB_MAX_WAIT), never longer. A write
    that must not happen twice passes `look`: when its answer is lost or late (a timeout,
    a dropped connection) the write may still land, so `look` is asked, again and again
    for up to `max_wait` seconds, whether it did; only then is it sent again. After a 5xx
    the request is sent again without a look first: a look between two tries would put
    every retry on the same failing beat of a fault that hits every other request; a
    comment that a 5xx duplicated is removed after posting, as a race's is.
    """

    def __init__(
        self,
        ctx: CIContext,
        *,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not ctx.token:
            raise ValueError("a GitHub client needs a token")
        self._github = github.Github(
            base_url=ctx.api_url,
            auth=github.Auth.Token(ctx.token),
            retry=None,  # PyGithub's retry would re-send a POST whose answer was lost
            timeout=max(1, math.ceil(ctx.request_timeout)),  # PyGithub takes whole seconds
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )
        self._attempts, self._max_wait, self._sleep = attempts, ctx.max_wait, sleep
        self.last = ""  # "VERB path" of the latest request, for error lines

    def close(self) -> None:
        self._github.close()

    @property
    def graphql_url(self) -> str:
        return str(self._github.requester.graphql_url)

    def wait(self, seconds: float) -> None:
        self._sleep(seconds)

    def call(
        self,
        verb: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        look: Callable[[], Any] | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """Headers and data of one request, retried as the class docstring says."""
        here = f"{verb} {path.split('?')[0]}"
        self.last, slept = here, 0.0
        for attempt in range(1, self._attempts + 1):
            failure: Exception
            try:
                return self._github.requester.requestJsonAndCheck(
                    verb,
                    path,
                    parameters=dict(params) if params else None,
                    headers=dict(HEADERS),
                    input=body,
                )
            except GithubException as e:
                delay = _retry_delay(e, attempt)
                if delay is None:
                    raise
                if slept + delay > self._max_wait and _rate_limited(e):
                    raise RateLimited(delay, self._max_wait) from e
                failure = e
            except requests.RequestException as e:  # no answer: the write may have been done
                failure, delay = e, _backoff(attempt)
                if look is not None:
                    found, slept = self._settle(look, failure, here, slept)
                    if found is not None:
                        return {}, found
                    delay = 0.0
            self.last = here  # a look makes requests of its own
            if attempt == self._attempts or slept + delay > self._max_wait:
                raise failure
            self._sleep(delay)
            slept += delay
        raise AssertionError("unreachable")

    def _settle(
        self, look: Callable[[], Any], failure: Exception, here: str, slept: float
    ) -> tuple[Any, float]:
        """Look for a write whose answer never came, until it shows or max_wait is spent:
        a request held in the network may still be delivered long after the timeout."""
        step = 1
        while True:
            found = self._look(look, failure, here)
            delay = _backoff(step)
            if found is not None or slept + delay > self._max_wait:
                return found, slept
            self._sleep(delay)
            slept, step = slept + delay, step + 1

    def _look(self, look: Callable[[], Any], failure: Exception, here: str) -> Any:
        """What the look finds; when it cannot tell, the write is not risked again."""
        try:
            return look()
        except (GithubException, requests.RequestException):
            self.last = here
            raise failure from None


class RateLimited(Exception):
    """GitHub asked to wait longer than mlci's bound."""

    def __init__(self, wait: float, bound: float) -> None:
        super().__init__(
            f"GitHub's rate limit asks to wait {wait:g} s, more than mlci waits "
            f"({bound:g} s, MLCI_GITHUB_MAX_WAIT); re-run the job later"
        )


def _backoff(attempt: int) -> float:
    return float(min(2 ** (attempt - 1), 8))


def _rate_limited(e: GithubException) -> bool:
    return e.status == 429 or (e.status == 403 and "secondary rate limit" in _message(e).lower())


def _retry_delay(e: GithubException, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when trying again cannot help."""
    if e.status >= 500:
        return _backoff(attempt)
    if _rate_limited(e):
        after = (e.headers or {}).get("retry-after", "")
        return float(after) if after.strip().isdigit() else _backoff(attempt)
    return None


def _message(e: GithubException) -> str:
    data = e.data if isinstance(e.data, dict) else {}
    return str(data.get("message") or e.message or "")


# --- the report directory ----------------------------------------------------------------


@dataclass(frozen=True)
class _Report:
    body: str
    result: JSON
    images: Mapping[str, bytes]  # "X.png" of every plots/X.png that report.md links to
    missing: tuple[str, ...]


def _load(report_dir: Path) -> _Report:
    hint = "run `mlci report` (or `mlci run --dry-run`) first to write the report directory"
    try:
        body = redact.text((report_dir / "report.md").read_text(encoding="utf-8"))
        result = json.loads((report_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the report: {e}", where=str(report_dir), hint=hint) from e
    if not isinstance(result, dict) or result.get("verdict") not in ("passed", "failed"):
        raise UsageError("result.json has no verdict", where=str(report_dir), hint=hint)
    images, missing = {}, []
    for name in dict.fromkeys(IMAGE.findall(body)):
        path = report_dir / "plots" / name
        if path.is_file():
            images[name] = path.read_bytes()
        else:
            missing.append(f"plots/{name}")
    return _Report(body, result, images, tuple(missing))


# --- one publish -----------------------------------------------------------------------


class _Failed(Exception):
    """A step's failure as one line; `final` when every step left would fail the same way."""

    def __init__(self, line: str, *, final: bool = False, skip: bool = False) -> None:
        super().__init__(line)
        self.line, self.final, self.skip = line, final, skip


@dataclass
class _Session:
    client: Client
    ctx: CIContext
    name: str
    github: GithubConfig
    config_file: str
    report: _Report
    body: str
    repo: str = ""
    comment_url: str | None = None
    pruned: int = 0  # old images dropped from the assets branch
    lost_race: bool = False  # another run posted this report's comment first, at the same moment
    fresh_since: str | None = None  # our comment was created by a run at the same moment
    server_date: str | None = None  # GitHub's clock, from the Date header of the comments
    _login: str | None = field(default=None, repr=False)
    _asked_login: bool = field(default=False, repr=False)
    _visible: bool | None = field(default=None, repr=False)

    def login(self) -> str | None:
        """Our own login, or None: GET /user fails for Actions tokens (they have no user)."""
        if not self._asked_login:
            self._asked_login = True
            try:
                self._login = self.client.call("GET", "/user")[1].get("login")
            except (GithubException, requests.RequestException):
                self._login = None
        return self._login

    def visible(self) -> bool:
        """Does the token see the repository? Asked only after a 404, to name the cause."""
        if self._visible is None:
            try:
                self.client.call("GET", self.repo)
                self._visible = True
            except GithubException as e:
                self._visible = e.status != 404
            except requests.RequestException:
                self._visible = True
        return self._visible


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
    report = _load(report_dir)
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
    session = _Session(client, ctx, name, github, config_file, report, report.body)
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


def _parts(ctx: CIContext, gh: GithubConfig, report: _Report) -> tuple[list[str], list[str]]:
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


def _run(s: _Session, parts: list[str], skipped: list[str], errors: list[str]) -> list[str]:
    done = []
    for i, part in enumerate(parts):
        try:
            try:
                done.append(STEPS[part](s))
            except (GithubException, requests.RequestException, RateLimited) as e:
                raise _explain(s, part, parts[i:], e) from e
        except _Failed as failed:
            (skipped if failed.skip else errors).append(failed.line)
            if failed.final:
                break
    return done


def _explain(s: _Session, part: str, left: list[str], e: Exception) -> _Failed:
    """The line for a failed step, and whether the steps left would fail the same way."""
    if isinstance(e, RateLimited):
        return _Failed(f"{part}: {e}", final=True)
    if isinstance(e, requests.RequestException):
        return _Failed(
            f"{part}: no answer from {s.ctx.api_url} to {s.client.last} ({type(e).__name__})"
        )
    assert isinstance(e, GithubException)
    message = _message(e)
    source = s.ctx.token_source or "the environment"
    if e.status == 401:
        return _Failed(
            f"GitHub rejected the token in {source} (401 {message or 'Bad credentials'}): "
            f"it is wrong, expired or revoked; set {source} to a valid token",
            final=True,
        )
    if e.status == 403 and "not accessible by integration" in message.lower():
        return _Failed(_read_only(s, left, e), final=True, skip=True)
    if e.status == 403 and part == "check run":
        return _check_refused(s, message)
    if e.status == 404 and not s.visible():
        return _Failed(
            f"repository {s.ctx.repository} not found or not visible to the token in {source}: "
            "check the repository name and the token's access",
            final=True,
        )
    if e.status == 404 and part == "comment":
        return _Failed(
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
        return _Failed(
            f"{part}: GitHub kept answering {why} to {s.client.last}; re-run the job later"
        )
    return _Failed(f"{part}: GitHub answered {why} to {s.client.last}")


def _read_only(s: _Session, left: list[str], e: GithubException) -> str:
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


def _check_refused(s: _Session, message: str) -> _Failed:
    """A check run refused with 403 (a personal access token): the status still gates."""
    source = s.ctx.token_source or "the token"
    return _Failed(
        f"check run: GitHub refused it for the token in {source} (403 {message}); "
        f"{CHECK_TOKENS}; the commit status mlci/{s.name} still gates the merge",
        skip=True,
    )


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- images on the assets branch ---------------------------------------------------------


def _images(s: _Session) -> str:
    """Commit the linked plots to the assets branch and link them from the body.

    Links are `{server}/{owner}/{repo}/raw/{branch}/{path}`: a branch URL is safe because
    the names are content-addressed (a name never changes content), and these links
    render in public and private repositories alike, for readers who have access.
    """
    named = {n: _asset_path(data, n) for n, data in s.report.images.items()}
    files = {named[n]: s.report.images[n] for n in named}
    uploaded = _upload(s, files)
    pruned = f", {s.pruned} older than {s.github.assets_keep_days} days dropped" if s.pruned else ""
    branch = urllib.parse.quote(s.github.assets_branch, safe="/")
    base = f"{s.ctx.server_url}/{s.ctx.repository}/raw/{branch}/"
    s.body = IMAGE.sub(
        lambda m: f'src="{base}{named[m.group(1)]}"' if m.group(1) in named else m.group(0), s.body
    )
    return f"images ({len(files)}, {uploaded} uploaded{pruned})"


def _asset_path(data: bytes, name: str = ".png") -> str:
    suffix = Path(name).suffix.lower() or ".png"
    return f"img/{hashlib.sha256(data).hexdigest()[:24]}{suffix}"


def _upload(s: _Session, files: Mapping[str, bytes]) -> int:
    """One commit with the files the branch lacks; never forced, retried when it moved.

    A re-run whose images are all there already costs one request (the tree, read by the
    branch's name). When images are uploaded, those older than github.assets_keep_days
    leave the branch in the same step (_old_paths, _reroot).
    """
    have = _tree_of_branch(s)
    if have is not None and all(p in have for p in files):
        return 0
    blobs: dict[str, str] = {}
    for _ in range(REF_ATTEMPTS):
        head = _branch_head(s) if have is not None else None
        tree, have = _tree(s, head) if head else (None, set())
        new = [p for p in files if p not in have]
        if not new:
            return 0
        for p in new:
            if p not in blobs:  # content-addressed: safe to repeat after a lost answer
                body = {"content": base64.b64encode(files[p]).decode(), "encoding": "base64"}
                blobs[p] = s.client.call("POST", f"{s.repo}/git/blobs", body=body)[1]["sha"]
        old = _old_paths(s, head, set(files)) if head else set()
        if old:
            assert head is not None and tree is not None
            if _reroot(s, head, tree, {p: blobs[p] for p in new}, old):
                return len(new)
        else:
            commit = _commit(s, head, tree, {p: blobs[p] for p in new})
            if _move_branch(s, head, commit):
                return len(new)
        have = set()  # the branch moved: read it again
    raise _Failed(
        f"images: the branch {s.github.assets_branch} kept moving under concurrent runs "
        f"({REF_ATTEMPTS} tries); re-run the job"
    )


def _tree_of_branch(s: _Session) -> set[str] | None:
    """Every path on the assets branch, or None when there is no branch yet."""
    branch = urllib.parse.quote(s.github.assets_branch, safe="")
    try:
        _, data = s.client.call("GET", f"{s.repo}/git/trees/{branch}", params={"recursive": "1"})
    except GithubException as e:
        if e.status == 404 and s.visible():
            return None
        raise
    return {e["path"] for e in data.get("tree", []) if e.get("type") == "blob"}


def _old_paths(s: _Session, head: str, current: set[str]) -> set[str]:
    """Images on the branch older than assets_keep_days, never the current run's.

    The branch only ever adds files, so everything in the tree of its newest commit older
    than the cutoff is at least that old: one listing and one tree read, and only in a run
    that uploads.
    """
    cutoff = datetime.now(timezone.utc) - timedelta(days=s.github.assets_keep_days)
    params = {"sha": head, "until": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"), "per_page": 1}
    _, found = s.client.call("GET", f"{s.repo}/commits", params=params)
    if not found:
        return set()
    _, old = _tree(s, str(found[0]["sha"]))
    return old - current


def _reroot(s: _Session, head: str, tree: str, blobs: Mapping[str, str], old: set[str]) -> bool:
    """Replace the branch by one root commit without the old images (and with the new):
    the history that held the old ones is dropped, so a clone no longer downloads them.
    The one forced update mlci makes, with a lease: it lands only if the branch is still
    at `head`, the sha read (GraphQL updateRefs, beforeOid)."""
    entries: list[JSON] = [
        {"path": p, "mode": "100644", "type": "blob", "sha": sha} for p, sha in blobs.items()
    ]
    entries += [{"path": p, "mode": "100644", "type": "blob", "sha": None} for p in sorted(old)]
    _, new_tree = s.client.call(
        "POST", f"{s.repo}/git/trees", body={"base_tree": tree, "tree": entries}
    )
    message = (
        f"mlci: images of the last {s.github.assets_keep_days} days "
        f"({len(old)} older dropped, {len(blobs)} added for report {s.name})"
    )
    body = {"message": message, "tree": new_tree["sha"], "parents": []}
    commit = str(s.client.call("POST", f"{s.repo}/git/commits", body=body)[1]["sha"])
    repo_id = s.client.call("GET", s.repo)[1]["node_id"]
    update = {"name": f"refs/heads/{s.github.assets_branch}", "beforeOid": head}
    variables = {"repo": repo_id, "updates": [{**update, "afterOid": commit, "force": True}]}
    _, answer = s.client.call(
        "POST", s.client.graphql_url, body={"query": UPDATE_REFS, "variables": variables}
    )
    if answer.get("errors"):
        # the lease failed (another run moved the branch) or GraphQL refused: try again
        return _branch_head(s) == commit  # a lost answer may have landed all the same
    s.pruned = len(old)
    return True


def _branch_head(s: _Session) -> str | None:
    try:
        _, data = s.client.call("GET", f"{s.repo}/git/ref/heads/{s.github.assets_branch}")
    except GithubException as e:
        if e.status == 404 and s.visible():
            return None  # no branch yet: the first commit will be a root commit
        raise
    return str(data["object"]["sha"])


def _tree(s: _Session, commit: str) -> tuple[str, set[str]]:
    """The commit's tree and every path in it, read once, recursively."""
    _, data = s.client.call("GET", f"{s.repo}/git/trees/{commit}", params={"recursive": "1"})
    # a truncated tree (>100,000 entries) only makes us upload some blobs again: harmless
    return str(data["sha"]), {e["path"] for e in data.get("tree", []) if e.get("type") == "blob"}


def _commit(s: _Session, head: str | None, tree: str | None, blobs: Mapping[str, str]) -> str:
    entries = [
        {"path": p, "mode": "100644", "type": "blob", "sha": sha} for p, sha in blobs.items()
    ]
    tree_body: JSON = {"tree": entries, **({"base_tree": tree} if tree else {})}
    _, new_tree = s.client.call("POST", f"{s.repo}/git/trees", body=tree_body)
    message = f"mlci: {len(blobs)} plot image{'s' if len(blobs) != 1 else ''} for report {s.name}"
    body = {"message": message, "tree": new_tree["sha"], "parents": [head] if head else []}
    return str(s.client.call("POST", f"{s.repo}/git/commits", body=body)[1]["sha"])


def _move_branch(s: _Session, head: str | None, commit: str) -> bool:
    """Create the branch or fast-forward it; False when another run moved it first."""
    branch = s.github.assets_branch
    body: JSON
    try:
        if head is None:
            body = {"ref": f"refs/heads/{branch}", "sha": commit}
            s.client.call("POST", f"{s.repo}/git/refs", body=body)
        else:
            body = {"sha": commit, "force": False}
            s.client.call("PATCH", f"{s.repo}/git/refs/heads/{branch}", body=body)
    except GithubException as e:
        if e.status == 422:  # "Reference already exists" / "Update is not a fast forward"
            return False
        raise
    return True


# --- the sticky comment ------------------------------------------------------------------


def _comment(s: _Session) -> str:
    """Edit our comment for this report name, or post it; never leave two of ours.

    Runs at the same moment both post: listed again afterwards, the oldest comment stays,
    and a run whose own comment was not the oldest lost the race (it leaves the check run
    to the winner, so the head sha gets one).
    """
    body, cut = _fit(s.body, COMMENT_LIMIT, COMMENT_NOTE, in_bytes=False)
    s.body = body
    mine, posted = _ours(s), None
    if not mine:
        path = f"{s.repo}/issues/{s.ctx.pr_number}/comments"
        _, posted = s.client.call(
            "POST", path, body={"body": body}, look=lambda: next(iter(_ours(s)), None)
        )
        mine = _ours(s) or [posted]  # listed again: a concurrent run may have posted as well
    keep = mine[0]
    if posted is not None and keep["id"] != posted["id"]:
        s.lost_race = True
    elif posted is None and _created_meanwhile(
        str(keep.get("created_at")), s.server_date, s.ctx.started
    ):
        s.fresh_since = str(keep.get("created_at"))
    changed = _same(keep.get("body")) != _same(body)
    if changed:
        url = f"{s.repo}/issues/comments/{keep['id']}"
        keep = s.client.call("PATCH", url, body={"body": body})[1]
    for extra in mine[1:]:
        _delete_comment(s, extra)
    s.comment_url = keep.get("html_url")
    how = "edited" if changed else ("posted" if posted is not None else "unchanged")
    return f"comment ({how}{', cut to fit' if cut else ''})"


def _created_meanwhile(created: str, server_date: str | None, started: float | None) -> bool:
    """Was the comment created after this mlci process started (by GitHub's clock, which
    the Date header of the listing ties to ours)? Then another run is publishing too."""
    if not server_date or started is None:
        return False
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        skew = email.utils.parsedate_to_datetime(server_date).timestamp() - time.time()
    except (TypeError, ValueError):
        return False
    return then >= started + skew - CLOCK_SLACK


def _ours(s: _Session) -> list[JSON]:
    """Our comments for this name, oldest first.

    Ours: the body starts with the marker (mlci writes it as the first line) and the author
    is a bot (GITHUB_TOKEN comments as github-actions[bot]) or our own login. A comment
    that quotes the marker, or that a person wrote, is never ours.
    """
    mark = marker(s.name)
    found = [c for c in _all_comments(s) if (c.get("body") or "").lstrip().startswith(mark)]
    mine = [c for c in found if _authored_by_us(s, c.get("user") or {})]
    return sorted(mine, key=lambda c: (str(c.get("created_at")), int(c["id"])))


def _authored_by_us(s: _Session, user: JSON) -> bool:
    if user.get("type") == "Bot":
        return True
    return user.get("login") is not None and user.get("login") == s.login()


def _all_comments(s: _Session) -> list[JSON]:
    comments: list[JSON] = []
    url: str | None = f"{s.repo}/issues/{s.ctx.pr_number}/comments"
    params: dict[str, Any] | None = {"per_page": 100}
    while url:
        headers, page = s.client.call("GET", url, params=params)
        s.server_date = headers.get("date") or s.server_date
        comments += page
        match = NEXT_PAGE.search(headers.get("link", ""))
        url, params = (match.group(1), None) if match else (None, None)
    return comments


def _delete_comment(s: _Session, comment: JSON) -> None:
    try:
        s.client.call("DELETE", f"{s.repo}/issues/comments/{comment['id']}")
    except GithubException as e:
        if e.status != 404:  # gone already: a repeated DELETE after a lost answer
            raise


def _same(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n")


# --- check run and commit status ---------------------------------------------------------


def _check_run(s: _Session) -> str:
    """A new completed check run on the head sha; annotations 50 per request.

    Every publish posts its own (GitHub shows the latest per name), except when another
    run of this report publishes at the same moment: then one check run is left.
    """
    if s.lost_race:
        raise _Failed(
            f"check run: another run of report {s.name} posted its comment at the same "
            "moment; that run posts the check run",
            skip=True,
        )
    summary, _ = _fit(s.body, CHECK_LIMIT, CHECK_NOTE, in_bytes=True)
    conclusion = "success" if s.report.result["verdict"] == "passed" else "failure"
    output = {"title": _tally(s.report.result), "summary": summary}
    if s.fresh_since is not None and _same_check(s, s.fresh_since, output["title"], conclusion):
        return "check run (the same verdict, posted by a run of this report at the same moment)"
    notes = _annotations(s)
    external_id = uuid.uuid4().hex  # finds this very run again after a lost answer
    body: JSON = {
        "name": f"mlci / {s.name}",
        "head_sha": s.ctx.head_sha,
        "status": "completed",
        "conclusion": conclusion,
        "external_id": external_id,
        "output": {**output, "annotations": notes[:ANNOTATIONS_PER_REQUEST]},
        **({"details_url": s.ctx.run_url} if s.ctx.run_url else {}),
    }
    _, run = s.client.call(
        "POST", f"{s.repo}/check-runs", body=body, look=lambda: _find_check(s, external_id)
    )
    for start in range(ANNOTATIONS_PER_REQUEST, len(notes), ANNOTATIONS_PER_REQUEST):
        batch = notes[start : start + ANNOTATIONS_PER_REQUEST]
        total = start + len(batch)
        s.client.call(
            "PATCH",
            f"{s.repo}/check-runs/{run['id']}",
            body={"output": {**output, "annotations": batch}},
            look=lambda total=total: _annotated(s, run["id"], total),  # type: ignore[misc]
        )
    return "check run" + (f" ({len(notes)} annotations)" if notes else "")


def _same_check(s: _Session, since: str, title: str, conclusion: str) -> bool:
    """Another run created our comment moments ago: it posts a check run too. Wait a few
    seconds for it; when its verdict is ours, it stays the one check run of the sha."""
    params = {"check_name": f"mlci / {s.name}", "filter": "all", "per_page": 100}
    path = f"{s.repo}/commits/{s.ctx.head_sha}/check-runs"
    waited = 0.0
    while True:
        _, data = s.client.call("GET", path, params=params)
        runs = [r for r in data["check_runs"] if str(r.get("started_at")) >= since]
        if runs:
            return any(
                r.get("conclusion") == conclusion and (r.get("output") or {}).get("title") == title
                for r in runs
            )
        if waited >= min(RACE_WAIT, s.ctx.max_wait):
            return False
        s.client.wait(1.0)
        waited += 1.0


def _find_check(s: _Session, external_id: str) -> JSON | None:
    params = {"check_name": f"mlci / {s.name}", "filter": "all", "per_page": 100}
    _, data = s.client.call("GET", f"{s.repo}/commits/{s.ctx.head_sha}/check-runs", params=params)
    return next((r for r in data["check_runs"] if r.get("external_id") == external_id), None)


def _annotated(s: _Session, run_id: int, total: int) -> JSON | None:
    """The check run when it has `total` annotations already (annotations add up)."""
    _, run = s.client.call("GET", f"{s.repo}/check-runs/{run_id}")
    return run if run["output"]["annotations_count"] >= total else None


def _annotations(s: _Session) -> list[JSON]:
    return [
        {
            "path": s.config_file.removeprefix("./"),
            "start_line": max(1, int(r.get("rule", {}).get("line") or 1)),
            "end_line": max(1, int(r.get("rule", {}).get("line") or 1)),
            "annotation_level": "failure",
            "title": f"mlci / {s.name}: {r.get('metric')}",
            "message": str(r.get("reason") or "failed"),
        }
        for r in _rules(s.report.result)
        if r.get("outcome") == "failed"
    ]


def _status(s: _Session) -> str:
    target = s.comment_url or s.ctx.run_url
    body: JSON = {
        "state": "success" if s.report.result["verdict"] == "passed" else "failure",
        "description": _description(s.report.result),
        "context": f"mlci/{s.name}",
        **({"target_url": target} if target else {}),
    }
    # a lost answer is looked for: a repeated status would be harmless, but is one more write
    s.client.call(
        "POST", f"{s.repo}/statuses/{s.ctx.head_sha}", body=body, look=lambda: _find_status(s, body)
    )
    return "status"


def _find_status(s: _Session, sent: JSON) -> JSON | None:
    path = f"{s.repo}/commits/{s.ctx.head_sha}/statuses"
    _, found = s.client.call("GET", path, params={"per_page": 100})
    latest = next((x for x in found if x.get("context") == sent["context"]), None)
    keys = ("state", "description", "target_url")
    return latest if latest and all(latest.get(k) == sent.get(k) for k in keys) else None


def _rules(result: JSON) -> list[JSON]:
    gates = result.get("gates")
    results = gates.get("results") if isinstance(gates, dict) else None
    return [r for r in results or [] if isinstance(r, dict)]


def _tally(result: JSON) -> str:
    """The check run title: "passed: 3 of 3 rules" / "failed: 1 of 3 rules"."""
    rules = _rules(result)
    failed = sum(r.get("outcome") == "failed" for r in rules)
    skipped = sum(r.get("outcome") == "skipped" for r in rules)
    if not rules:
        return f"{result['verdict']}: no rules"
    if result["verdict"] == "failed":
        return f"failed: {failed} of {len(rules)} rules"
    text = f"passed: {len(rules) - failed - skipped} of {len(rules)} rules"
    return text + (f", {skipped} skipped" if skipped else "")


def _description(result: JSON) -> str:
    """The status line: the tally, or the first failed rule and why."""
    failed = [r for r in _rules(result) if r.get("outcome") == "failed"]
    if result["verdict"] != "failed" or not failed:
        return _tally(result)[:DESCRIPTION_LIMIT]
    first = failed[0]
    text = f"failed: {first.get('metric')} {first.get('reason')}"
    if len(failed) > 1:
        text += f" (+{len(failed) - 1} more)"
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


# --- fitting GitHub's limits -------------------------------------------------------------


def _fit(text: str, limit: int, note: str, *, in_bytes: bool) -> tuple[str, bool]:
    """The text, or its head cut at a line boundary plus a note, within limit.

    The limit counts characters (comments) or UTF-8 bytes (check runs); an open code
    fence or <details> at the cut is closed so the note shows.
    """

    def size(t: str) -> int:
        return len(t.encode("utf-8")) if in_bytes else len(t)

    if size(text) <= limit:
        return text, False
    head = text
    for _ in range(3):
        budget = limit - size(note) - size(_closers(head))
        head = _prefix(head, budget, in_bytes)
        if "\n" in head:
            head = head[: head.rindex("\n") + 1]
        if size(head + _closers(head) + note) <= limit:
            return head + _closers(head) + note, True
    return _prefix(head, limit - size(note), in_bytes) + note, True


def _prefix(text: str, budget: int, in_bytes: bool) -> str:
    budget = max(budget, 0)
    if not in_bytes:
        return text[:budget]
    return text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")


def _closers(head: str) -> str:
    fences = sum(1 for line in head.splitlines() if line.lstrip().startswith("```"))
    opened = head.count("<details") - head.count("</details>")
    return ("```\n" if fences % 2 else "") + "</details>\n" * max(opened, 0)


STEPS: dict[str, Callable[[_Session], str]] = {
    "images": _images,
    "comment": _comment,
    "check run": _check_run,
    "status": _status,
}
