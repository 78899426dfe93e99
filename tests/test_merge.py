"""`mlci merge`: a matrix of jobs, each trained in its own checkout as a runner would, made
into one report, one comment, one check run and one status on the fake GitHub."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import read_outputs

from tests.projects import RunCli, commit, error_lines, git, isolated, run_captured

if TYPE_CHECKING:
    from tests.fakegithub import FakeGitHub

REPOSITORY = "octo/models"
NUMBER = 12
JOBS = ("tree", "forest", "stump")  # the stump fails: accuracy below 0.9
MODELS = {
    "tree": "sklearn.tree.DecisionTreeClassifier\n    params: {max_depth: 3}",
    "forest": "sklearn.ensemble.RandomForestClassifier\n    params: {n_estimators: 10}",
    "stump": "sklearn.tree.DecisionTreeClassifier\n    params: {max_depth: 3}",
}


def config(model: str) -> str:
    return (
        "train:\n  sklearn:\n    dataset: iris\n"
        f"    model: {model}\n"
        "    test_size: 0.3\n    seed: 0\n"
        "gates:\n  - metric: accuracy\n    min: 0.9\n    max_drop: 0.05\n"
        "  - metric: f1_macro\n    min: 0.5\n"
        "report:\n  title: Iris models\n  plots: [metrics]\n"
    )


@dataclass(frozen=True)
class Matrix:
    root: Path
    checkout: Path  # the merge job's checkout (the PR head)
    reports: Path  # one directory per job, as download-artifact leaves them
    base: str
    head: str


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """main has one mlci-JOB.yaml per model; the PR makes the stump a depth-1 tree. Each job
    trains in its own copy of the checkout and leaves its report directory."""
    root = tmp_path_factory.mktemp("matrix")
    src = root / "src"
    src.mkdir()
    with isolated(root / "home", src):
        git(src, "init", "-q", "-b", "main")
        files = {f"mlci-{job}.yaml": config(MODELS[job]) for job in JOBS}
        base = commit(src, "three models", {**files, ".gitignore": ".mlci/\n"})
        git(src, "checkout", "-q", "-b", "pr")
        stump = config(MODELS["stump"]).replace("max_depth: 3", "max_depth: 1")
        head = commit(src, "a stump", {"mlci-stump.yaml": stump})
        reports = root / "reports"
        for job in JOBS:
            runner = root / f"runner-{job}"
            shutil.copytree(src, runner)
            with isolated(root / "home", runner):
                code, _, err = run_captured(
                    "run",
                    "--dry-run",
                    "--base",
                    "main",
                    "--config",
                    f"mlci-{job}.yaml",
                    "--name",
                    job,
                    "--out",
                    str(reports / f"mlci-job-{job}"),
                )
            assert code == (1 if job == "stump" else 0), err
        yield Matrix(root, src, reports, base, head)


@pytest.fixture
def merge_job(
    matrix: Matrix,
    tmp_path: Path,
    fake_github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A pull_request job on the PR head, talking to the fake GitHub; returns GITHUB_OUTPUT."""
    work = tmp_path / "merge-job"
    shutil.copytree(matrix.checkout, work)
    monkeypatch.chdir(work)
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, NUMBER, matrix.head, matrix.base)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "number": NUMBER,
                "pull_request": {
                    "number": NUMBER,
                    "head": {"sha": matrix.head, "ref": "pr", "repo": {"full_name": REPOSITORY}},
                    "base": {"sha": matrix.base, "ref": "main", "repo": {"full_name": REPOSITORY}},
                },
                "repository": {"full_name": REPOSITORY, "default_branch": "main"},
            }
        )
    )
    outputs = tmp_path / "output"
    outputs.touch()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": fake_github.url,
        "GITHUB_SERVER_URL": fake_github.web_url,
        "GITHUB_RUN_ID": "77",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "GITHUB_TOKEN": fake_github.token(),
        "MLCI_GITHUB_THROTTLE": "off",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return outputs


def job_dirs(matrix: Matrix) -> list[str]:
    return [str(matrix.reports / f"mlci-job-{job}") for job in JOBS]


def job_result(matrix: Matrix, job: str) -> dict[str, object]:
    data = json.loads((matrix.reports / f"mlci-job-{job}" / "result.json").read_text())
    assert isinstance(data, dict)
    return data


