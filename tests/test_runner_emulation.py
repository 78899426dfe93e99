"""`mlci run` on emulated runners: the checkout the default actions/checkout makes, and
two runners publishing the same report at the same moment.

On pull_request, actions/checkout fetches only the merge commit (refs/pull/N/merge, depth
1) and checks it out detached: no base branch, no history. mlci fetches the base branch
itself and deepens only down to the merge-base; it never fetches another branch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakegithub import FakeGitHub
from tests.projects import commit, error_lines, git, run_captured

REPOSITORY = "octo/iris"
NUMBER = 7
MAIN_AFTER_FORK = 20  # commits on main after the PR branched off
FORK_DEPTH = 3  # commits on main up to and including the fork point


def mlci_yaml(max_depth: int) -> str:
    return (
        "train:\n  sklearn:\n    dataset: iris\n"
        "    model: sklearn.tree.DecisionTreeClassifier\n"
        f"    params: {{max_depth: {max_depth}}}\n    test_size: 0.3\n    seed: 0\n"
        "gates:\n  - metric: accuracy\n    max_drop: 0.05\n"
        "report:\n  plots: [metrics]\n"
    )


@dataclass(frozen=True)
class Origin:
    root: Path
    fork_point: str  # the merge-base of the PR head and main
    base: str  # main's tip
    head: str
    merge: str


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    return make_origin(tmp_path_factory.mktemp("shallow"))


def make_origin(root: Path) -> Origin:
    """A bare origin: main 23 commits long, a PR branched at its 3rd, its merge commit as
    refs/pull/7/merge, and other branches (the assets branch among them) never to fetch."""
    src = root / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    commit(src, "tree", {"mlci.yaml": mlci_yaml(3), ".gitignore": ".mlci/\n"})
    for i in range(FORK_DEPTH - 1):
        commit(src, f"docs {i}", {"NOTES.md": f"{i}\n"})
    fork_point = git(src, "rev-parse", "HEAD")
    for i in range(MAIN_AFTER_FORK):
        commit(src, f"main {i}", {"CHANGES.md": f"{i}\n"})
    base = git(src, "rev-parse", "HEAD")
    git(src, "checkout", "-q", "-b", "feature", fork_point)
    head = commit(src, "deeper tree", {"mlci.yaml": mlci_yaml(4)})
    git(src, "checkout", "-q", "-b", "mlci-assets", base)
    commit(src, "images", {"img/a.png": "x" * 1000})
    git(src, "checkout", "-q", "--detach", base)
    git(src, "merge", "-q", "--no-ff", "-m", "Merge feature into main", head)
    merge = git(src, "rev-parse", "HEAD")
    git(src, "update-ref", f"refs/pull/{NUMBER}/merge", merge)
    git(root, "clone", "-q", "--mirror", str(src), str(root / "origin.git"))
    shutil.rmtree(src)
    return Origin(root, fork_point, base, head, merge)


def checkout(origin: Origin, where: Path) -> Path:
    """What actions/checkout does on pull_request with its default fetch-depth of 1."""
    shutil.copytree(origin.root / "origin.git", where / "origin.git")
    work = where / "work"
    work.mkdir()
    git(work, "init", "-q")
    git(work, "remote", "add", "origin", (where / "origin.git").as_uri())
    spec = f"+refs/pull/{NUMBER}/merge:refs/remotes/pull/{NUMBER}/merge"
    git(work, "fetch", "-q", "--no-tags", "--depth=1", "origin", spec)
    git(work, "checkout", "-q", "--detach", f"refs/remotes/pull/{NUMBER}/merge")
    return work


def ci_env(mp: pytest.MonkeyPatch, origin: Origin, tmp: Path, fake: FakeGitHub) -> None:
    event = tmp / "event.json"
    payload = {
        "number": NUMBER,
        "pull_request": {
            "number": NUMBER,
            "head": {"sha": origin.head, "ref": "feature", "repo": {"full_name": REPOSITORY}},
            "base": {"sha": origin.base, "ref": "main", "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }
    event.write_text(json.dumps(payload), encoding="utf-8")
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": fake.web_url,
        "GITHUB_SHA": origin.merge,
        "MLCI_GITHUB_THROTTLE": "off",
        "GITHUB_TOKEN": fake.token(),
    }.items():
        mp.setenv(name, value)


def refs(work: Path) -> list[str]:
    return git(work, "for-each-ref", "--format=%(refname)").split()


def test_a_depth_1_checkout_fetches_main_down_to_the_merge_base_and_publishes(
    origin: Origin, tmp_path: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = checkout(origin, tmp_path)
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, NUMBER, origin.head, origin.base)
    ci_env(monkeypatch, origin, tmp_path, fake_github)
    monkeypatch.chdir(work)
    code, _, err = run_captured("run")
    assert code == 0, err
    (line,) = [x for x in err.splitlines() if x.startswith("mlci: fetched")]
    assert "main" in line and origin.base[:7] in line and "no other branch" in line
    # the merge commit's parent is main's tip: that is the merge-base, one commit of main
    assert git(work, "merge-base", "HEAD", "origin/main") == origin.base
    fetched = int(git(work, "rev-list", "--count", "origin/main"))
    assert fetched < MAIN_AFTER_FORK + FORK_DEPTH  # not the whole of main
    assert f"{fetched} commit" in line
    assert refs(work) == ["refs/remotes/origin/main", f"refs/remotes/pull/{NUMBER}/merge"]
    (comment,) = fake_github.comments(REPOSITORY, NUMBER)
    assert comment["body"].startswith("<!-- mlci-report:default -->")
    assert [c["name"] for c in fake_github.check_runs(REPOSITORY, origin.head)] == [
        "mlci / default"
    ]


def test_the_base_of_a_pr_head_checkout_is_deepened_only_as_far_as_needed(
    origin: Origin, tmp_path: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked out at the PR's head (ref: head_sha), the merge-base is 20 commits down main."""
    work = checkout(origin, tmp_path)
    git(work, "fetch", "-q", "--no-tags", "--depth=1", "origin", "+refs/heads/feature:refs/x")
    git(work, "checkout", "-q", "--detach", origin.head)
    for ref in ("refs/x", "refs/remotes/origin/feature"):  # git's opportunistic update
        git(work, "update-ref", "-d", ref)
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, NUMBER, origin.head, origin.base)
    ci_env(monkeypatch, origin, tmp_path, fake_github)
    monkeypatch.chdir(work)
    code, _, err = run_captured("run", "--dry-run")
    assert code == 0, err
    (line,) = [x for x in err.splitlines() if x.startswith("mlci: fetched")]
    assert git(work, "merge-base", "HEAD", "origin/main") == origin.fork_point
    fetched = int(git(work, "rev-list", "--count", "origin/main"))
    needed = MAIN_AFTER_FORK + 1
    assert needed <= fetched < 2 * needed  # deepening doubles, so never twice what is needed
    assert f"({fetched} commits of main" in line
    assert "refs/remotes/origin/feature" not in refs(work)
    assert "refs/remotes/origin/mlci-assets" not in refs(work)


