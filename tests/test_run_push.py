"""`mlci run` in a push job on the base branch, and the notes it leaves for pull requests.

Real repositories with a bare `origin` in tmp_path; each CI job works in a fresh clone, as
actions/checkout leaves one. train.py (a decision tree on iris) appends a line to the file
named by $COUNTER_FILE, so tests count trainings. GitHub is the fake server: a push job
must not call its API at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import read_outputs
from tests.projects import RunCli, commit, git

if TYPE_CHECKING:
    from tests.fakegithub import FakeGitHub

REPOSITORY = "octo/iris"
MLCI = Path(sys.executable).parent / "mlci"

TRAIN_PY = '''"""A decision tree on iris: metrics.json, predictions.csv and one counter line."""
import json
import os
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

depth = int(Path("depth.txt").read_text())
x, y = load_iris(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
pred = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(x_tr, y_tr).predict(x_te)
accuracy = float((pred == y_te).mean())
Path("metrics.json").write_text(json.dumps({"accuracy": accuracy, "error": 1 - accuracy}))
rows = "".join(f"{i},{t},{p}\\n" for i, (t, p) in enumerate(zip(y_te, pred)))
Path("predictions.csv").write_text("id,y_true,y_pred\\n" + rows)
with open(os.environ["COUNTER_FILE"], "a") as f:
    f.write(json.dumps({"cwd": os.getcwd(), "depth": depth}) + "\\n")
'''


def mlci_yaml() -> str:
    command = json.dumps([sys.executable, "train.py"])
    return (
        f"train:\n  command: {command}\n  metrics: metrics.json\n"
        "  predictions: predictions.csv\n"
        "baseline:\n  ref: main\n"
        "gates:\n  - metric: accuracy\n    min: 0.8\n    max_drop: 0.05\n"
        "report:\n  plots: [metrics]\n"
    )


@dataclass(frozen=True)
class Project:
    tmp: Path
    origin: Path
    dev: Path  # a developer's clone: commits and pushes to main
    counter: Path
    shas: dict[str, str]

    def trainings(self) -> list[dict[str, object]]:
        if not self.counter.exists():
            return []
        return [json.loads(line) for line in self.counter.read_text().splitlines()]

    def clone(self, name: str) -> Path:
        """A fresh checkout, as actions/checkout makes one for a job."""
        dest = self.tmp / name
        git(self.tmp, "clone", "-q", str(self.origin), str(dest))
        return dest

    def push_commit(self, message: str, files: dict[str, str]) -> str:
        sha = commit(self.dev, message, files)
        git(self.dev, "push", "-q", "origin", "main")
        return sha


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """origin with main: c1 -> c2, pushed from the developer's clone; no notes yet."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    dev = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(origin), str(dev))
    c1 = commit(
        dev,
        "c1",
        {
            "train.py": TRAIN_PY,
            "depth.txt": "3\n",
            "mlci.yaml": mlci_yaml(),
            ".gitignore": ".mlci/\nmetrics.json\npredictions.csv\n",
        },
    )
    c2 = commit(dev, "c2", {"README.md": "# iris\n"})
    git(dev, "push", "-q", "origin", "main")
    counter = tmp_path / "trainings.jsonl"
    monkeypatch.setenv("COUNTER_FILE", str(counter))
    return Project(tmp_path, origin, dev, counter, {"c1": c1, "c2": c2})


def push_job(
    monkeypatch: pytest.MonkeyPatch, project: Project, checkout: Path, fake: FakeGitHub, name: str
) -> tuple[Path, Path]:
    """The variables of a push job on main at the checkout's HEAD; (outputs, summary)."""
    sha = git(checkout, "rev-parse", "HEAD")
    event = project.tmp / f"{name}-event.json"
    event.write_text(
        json.dumps(
            {
                "ref": "refs/heads/main",
                "before": "0" * 40,
                "after": sha,
                "repository": {"full_name": REPOSITORY, "default_branch": "main"},
            }
        )
    )
    outputs, summary = project.tmp / f"{name}-output", project.tmp / f"{name}-summary"
    outputs.touch()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": fake.web_url,
        "GITHUB_TOKEN": fake.token(),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(checkout)
    return outputs, summary