def test_three_jobs_become_one_comment_one_check_and_one_status(
    matrix: Matrix, merge_job: Path, fake_github: FakeGitHub, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "merged"
    code, stdout, err = run_cli("merge", *job_dirs(matrix), "--name", "models", "--out", str(out))
    assert code == 1, err
    assert "verdict: failed (stump)" in stdout
    lines = stdout.splitlines()  # exit 1 lists the failed rules, under the job they failed in
    at = lines.index("failed  stump")
    assert lines[at + 1].startswith("  FAIL accuracy: "), stdout

    comments = fake_github.comments(REPOSITORY, NUMBER)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith("<!-- mlci-report:models -->")
    assert "## ❌ Model report: failed · 3 jobs" in body  # no mlci.yaml here: the default title
    assert "2 of 3 jobs passed · **failed: `stump`**" in body
    for job in JOBS:
        assert f"| `{job}`" in body
        assert f"<b>{job}</b>" in body  # its rules, folded under it
    assert "<details open><summary>❌ <b>stump</b>" in body
    best = next(line for line in body.splitlines() if "🏆 |" in line)
    assert "`stump`" not in best and "✅" in best
    assert f"{fake_github.web_url}/{REPOSITORY}/raw/mlci-assets/img/" in body  # the plot

    runs = fake_github.check_runs(REPOSITORY, matrix.head)
    assert len(runs) == 1
    assert runs[0]["name"] == "mlci / models" and runs[0]["conclusion"] == "failure"
    assert runs[0]["output"]["title"].startswith("failed: ")
    assert any(a["title"].startswith("mlci / models: stump: ") for a in runs[0]["annotations"])
    statuses = fake_github.statuses(REPOSITORY, matrix.head)
    assert [(s["context"], s["state"]) for s in statuses] == [("mlci/models", "failure")]
    assert statuses[0]["description"].startswith("failed: stump: ")

    failed = sum(int(job_result(matrix, job)["failed_gates"]) for job in JOBS)  # type: ignore[call-overload]
    assert failed >= 1
    outputs = read_outputs(merge_job)
    assert outputs["verdict"] == "failed" and outputs["blessed"] == "false"
    assert outputs["failed-gates"] == str(failed)
    assert outputs["comment-url"] == comments[0]["html_url"]
    assert (out / "report.md").read_text() == body
    merged = json.loads((out / "result.json").read_text())
    assert [j["name"] for j in merged["jobs"]] == list(JOBS)
    assert merged["key_metrics"] == ["accuracy", "f1_macro"]
    assert (out / "plots" / "jobs.png").read_bytes().startswith(b"\x89PNG")


def test_a_missing_half_written_or_stale_job_fails_and_is_named(
    matrix: Matrix, merge_job: Path, fake_github: FakeGitHub, run_cli: RunCli, tmp_path: Path
) -> None:
    half = tmp_path / "mlci-job-half"
    shutil.copytree(matrix.reports / "mlci-job-tree", half)
    (half / "result.json").unlink()  # the job died while writing its report
    stale = tmp_path / "mlci-job-old"
    shutil.copytree(matrix.reports / "mlci-job-forest", stale)
    data = json.loads((stale / "result.json").read_text())
    data["name"], data["head"]["sha"] = "old", matrix.base  # an artifact of an earlier run
    (stale / "result.json").write_text(json.dumps(data))
    missing = tmp_path / "mlci-job-gone"
    dirs = [*job_dirs(matrix)[:2], str(half), str(stale), str(missing)]

    code, stdout, err = run_cli("merge", *dirs, "--name", "models", "--out", str(tmp_path / "m"))
    assert code == 1, err
    assert f"job mlci-job-half: half-written: no result.json in {half}" in err
    assert f"job old: from another commit: {matrix.base[:7]}, not {matrix.head[:7]}" in err
    assert f"job mlci-job-gone: no report directory at {missing}" in err
    assert "verdict: failed (mlci-job-half, old, mlci-job-gone)" in stdout

    body = fake_github.comments(REPOSITORY, NUMBER)[0]["body"]
    assert len(fake_github.comments(REPOSITORY, NUMBER)) == 1
    assert f"> ❌ `mlci-job-gone`: no report directory at {missing}" in body
    assert "> ❌ `old`: from another commit" in body
    assert len(fake_github.check_runs(REPOSITORY, matrix.head)) == 1
    assert len(fake_github.statuses(REPOSITORY, matrix.head)) == 1
    assert read_outputs(merge_job)["verdict"] == "failed"
    assert read_outputs(merge_job)["failed-gates"] == "3"  # the three unreadable jobs


def test_two_jobs_with_one_name_are_an_error_and_nothing_is_posted(
    matrix: Matrix, merge_job: Path, fake_github: FakeGitHub, run_cli: RunCli, tmp_path: Path
) -> None:
    again = tmp_path / "copy-of-tree"
    shutil.copytree(matrix.reports / "mlci-job-tree", again)
    code, _, err = run_cli("merge", *job_dirs(matrix), str(again), "--out", str(tmp_path / "m"))
    assert code == 2
    assert error_lines(err) == [
        f"mlci: error: two jobs are named 'tree' ({matrix.reports / 'mlci-job-tree'}, {again}). "
        "Give each matrix job its own name (`mlci run --name JOB`) and pass each directory once."
    ]
    assert fake_github.count("POST") == 0 and fake_github.count("PATCH") == 0
    assert not (tmp_path / "m").exists()


def test_a_hundred_jobs_fit_one_comment(
    matrix: Matrix, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "local"
    shutil.copytree(matrix.checkout, work)
    monkeypatch.chdir(work)
    dirs = []
    for i in range(100):
        job = JOBS[i % 3]
        copy = tmp_path / "jobs" / f"{job}-seed-{i}"
        shutil.copytree(matrix.reports / f"mlci-job-{job}", copy)
        data = json.loads((copy / "result.json").read_text())
        data["name"] = copy.name
        (copy / "result.json").write_text(json.dumps(data))
        dirs.append(str(copy))
    code, _, err = run_cli("merge", "--dry-run", *dirs, "--out", str(tmp_path / "m"))
    assert code == 1, err
    body = (tmp_path / "m" / "report.md").read_text()
    assert len(body) <= 65_536
    assert all(f"| `{Path(d).name}`" in body for d in dirs)  # every job has its row
    assert "<details open><summary>❌ <b>stump-seed-2</b>" in body


def test_merge_needs_at_least_one_directory(repo: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("merge")
    assert code == 2
    assert error_lines(err) == [
        "mlci: error: Missing argument 'DIR...' (mlci merge). Run `mlci merge --help` to see "
        "what it takes."
    ]
