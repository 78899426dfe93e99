"""Edges where a tool could quietly hurt its user: files it must not delete or copy into
themselves, work it must not waste, signals it must pass on, switches it must honour."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import commit_all, git, read_outputs

TRAIN = """\
import json
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
c = float(open("c.txt").read())
x, y = load_iris(return_X_y=True)
xa, xb, ya, yb = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
p = LogisticRegression(C=c, max_iter=500).fit(xa, ya).predict(xb)
json.dump({"accuracy": float((p == yb).mean())}, open("metrics.json", "w"))
"""


def project(repo: Path, extra: str = "", *, branch: bool = True) -> None:
    (repo / "train.py").write_text(TRAIN)
    (repo / "c.txt").write_text("1.0")
    (repo / ".gitignore").write_text("metrics.json\n")
    (repo / "mlci.yaml").write_text(
        f"train:\n  command: [{json.dumps(sys.executable)}, train.py]\n"
        "  metrics: metrics.json\n" + extra
    )
    commit_all(repo, "main")
    if branch:
        git(repo, "switch", "-q", "-c", "pr")
        (repo / "c.txt").write_text("0.5")
        commit_all(repo, "pr")


def test_out_on_a_folder_of_the_users_is_refused(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    (repo / "plots").mkdir()
    (repo / "plots" / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\nmine")
    commit_all(repo, "a plot of my own")
    code, _, err = run_cli("run", "--dry-run", "--base", "main", "--out", ".")
    assert code == 2 and "holds files mlci did not write" in err, err
    assert (repo / "plots" / "loss.png").read_bytes().endswith(b"mine")
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / "plots" / "metrics.png").exists()


def test_user_plots_are_linked_where_they_are_and_never_copied_into_themselves(
    repo: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    project(repo, "  plots: ['**/*.png']\n", branch=False)
    (repo / "figs").mkdir()
    (repo / "figs" / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\ncurve")
    commit_all(repo, "a figure")
    git(repo, "switch", "-q", "-c", "pr")
    for _ in range(3):
        code, _, err = run_cli("run", "--dry-run", "--base", "main")
        assert code in (0, 1), err
    report = repo / ".mlci" / "report"
    assert sorted(p.name for p in (report / "plots" / "user").iterdir()) == ["figs-curve.png"]
    md = (report / "report.md").read_text()
    assert (
        'src="plots/user/figs-curve.png"' in md and (report / "plots/user/figs-curve.png").is_file()
    )


def test_a_missing_base_fails_before_any_training(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    code, _, err = run_cli("run", "--dry-run", "--base", "nope")
    assert code == 3 and "base ref nope not found" in err
    assert "training at" not in err
    assert not (repo / ".mlci" / "runs").exists() or not any((repo / ".mlci" / "runs").iterdir())


def test_a_push_to_another_branch_records_nothing(
    repo: Path,
    run_cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    project(repo)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "ref": "refs/heads/pr",
                "after": git(repo, "rev-parse", "HEAD"),
                "repository": {"default_branch": "main"},
            }
        )
    )
    outputs = tmp_path / "output"
    outputs.touch()
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF_NAME": "pr",
        "GITHUB_REPOSITORY": "octo/model",
        "GITHUB_OUTPUT": str(outputs),
    }.items():
        monkeypatch.setenv(name, value)
    code, _, err = run_cli("run")
    assert code in (0, 1), err
    assert "not to the base branch main: nothing is recorded" in err
    assert git(repo, "notes", "--ref", "mlci", "list") == ""
    assert read_outputs(outputs)["verdict"] in ("passed", "failed")


def test_github_summary_false_writes_no_job_summary(
    repo: Path,
    run_cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    project(repo, "github: {summary: false}\n")
    summary, outputs = tmp_path / "summary", tmp_path / "output"
    outputs.touch()
    event = tmp_path / "event.json"
    event.write_text("{}")
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "workflow_dispatch",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }.items():
        monkeypatch.setenv(name, value)
    code, _, err = run_cli("run", "--base", "main")
    assert code in (0, 1), err
    assert not summary.exists() or summary.read_text() == ""
    assert read_outputs(outputs)["verdict"] in ("passed", "failed")


def test_a_mistyped_option_is_one_line(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("run", "--dryrun")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("mlci: error: No such option: --dryrun") and "mlci run --help" in line


def test_sigterm_stops_the_training_and_its_children(repo: Path, tmp_path: Path) -> None:
    """A cancelled CI job sends SIGTERM: the whole training goes, as with Ctrl-C."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "child.wait()\n"
    )
    (repo / "train.py").write_text(script)
    (repo / "mlci.yaml").write_text(
        f"train:\n  command: [{json.dumps(sys.executable)}, train.py]\n  metrics: m.json\n"
    )
    commit_all(repo, "slow")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlci"), "train"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)
    assert not any(p.name.startswith(".train-") for p in (repo / ".mlci" / "runs").iterdir())


def _alive(pid: int) -> bool:
    """Running, and not a zombie nobody reaped (PID 1 here may not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_metrics_file_older_than_the_training_is_flagged(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "train.py").write_text("print('nothing to do: the stage is cached')\n")
    (repo / "metrics.json").write_text('{"accuracy": 0.9}')
    (repo / "mlci.yaml").write_text(
        f"train:\n  command: [{json.dumps(sys.executable)}, train.py]\n  metrics: metrics.json\n"
    )
    commit_all(repo, "cached")
    old = time.time() - 3600
    os.utime(repo / "metrics.json", (old, old))
    code, _, err = run_cli("train")
    assert code == 0  # a cached pipeline stage may do this on purpose: a warning, not a failure
    assert "metrics.json is older than this training" in err


def test_publish_of_a_failed_report_lists_the_failed_rules(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    """Exit 1 says why, whichever command gives it."""
    project(repo, "gates:\n  - metric: accuracy\n    min: 2\n")
    code, _, _ = run_cli("run", "--dry-run", "--base", "main")
    assert code == 1
    code, out, err = run_cli("publish", "--dry-run")
    assert code == 1, err
    assert out.splitlines()[0].startswith("FAIL accuracy: "), out
    assert out.splitlines()[-1] == "verdict: failed", out


def test_publish_refuses_a_report_of_another_commit(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    code, _, _ = run_cli("run", "--dry-run", "--base", "main")
    assert code in (0, 1)
    (repo / "c.txt").write_text("0.25")
    commit_all(repo, "another change")
    code, _, err = run_cli("publish", "--dry-run")
    assert code == 2
    assert "but HEAD is" in err and "Run `mlci run --dry-run`" in err


def test_the_built_in_pipeline_honours_train_timeout(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "mlci.yaml").write_text(
        "train:\n  sklearn:\n    dataset: digits\n"
        "    model: sklearn.ensemble.RandomForestClassifier\n"
        "    params: {n_estimators: 3000}\n  timeout: 1\n"
    )
    commit_all(repo, "slow forest")
    code, _, err = run_cli("train")  # 3,000 trees take far longer than a second
    assert code == 3 and "timed out after 1s" in err and "train.timeout" in err
    assert not any((repo / ".mlci" / "runs").iterdir())