def clear_job(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GITHUB_"):
            monkeypatch.delenv(name)


def note_on_origin(project: Project, sha: str) -> dict[str, object]:
    """The note on sha as a fresh clone of origin sees it."""
    fresh = project.tmp / f"look-{sha[:7]}-{len(list(project.tmp.iterdir()))}"
    git(project.tmp, "clone", "-q", str(project.origin), str(fresh))
    git(fresh, "fetch", "-q", "origin", "refs/notes/mlci:refs/notes/mlci")
    doc = json.loads(git(fresh, "notes", "--ref", "mlci", "show", sha))
    assert isinstance(doc, dict)
    return doc


def noted(origin: Path) -> set[str]:
    listing = git(origin, "notes", "--ref", "mlci", "list")
    return {line.split()[1] for line in listing.splitlines()}


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mlci: error: ")]


# --- the push job -----------------------------------------------------------------------


def test_push_job_trains_records_and_pushes_the_note(
    project: Project, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    c2 = project.shas["c2"]
    runner = project.clone("job-1")
    outputs, summary = push_job(monkeypatch, project, runner, fake_github, "job-1")
    code, out, err = run_cli("run")
    assert code == 0, err
    assert f"recorded {c2[:7]} in refs/notes/mlci" in out and "pushed to origin" in out
    assert len(project.trainings()) == 1

    remote = git(runner, "ls-remote", "origin", "refs/notes/mlci").split()
    assert remote[1] == "refs/notes/mlci"
    doc = note_on_origin(project, c2)
    record = json.loads((runner / ".mlci" / "runs" / c2 / "metrics.json").read_text())
    assert (doc["schema"], doc["sha"], doc["metrics"]) == (1, c2, record)
    assert isinstance(doc["predictions"], str) and doc["predictions"]
    # the first note has no parent note to compare with: the drop rule is skipped
    assert read_outputs(outputs) | {"report": ""} == {
        "verdict": "passed",
        "blessed": "false",
        "report": "",
        "comment-url": "",
        "failed-gates": "0",
    }
    assert Path(read_outputs(outputs)["report"]).is_file()
    assert summary.read_text().strip()
    assert fake_github.requests == []  # a push job does not call GitHub's API

    c3 = project.push_commit("c3: deeper tree", {"depth.txt": "4\n"})
    runner = project.clone("job-2")
    outputs, _ = push_job(monkeypatch, project, runner, fake_github, "job-2")
    code, out, err = run_cli("run")
    assert code == 0, err
    assert [t["depth"] for t in project.trainings()] == [3, 4]  # c2's note, not a retraining
    assert noted(project.origin) == {c2, c3}
    result = json.loads((runner / ".mlci" / "report" / "result.json").read_text())
    assert (result["baseline"]["strategy"], result["baseline"]["sha"]) == ("note", c2)
    assert read_outputs(outputs)["verdict"] == "passed"
    assert read_outputs(outputs)["blessed"] == "true"  # compared with c2: may be deployed


def test_a_base_ref_written_as_origin_main_still_records_the_push(
    project: Project, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    """baseline.ref: origin/main names the same branch as the push to refs/heads/main."""
    yaml = mlci_yaml().replace("ref: main", "ref: origin/main")
    c3 = project.push_commit("c3: the base as a remote branch", {"mlci.yaml": yaml})
    runner = project.clone("job-1")
    push_job(monkeypatch, project, runner, fake_github, "job-1")
    code, out, err = run_cli("run")
    assert code == 0, err
    assert "not to the base branch" not in err
    assert f"recorded {c3[:7]} in refs/notes/mlci" in out
    assert noted(project.origin) == {c3}


def test_a_pr_in_a_fresh_clone_trains_only_its_own_code(
    project: Project, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    c2 = project.shas["c2"]
    push_job(monkeypatch, project, project.clone("record"), fake_github, "record")
    code, _, err = run_cli("run")
    assert code == 0, err
    clear_job(monkeypatch)

    pr = project.clone("pr")  # a new job on another runner: no notes, no .mlci/
    assert git(pr, "notes", "--ref", "mlci", "list") == ""
    git(pr, "checkout", "-q", "-b", "feature")
    head = commit(pr, "pr: a shallower tree", {"depth.txt": "2\n"})
    monkeypatch.chdir(pr)
    code, out, err = run_cli("run", "--dry-run")
    assert code == 1, err  # depth 2 drops accuracy by 0.067 from the note's 0.978
    assert "FAIL accuracy" in out
    trained = project.trainings()
    assert [t["depth"] for t in trained] == [3, 2]  # main once (in its push job), the PR once
    assert Path(str(trained[1]["cwd"])).resolve() == pr.resolve()
    result = json.loads((pr / ".mlci" / "report" / "result.json").read_text())
    assert result["head"]["sha"] == head
    baseline = result["baseline"]
    assert (baseline["strategy"], baseline["sha"], baseline["behind"]) == ("note", c2, 0)
    report = (pr / ".mlci" / "report" / "report.md").read_text()
    assert f"recorded in git notes at {c2[:7]} (main)" in report
    (rule,) = result["gates"]["results"]
    noted_metrics = json.loads(git(pr, "notes", "--ref", "mlci", "show", c2))["metrics"]
    assert rule["base"] == pytest.approx(noted_metrics["accuracy"])  # fetched by mlci run
    assert fake_github.requests == []


# --- concurrent recording, and the history it builds ------------------------------------


def record_push(checkout: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(MLCI), "record", "--push"],
        cwd=checkout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_concurrent_record_pushes_both_survive_and_history_lists_them(
    project: Project, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    c1, c2 = project.shas["c1"], project.shas["c2"]
    one, two = project.clone("one"), project.clone("two")
    git(one, "checkout", "-q", "--detach", c1)
    jobs = [record_push(one), record_push(two)]  # both train, then fetch, merge and push
    done = [(p.wait(timeout=120), *p.communicate()) for p in jobs]
    for code, out, err in done:
        assert code == 0, err
        assert "pushed to origin" in out
    assert noted(project.origin) == {c1, c2}
    assert len(project.trainings()) == 2

    reader = project.clone("reader")
    git(reader, "fetch", "-q", "origin", "refs/notes/mlci:refs/notes/mlci")
    monkeypatch.chdir(reader)
    code, out, err = run_cli("history")
    assert code == 0, err
    rows = [line.split()[0] for line in out.splitlines()[1:] if line.strip()]
    assert rows == [c1[:7], c2[:7]]  # oldest first
    assert out.splitlines()[0].split()[:3] == ["commit", "recorded", "accuracy"]

    code, out, err = run_cli("history", "--json")
    assert code == 0, err
    entries = json.loads(out)
    assert [e["sha"] for e in entries] == [c1, c2]
    assert set(entries[0]["metrics"]) == {"accuracy", "error"}

    code, out, err = run_cli("history", "--json", "--metric", "error")
    assert code == 0, err
    assert [set(e["metrics"]) for e in json.loads(out)] == [{"error"}, {"error"}]

    code, out, err = run_cli("history", "--metric", "acuracy")
    assert code == 2
    (line,) = error_lines(err)
    assert "acuracy" in line and "did you mean accuracy?" in line.lower()


def test_history_in_a_fresh_clone_finds_the_notes_on_origin(
    project: Project, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    """A laptop's fresh clone has no refs/notes/mlci: history must not claim there are none
    and tell the user to record some, when CI has recorded them on origin."""
    push_job(monkeypatch, project, project.clone("record"), fake_github, "record")
    assert run_cli("run")[0] == 0
    clear_job(monkeypatch)
    monkeypatch.chdir(project.clone("laptop"))
    code, out, err = run_cli("history")
    assert code == 0, err
    listed = project.shas["c2"][:7] in out
    assert listed or "git fetch origin refs/notes/mlci" in out + err, out + err


# --- pushing where it cannot --------------------------------------------------------------


def test_a_push_job_without_a_remote_is_exit_3_with_the_fix(
    project: Project, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    runner = project.clone("job")
    git(runner, "remote", "remove", "origin")
    push_job(monkeypatch, project, runner, fake_github, "job")
    code, _, err = run_cli("run")
    assert code == 3, err
    (line,) = error_lines(err)
    assert "no git remote named origin" in line and "git remote add origin" in line
    assert "Traceback" not in err
    assert noted(project.origin) == set()


def test_record_push_to_an_unreachable_remote_is_exit_3_and_keeps_the_note(
    project: Project, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    work = project.clone("work")
    git(work, "remote", "set-url", "origin", str(project.tmp / "gone.git"))
    monkeypatch.chdir(work)
    code, _, err = run_cli("record", "--push")
    assert code == 3, err
    (line,) = error_lines(err)
    assert "could not push refs/notes/mlci to origin" in line
    assert "reachable" in line  # the fix: check the remote and push again
    assert git(work, "notes", "--ref", "mlci", "list").split()[1] == project.shas["c2"]
    assert noted(project.origin) == set()
