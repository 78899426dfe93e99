"""The fake GitHub, driven by the real PyGithub over HTTP: if these pass, the publisher's
tests against the fake say something about GitHub itself."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest
import requests
from github import Auth, Github, GithubException, GithubRetry, InputGitTreeElement
from github.GithubException import (
    BadCredentialsException,
    RateLimitExceededException,
    UnknownObjectException,
)
from github.PullRequest import PullRequest
from github.Repository import Repository

if TYPE_CHECKING:
    from tests.fakegithub import FakeGitHub

# Not imported at run time: pytest loads it as a plugin (rewriting its asserts) for the fixture.

REPO = "acme/model"
HEAD, BASE = "a" * 40, "b" * 40
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def client(
    server: FakeGitHub,
    token: str | None = None,
    retry: int | GithubRetry | None = None,
    per_page: int = 30,
) -> Github:
    """PyGithub as the publisher would build it; retries and throttling off unless asked.

    PyGithub waits 0.25 s between requests and 1 s between writes by default.
    """
    auth = Auth.Token(token) if token else None
    return Github(
        base_url=server.url,
        auth=auth,
        retry=retry,
        per_page=per_page,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


@pytest.fixture
def gh(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO)
    fake_github.add_pull(REPO, 7, HEAD, BASE, head_ref="better-model", base_ref="main")
    return fake_github


def repo_of(server: FakeGitHub, token: str | None = None, **kwargs: object) -> Repository:
    return client(server, token or server.token(), **kwargs).get_repo(REPO)  # type: ignore[arg-type]


def pull_of(server: FakeGitHub, token: str | None = None, **kwargs: object) -> PullRequest:
    return repo_of(server, token, **kwargs).get_pull(7)


def test_repository_and_pull_request_parse(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    assert (repo.full_name, repo.default_branch, repo.private) == (REPO, "main", False)
    assert repo.owner.login == "acme"
    assert repo.permissions.push is True
    pr = repo.get_pull(7)
    assert (pr.number, pr.head.sha, pr.base.sha) == (7, HEAD, BASE)
    assert (pr.head.ref, pr.base.ref, pr.head.repo.full_name) == ("better-model", "main", REPO)
    assert pr.html_url.endswith(f"/{REPO}/pull/7")


def test_unknown_repository_and_pull_are_404(gh: FakeGitHub) -> None:
    g = client(gh, gh.token())
    with pytest.raises(UnknownObjectException) as e:
        g.get_repo("acme/missing")
    assert e.value.status == 404
    with pytest.raises(UnknownObjectException):
        g.get_repo(REPO).get_pull(8)


def test_fork_pull_request_names_the_fork(gh: FakeGitHub) -> None:
    gh.add_pull(REPO, 9, HEAD, BASE, head_repo="someone/model")
    pr = repo_of(gh).get_pull(9)
    assert pr.head.repo.full_name == "someone/model"
    assert pr.base.repo.full_name == REPO


def test_comments_page_like_github(gh: FakeGitHub) -> None:
    pr = pull_of(gh, per_page=50)
    for i in range(120):
        pr.create_issue_comment(f"comment {i}")
    gh.reset_log()
    bodies = [c.body for c in pr.get_issue_comments()]
    assert bodies == [f"comment {i}" for i in range(120)]
    assert gh.count("GET", f"/repos/{REPO}/issues/7/comments") == 3  # 50 + 50 + 20
    assert pr.get_issue_comments().totalCount == 120
    assert pr.get_issue_comments().reversed[0].body == "comment 119"


def test_link_header_has_next_and_last(gh: FakeGitHub) -> None:
    for i in range(5):
        gh.add_comment(REPO, 7, f"c{i}")
    url = f"{gh.url}/repos/{REPO}/issues/7/comments"
    first = requests.get(url, params={"per_page": 2}, timeout=10)
    assert [c["body"] for c in first.json()] == ["c0", "c1"]
    assert 'page=2>; rel="next"' in first.headers["Link"]
    assert 'page=3>; rel="last"' in first.headers["Link"]
    last = requests.get(url, params={"per_page": 2, "page": 3}, timeout=10)
    assert [c["body"] for c in last.json()] == ["c4"]
    assert 'rel="next"' not in last.headers["Link"]
    assert 'page=2>; rel="prev"' in last.headers["Link"]


def test_edit_and_get_one_comment(gh: FakeGitHub) -> None:
    pr = pull_of(gh)
    comment = pr.create_issue_comment("<!-- mlci-report:default -->\nfirst")
    comment.edit("<!-- mlci-report:default -->\nsecond")
    again = pr.get_issue_comment(comment.id)
    assert again.body.endswith("second")
    assert [c["body"] for c in gh.comments(REPO, 7)] == [again.body]
    with pytest.raises(UnknownObjectException):
        pr.get_issue_comment(comment.id + 12345)


def test_comments_carry_the_token_identity(gh: FakeGitHub) -> None:
    gh.add_comment(REPO, 7, "seeded", login="octocat")
    mine = pull_of(gh, gh.token("github-actions[bot]")).create_issue_comment("ours")
    theirs = pull_of(gh, gh.token("reviewer")).create_issue_comment("theirs")
    logins = [c.user.login for c in pull_of(gh).get_issue_comments()]
    assert logins == ["octocat", "github-actions[bot]", "reviewer"]
    assert (mine.user.type, theirs.user.type) == ("Bot", "User")


def test_comment_body_limit_is_65536_characters(gh: FakeGitHub) -> None:
    pr = pull_of(gh)
    assert len(pr.create_issue_comment("é" * 65536).body) == 65536  # characters, not bytes
    with pytest.raises(GithubException) as e:
        pr.create_issue_comment("x" * 65537)
    assert e.value.status == 422
    assert e.value.data["message"] == "Validation Failed"
    [error] = e.value.data["errors"]
    assert error["message"] == "body is too long (maximum is 65536 characters)"
    assert (error["resource"], error["field"]) == ("IssueComment", "body")
    assert len(gh.comments(REPO, 7)) == 1


def test_check_run_create_update_list(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    run = repo.create_check_run("mlci / default", HEAD, status="in_progress")
    assert run.status == "in_progress"
    assert run.conclusion is None
    annotation = {
        "path": "mlci.yaml",
        "start_line": 3,
        "end_line": 3,
        "annotation_level": "failure",
        "message": "accuracy dropped",
    }
    run.edit(
        conclusion="failure",
        output={"title": "1 gate failed", "summary": "## report", "annotations": [annotation]},
    )
    assert (run.status, run.conclusion, run.output.title) == (
        "completed",
        "failure",
        "1 gate failed",
    )
    [listed] = repo.get_commit(HEAD).get_check_runs()
    assert (listed.id, listed.name, listed.output.summary) == (
        run.id,
        "mlci / default",
        "## report",
    )
    assert listed.output.annotations_count == 1
    [stored] = gh.check_runs(REPO, HEAD)
    assert stored["annotations"] == [annotation]
    assert gh.check_runs(REPO, BASE) == []


def test_check_runs_latest_filter(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    old = repo.create_check_run("mlci / default", HEAD, conclusion="failure")
    new = repo.create_check_run("mlci / default", HEAD, conclusion="success")
    commit = repo.get_commit(HEAD)
    assert [r.id for r in commit.get_check_runs()] == [new.id]
    assert [r.id for r in commit.get_check_runs(filter="all")] == [new.id, old.id]
    assert commit.get_check_runs(check_name="other").totalCount == 0


def test_check_run_output_is_limited_in_bytes(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    fits = repo.create_check_run(
        "ok", HEAD, conclusion="neutral", output={"title": "t", "summary": "x" * 65535}
    )
    assert len(fits.output.summary) == 65535
    with pytest.raises(GithubException) as e:  # 40,000 characters but 80,000 bytes
        repo.create_check_run(
            "big", HEAD, conclusion="neutral", output={"title": "t", "summary": "é" * 40000}
        )
    assert e.value.status == 422
    assert "maximum bytesize of 65535" in e.value.data["errors"][0]["message"]
    with pytest.raises(GithubException) as e:
        fits.edit(output={"title": "t", "summary": "s", "text": "y" * 65536})
    assert e.value.status == 422
    assert [r["name"] for r in gh.check_runs(REPO, HEAD)] == ["ok"]


def test_at_most_50_annotations_per_request(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    note: dict[str, str | int] = {
        "path": "a.py",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "notice",
        "message": "m",
    }
    run = repo.create_check_run(
        "n", HEAD, output={"title": "t", "summary": "s", "annotations": [note] * 50}
    )
    with pytest.raises(GithubException) as e:
        run.edit(output={"title": "t", "summary": "s", "annotations": [note] * 51})
    assert e.value.status == 422
    assert "50" in e.value.data["message"]
    run.edit(output={"title": "t", "summary": "s", "annotations": [note] * 10})
    assert run.output.annotations_count == 60  # annotations add up across requests


def test_check_run_needs_a_real_sha(gh: FakeGitHub) -> None:
    with pytest.raises(GithubException) as e:
        repo_of(gh).create_check_run("mlci / default", "main")
    assert e.value.status == 422
    assert "No commit found for SHA" in e.value.data["message"]


def test_commit_statuses(gh: FakeGitHub) -> None:
    commit = repo_of(gh).get_commit(HEAD)
    commit.create_status("pending", description="training", context="mlci/default")
    status = commit.create_status(
        "success",
        description="passed",
        context="mlci/default",
        target_url="http://example.invalid/run",
    )
    assert (status.state, status.context, status.creator.login) == (
        "success",
        "mlci/default",
        "github-actions[bot]",
    )
    assert [s.state for s in commit.get_statuses()] == ["success", "pending"]  # newest first
    assert commit.get_combined_status().state == "success"
    assert [s["state"] for s in gh.statuses(REPO, HEAD)] == ["pending", "success"]
    url = f"{gh.url}/repos/{REPO}/commits/{HEAD}/statuses"
    assert [s["state"] for s in requests.get(url, timeout=10).json()] == ["success", "pending"]


def test_status_description_and_state_are_validated(gh: FakeGitHub) -> None:
    commit = repo_of(gh).get_commit(HEAD)
    with pytest.raises(GithubException) as e:
        commit.create_status("success", description="d" * 141, context="mlci/default")
    assert e.value.status == 422
    assert "maximum is 140 characters" in str(e.value.data)
    with pytest.raises(GithubException) as e:
        commit.create_status("passed", context="mlci/default")
    assert e.value.status == 422
    assert gh.statuses(REPO, HEAD) == []


def add_file(
    repo: Repository, path: str, data: bytes, parents: list[str], base_tree: str | None
) -> str:
    """One commit on top of parents, the way a publisher uploads a plot: blob, tree, commit."""
    blob = repo.create_git_blob(base64.b64encode(data).decode(), "base64")
    element = InputGitTreeElement(path, "100644", "blob", sha=blob.sha)
    tree = (
        repo.create_git_tree([element], repo.get_git_tree(base_tree))
        if base_tree
        else repo.create_git_tree([element])
    )
    commit = repo.create_git_commit(f"add {path}", tree, [repo.get_git_commit(p) for p in parents])
    return commit.sha


def test_assets_branch_through_git_data(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    with pytest.raises(UnknownObjectException):
        repo.get_git_ref("heads/mlci-assets").object  # noqa: B018 - the lazy ref loads here
    first = add_file(repo, "plots/abc.png", PNG, [], None)
    ref = repo.create_git_ref("refs/heads/mlci-assets", first)
    assert (ref.ref, ref.object.sha) == ("refs/heads/mlci-assets", first)
    second = add_file(
        repo, "plots/def.png", b"second", [first], repo.get_git_commit(first).tree.sha
    )
    repo.get_git_ref("heads/mlci-assets").edit(second)
    assert gh.branch_sha(REPO, "mlci-assets") == second
    assert gh.file_on_branch(REPO, "mlci-assets", "plots/abc.png") == PNG  # kept by base_tree
    assert gh.file_on_branch(REPO, "mlci-assets", "plots/def.png") == b"second"
    assert gh.file_on_branch(REPO, "mlci-assets", "plots/none.png") is None
    tree = repo.get_git_tree(repo.get_git_commit(second).tree.sha, recursive=True)
    assert sorted(e.path for e in tree.tree) == ["plots", "plots/abc.png", "plots/def.png"]


def test_non_fast_forward_update_is_rejected(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    first = add_file(repo, "a.png", b"1", [], None)
    ref = repo.create_git_ref("refs/heads/mlci-assets", first)
    unrelated = add_file(repo, "b.png", b"2", [], None)
    with pytest.raises(GithubException) as e:
        ref.edit(unrelated)
    assert (e.value.status, e.value.data["message"]) == (422, "Update is not a fast forward")
    assert gh.branch_sha(REPO, "mlci-assets") == first
    with pytest.raises(GithubException) as e:
        repo.create_git_ref("refs/heads/mlci-assets", unrelated)
    assert e.value.data["message"] == "Reference already exists"
    ref.edit(unrelated, force=True)
    assert gh.branch_sha(REPO, "mlci-assets") == unrelated


def test_git_objects_hash_like_git(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    blob = repo.create_git_blob("hello", "utf-8")
    assert blob.sha == "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"  # git hash-object
    assert base64.b64decode(repo.get_git_blob(blob.sha).content) == b"hello"
    tree = repo.create_git_tree([])
    assert tree.sha == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree
    answer = requests.post(
        f"{gh.url}/repos/{REPO}/git/commits",
        timeout=10,
        headers={"Authorization": f"token {gh.token()}"},
        json={"message": "m", "tree": tree.sha, "parents": [HEAD]},
    )
    assert answer.status_code == 422
    assert "Parent SHA does not exist" in answer.json()["message"]


def test_contents_and_raw_route_serve_the_image(gh: FakeGitHub) -> None:
    repo = repo_of(gh)
    sha = add_file(repo, "plots/abc.png", PNG, [], None)
    repo.create_git_ref("refs/heads/mlci-assets", sha)
    content = repo.get_contents("plots/abc.png", ref="mlci-assets")
    assert not isinstance(content, list)
    assert content.decoded_content == PNG
    assert [c.path for c in repo.get_contents("plots", ref=sha)] == ["plots/abc.png"]  # type: ignore[union-attr]
    for url in (
        f"{gh.web_url}/{REPO}/raw/mlci-assets/plots/abc.png",
        f"{gh.web_url}/raw/{REPO}/mlci-assets/plots/abc.png",
        content.download_url,
    ):
        answer = requests.get(url, timeout=10)
        assert (answer.status_code, answer.content) == (200, PNG)
        assert answer.headers["Content-Type"] == "image/png"
    missing = requests.get(f"{gh.web_url}/{REPO}/raw/mlci-assets/plots/x.png", timeout=10)
    assert missing.status_code == 404
    with pytest.raises(GithubException) as e:
        repo.get_contents("plots/abc.png", ref="no-such-branch")
    assert e.value.status == 404


def test_bad_token_is_401(gh: FakeGitHub) -> None:
    with pytest.raises(BadCredentialsException) as e:
        client(gh, "ghs_not_a_token").get_repo(REPO)
    assert (e.value.status, e.value.data["message"]) == (401, "Bad credentials")
    raw = requests.get(
        f"{gh.url}/repos/{REPO}", headers={"Authorization": "Basic eDp5"}, timeout=10
    )
    assert raw.status_code == 401


def test_bearer_scheme_is_accepted(gh: FakeGitHub) -> None:
    answer = requests.get(
        f"{gh.url}/repos/{REPO}", timeout=10, headers={"Authorization": f"Bearer {gh.token()}"}
    )
    assert answer.json()["full_name"] == REPO


def test_read_only_token_reads_but_cannot_write(gh: FakeGitHub) -> None:
    repo = repo_of(gh, gh.token("github-actions[bot]", read_only=True))
    assert repo.permissions.push is False
    pr = repo.get_pull(7)
    with pytest.raises(GithubException) as e:
        pr.create_issue_comment("hi")
    assert (e.value.status, e.value.data["message"]) == (
        403,
        "Resource not accessible by integration",
    )
    assert "pull_requests=write" in (e.value.headers or {})["x-accepted-github-permissions"]
    with pytest.raises(GithubException) as e:
        repo.create_check_run("mlci / default", HEAD)
    assert (e.value.headers or {})["x-accepted-github-permissions"] == "checks=write"
    assert gh.comments(REPO, 7) == [] and gh.check_runs(REPO, HEAD) == []


def test_anonymous_requests(gh: FakeGitHub) -> None:
    gh.add_repo("acme/secret", private=True)
    anonymous = client(gh)
    assert anonymous.get_repo(REPO).full_name == REPO
    with pytest.raises(UnknownObjectException):
        anonymous.get_repo("acme/secret")
    with pytest.raises(GithubException) as e:
        anonymous.get_repo(REPO).get_pull(7).create_issue_comment("hi")
    assert e.value.status == 401
    assert client(gh, gh.token()).get_repo("acme/secret").private is True


def test_installation_token_has_no_user(gh: FakeGitHub) -> None:
    with pytest.raises(GithubException) as e:
        client(gh, gh.token("github-actions[bot]")).get_user().login  # noqa: B018
    assert e.value.status == 403
    assert client(gh, gh.token("alice")).get_user().login == "alice"


def test_every_nth_request_fails_with_502(gh: FakeGitHub) -> None:
    g = client(gh, gh.token(), retry=None)
    gh.fail_every(3)
    outcomes = []
    for _ in range(6):
        try:
            g.get_repo(REPO)
            outcomes.append(200)
        except GithubException as e:
            outcomes.append(e.status)
    assert outcomes == [200, 200, 502, 200, 200, 502]
    gh.fail_every(0)
    assert g.get_repo(REPO).full_name == REPO


def test_pygithub_retry_rides_over_a_502(gh: FakeGitHub) -> None:
    g = client(gh, gh.token(), retry=GithubRetry(total=3, backoff_factor=0))
    gh.fail_next("GET", f"/repos/{REPO}", status=502)
    gh.reset_log()
    assert g.get_repo(REPO).full_name == REPO
    assert [r.status for r in gh.requests] == [502, 200]


def test_secondary_rate_limit(gh: FakeGitHub) -> None:
    pr = pull_of(gh)
    gh.secondary_rate_limit(1)
    with pytest.raises(RateLimitExceededException) as e:
        pr.create_issue_comment("hi")
    assert e.value.status == 403
    assert (e.value.headers or {})["retry-after"] == "1"
    assert "secondary rate limit" in e.value.data["message"]
    assert pr.get_issue_comments().totalCount == 0  # reads are not limited
    assert pr.create_issue_comment("later").body == "later"


def test_secondary_rate_limit_is_retried_after_retry_after(gh: FakeGitHub) -> None:
    pr = pull_of(gh, retry=GithubRetry(total=5, backoff_factor=0))
    gh.secondary_rate_limit(2, retry_after=0)
    gh.reset_log()
    pr.create_issue_comment("eventually")
    assert [r.status for r in gh.requests] == [403, 403, 201]
    assert [c["body"] for c in gh.comments(REPO, 7)] == ["eventually"]


def test_lost_answer_after_the_write(gh: FakeGitHub) -> None:
    pr = pull_of(gh)
    gh.lose_response_of_next("POST", f"/repos/{REPO}/issues/7/comments")
    with pytest.raises(requests.ConnectionError):
        pr.create_issue_comment("once")
    assert [c["body"] for c in gh.comments(REPO, 7)] == ["once"]  # done, though never answered
    assert gh.requests[-1][:3] == ("POST", f"/repos/{REPO}/issues/7/comments", 0)
    assert pr.create_issue_comment("twice").body == "twice"  # only the next one is lost


def test_pygithub_default_retry_repeats_a_lost_post(gh: FakeGitHub) -> None:
    """Why a publisher must look before it re-posts: PyGithub's retry sends the POST again."""
    pr = pull_of(gh, retry=GithubRetry(total=3, backoff_factor=0))
    gh.lose_response_of_next("POST", f"/repos/{REPO}/issues/7/comments")
    pr.create_issue_comment("dup")
    assert [c["body"] for c in gh.comments(REPO, 7)] == ["dup", "dup"]


