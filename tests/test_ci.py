"""Where are we: the CI context from GitHub Actions' variables and event payload."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import read_outputs

from mlci import ci
from mlci.errors import Exit, MlciError, UsageError
from mlci.report.fit import SUMMARY_LIMIT

HEAD, BASE, MERGE = "1" * 40, "2" * 40, "3" * 40
TOKEN = "ghs_secretsecretsecret"


def pull_request_payload(number: Any = 42, fork: bool = False) -> dict[str, Any]:
    """The parts of GitHub's pull_request payload mlci reads."""
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {
                "sha": HEAD,
                "ref": "better-model",
                "repo": {"full_name": "someone/model" if fork else "acme/model"},
            },
            "base": {"sha": BASE, "ref": "main", "repo": {"full_name": "acme/model"}},
        },
        "repository": {"full_name": "acme/model", "default_branch": "main"},
    }


def actions_env(tmp_path: Path, event: str, payload: Any = None, **extra: str) -> dict[str, str]:
    """The variables a GitHub Actions runner sets, with the payload written to a file."""
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REPOSITORY": "acme/model",
        "GITHUB_SHA": MERGE,
        "GITHUB_RUN_ID": "99",
        "GITHUB_TOKEN": TOKEN,
    }
    if payload is not None:
        path = tmp_path / "event.json"
        path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
        env["GITHUB_EVENT_PATH"] = str(path)
    env.update(extra)
    return env


def test_pull_request_takes_head_sha_from_the_payload(tmp_path: Path) -> None:
    ctx = ci.from_env(actions_env(tmp_path, "pull_request", pull_request_payload()))
    assert ctx.provider == "github"
    assert ctx.head_sha == HEAD  # not GITHUB_SHA, the merge commit
    assert (ctx.pr_number, ctx.base_ref, ctx.base_sha, ctx.head_ref) == (
        42,
        "main",
        BASE,
        "better-model",
    )
    assert ctx.repository == "acme/model"
    assert ctx.default_branch == "main"
    assert ctx.is_fork is False
    assert ctx.is_pull_request and not ctx.is_push
    assert ctx.mode == "pr"
    assert ctx.api_url == "https://api.github.com"
    assert ctx.run_url == "https://github.com/acme/model/actions/runs/99"


def test_pull_request_target_is_a_pull_request(tmp_path: Path) -> None:
    payload = pull_request_payload(fork=True)
    ctx = ci.from_env(actions_env(tmp_path, "pull_request_target", payload))
    assert ctx.mode == "pr"
    assert ctx.head_sha == HEAD
    assert ctx.is_fork is True


def test_deleted_fork_counts_as_a_fork(tmp_path: Path) -> None:
    payload = pull_request_payload()
    payload["pull_request"]["head"]["repo"] = None
    ctx = ci.from_env(actions_env(tmp_path, "pull_request", payload))
    assert ctx.is_fork is True


def test_push_records_the_pushed_branch(tmp_path: Path) -> None:
    payload = {"ref": "refs/heads/main", "after": HEAD, "repository": {"default_branch": "main"}}
    env = actions_env(tmp_path, "push", payload, GITHUB_REF="refs/heads/main", GITHUB_SHA=HEAD)
    ctx = ci.from_env(env)
    assert (ctx.mode, ctx.base_ref, ctx.head_sha) == ("push", "main", HEAD)
    assert ctx.is_push and not ctx.is_pull_request
    assert ctx.pr_number is None


def test_push_falls_back_to_the_payload(tmp_path: Path) -> None:
    payload = {"ref": "refs/heads/release/1.x", "after": HEAD}
    env = actions_env(tmp_path, "push", payload)
    del env["GITHUB_SHA"]
    ctx = ci.from_env(env)
    assert (ctx.base_ref, ctx.head_sha) == ("release/1.x", HEAD)


def test_push_of_a_tag_has_no_branch(tmp_path: Path) -> None:
    env = actions_env(tmp_path, "push", {"ref": "refs/tags/v1"}, GITHUB_REF="refs/tags/v1")
    assert ci.from_env(env).base_ref is None


@pytest.mark.parametrize("event", ["workflow_dispatch", "schedule", "merge_group"])
def test_other_events_are_dry_runs(tmp_path: Path, event: str) -> None:
    ctx = ci.from_env(actions_env(tmp_path, event, "not json, and not needed"))
    assert ctx.provider == "github"
    assert ctx.mode == "dry-run"
    assert ctx.pr_number is None