def test_outside_ci_a_shallow_clone_says_so_and_names_the_fix(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = checkout(origin, tmp_path)
    git(work, "fetch", "-q", "--no-tags", "--depth=1", "origin", "+main:refs/remotes/origin/main")
    monkeypatch.chdir(work)
    code, _, err = run_captured("run", "--dry-run", "--base", "main")
    assert code == 3, err
    (line,) = error_lines(err)
    assert "shallow clone" in line
    assert "git fetch --unshallow origin +refs/heads/main:refs/remotes/origin/main" in line


def test_in_ci_a_failed_fetch_exits_3_naming_the_shallow_clone(
    origin: Origin, tmp_path: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = checkout(origin, tmp_path)
    shutil.rmtree(tmp_path / "origin.git")  # the remote is gone: the fetch fails
    fake_github.add_repo(REPOSITORY)
    ci_env(monkeypatch, origin, tmp_path, fake_github)
    monkeypatch.chdir(work)
    code, _, err = run_captured("run")
    assert code == 3, err
    (line,) = error_lines(err)
    assert "shallow clone" in line and "fetching main from origin failed" in line
    assert "git fetch --unshallow origin" in line
    assert fake_github.comments(REPOSITORY, NUMBER) == []


def test_two_runs_at_the_same_moment_leave_one_comment_and_one_check_run(
    origin: Origin, tmp_path: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runners (two checkouts, two `mlci run` processes) for the same PR and report."""
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, NUMBER, origin.head, origin.base)
    ci_env(monkeypatch, origin, tmp_path, fake_github)
    works = [checkout(origin, tmp_path / f"runner-{i}") for i in (1, 2)]
    mlci = Path(sys.executable).parent / "mlci"
    runs = [
        subprocess.Popen(
            [str(mlci), "run"],
            cwd=work,
            env={**os.environ, "GITHUB_RUN_ID": str(100 + i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, work in enumerate(works)
    ]
    done = [(*p.communicate(timeout=300), p.returncode) for p in runs]
    assert [code for _, _, code in done] == [0, 0], done
    (comment,) = fake_github.comments(REPOSITORY, NUMBER)
    assert comment["body"].startswith("<!-- mlci-report:default -->")
    assert [c["name"] for c in fake_github.check_runs(REPOSITORY, origin.head)] == [
        "mlci / default"
    ]
    assert {s["context"] for s in fake_github.statuses(REPOSITORY, origin.head)} == {"mlci/default"}


def test_a_depth_1_push_checkout_fetches_the_parent_it_compares_with(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record job on a push to main, checked out one commit deep."""
    shutil.copytree(origin.root / "origin.git", tmp_path / "origin.git")
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    git(work, "remote", "add", "origin", (tmp_path / "origin.git").as_uri())
    git(work, "fetch", "-q", "--no-tags", "--depth=1", "origin", "+main:refs/remotes/origin/main")
    git(work, "checkout", "-q", "--detach", "origin/main")
    event = tmp_path / "push.json"
    payload = {"ref": "refs/heads/main", "after": origin.base}
    event.write_text(json.dumps({**payload, "repository": {"full_name": REPOSITORY}}))
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SHA": origin.base,
        "GITHUB_REF": "refs/heads/main",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(work)
    code, _, err = run_captured("run", "--out", str(tmp_path / "report"))
    assert code == 0, err
    assert "mlci: fetched the parent commit of main from origin (shallow clone)" in err
    result = json.loads((tmp_path / "report" / "result.json").read_text(encoding="utf-8"))
    assert "no parent" not in json.dumps(result)
    assert git(tmp_path / "origin.git", "notes", "--ref=mlci", "list", origin.base)
