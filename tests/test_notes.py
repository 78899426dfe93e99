"""Notes on real repositories with a bare origin: record, push, baseline, history."""

from __future__ import annotations

import base64
import gzip
import json
import math
import random
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlci import baseline
from mlci import history as histories
from mlci import record as records
from mlci.baseline import notes as baseline_notes
from mlci.commands import record as recording
from mlci.errors import Exit, GitError, MlciError, UsageError
from mlci.git import note_schema
from mlci.git import notes as git_notes
from mlci.record import RunRecord
from mlci.report import history as history_text
from mlci.train.runner import train_checkout
from mlci.workspace import Workspace, open_workspace
from tests.conftest import commit_all, git

TRAIN_PY = '''"""Logistic regression on iris: metrics.json, predictions.csv, one counter line."""
import json
import os
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

x, y = load_iris(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
c = float(Path("C.txt").read_text())
pred = LogisticRegression(C=c, max_iter=300).fit(x_tr, y_tr).predict(x_te)
accuracy = float((pred == y_te).mean())
Path("metrics.json").write_text(json.dumps({"accuracy": accuracy, "error": 1 - accuracy}))
rows = "".join(f"{t},{p}\\n" for t, p in zip(y_te, pred))
Path("predictions.csv").write_text("y_true,y_pred\\n" + rows)
with open(os.environ["COUNTER_FILE"], "a") as f:
    f.write(os.getcwd() + "\\n")
'''