def test_outside_actions_is_local(tmp_path: Path) -> None:
    env = actions_env(tmp_path, "pull_request", pull_request_payload())
    del env["GITHUB_ACTIONS"]
    ctx = ci.from_env(env)
    assert (ctx.provider, ctx.mode, ctx.pr_number, ctx.head_sha) == ("local", "dry-run", None, None)
    assert ci.local().mode == "dry-run"
    assert ci.local().token is None


def test_from_env_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in actions_env(tmp_path, "pull_request", pull_request_payload()).items():
        monkeypatch.setenv(name, value)
    assert ci.from_env().head_sha == HEAD


def test_mlci_token_wins_over_github_token(tmp_path: Path) -> None:
    env = actions_env(tmp_path, "workflow_dispatch", MLCI_TOKEN="ghp_mlci")
    ctx = ci.from_env(env)
    assert (ctx.token, ctx.token_source) == ("ghp_mlci", "MLCI_TOKEN")
    env["MLCI_TOKEN"] = " "
    ctx = ci.from_env(env)
    assert (ctx.token, ctx.token_source) == (TOKEN, "GITHUB_TOKEN")
    del env["GITHUB_TOKEN"]
    ctx = ci.from_env(env)
    assert (ctx.token, ctx.token_source) == (None, None)


def test_token_is_never_in_repr(tmp_path: Path) -> None:
    ctx = ci.from_env(actions_env(tmp_path, "pull_request", pull_request_payload()))
    assert TOKEN not in repr(ctx)
    assert TOKEN not in str(ctx)


def test_enterprise_urls(tmp_path: Path) -> None:
    env = actions_env(
        tmp_path,
        "pull_request",
        pull_request_payload(),
        GITHUB_API_URL="https://ghe.example.com/api/v3/",
        GITHUB_SERVER_URL="https://ghe.example.com",
    )
    ctx = ci.from_env(env)
    assert ctx.api_url == "https://ghe.example.com/api/v3"
    assert ctx.server_url == "https://ghe.example.com"
    assert ctx.run_url == "https://ghe.example.com/acme/model/actions/runs/99"


def test_context_can_be_built_directly() -> None:
    ctx = ci.CIContext(provider="github", event="pull_request", pr_number=3, head_sha=HEAD)
    assert ctx.mode == "pr"
    assert ci.CIContext(provider="github", event="pull_request").mode == "dry-run"  # no number


def error_of(env: dict[str, str]) -> MlciError:
    with pytest.raises(UsageError) as e:
        ci.from_env(env)
    assert e.value.exit_code == Exit.USAGE
    assert TOKEN not in e.value.line()
    return e.value


def test_pull_request_without_event_path(tmp_path: Path) -> None:
    error = error_of(actions_env(tmp_path, "pull_request"))
    assert "GITHUB_EVENT_PATH is not set" in error.line()
    assert "pull_request" in error.line()


def test_event_payload_missing(tmp_path: Path) -> None:
    env = actions_env(tmp_path, "push", GITHUB_EVENT_PATH=str(tmp_path / "gone.json"))
    error = error_of(env)
    assert str(tmp_path / "gone.json") in error.line()
    assert error.where == "GITHUB_EVENT_PATH"


def test_event_payload_unreadable(tmp_path: Path) -> None:
    error = error_of(actions_env(tmp_path, "push", GITHUB_EVENT_PATH=str(tmp_path)))
    assert f"cannot read the event payload {tmp_path}" in error.line()


def test_event_payload_not_json(tmp_path: Path) -> None:
    error = error_of(actions_env(tmp_path, "pull_request", "{not json"))
    assert "is not JSON" in error.line()
    assert "(GITHUB_EVENT_PATH)" in error.line()
    error = error_of(actions_env(tmp_path, "pull_request", "[1, 2]"))
    assert "not a JSON object" in error.line()


@pytest.mark.parametrize("number", [None, "42", True])
def test_pull_request_without_number(tmp_path: Path, number: Any) -> None:
    error = error_of(actions_env(tmp_path, "pull_request", pull_request_payload(number)))
    assert "no pull_request.number" in error.line()


def test_pull_request_without_head_sha(tmp_path: Path) -> None:
    payload = pull_request_payload()
    del payload["pull_request"]["head"]["sha"]
    error = error_of(actions_env(tmp_path, "pull_request", payload))
    assert "pull_request.head.sha" in error.line()


def test_malformed_repository(tmp_path: Path) -> None:
    env = actions_env(tmp_path, "workflow_dispatch", GITHUB_REPOSITORY="just-a-name")
    assert "owner/name" in error_of(env).line()


