"""Where are we: a GitHub Actions job (from its variables and event payload) or a laptop.

The context is built once at the top from the environment and passed down, so every
stage below takes it as an argument and tests build one directly. Standard library only:
the CLI imports this module on every command.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci import redact
from mlci.errors import UsageError
from mlci.report.fit import SUMMARY_LIMIT, fit

PR_EVENTS = ("pull_request", "pull_request_target")
PAYLOAD_EVENTS = (*PR_EVENTS, "push", "workflow_run")
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
SUMMARY_CUT_NOTE = (
    "\n> [!WARNING]\n> mlci cut this summary here: GitHub drops a step summary over 1 MiB.\n"
)
_OUTPUT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_REPOSITORY = re.compile(r"^[^/\s]+/[^/\s]+$")
_HINT_PAYLOAD = (
    "GitHub Actions writes this file for every job; run mlci as a step of the workflow, "
    "or unset GITHUB_ACTIONS to run locally"
)


@dataclass(frozen=True)
class CIContext:
    """Everything mlci needs to know about where it runs; the token never shows in repr."""

    provider: str  # "github" | "local"
    event: str | None = None
    repository: str | None = None  # "owner/name"
    pr_number: int | None = None
    head_sha: str | None = None  # PR: pull_request.head.sha, never GITHUB_SHA (a merge commit)
    base_ref: str | None = None  # PR: pull_request.base.ref; push: the branch pushed
    base_sha: str | None = None
    head_ref: str | None = None
    head_repo: str | None = None  # "owner/name" the PR's head branch lives in (a fork's)
    trigger: str | None = None  # workflow_run: the event of the run that triggered this one
    trigger_url: str | None = None  # workflow_run: that run's page
    is_fork: bool = False
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    token: str | None = field(default=None, repr=False)
    token_source: str | None = None  # "MLCI_TOKEN" | "GITHUB_TOKEN" | None
    step_summary: Path | None = None
    output_file: Path | None = None
    run_url: str | None = None
    default_branch: str | None = None
    throttle: bool = True  # pace API calls as GitHub asks (MLCI_GITHUB_THROTTLE=off: don't)
    request_timeout: float = 15.0  # seconds per GitHub request (MLCI_GITHUB_TIMEOUT)
    max_wait: float = 120.0  # seconds of waiting on GitHub in all, per step (MLCI_GITHUB_MAX_WAIT)
    started: float | None = None  # when this mlci process began (epoch s): to tell racing runs

    @property
    def is_pull_request(self) -> bool:
        return self.event in PR_EVENTS and self.pr_number is not None

    @property
    def is_push(self) -> bool:
        return self.event == "push"

    @property
    def mode(self) -> str:
        """pr and push talk to GitHub; anything else (a laptop, workflow_dispatch) is a dry run."""
        if self.is_pull_request:
            return "pr"
        if self.is_push:
            return "push"
        return "dry-run"


def from_env(environ: Mapping[str, str] | None = None) -> CIContext:
    """The context of this process: GitHub Actions when GITHUB_ACTIONS=true, else local.

    The token is never printed, not even as an ::add-mask:: line: the runner masks its
    secrets already, and a log captured with tee would keep it."""
    env = os.environ if environ is None else environ
    token, source = _token(env)
    waits: dict[str, Any] = {
        "started": time.time(),
        "request_timeout": _seconds(env, "MLCI_GITHUB_TIMEOUT", 15.0),
        "max_wait": _seconds(env, "MLCI_GITHUB_MAX_WAIT", 120.0, zero=True),
    }
    if env.get("GITHUB_ACTIONS") != "true":
        return CIContext(provider="local", token=token, token_source=source, **waits)
    event = _get(env, "GITHUB_EVENT_NAME")
    payload = _payload(env, event)
    server_url = (_get(env, "GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/")
    repository = _repository(env, payload)
    run_id = _get(env, "GITHUB_RUN_ID")
    return CIContext(
        provider="github",
        event=event,
        repository=repository,
        **_refs(env, event, payload),
        api_url=(_get(env, "GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        server_url=server_url,
        token=token,
        token_source=source,
        step_summary=_path(env, "GITHUB_STEP_SUMMARY"),
        output_file=_path(env, "GITHUB_OUTPUT"),
        run_url=f"{server_url}/{repository}/actions/runs/{run_id}"
        if repository and run_id
        else None,
        default_branch=_str(_dig(payload, "repository", "default_branch")),
        throttle=env.get("MLCI_GITHUB_THROTTLE", "").lower() not in ("off", "0", "false", "no"),
        **waits,
    )


def repository_of(url: str) -> str | None:
    """owner/name from a hosted remote URL (https, ssh or scp-like); None for a local path."""
    if not re.match(r"(https?|ssh|git)://|[\w.-]+@[\w.-]+:", url.strip()):
        return None
    match = re.search(r"[:/]([^/:\s]+)/([^/\s]+?)(?:\.git)?/?$", url.strip())
    return f"{match.group(1)}/{match.group(2)}" if match else None


def check_repository(ctx: CIContext, remote_url: str | None) -> None:
    """Refuse to publish to a repository that is not the one checked out (a wrong
    GITHUB_REPOSITORY would put the report on someone else's pull request)."""
    if ctx.repository is None or remote_url is None:
        return
    remote = repository_of(remote_url)
    if remote is not None and remote.lower() != ctx.repository.lower():
        raise UsageError(
            f"GITHUB_REPOSITORY is {ctx.repository}, but the checkout's origin is {remote}",
            where="GITHUB_REPOSITORY",
            hint="run mlci in the checkout of the repository the workflow runs for",
        )


def local() -> CIContext:
    """A laptop: no event, no token, everything is a dry run."""
    return CIContext(provider="local")


def write_outputs(ctx: CIContext, values: Mapping[str, str]) -> None:
    """Append step outputs to GITHUB_OUTPUT as heredocs, so multi-line values are safe."""
    if ctx.output_file is None or not values:
        return
    chunks = []
    for name, value in values.items():
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"invalid step output name {name!r}")
        delimiter = _delimiter(value)
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    _append(ctx.output_file, "".join(chunks), "GITHUB_OUTPUT")