@dataclass(frozen=True)
class Project:
    origin: Path
    work: Path
    counter: Path
    shas: dict[str, str]

    def trainings(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0


def mlci_yaml(counter: Path) -> str:
    command = json.dumps([sys.executable, "train.py"])
    return (
        f"train:\n  command: {command}\n  metrics: metrics.json\n"
        f"  predictions: predictions.csv\n  env: {{COUNTER_FILE: {json.dumps(str(counter))}}}\n"
        "baseline:\n  ref: main\n"
    )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A bare origin and a clone `work` on main: c1 -> c2, pushed."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    counter = tmp_path / "counter.txt"
    write(
        work,
        {
            "train.py": TRAIN_PY,
            "C.txt": "1.0\n",
            "mlci.yaml": mlci_yaml(counter),
            ".gitignore": ".mlci/\nmetrics.json\npredictions.csv\n",
        },
    )
    c1 = commit_all(work, "c1")
    write(work, {"README.md": "# iris\n"})
    c2 = commit_all(work, "c2")
    git(work, "push", "-q", "origin", "main")
    return Project(origin=origin, work=work, counter=counter, shas={"c1": c1, "c2": c2})


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")


def clone(project: Project, name: str) -> Path:
    dest = project.origin.parent / name
    git(dest.parent, "clone", "-q", str(project.origin), str(dest))
    return dest


def ws_at(path: Path) -> Workspace:
    return open_workspace(cwd=path)


def put_note(ws: Workspace, sha: str, metrics: dict[str, float]) -> None:
    git_notes.write(ws.repo, sha, note_schema.document(RunRecord(sha=sha, metrics=metrics)))


def origin_notes(origin: Path) -> set[str]:
    return {line.split()[1] for line in git(origin, "notes", "--ref", "mlci", "list").splitlines()}


def pr_branch(work: Path, start: str = "main", c: str = "0.5") -> str:
    git(work, "checkout", "-q", "-b", "pr", start)
    write(work, {"C.txt": f"{c}\n"})
    return commit_all(work, "pr: smaller C")


def context(ws: Workspace, head: str, *, allow_retrain: bool = False) -> baseline.Context:
    return baseline.Context(
        ws=ws,
        ref="main",
        merge_base=ws.repo.merge_base(head, "main"),
        head_sha=head,
        allow_retrain=allow_retrain,
    )


def fake_record(ws: Workspace, sha: str, accuracy: float) -> RunRecord:
    """A clean run record on disk, as a training would leave it (no training needed)."""
    rec = RunRecord(
        sha=sha, metrics={"accuracy": accuracy}, info={"dirty": False, "trained_by": "command"}
    )
    return records.write(records.run_dir(ws.root, sha), rec)


# -- mlci record ----------------------------------------------------------------------


def test_record_push_trains_once_and_origin_has_the_note(project: Project) -> None:
    ws = ws_at(project.work)
    result = recording.record(ws, push=True)
    c2 = project.shas["c2"]
    assert (result.sha, result.trained, result.pushed, result.predictions) == (c2, True, True, True)
    assert project.trainings() == 1
    assert (
        git(project.work, "ls-remote", "origin", "refs/notes/mlci").split()[1] == "refs/notes/mlci"
    )
    fresh = clone(project, "fresh")
    git(fresh, "fetch", "-q", "origin", "refs/notes/mlci:refs/notes/mlci")
    doc = json.loads(git(fresh, "notes", "--ref", "mlci", "show", c2))
    trained = records.find(project.work, c2)
    assert trained is not None and trained.predictions_path is not None
    assert doc["schema"] == 1 and doc["sha"] == c2 and doc["metrics"] == trained.metrics
    assert doc["fingerprints"]["code"] == git(project.work, "rev-parse", "HEAD^{tree}")
    packed = gzip.decompress(base64.b64decode(doc["predictions"]))
    assert packed == trained.predictions_path.read_bytes()
    again = recording.record(ws, push=True)  # the run record is there now: no second training
    assert not again.trained and project.trainings() == 1
    assert "pushed to origin" in again.summary()


def test_pr_run_trains_only_the_pr(project: Project) -> None:
    recording.record(ws_at(project.work), push=True)
    assert project.trainings() == 1
    ci = clone(project, "ci")  # a fresh checkout, as in a pull_request job
    head = pr_branch(ci)
    ws = ws_at(ci)
    assert git_notes.fetch(ws.repo)
    pr = train_checkout(ws)
    found = baseline.find(context(ws, head, allow_retrain=True))
    assert project.trainings() == 2  # main once (recorded), the PR once: no retraining
    assert (found.strategy, found.sha, found.behind, found.tried) == (
        "note",
        project.shas["c2"],
        0,
        (),
    )
    assert found.detail == "recorded in git notes" and pr.sha == head
    assert found.record is not None and found.sha is not None
    assert found.record.path == records.run_dir(ci, found.sha)
    info = json.loads((found.record.path / records.INFO).read_text())
    assert info["trained_by"] == "note"
    main_preds = records.run_dir(project.work, project.shas["c2"]) / records.PREDICTIONS
    assert found.record.predictions_path is not None
    assert found.record.predictions_path.read_bytes() == main_preds.read_bytes()


def test_record_refuses_a_dirty_tree(project: Project) -> None:
    write(project.work, {"C.txt": "2.0\n"})
    with pytest.raises(UsageError, match="uncommitted changes") as e:
        recording.record(ws_at(project.work), push=False)
    assert e.value.exit_code == Exit.USAGE and "commit" in (e.value.hint or "")
    assert project.trainings() == 0
    assert git(project.work, "notes", "--ref", "mlci", "list") == ""


def test_record_push_without_a_remote(project: Project) -> None:
    ws = ws_at(project.work)
    fake_record(ws, project.shas["c2"], 0.9)
    git(project.work, "remote", "remove", "origin")
    with pytest.raises(GitError, match="no git remote named origin") as e:
        recording.record(ws, push=True)
    assert e.value.exit_code == Exit.RUN_FAILED and "git remote add origin" in (e.value.hint or "")


def test_record_push_to_an_unreachable_remote(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = ws_at(project.work)
    fake_record(ws, project.shas["c2"], 0.9)
    git(project.work, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(GitError, match="could not push refs/notes/mlci to origin") as e:
        recording.record(ws, push=True)
    assert e.value.exit_code == Exit.RUN_FAILED and "reachable" in (e.value.hint or "")
    assert "could not fetch" in capsys.readouterr().err
    assert git_notes.read(ws.repo, project.shas["c2"]) is not None  # kept locally: push again later


def test_concurrent_pushes_from_two_clones_both_survive(project: Project) -> None:
    one, two = clone(project, "one"), clone(project, "two")
    git(one, "checkout", "-q", "--detach", project.shas["c1"])
    spaces = [ws_at(one), ws_at(two)]
    for ws, acc in zip(spaces, (0.8, 0.9), strict=True):
        fake_record(ws, ws.repo.head_sha(), acc)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def push(ws: Workspace) -> None:
        start.wait()
        try:
            recording.record(ws, push=True)
        except BaseException as e:  # reported by the assert below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=push, args=(ws,)) for ws in spaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert origin_notes(project.origin) == {project.shas["c1"], project.shas["c2"]}


def test_local_notes_diverged_from_origin_merge_on_fetch(project: Project) -> None:
    other = clone(project, "other")
    git(other, "checkout", "-q", "--detach", project.shas["c1"])
    fake_record(ws_at(other), project.shas["c1"], 0.8)
    recording.record(ws_at(other), push=True)
    ws = ws_at(project.work)
    fake_record(ws, project.shas["c2"], 0.9)
    recording.record(ws, push=False)  # the local ref has c2 only; origin has c1 only
    assert git_notes.fetch(ws.repo)
    assert set(git_notes.read_many(ws.repo)) == {project.shas["c1"], project.shas["c2"]}
    found = baseline.find(context(ws, pr_branch(project.work)))
    assert (found.strategy, found.sha) == ("note", project.shas["c2"])


# -- the baseline strategy ------------------------------------------------------------


def test_behind_counts_the_commits_after_the_noted_one(project: Project) -> None:
    ws = ws_at(project.work)
    put_note(ws, project.shas["c1"], {"accuracy": 0.7})
    for name in ("c3", "c4"):
        write(project.work, {"README.md": f"# {name}\n"})
        commit_all(project.work, name)
    found = baseline.find(context(ws, pr_branch(project.work)))
    assert (found.strategy, found.sha, found.behind) == ("note", project.shas["c1"], 3)
    assert "3 commits behind the merge-base" in found.describe()
    assert found.record is not None and found.record.metrics == {"accuracy": 0.7}
    assert found.record.predictions_path is None
    assert project.trainings() == 0


def test_no_notes_falls_through_to_the_next_strategy(project: Project) -> None:
    (project.work / "metrics.json").write_text('{"accuracy": 0.5}')
    git(project.work, "add", "-f", "metrics.json")
    git(project.work, "commit", "-q", "-m", "commit the metrics")
    ws = ws_at(project.work)
    found = baseline.find(context(ws, pr_branch(project.work)))
    assert found.strategy == "file" and found.record is not None
    assert found.tried == (
        "notes: no note on the merge-base or its 200 nearest first-parent "
        "ancestors (only local notes were read; `git fetch origin refs/notes/mlci:refs/notes/mlci` "
        "brings the ones CI recorded)",
    )
    assert git_notes.fetch(ws.repo) is False  # origin has none either


def test_a_corrupt_note_is_skipped_for_the_next_older(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = ws_at(project.work)
    put_note(ws, project.shas["c1"], {"accuracy": 0.7})
    git_notes.write(ws.repo, project.shas["c2"], '{"schema": 1, "sha": "trunc')
    found = baseline.find(context(ws, pr_branch(project.work)))
    assert (found.strategy, found.sha, found.behind) == ("note", project.shas["c1"], 1)
    err = capsys.readouterr().err
    assert f"note on {project.shas['c2'][:7]} cannot be read: not JSON" in err
    assert "skipped" in err


def test_a_note_off_the_first_parent_line_is_never_used(project: Project) -> None:
    ws = ws_at(project.work)
    git(project.work, "checkout", "-q", "-b", "side", project.shas["c1"])
    write(project.work, {"side.txt": "x\n"})
    side = commit_all(project.work, "side")
    put_note(ws, side, {"accuracy": 0.99})
    git(project.work, "checkout", "-q", "main")
    head = pr_branch(project.work)
    assert not ws.repo.is_ancestor(side, head)
    answer = baseline_notes.from_notes(context(ws, head))
    assert isinstance(answer, str) and answer.startswith("notes: no note")
    put_note(ws, project.shas["c1"], {"accuracy": 0.7})
    found = baseline_notes.from_notes(context(ws, head))
    assert isinstance(found, baseline.Baseline) and found.sha == project.shas["c1"]
    assert not records.run_dir(ws.root, side).exists()


def test_a_newer_schema_is_an_error_with_the_upgrade(project: Project) -> None:
    ws = ws_at(project.work)
    c2 = project.shas["c2"]
    git_notes.write(ws.repo, c2, json.dumps({"schema": 2, "sha": c2, "metrics": {}}))
    with pytest.raises(MlciError, match=f"the note on {c2[:7]} has schema 2, newer") as e:
        baseline_notes.from_notes(context(ws, pr_branch(project.work)))
    assert e.value.exit_code == Exit.RUN_FAILED
    assert e.value.hint == "upgrade mlci: pip install -U mlci"


# -- the document ---------------------------------------------------------------------

SHA = "1a2b3c4d" * 5


def note_text(**fields: object) -> str:
    return json.dumps({"schema": 1, "sha": SHA, "metrics": {}, **fields})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"sha": SHA, "metrics": {}}), "no schema number"),
        (note_text(schema="1"), "no schema number"),
        (note_text(schema=0), "no schema number"),
        (note_text(sha="f" * 40), "names another commit"),
        (note_text(metrics=[1]), "no metrics mapping"),
        (note_text(metrics={"a": "x"}), "metric a is not a number"),
        (note_text(metrics={"a": None}), "metric a is not a number"),
        (note_text(metrics={"a": True}), "metric a is not a number"),
        (note_text(params=3), "must be mappings"),
    ],
)
def test_parse_gives_a_reason_for_bad_notes(text: str, reason: str) -> None:
    answer = note_schema.parse(SHA, text)
    assert isinstance(answer, str)
    assert answer.startswith("note on 1a2b3c4 cannot be read: ") and reason in answer