def test_request_log_counts(gh: FakeGitHub) -> None:
    gh.reset_log()
    assert gh.requests == []
    pr = pull_of(gh)
    pr.create_issue_comment("a")
    list(pr.get_issue_comments())
    assert [r[:3] for r in gh.requests] == [
        ("GET", f"/repos/{REPO}", 200),
        ("GET", f"/repos/{REPO}/pulls/7", 200),
        ("POST", f"/repos/{REPO}/issues/7/comments", 201),
        ("GET", f"/repos/{REPO}/issues/7/comments", 200),
    ]
    assert gh.requests[0].method == "GET" and gh.requests[0].status == 200
    assert gh.count("POST") == 1
    assert gh.count(path_prefix=f"/repos/{REPO}/issues") == 2


def test_enterprise_api_prefix(fake_github: FakeGitHub) -> None:
    server = type(fake_github)(api_prefix="/api/v3")
    try:
        server.add_repo(REPO)
        server.add_pull(REPO, 7, HEAD, BASE)
        assert server.url.endswith("/api/v3")
        pr = client(server, server.token()).get_repo(REPO).get_pull(7)
        pr.create_issue_comment("on enterprise").edit("edited")
        assert [c["body"] for c in server.comments(REPO, 7)] == ["edited"]
        assert requests.get(f"{server.web_url}/repos/{REPO}", timeout=10).status_code == 404
    finally:
        server.stop()