def test_write_outputs_heredocs_parse_back(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier=1\n")
    ctx = ci.CIContext(provider="github", output_file=out)
    tricky = "line one\nEOF\nghadelimiter_x\n| a | b |\n"
    ci.write_outputs(ctx, {"verdict": "passed", "report": tricky, "failed-gates": "0"})
    ci.write_outputs(ctx, {"comment-url": ""})
    values = read_outputs(out)
    assert values == {
        "earlier": "1",
        "verdict": "passed",
        "report": tricky,
        "failed-gates": "0",
        "comment-url": "",
    }
    delimiters = re.findall(r"<<(.+)", out.read_text())
    assert len(set(delimiters)) == 4  # one random delimiter per value


def test_write_outputs_without_github_output_is_a_no_op(tmp_path: Path) -> None:
    ci.write_outputs(ci.local(), {"verdict": "passed"})
    assert list(tmp_path.iterdir()) == []


def test_write_outputs_bad_name_and_bad_path(tmp_path: Path) -> None:
    ctx = ci.CIContext(provider="github", output_file=tmp_path / "out")
    with pytest.raises(ValueError):
        ci.write_outputs(ctx, {"bad\nname": "x"})
    with pytest.raises(UsageError) as e:
        ci.write_outputs(ci.CIContext(provider="github", output_file=tmp_path), {"a": "b"})
    assert e.value.where == "GITHUB_OUTPUT"


def test_append_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    ctx = ci.CIContext(provider="github", step_summary=summary)
    assert ci.append_summary(ctx, "## Model report") is True
    assert ci.append_summary(ctx, "second\n") is True
    assert summary.read_text() == "## Model report\nsecond\n"
    assert ci.append_summary(ci.local(), "x") is False


def test_append_summary_is_cut_under_one_mebibyte(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("already here\n")
    ctx = ci.CIContext(provider="github", step_summary=summary)
    row = "| metric | é 0.91 | 0.93 |\n"  # a multi-byte character, so cuts can split one
    big = "# Report\n" + row * 50_000
    assert len(big.encode()) > SUMMARY_LIMIT
    assert ci.append_summary(ctx, big) is True
    data = summary.read_bytes()
    assert len(data) < SUMMARY_LIMIT
    text = data.decode("utf-8")  # strict: no character was split
    assert text.startswith("already here\n# Report\n| metric |")
    head, note = text.split("\n\n> [!WARNING]")
    assert head.endswith(row.rstrip("\n"))  # ends on a whole row
    assert "1 MiB" in note


def test_append_summary_with_no_room_left(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_bytes(b"x" * (SUMMARY_LIMIT - 10))
    ctx = ci.CIContext(provider="github", step_summary=summary)
    assert ci.append_summary(ctx, "more " * 10) is False  # not even the cut note fits
    assert summary.stat().st_size == SUMMARY_LIMIT - 10


def test_append_summary_unwritable(tmp_path: Path) -> None:
    ctx = ci.CIContext(provider="github", step_summary=tmp_path)
    with pytest.raises(UsageError) as e:
        ci.append_summary(ctx, "x")
    assert e.value.where == "GITHUB_STEP_SUMMARY"


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/octo/model.git", "octo/model"),
        ("git@github.com:octo/model.git", "octo/model"),
        ("https://x-access-token:t0k3n@github.com/octo/model", "octo/model"),
        ("ssh://git@ghe.example.com:22/octo/model.git", "octo/model"),
        ("/tmp/origin.git", None),
        ("file:///tmp/origin.git", None),
    ],
)
def test_repository_of_a_remote(url: str, repository: str | None) -> None:
    assert ci.repository_of(url) == repository


def test_a_repository_that_does_not_match_the_remote_is_refused() -> None:
    ctx = ci.CIContext(provider="github", event="pull_request", repository="octo/model")
    ci.check_repository(ctx, "https://github.com/OCTO/model.git")  # case does not matter
    ci.check_repository(ctx, "/tmp/origin.git")  # a local remote names no repository
    with pytest.raises(UsageError) as info:
        ci.check_repository(ctx, "git@github.com:someone/else.git")
    line = info.value.line()
    assert "GITHUB_REPOSITORY is octo/model, but the checkout's origin is someone/else" in line
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("value", "throttle"), [("", True), ("off", False), ("0", False), ("on", True)]
)
def test_throttle_can_be_turned_off(tmp_path: Path, value: str, throttle: bool) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "workflow_dispatch",
        "GITHUB_EVENT_PATH": str(event),
        "MLCI_GITHUB_THROTTLE": value,
    }
    assert ci.from_env(env).throttle is throttle
