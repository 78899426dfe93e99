"""`mlci run` in a pull_request job, as a user meets it in GitHub Actions.

The checkout is shaped like actions/checkout's with fetch-depth 0 (a bare origin, the
branches under origin/, the merge commit checked out detached, GITHUB_SHA = the merge
commit) and GitHub is the fake REST server over real HTTP. The model is the built-in
pipeline (a decision tree on iris), trained in-process; one plot keeps uploads small.

Throttling: `mlci run` builds the publisher's default Client, so PyGithub's own throttle
(0.25 s between requests, 1 s between writes) applies to every publishing run here.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import read_outputs

from tests.projects import RunCli, commit, git

if TYPE_CHECKING:
    from tests.fakegithub import FakeGitHub

REPOSITORY = "octo/iris"
FORK = "someone/iris"
NUMBER = 7
MARKER = "<!-- mlci-report:default -->"
TITLE = "Iris classifier"


def mlci_yaml(max_depth: int) -> str:
    return (
        "train:\n"
        "  sklearn:\n"
        "    dataset: iris\n"
        "    model: sklearn.tree.DecisionTreeClassifier\n"
        f"    params: {{max_depth: {max_depth}}}\n"
        "    test_size: 0.3\n"
        "    seed: 0\n"
        "gates:\n"
        "  - metric: accuracy\n"
        "    min: 0.9\n"
        "    max_drop: 0.05\n"
        "report:\n"
        f"  title: {TITLE}\n"
        "  plots: [metrics]\n"
    )


@dataclass(frozen=True)
class Shas:
    base: str  # main
    good: str  # the PR's first head: passes
    bad: str  # the PR's second head (a push to the PR): fails min 0.9
    merge_good: str  # GITHUB_SHA of the first job
    merge_bad: str  # GITHUB_SHA of the second job


@dataclass(frozen=True)
class Template:
    root: Path  # holds origin.git and work/
    shas: Shas


def _merge(src: Path, head: str, base: str) -> str:
    git(src, "checkout", "-q", "--detach", base)
    git(src, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", head)
    return git(src, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """main, a PR with two pushes, their merge commits on origin, and a CI checkout."""
    root = tmp_path_factory.mktemp("pull-request")
    src = root / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    base = commit(src, "iris tree", {"mlci.yaml": mlci_yaml(3), ".gitignore": ".mlci/\n"})
    git(src, "checkout", "-q", "-b", "feature")
    good = commit(src, "deeper tree", {"mlci.yaml": mlci_yaml(5)})
    bad = commit(src, "a stump", {"mlci.yaml": mlci_yaml(1)})
    merge_good, merge_bad = _merge(src, good, base), _merge(src, bad, base)
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    pulls = [f"{merge_good}:refs/pull/{NUMBER}/merge", f"{merge_bad}:refs/pull/{NUMBER}/next"]
    git(src, "push", "-q", str(origin), "main", "feature", *pulls)
    work = root / "work"
    work.mkdir()
    git(work, "init", "-q")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")
    git(work, "fetch", "-q", "origin", f"+refs/pull/{NUMBER}/*:refs/remotes/pull/{NUMBER}/*")
    git(work, "checkout", "-q", "--force", merge_good)
    shutil.rmtree(src)
    return Template(root, Shas(base, good, bad, merge_good, merge_bad))


@dataclass
class Job:
    """One CI checkout and the job environment around it, pointed at the fake GitHub."""

    work: Path
    tmp: Path
    shas: Shas
    fake: FakeGitHub
    mp: pytest.MonkeyPatch
    token: str
    runs: int = 0
    event_path: Path | None = None

    def start(
        self,
        *,
        head: str | None = None,
        merge: str | None = None,
        token: str | None = "",
        fork: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> tuple[Path, Path]:
        """Set the variables of a new job; returns (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY)."""
        self.runs += 1
        head, merge = head or self.shas.good, merge or self.shas.merge_good
        git(self.work, "checkout", "-q", "--force", merge)
        event = self.tmp / f"event-{self.runs}.json"
        event.write_text(json.dumps(payload if payload is not None else self.event(head, fork)))
        self.event_path = event
        outputs, summary = self.tmp / f"output-{self.runs}", self.tmp / f"summary-{self.runs}"
        outputs.touch()
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": self.fake.url,
            "MLCI_GITHUB_THROTTLE": "off",  # PyGithub paces writes 1 s apart by default
            "GITHUB_SERVER_URL": self.fake.web_url,
            "GITHUB_SHA": merge,
            "GITHUB_REF": f"refs/pull/{NUMBER}/merge",
            "GITHUB_RUN_ID": str(4000 + self.runs),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        for name, value in env.items():
            self.mp.setenv(name, value)
        given = self.token if token == "" else token
        if given is None:
            self.mp.delenv("GITHUB_TOKEN", raising=False)
        else:
            self.mp.setenv("GITHUB_TOKEN", given)
        return outputs, summary

    def event(self, head: str, fork: bool) -> dict[str, Any]:
        return {
            "action": "synchronize",
            "number": NUMBER,
            "pull_request": {
                "number": NUMBER,
                "head": {
                    "sha": head,
                    "ref": "feature",
                    "repo": {"full_name": FORK if fork else REPOSITORY},
                },
                "base": {
                    "sha": self.shas.base,
                    "ref": "main",
                    "repo": {"full_name": REPOSITORY},
                },
            },
            "repository": {"full_name": REPOSITORY, "default_branch": "main"},
        }


@pytest.fixture
def job(
    template: Template, tmp_path: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Job]:
    shutil.copytree(template.root, tmp_path / "ci", symlinks=True)
    work = tmp_path / "ci" / "work"
    git(work, "remote", "set-url", "origin", str(tmp_path / "ci" / "origin.git"))
    monkeypatch.chdir(work)
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, NUMBER, template.shas.good, template.shas.base)
    yield Job(work, tmp_path, template.shas, fake_github, monkeypatch, fake_github.token())


def image_urls(body: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', body)


def asset_path(fake: FakeGitHub, url: str) -> str:
    """The path on the assets branch that an image link of the comment points to."""
    prefix = f"{fake.web_url}/{REPOSITORY}/raw/mlci-assets/"
    assert url.startswith(prefix), url
    return urllib.parse.unquote(url[len(prefix) :])


def assert_published(job: Job, *, head: str, conclusion: str) -> dict[str, Any]:
    """One comment of ours, images that resolve, the check run and status on the head sha."""
    fake = job.fake
    (comment,) = fake.comments(REPOSITORY, NUMBER)
    body = comment["body"]
    assert body.startswith(MARKER)
    urls = image_urls(body)
    assert urls, body
    for url in urls:
        data = fake.file_on_branch(REPOSITORY, "mlci-assets", asset_path(fake, url))
        assert data is not None and data.startswith(b"\x89PNG"), url
        with urllib.request.urlopen(url) as answer:  # the link a reader's browser follows
            assert answer.read() == data
    checks = fake.check_runs(REPOSITORY, head)
    assert [(c["name"], c["conclusion"]) for c in checks] == [("mlci / default", conclusion)]
    state = "success" if conclusion == "success" else "failure"
    statuses = fake.statuses(REPOSITORY, head)
    assert [(s["context"], s["state"]) for s in statuses] == [("mlci/default", state)]
    for merge in (job.shas.merge_good, job.shas.merge_bad):
        assert fake.check_runs(REPOSITORY, merge) == [] and fake.statuses(REPOSITORY, merge) == []
    return comment


def assert_outputs(
    path: Path, *, verdict: str, blessed: bool, comment_url: str, failed: int
) -> None:
    outputs = read_outputs(path)
    assert outputs == {
        "verdict": verdict,
        "blessed": "true" if blessed else "false",
        "report": outputs["report"],
        "comment-url": comment_url,
        "failed-gates": str(failed),
    }
    report = Path(outputs["report"])
    assert report.resolve() == (Path.cwd() / ".mlci" / "report" / "report.md").resolve()
    assert report.read_text(encoding="utf-8").startswith(MARKER)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mlci: error: ")]


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mlci: warning: ")]


def assert_masked(token: str, out: str, err: str) -> None:
    """The token is never printed, not even in an `::add-mask::` command."""
    lines = [line for line in (out + err).splitlines() if token in line]
    assert lines == [], lines


# --- the happy path ---------------------------------------------------------------------


def test_two_pushes_to_a_pr_and_a_second_report_name(job: Job, run_cli: RunCli) -> None:
    """Push 1 passes, push 2 fails: one comment edited in place, a check run and a status
    per run on each head sha; a report named `nightly` then keeps a comment of its own."""
    outputs, summary = job.start()
    code, out, err = run_cli("run")
    assert code == 0, err
    assert "verdict: passed" in out
    assert "Traceback" not in err and warnings(err) == []
    first = assert_published(job, head=job.shas.good, conclusion="success")
    assert_outputs(outputs, verdict="passed", blessed=True, comment_url=first["html_url"], failed=0)
    assert TITLE in summary.read_text() and "passed" in summary.read_text()
    assert_masked(job.token, out, err)

    job.fake.add_pull(REPOSITORY, NUMBER, job.shas.bad, job.shas.base)  # a push to the PR
    outputs, summary = job.start(head=job.shas.bad, merge=job.shas.merge_bad)
    code, out, err = run_cli("run")
    assert code == 1, err
    assert "FAIL accuracy" in out and "verdict: failed" in out
    second = assert_published(job, head=job.shas.bad, conclusion="failure")
    assert second["id"] == first["id"] and second["body"] != first["body"]  # edited, not new
    assert second["updated_at"] >= first["updated_at"]
    assert job.fake.count("PATCH", f"/repos/{REPOSITORY}/issues/comments/") == 1
    assert job.fake.count("POST", f"/repos/{REPOSITORY}/issues/") == 1  # one POST ever
    assert "failed" in second["body"]
    assert_outputs(
        outputs, verdict="failed", blessed=False, comment_url=first["html_url"], failed=1
    )
    assert "failed" in summary.read_text()
    # the first head keeps its own success; nothing was added to it
    on_good = job.fake.check_runs(REPOSITORY, job.shas.good)
    assert [c["conclusion"] for c in on_good] == ["success"]

    job.mp.setenv("MLCI_REPORT_NAME", "nightly")
    job.start(head=job.shas.bad, merge=job.shas.merge_bad)
    code, _, err = run_cli("run")
    assert code == 1, err
    bodies = [c["body"] for c in job.fake.comments(REPOSITORY, NUMBER)]
    assert [b.splitlines()[0] for b in bodies] == [MARKER, "<!-- mlci-report:nightly -->"]
    names = [c["name"] for c in job.fake.check_runs(REPOSITORY, job.shas.bad)]
    assert names == ["mlci / default", "mlci / nightly"]
    contexts = [s["context"] for s in job.fake.statuses(REPOSITORY, job.shas.bad)]
    assert contexts == ["mlci/default", "mlci/nightly"]


def test_faults_and_secondary_rate_limits_end_in_the_same_state(job: Job, run_cli: RunCli) -> None:
    """Every third request a 502, the first writes refused by a secondary rate limit."""
    job.fake.fail_every(3)
    job.fake.secondary_rate_limit(2, retry_after=1)
    outputs, summary = job.start()
    code, _, err = run_cli("run")
    assert code == 0, err
    assert [line for line in warnings(err) if "GitHub" in line] == []
    assert any(r.status == 502 for r in job.fake.requests)
    assert any(r.status == 403 for r in job.fake.requests)
    job.fake.fail_every(0)
    comment = assert_published(job, head=job.shas.good, conclusion="success")
    assert_outputs(
        outputs, verdict="passed", blessed=True, comment_url=comment["html_url"], failed=0
    )
    assert TITLE in summary.read_text()


# --- tokens that may not write, or are wrong --------------------------------------------


def test_a_forks_read_only_token_still_gives_the_verdict(job: Job, run_cli: RunCli) -> None:
    outputs, summary = job.start(token=job.fake.token(read_only=True), fork=True)
    code, _, err = run_cli("run")
    assert code == 0, err
    assert "Traceback" not in err and error_lines(err) == []
    (line,) = warnings(err)
    assert "skipped" in line and "comment" in line and "check run" in line
    assert "fork" in line and "read-only" in line
    assert job.fake.comments(REPOSITORY, NUMBER) == []
    assert job.fake.check_runs(REPOSITORY, job.shas.good) == []
    assert_outputs(outputs, verdict="passed", blessed=True, comment_url="", failed=0)
    assert TITLE in summary.read_text()


def test_a_fork_with_a_failing_gate_exits_1(job: Job, run_cli: RunCli) -> None:
    outputs, _ = job.start(
        head=job.shas.bad,
        merge=job.shas.merge_bad,
        token=job.fake.token(read_only=True),
        fork=True,
    )
    code, _, err = run_cli("run")
    assert code == 1, err
    assert len(warnings(err)) == 1 and "Traceback" not in err
    assert read_outputs(outputs)["verdict"] == "failed"


def test_no_token_says_how_to_give_one_and_asks_nothing(job: Job, run_cli: RunCli) -> None:
    outputs, summary = job.start(token=None)
    code, out, err = run_cli("run")
    assert code == 0, err
    (line,) = warnings(err)
    assert "skipped" in line and "no token" in line and "GITHUB_TOKEN" in line
    assert "${{ github.token }}" in line  # the hint: what to put in the workflow
    assert job.fake.requests == []
    assert "::add-mask::" not in out
    assert_outputs(outputs, verdict="passed", blessed=True, comment_url="", failed=0)
    assert TITLE in summary.read_text()


def test_a_bad_token_names_the_variable_not_the_value(job: Job, run_cli: RunCli) -> None:
    bogus = "ghs_" + "0123456789abcdef" * 2 + "0000"
    outputs, summary = job.start(token=bogus)
    code, out, err = run_cli("run")
    assert code == 0, err  # the verdict stands
    (line,) = [w for w in warnings(err) if "GitHub" in w]
    assert "GITHUB_TOKEN" in line and "401" in line
    assert_masked(bogus, out, err)
    assert all(r.status == 401 for r in job.fake.requests)
    assert len(job.fake.requests) == 1  # given up at once: every step would fail alike
    assert_outputs(outputs, verdict="passed", blessed=True, comment_url="", failed=0)
    assert summary.is_file()


def test_strict_publish_turns_a_github_failure_into_exit_3(job: Job, run_cli: RunCli) -> None:
    outputs, _ = job.start(token="ghs_" + "f" * 36)
    code, _, err = run_cli("run", "--strict-publish")
    assert code == 3, err
    assert any("GITHUB_TOKEN" in w for w in warnings(err))
    (line,) = [x for x in err.splitlines() if x.startswith("mlci: error: ")]
    assert "publishing on GitHub failed" in line and "--strict-publish" in line
    assert "ghs_" not in line
    assert read_outputs(outputs)["verdict"] == "passed"  # the outputs are still written


# --- the event payload ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected", "hint"),
    [
        (None, "GITHUB_EVENT_PATH is not set for a pull_request event", "run mlci as a step"),
        (
            {"pull_request": {"head": {"sha": "a" * 40}}},
            "has no pull_request.number",
            "Run mlci on the pull_request",
        ),
        ("not json", "is not JSON", "run mlci as a step"),
    ],
    ids=["no-payload", "no-number", "not-json"],
)
def test_a_bad_event_payload_is_exit_2_before_any_training(
    job: Job, run_cli: RunCli, payload: Any, expected: str, hint: str
) -> None:
    job.start()
    event = job.event_path
    assert event is not None
    if payload is None:
        job.mp.delenv("GITHUB_EVENT_PATH")
    elif isinstance(payload, str):
        event.write_text(payload)
    else:
        event.write_text(json.dumps(payload))
    code, _, err = run_cli("run")
    assert code == 2, err
    (line,) = error_lines(err)
    assert expected in line and hint in line, line
    assert "Traceback" not in err
    assert not (job.work / ".mlci" / "runs").exists()  # nothing was trained
    assert job.fake.requests == []


def test_a_pull_request_target_checkout_of_the_base_is_refused_not_reported_green(
    job: Job, run_cli: RunCli
) -> None:
    """pull_request_target checks out the base branch by default: its model is not the PR's."""
    job.start(head=job.shas.bad, merge=job.shas.base)
    job.mp.setenv("GITHUB_EVENT_NAME", "pull_request_target")
    job.mp.setenv("GITHUB_SHA", job.shas.base)
    code, _, err = run_cli("run")
    assert code == 2, err
    (line,) = error_lines(err)
    assert job.shas.base[:7] in line and job.shas.bad[:7] in line, line
    assert "pull_request_target" in line and "pull_request.head.sha" in line, line
    assert not (job.work / ".mlci" / "runs").exists()  # nothing was trained
    assert job.fake.check_runs(REPOSITORY, job.shas.bad) == []


