"""A fork's pull request gets the full report: the pull_request job (read-only token) uploads
its report directory, and a workflow_run job with a write token posts it with
`mlci publish --from DIR`, taking repository, PR and head sha from its event only. The
artifact is the fork's and is not trusted: each tampering below is refused or left out
in one line, and nothing outside the artifact is read."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakegithub import FakeGitHub
from tests.projects import error_lines, isolated, run_captured
from tests.test_runner_emulation import NUMBER, REPOSITORY, Origin, checkout, make_origin

FORK = "someone/iris"
MARKER = "<!-- mlci-report:default -->"


def pr_job_env(origin: Origin, tmp: Path, fake: FakeGitHub) -> dict[str, str]:
    event = tmp / "pr-event.json"
    pull = {
        "number": NUMBER,
        "head": {"sha": origin.head, "ref": "feature", "repo": {"full_name": FORK}},
        "base": {"sha": origin.base, "ref": "main", "repo": {"full_name": REPOSITORY}},
    }
    payload = {"number": NUMBER, "pull_request": pull, "repository": {"full_name": REPOSITORY}}
    event.write_text(json.dumps(payload), encoding="utf-8")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": fake.web_url,
        "GITHUB_SHA": origin.merge,
        "MLCI_GITHUB_THROTTLE": "off",
        "GITHUB_TOKEN": fake.token(read_only=True),  # what a fork's pull_request job gets
    }


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    return make_origin(tmp_path_factory.mktemp("fork"))


@pytest.fixture(scope="module")
def artifact(origin: Origin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The fork's pull_request job, once: `mlci run --out DIR` with a read-only token; DIR
    is what actions/run uploads as the artifact mlci-report-default-JOB."""
    tmp = tmp_path_factory.mktemp("fork-job")
    fake = FakeGitHub()
    fake.add_repo(REPOSITORY)
    fake.add_pull(REPOSITORY, NUMBER, origin.head, origin.base, head_repo=FORK)
    work = checkout(origin, tmp)
    try:
        with isolated(tmp / "home", work) as mp:
            for name, value in pr_job_env(origin, tmp, fake).items():
                mp.setenv(name, value)
            code, _, err = run_captured("run", "--out", str(tmp / "report"))
    finally:
        fake.stop()
    assert code == 0, err
    assert "read-only" in err and "mlci-publish.yml" in err  # the one skipped line
    assert fake.comments(REPOSITORY, NUMBER) == []
    yield tmp / "report"


@pytest.fixture
def download(artifact: Path, tmp_path: Path) -> Path:
    """What actions/download-artifact extracts in the workflow_run job: a copy to tamper."""
    shutil.copytree(artifact, tmp_path / "download")
    return tmp_path / "download"


def workflow_run(origin: Origin, *, pulls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The workflow_run event: for a fork's PR, `pull_requests` is empty."""
    return {
        "action": "completed",
        "workflow_run": {
            "id": 99,
            "event": "pull_request",
            "conclusion": "success",
            "head_sha": origin.head,
            "head_branch": "feature",
            "head_repository": {"full_name": FORK, "owner": {"login": "someone"}},
            "repository": {"full_name": REPOSITORY},
            "pull_requests": pulls or [],
            "html_url": f"https://github.com/{REPOSITORY}/actions/runs/99",
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }


@pytest.fixture
def publish_job(
    origin: Origin, fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeGitHub:
    """The workflow_run job of mlci-publish.yml: a write token, no checkout at all."""
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, NUMBER, origin.head, origin.base, head_repo=FORK)
    event = tmp_path / "run-event.json"
    event.write_text(json.dumps(workflow_run(origin)), encoding="utf-8")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": fake_github.url,
        "GITHUB_SERVER_URL": fake_github.web_url,
        "GITHUB_SHA": origin.base,  # workflow_run: the default branch's tip
        "MLCI_GITHUB_THROTTLE": "off",
        "GITHUB_TOKEN": fake_github.token(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)  # never a checkout of the PR's code
    return fake_github


def test_the_fork_flow_posts_the_full_report_on_the_head_sha(
    origin: Origin, download: Path, publish_job: FakeGitHub
) -> None:
    code, _, err = run_captured("publish", "--from", str(download))
    assert code == 0, err
    assert f"on #{NUMBER} at {origin.head[:12]}" in err
    (comment,) = publish_job.comments(REPOSITORY, NUMBER)
    body = comment["body"]
    assert body.startswith(MARKER)
    urls = [u.split('"')[0] for u in body.split('src="')[1:]]
    assert urls and all(requests.get(u, timeout=10).content.startswith(b"\x89PNG") for u in urls)
    (check,) = publish_job.check_runs(REPOSITORY, origin.head)
    assert check["name"] == "mlci / default" and check["conclusion"] == "success"
    assert check["details_url"] == f"https://github.com/{REPOSITORY}/actions/runs/99"
    assert [s["context"] for s in publish_job.statuses(REPOSITORY, origin.head)] == ["mlci/default"]
    # found by the head repository and branch: the event named no pull request
    assert publish_job.count("GET", f"/repos/{REPOSITORY}/pulls") == 1
    assert publish_job.check_runs(REPOSITORY, origin.merge) == []


def tamper_pull(download: Path, **changes: Any) -> None:
    pull = json.loads((download / "pull.json").read_text(encoding="utf-8"))
    (download / "pull.json").write_text(json.dumps({**pull, **changes}), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"pr": 8}, "it is the report of #8 at"),
        ({"head_sha": "f" * 40}, "it is the report of #7 at ffffffffffff"),
    ],
    ids=["another PR", "another sha"],
)
def test_an_artifact_of_another_pr_or_sha_is_refused(
    download: Path, publish_job: FakeGitHub, change: dict[str, Any], said: str
) -> None:
    tamper_pull(download, **change)
    code, _, err = run_captured("publish", "--from", str(download))
    assert code == 2, err
    (line,) = error_lines(err)
    assert said in line and "but the event is of #7" in line and "refused" in line
    assert publish_job.comments(REPOSITORY, NUMBER) == []
    assert publish_job.count("POST") == 0