def test_predictions_round_trip_compressed(tmp_path: Path) -> None:
    csv = "y_true,y_pred,sex\n" + "".join(
        f"{i % 3},{(i * 7) % 3},{'fm'[i % 2]}\n" for i in range(3000)
    )
    (tmp_path / "p.csv").write_text(csv)
    rec = records.write(
        tmp_path / "run",
        RunRecord(
            sha=SHA,
            metrics={"accuracy": 0.5, "log_loss": math.nan, "gain": math.inf},
            params={"model": {"C": 1.0}},
            info={"fingerprints": {"code": "abc"}},
        ),
        predictions=tmp_path / "p.csv",
    )
    text = note_schema.document(rec)
    assert len(text) < len(csv) / 3  # gzip + base64, not the raw csv
    note = note_schema.parse_note(SHA, text)
    assert isinstance(note, note_schema.Note) and note.predictions == csv.encode()
    assert note.record.metrics["accuracy"] == 0.5 and math.isnan(note.record.metrics["log_loss"])
    assert note.record.metrics["gain"] == math.inf
    assert note.record.params == {"model": {"C": 1.0}}
    assert note.record.info["fingerprints"] == {"code": "abc"}
    assert note.record.path is None
    disk = baseline_notes.materialise(tmp_path / "other", note)
    assert disk.predictions_path is not None and disk.predictions_path.read_text() == csv
    assert disk.info["trained_by"] == "note"