def append_summary(ctx: CIContext, markdown: str) -> bool:
    """Append to the job summary, cut to stay under GitHub's 1 MiB per step.

    Returns False when GITHUB_STEP_SUMMARY is not set or the summary has no room left.
    """
    if ctx.step_summary is None:
        return False
    try:
        used = ctx.step_summary.stat().st_size
    except FileNotFoundError:
        used = 0
    except OSError as e:
        raise _write_error(ctx.step_summary, "GITHUB_STEP_SUMMARY", e) from e
    text = fit_summary(markdown, SUMMARY_LIMIT - 1 - used)
    if text is None:
        return False
    _append(ctx.step_summary, text, "GITHUB_STEP_SUMMARY")
    return True


def fit_summary(markdown: str, budget: int) -> str | None:
    """The text, or its head plus a note that it was cut, in at most `budget` UTF-8 bytes;
    None when not even the note fits."""
    if not markdown.endswith("\n"):
        markdown += "\n"
    text, _ = fit(markdown, budget, SUMMARY_CUT_NOTE, in_bytes=True)
    return text or None


def _token(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    for name in ("MLCI_TOKEN", "GITHUB_TOKEN"):
        value = env.get(name, "").strip()
        if value:
            return value, name
    return None, None


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero: bool = False) -> float:
    value = _get(env, name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not (seconds >= 0 if zero else seconds > 0) or seconds > 3600:
        raise UsageError(
            f"{name} is {value!r}, not a number of seconds",
            where="environment",
            hint=f"set {name} to seconds, at most 3600, or unset it (default {default:g})",
        )
    return seconds


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = _get(env, name)
    return Path(value) if value else None


def _payload(env: Mapping[str, str], event: str | None) -> dict[str, Any]:
    """The event payload; required for the events mlci acts on, best effort for the rest."""
    needed = event in PAYLOAD_EVENTS
    path = _get(env, "GITHUB_EVENT_PATH")
    if path is None:
        if needed:
            raise UsageError(
                f"GITHUB_EVENT_PATH is not set for a {event} event",
                where="environment",
                hint=_HINT_PAYLOAD,
            )
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        if not needed:
            return {}
        raise UsageError(
            f"cannot read the event payload {path}: {e.strerror or e}",
            where="GITHUB_EVENT_PATH",
            hint=_HINT_PAYLOAD,
        ) from e
    except ValueError as e:
        if not needed:
            return {}
        raise UsageError(
            f"the event payload {path} is not JSON: {e}",
            where="GITHUB_EVENT_PATH",
            hint=_HINT_PAYLOAD,
        ) from e
    if not isinstance(data, dict):
        if not needed:
            return {}
        raise UsageError(
            f"the event payload {path} is not a JSON object",
            where="GITHUB_EVENT_PATH",
            hint=_HINT_PAYLOAD,
        )
    return data


def _repository(env: Mapping[str, str], payload: Mapping[str, Any]) -> str | None:
    repository = _get(env, "GITHUB_REPOSITORY") or _str(_dig(payload, "repository", "full_name"))
    if repository is not None and not _REPOSITORY.match(repository):
        raise UsageError(
            f"GITHUB_REPOSITORY is {repository!r}, not 'owner/name'",
            where="environment",
            hint="leave GITHUB_REPOSITORY to GitHub Actions, or set it to owner/name",
        )
    return repository


def _refs(env: Mapping[str, str], event: str | None, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Sha and branch fields: from the pull request for PR events, from the push otherwise."""
    if event in PR_EVENTS:
        return _pull_request_refs(payload, event)
    if event == "push":
        return {
            "head_sha": _get(env, "GITHUB_SHA") or _str(payload.get("after")),
            "base_ref": _pushed_branch(env, payload),
        }
    if event == "workflow_run":
        return _workflow_run_refs(payload, _repository(env, payload))
    return {"head_sha": _get(env, "GITHUB_SHA")}


def _workflow_run_refs(payload: Mapping[str, Any], repository: str | None) -> dict[str, Any]:
    """The run that triggered this one: its pull request's head (never GITHUB_SHA, which is
    the default branch's tip here). `pull_requests` is empty for a fork's pull request: the
    PR is then looked up by its head repository and branch (see publish.github.find_pull)."""
    run = _dig(payload, "workflow_run")
    head_sha = _str(_dig(run, "head_sha"))
    if not isinstance(run, Mapping) or head_sha is None:
        raise UsageError(
            "the workflow_run event payload has no workflow_run.head_sha",
            where="GITHUB_EVENT_PATH",
            hint="this file should be GitHub's own event payload; do not rewrite it",
        )
    head_repo = _str(_dig(run, "head_repository", "full_name"))
    pulls = [
        p
        for p in run.get("pull_requests") or []
        if isinstance(p, Mapping) and _str(_dig(p, "head", "sha")) in (None, head_sha)
    ]
    number = pulls[0].get("number") if pulls else None
    return {
        "pr_number": number if isinstance(number, int) and not isinstance(number, bool) else None,
        "head_sha": head_sha,
        "head_ref": _str(run.get("head_branch")),
        "head_repo": head_repo,
        "is_fork": head_repo is None or head_repo != repository,
        "trigger": _str(run.get("event")),
        "trigger_url": _str(run.get("html_url")),
    }


def _pull_request_refs(payload: Mapping[str, Any], event: str | None) -> dict[str, Any]:
    number = _dig(payload, "pull_request", "number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise UsageError(
            f"the {event} event payload has no pull_request.number",
            where="GITHUB_EVENT_PATH",
            hint="run mlci on the pull_request or pull_request_target event of a pull request",
        )
    head_sha = _str(_dig(payload, "pull_request", "head", "sha"))
    if head_sha is None:
        raise UsageError(
            f"the {event} event payload has no pull_request.head.sha",
            where="GITHUB_EVENT_PATH",
            hint="this file should be GitHub's own event payload; do not rewrite it",
        )
    head_repo = _str(_dig(payload, "pull_request", "head", "repo", "full_name"))
    base_repo = _str(_dig(payload, "pull_request", "base", "repo", "full_name"))
    return {
        "pr_number": number,
        "head_sha": head_sha,
        "head_ref": _str(_dig(payload, "pull_request", "head", "ref")),
        "head_repo": head_repo,
        "base_sha": _str(_dig(payload, "pull_request", "base", "sha")),
        "base_ref": _str(_dig(payload, "pull_request", "base", "ref")),
        # a deleted fork leaves head.repo null: treat it as a fork, it cannot be written to
        "is_fork": head_repo is None or head_repo != base_repo,
    }


def _pushed_branch(env: Mapping[str, str], payload: Mapping[str, Any]) -> str | None:
    ref = _get(env, "GITHUB_REF") or _str(payload.get("ref"))
    if ref is not None:
        return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return _get(env, "GITHUB_REF_NAME")


def _dig(data: Mapping[str, Any], *keys: str) -> Any:
    value: Any = data
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _delimiter(value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        if delimiter not in value:
            return delimiter


def _append(path: Path, text: str, variable: str) -> None:
    try:
        with path.open("a", encoding="utf-8", newline="\n") as f:
            f.write(redact.text(text))
    except OSError as e:
        raise _write_error(path, variable, e) from e


def _write_error(path: Path, variable: str, e: OSError) -> UsageError:
    return UsageError(
        f"cannot write {path}: {e.strerror or e}",
        where=variable,
        hint=f"{variable} is set by GitHub Actions; unset it to run outside a workflow",
    )