def test_a_failed_report_lists_its_failed_rules_one_line_each(
    download: Path, publish_job: FakeGitHub
) -> None:
    path = download / "result.json"
    result = json.loads(path.read_text(encoding="utf-8"))
    result["verdict"] = "failed"
    result["gates"] = {"results": [{"metric": "accuracy", "outcome": "failed", "reason": "a\nb"}]}
    path.write_text(json.dumps(result), encoding="utf-8")
    code, out, err = run_captured("publish", "--from", str(download))
    assert code == 1, err
    assert out.splitlines() == ["FAIL accuracy: a\\nb", "verdict: failed"]


def test_a_report_without_the_marker_or_over_the_cap_is_refused(
    download: Path, publish_job: FakeGitHub
) -> None:
    md = download / "report.md"
    md.write_text(md.read_text(encoding="utf-8").replace(MARKER, "<!-- other -->"))
    code, _, err = run_captured("publish", "--from", str(download))
    assert code == 2 and "does not start with the marker" in error_lines(err)[0]
    with md.open("wb") as f:
        f.truncate(100 * 1024 * 1024)  # 100 MB (sparse: nothing is written)
    code, _, err = run_captured("publish", "--from", str(download))
    assert code == 2
    (line,) = error_lines(err)
    assert "report.md is 105 MB, over the cap of 1 MiB" in line
    assert publish_job.count("POST") == 0


def test_bad_images_are_left_out_in_one_line_each_and_the_rest_is_posted(
    origin: Origin, download: Path, publish_job: FakeGitHub, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"  # outside the artifact: must never be read
    secret.write_bytes((download / "plots").iterdir().__next__().read_bytes())
    (download / "plots" / "huge.png").open("wb").truncate(100 * 1024 * 1024)
    (download / "plots" / "fake.png").write_text("<script>alert(1)</script>")
    (download / "plots" / "link.png").symlink_to(secret)
    md = download / "report.md"
    extra = "".join(
        f'\n<img src="plots/{n}" alt="x">'
        for n in ("huge.png", "fake.png", "link.png", "../../secret.png")
    )
    md.write_text(md.read_text(encoding="utf-8") + extra + '\n<video src="plots/../x.png">\n')
    code, _, err = run_captured("publish", "--from", str(download))
    assert code == 0, err
    left = [line for line in err.splitlines() if "left out plots/" in line]
    assert len(left) == 4
    assert "'huge.png': 105 MB, over the cap of 5 MiB" in left[0]
    assert "'fake.png': not a PNG image" in left[1]
    assert "'link.png': not a file in the artifact" in left[2]
    assert "'../../secret.png': not a plain file name" in left[3]
    (comment,) = publish_job.comments(REPOSITORY, NUMBER)
    body = comment["body"]
    assert "plots/" not in body and "secret" not in body
    uploaded = publish_job.files_on_branch(REPOSITORY, "mlci-assets")
    good = [p for p in (download / "plots").iterdir() if p.name not in ("huge.png", "fake.png")]
    assert len(uploaded) == len([p for p in good if not p.is_symlink()])
    assert publish_job.check_runs(REPOSITORY, origin.head)


def test_the_pr_number_of_a_same_repository_run_comes_from_the_event(
    origin: Origin,
    download: Path,
    publish_job: FakeGitHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pulls = [{"number": NUMBER, "head": {"sha": origin.head, "ref": "feature"}}]
    event = tmp_path / "same-repo.json"
    event.write_text(json.dumps(workflow_run(origin, pulls=pulls)), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    code, _, err = run_captured("publish", "--from", str(download))
    assert code == 0, err
    assert publish_job.count("GET", f"/repos/{REPOSITORY}/pulls") == 0
    assert len(publish_job.comments(REPOSITORY, NUMBER)) == 1


def test_from_outside_a_workflow_run_is_a_usage_error(
    download: Path, publish_job: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request_target")
    monkeypatch.setenv("GITHUB_EVENT_PATH", "/nonexistent")
    monkeypatch.delenv("GITHUB_ACTIONS")
    code, _, err = run_captured("publish", "--from", str(download))
    assert code == 2
    (line,) = error_lines(err)
    assert "--from posts a report for the pull request of a workflow_run event" in line
    assert publish_job.count() == 0