def test_pull_request_target_with_the_head_checked_out_is_published(
    job: Job, run_cli: RunCli
) -> None:
    job.start(head=job.shas.bad, merge=job.shas.bad)
    job.mp.setenv("GITHUB_EVENT_NAME", "pull_request_target")
    job.mp.setenv("GITHUB_SHA", job.shas.base)
    code, _, err = run_cli("run")
    assert code == 1, err  # the stump's own verdict
    checks = job.fake.check_runs(REPOSITORY, job.shas.bad)
    assert [(c["name"], c["conclusion"]) for c in checks] == [("mlci / default", "failure")]


# --- dry runs and `mlci publish` --------------------------------------------------------


def test_dry_run_in_a_pr_job_makes_no_request(job: Job, run_cli: RunCli) -> None:
    outputs, summary = job.start()
    code, _, err = run_cli("run", "--dry-run")
    assert code == 0, err
    assert job.fake.requests == []
    assert_outputs(outputs, verdict="passed", blessed=True, comment_url="", failed=0)
    assert TITLE in summary.read_text()
    report = (job.work / ".mlci" / "report" / "report.md").read_text()
    assert 'src="plots/metrics.png"' in report  # local links: nothing was uploaded


def test_publish_after_a_dry_run_posts_the_same_report(job: Job, run_cli: RunCli) -> None:
    job.start()
    code, _, err = run_cli("run", "--dry-run")
    assert code == 0, err
    md = job.work / ".mlci" / "report" / "report.md"
    dry = md.read_text()
    assert job.fake.requests == []

    outputs, _ = job.start()
    code, _, err = run_cli("publish")
    assert code == 0, err
    comment = assert_published(job, head=job.shas.good, conclusion="success")
    local = re.sub(r'src="[^"]+"', 'src=""', dry)
    posted = re.sub(r'src="[^"]+"', 'src=""', comment["body"])
    assert posted == local
    assert md.read_text() == comment["body"]  # report.md is exactly the comment body now
    assert read_outputs(outputs)["comment-url"] == comment["html_url"]
    assert not (job.work / ".mlci" / "runs" / job.shas.merge_bad).exists()


def test_name_option_wins_over_the_environment(job: Job, run_cli: RunCli) -> None:
    job.start()
    job.mp.setenv("MLCI_REPORT_NAME", "from-env")
    code, _, err = run_cli("run", "--dry-run", "--name", "nightly")
    assert code == 0, err
    report = (job.work / ".mlci" / "report" / "report.md").read_text()
    assert report.startswith("<!-- mlci-report:nightly -->")
    assert json.loads((job.work / ".mlci" / "report" / "result.json").read_text())["name"] == (
        "nightly"
    )
    assert job.fake.requests == []
