"""Publishing under the faults a real network and GitHub produce: answers that come late or
never, 502s, secondary rate limits; and the headers every request must carry. Each case
ends with exactly one comment and one check run of ours, or one line saying what failed."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import requests

from mlci import ci
from mlci.config import GithubConfig
from mlci.errors import UsageError
from mlci.publish.github import PublishResult, publish
from mlci.publish.github.client import Client
from tests.fakegithub import FakeGitHub
from tests.test_publish_github import COMMENTS, HEAD, REPO, context, image_urls, run, write_report

CHECK_RUNS = f"/repos/{REPO}/check-runs"


@pytest.fixture
def gh(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO)
    fake_github.add_pull(REPO, 7, HEAD, "b" * 40)
    return fake_github


def publish_for_real(
    gh: FakeGitHub, report: Path, *, timeout: float, max_wait: float
) -> PublishResult:
    """A publish whose waits are real: a held request lands while the client waits."""
    ctx = dataclasses.replace(context(gh, gh.token()), request_timeout=timeout, max_wait=max_wait)
    client = Client(ctx, seconds_between_requests=None, seconds_between_writes=None)
    try:
        return publish(
            ctx,
            report,
            name="default",
            github=GithubConfig(),
            config_file="mlci.yaml",
            client=client,
        )
    finally:
        client.close()


def test_every_request_carries_the_media_type_and_the_api_version(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    result = run(context(gh, gh.token()), write_report(tmp_path))
    assert result.errors == ()
    log = gh.requests
    assert len(log) >= 5
    assert {(r.accept, r.api_version) for r in log} == {
        ("application/vnd.github+json", "2022-11-28")
    }


def test_a_502_on_every_second_request_still_publishes_everything_once(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    gh.fail_every(2, 502)
    result = run(context(gh, gh.token()), write_report(tmp_path / "a", text="first"))
    again = run(context(gh, gh.token()), write_report(tmp_path / "b", text="second"))
    gh.fail_every(0)
    assert result.errors == again.errors == ()
    assert sum(r.status == 502 for r in gh.requests) >= 8
    [comment] = gh.comments(REPO, 7)
    assert comment["body"] == again.body
    assert len(gh.check_runs(REPO, HEAD)) == 2 and len(gh.statuses(REPO, HEAD)) == 2
    for url in image_urls(again.body):
        assert requests.get(url, timeout=10).content.startswith(b"\x89PNG")


@pytest.mark.parametrize("path", [COMMENTS, CHECK_RUNS], ids=["comment", "check run"])
def test_a_post_held_past_the_timeout_then_delivered_is_not_posted_twice(
    gh: FakeGitHub, tmp_path: Path, path: str
) -> None:
    """GitHub gets the POST 2 s late; mlci gave up on its answer after 1 s. It looks for
    the write until it shows (up to MLCI_GITHUB_MAX_WAIT) instead of sending it again."""
    gh.hold_next("POST", path, seconds=2)
    result = publish_for_real(gh, write_report(tmp_path, plots={}), timeout=1, max_wait=10)
    time.sleep(0.5)  # nothing more arrives after the publish: the held write was the one
    assert result.errors == ()
    assert len(gh.comments(REPO, 7)) == 1
    assert len(gh.check_runs(REPO, HEAD)) == 1
    # one POST: the held one, answered 201 to nobody; it was never sent again
    assert [r.status for r in gh.requests if r.method == "POST" and r.path == path] == [201]


def test_a_request_that_never_arrives_is_sent_again_after_the_wait(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    """Held longer than mlci waits for it: after MLCI_GITHUB_MAX_WAIT the comment is sent
    again, and the late original, once it lands, is the extra that the next run removes."""
    gh.hold_next("POST", COMMENTS, seconds=3)
    result = publish_for_real(gh, write_report(tmp_path / "a", plots={}), timeout=1, max_wait=1)
    assert result.errors == () and result.done[0] == "comment (posted)"
    for _ in range(50):  # the held one lands after mlci has finished
        if len(gh.comments(REPO, 7)) == 2:
            break
        time.sleep(0.1)
    assert len(gh.comments(REPO, 7)) == 2
    again = run(context(gh, gh.token()), write_report(tmp_path / "b", plots={}, text="b"))
    assert again.errors == ()
    [kept] = gh.comments(REPO, 7)
    assert kept["body"] == again.body


def test_a_secondary_rate_limit_is_waited_out_within_the_bound(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    sleeps: list[float] = []
    gh.secondary_rate_limit(1, retry_after=60)
    result = run(context(gh, gh.token()), write_report(tmp_path), sleeps=sleeps)
    assert sleeps == [60.0]  # the default bound (MLCI_GITHUB_MAX_WAIT=120) covers it
    assert result.errors == () and len(gh.comments(REPO, 7)) == 1


def test_a_secondary_rate_limit_longer_than_the_bound_is_one_line(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    sleeps: list[float] = []
    gh.secondary_rate_limit(1, retry_after=60)
    ctx = dataclasses.replace(context(gh, gh.token()), max_wait=5)
    result = run(ctx, write_report(tmp_path, plots={}), sleeps=sleeps)
    assert sleeps == []
    [line] = result.errors
    assert line == (
        "comment: GitHub's rate limit asks to wait 60 s, more than mlci waits "
        "(5 s, MLCI_GITHUB_MAX_WAIT); re-run the job later"
    )
    assert gh.comments(REPO, 7) == [] and gh.check_runs(REPO, HEAD) == []


def test_the_waits_are_read_from_the_environment() -> None:
    ctx = ci.from_env({"MLCI_GITHUB_TIMEOUT": "2.5", "MLCI_GITHUB_MAX_WAIT": "0"})
    assert (ctx.request_timeout, ctx.max_wait) == (2.5, 0.0)
    assert (ci.from_env({}).request_timeout, ci.from_env({}).max_wait) == (15.0, 120.0)
    for name, value in [("MLCI_GITHUB_TIMEOUT", "0"), ("MLCI_GITHUB_MAX_WAIT", "soon")]:
        with pytest.raises(UsageError) as excinfo:
            ci.from_env({name: value})
        assert f"{name} is {value!r}, not a number of seconds" in str(excinfo.value)