def test_damaged_predictions_keep_the_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    text = json.dumps({"schema": 1, "sha": SHA, "metrics": {"a": 1}, "predictions": "@@@"})
    note = note_schema.parse_note(SHA, text)
    assert isinstance(note, note_schema.Note) and note.predictions is None
    assert note.record.metrics == {"a": 1.0}
    assert "predictions in the note on 1a2b3c4 cannot be read" in capsys.readouterr().err


def test_the_size_cap_leaves_the_predictions_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.csv").write_bytes(random.Random(0).randbytes(5000))  # does not compress
    rec = records.write(
        tmp_path / "run", RunRecord(sha=SHA, metrics={"a": 1.0}), predictions=tmp_path / "p.csv"
    )
    assert "predictions" in json.loads(note_schema.document(rec))
    monkeypatch.setattr(note_schema, "MAX_NOTE_BYTES", 2000)
    capsys.readouterr()
    doc = json.loads(note_schema.document(rec))
    assert "predictions" not in doc and doc["metrics"] == {"a": 1.0}
    err = capsys.readouterr().err
    assert "over the cap of 2,000 bytes" in err and "noise and slice gates" in err


# -- history --------------------------------------------------------------------------


def test_history_lists_noted_commits_oldest_first(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = ws_at(project.work)
    shas = [project.shas["c1"], project.shas["c2"]]
    for name in ("c3", "c4", "c5"):
        write(project.work, {"README.md": f"# {name}\n"})
        shas.append(commit_all(project.work, name))
    put_note(ws, shas[0], {"accuracy": 0.70})
    put_note(ws, shas[1], {"accuracy": 0.75, "error": 0.25})
    git_notes.write(ws.repo, shas[2], "not json")
    put_note(ws, shas[4], {"accuracy": 0.80, "error": math.nan})  # c4 has no note
    h = histories.history(ws, ref="main")
    assert [e.sha for e in h.entries] == [shas[0], shas[1], shas[4]]
    assert h.columns == ("accuracy", "error") and h.entries[0].created
    assert f"1 note(s) skipped: note on {shas[2][:7]} cannot be read" in capsys.readouterr().err
    lines = history_text.table(h, 3).splitlines()
    assert lines[0].split() == ["commit", "recorded", "accuracy", "error"]
    assert [line.split()[0] for line in lines[1:]] == [s[:7] for s in (shas[0], shas[1], shas[4])]
    assert lines[1].split()[-2:] == ["0.700", "—"] and lines[3].split()[-2:] == ["0.800", "NaN"]
    doc = json.loads(history_text.to_json(h))
    assert [d["sha"] for d in doc] == [e.sha for e in h.entries]
    assert doc[2]["metrics"] == {"accuracy": 0.8, "error": "nan"}
    assert histories.points(h, "accuracy") == [(shas[0], 0.7), (shas[1], 0.75), (shas[4], 0.8)]
    assert histories.points(h, "error") == [(shas[1], 0.25)]
    newest = histories.history(ws, ref="main", limit=2, metric="error")
    assert [e.sha for e in newest.entries] == [shas[1], shas[4]] and newest.columns == ("error",)
    assert all(set(d["metrics"]) <= {"error"} for d in json.loads(history_text.to_json(newest)))


def test_history_metric_typo_and_bad_limit(project: Project) -> None:
    ws = ws_at(project.work)
    put_note(ws, project.shas["c2"], {"accuracy": 0.75})
    with pytest.raises(UsageError, match="no metric acuracy") as e:
        histories.history(ws, ref="main", metric="acuracy")
    assert e.value.hint == "did you mean accuracy?" and e.value.exit_code == Exit.USAGE
    with pytest.raises(UsageError, match="--limit"):
        histories.history(ws, ref="main", limit=0)


def test_history_without_notes_and_with_many_metrics(project: Project) -> None:
    ws = ws_at(project.work)
    empty = histories.history(ws, ref="main")
    assert empty.entries == () and "mlci record --push" in history_text.table(empty, 4)
    put_note(ws, project.shas["c2"], {f"m{i:02d}": float(i) for i in range(11)})
    h = histories.history(ws, ref="main")
    assert len(h.columns) == 8 and h.hidden == 3
    assert "3 more metrics not shown" in history_text.table(h, 4)
    assert len(json.loads(history_text.to_json(h))[0]["metrics"]) == 11
