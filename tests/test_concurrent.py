"""Several `mlci run --dry-run` at once in one checkout, as on a self-hosted runner that
reuses its working directory or in two terminals: they never collide.

The runs are real subprocesses of the `mlci` console script on a real git repository
with a real training (projects.TRAIN_PY). To make the race certain rather than likely,
the training waits at a gate: the test opens it only once every other run has said that
it waits for the record, so each round really has one run training and the rest waiting.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlci import record as records
from tests import projects

MLCI = str(Path(sys.executable).parent / "mlci")
GATED_TRAIN_PY = (
    """import os, sys, time
gate = os.environ.get("GATE_DIR")
if gate:  # the test opens the gate of a tag once the other runs wait for this training
    with open(os.path.join(gate, "started"), "a") as f:
        f.write(f"{sys.argv[-1]} {os.getpid()}\\n")
    for _ in range(6000):
        if os.path.exists(os.path.join(gate, sys.argv[-1])):
            break
        time.sleep(0.05)
"""
    + projects.TRAIN_PY
)
# rounds per test: a few in the suite; MLCI_RACE_ROUNDS=10 for the full ten of the issue
ROUNDS = int(os.environ.get("MLCI_RACE_ROUNDS", "0"))
PATIENCE = 240.0  # seconds before a test gives up waiting for the runs (a failure, not a timing)


@dataclass(frozen=True)
class Checkout:
    root: Path
    counter: Path
    gate: Path
    merge_base: str


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Checkout:
    """The retrain project (no metrics committed: the base is retrained) on its PR branch."""
    root = tmp_path / "repo"
    shas = projects.build_retrain_project(root)
    projects.git(root, "checkout", "-q", "pr-ok")
    projects.commit(root, "gated training", {"train.py": GATED_TRAIN_PY})
    counter, gate = tmp_path / "trainings.jsonl", tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("COUNTER_FILE", str(counter))
    monkeypatch.setenv("GATE_DIR", str(gate))
    monkeypatch.chdir(root)
    return Checkout(root=root, counter=counter, gate=gate, merge_base=shas["c2"])


def start(root: Path, log: Path, *args: str) -> subprocess.Popen[str]:
    with log.open("w") as err:
        return subprocess.Popen(
            [MLCI, "run", "--dry-run", *args],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # so that a kill reaches the training below it too
        )


def wait_for(
    what: str, done: Callable[[], bool], procs: list[subprocess.Popen[str]], logs: list[Path]
) -> None:
    """Poll until done() holds; fail, showing the runs' output, if a run ends first."""
    deadline = time.monotonic() + PATIENCE
    while not done():
        ended = [p for p in procs if p.poll() is not None]
        if ended or time.monotonic() > deadline:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
            shown = "\n---\n".join(log.read_text() for log in logs)
            pytest.fail(f"while waiting for {what}, a run ended or none came:\n{shown}")
        time.sleep(0.05)


def waiting_for(logs: list[Path], sha: str) -> int:
    """How many runs said they wait for the lock of sha's run record."""
    return sum(
        any(
            line.startswith("mlci: waiting for pid ") and line.endswith(f"runs/{sha}")
            for line in log.read_text().splitlines()
        )
        for log in logs
    )


def open_gate_when_waiting(
    co: Checkout, tag: str, sha: str, procs: list[subprocess.Popen[str]], logs: list[Path]
) -> None:
    wait_for(
        f"{len(procs) - 1} runs to wait for {sha[:7]}",
        lambda: waiting_for(logs, sha) >= len(procs) - 1,
        procs,
        logs,
    )
    (co.gate / tag).touch()


def assert_record_complete(root: Path, sha: str) -> None:
    run = records.run_dir(root, sha)
    for name in (records.METRICS, records.PARAMS, records.INFO, records.LOG, records.PREDICTIONS):
        assert (run / name).is_file(), f"{name} missing from {run}"
    rec = records.read(run)
    assert rec is not None and rec.sha == sha and rec.metrics["r2"] > 0.1
    assert rec.info["trained_by"] == "command"


def assert_report_complete(out: Path, sha: str) -> None:
    result = json.loads((out / "result.json").read_text())
    assert result["head"]["sha"] == sha and result["verdict"] == "passed"
    md = (out / "report.md").read_text()
    assert sha[:7] in md and "</html>" in (out / "report.html").read_text()
    assert result["plots"], "the report has no plots"
    for link in result["plots"]:
        assert (out / link).is_file(), f"{link} is listed but missing"
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"left in {out}: {leftovers}"


def run_round(co: Checkout, n: int, round_no: int, outs: list[Path | None]) -> str:
    """One round: a new PR commit, n runs at once; returns the commit."""
    sha = projects.commit(
        co.root,
        f"round {round_no}",
        {"params.yaml": projects.params_yaml(0.5 + (round_no + 1) / 100)},
    )
    before = projects.trainings(co.counter)
    logs = [co.root.parent / f"run-{round_no}-{i}.log" for i in range(n)]
    procs = []
    for i in range(n):
        out = outs[i % len(outs)]
        procs.append(start(co.root, logs[i], *(["--out", str(out)] if out else [])))
    try:
        open_gate_when_waiting(co, "pr", sha, procs, logs)
        if round_no == 0:  # the merge-base is retrained once, by one run, in the first round
            open_gate_when_waiting(co, "main", co.merge_base, procs, logs)
        results = [(p.wait(timeout=PATIENCE), p.stdout.read() if p.stdout else "") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        (co.gate / "pr").unlink(missing_ok=True)
    errs = [log.read_text() for log in logs]
    for (code, printed), err in zip(results, errs, strict=True):
        assert code == 0, err
        assert "Traceback" not in err and "verdict: passed" in printed, err
    reused = ("trained by another mlci run: its record reused", f"reused the training of {sha[:7]}")
    assert sum(any(line in e for line in reused) for e in errs) == n - 1, errs
    new = projects.trainings(co.counter)[len(before) :]
    assert [t["args"][-1] for t in new].count("pr") == 1, new  # this commit, trained once
    assert_record_complete(co.root, sha)
    for out in {o or co.root / ".mlci" / "report" for o in outs}:
        assert_report_complete(out, sha)
    leftovers = [e for e in projects.run_entries(co.root) if e.startswith(".")]
    assert leftovers == [], f"left in .mlci/runs: {leftovers}"
    return sha


def assert_base_trained_once(co: Checkout) -> None:
    tags = [t["args"][-1] for t in projects.trainings(co.counter)]
    assert tags.count("main") == 1, tags
    assert projects.git(co.root, "worktree", "list").count("\n") == 0  # only the checkout


@pytest.mark.parametrize(("n", "rounds"), [(2, ROUNDS or 2), (4, ROUNDS or 1)])
def test_concurrent_dry_runs_train_each_commit_once(
    checkout: Checkout, tmp_path: Path, n: int, rounds: int
) -> None:
    """Half of the four runs write --out elsewhere: both report directories come out whole."""
    outs: list[Path | None] = [None] if n == 2 else [None, tmp_path / "other-report"]
    for round_no in range(rounds):
        run_round(checkout, n, round_no, outs)
    assert_base_trained_once(checkout)


def test_a_run_killed_holding_the_lock_does_not_block_the_next(
    checkout: Checkout, run_cli: projects.RunCli
) -> None:
    sha = projects.git(checkout.root, "rev-parse", "HEAD")
    log = checkout.root.parent / "killed.log"
    killed = start(checkout.root, log)
    started = checkout.gate / "started"
    wait_for(
        "the training", lambda: started.is_file() and "pr" in started.read_text(), [killed], [log]
    )
    lock = records.run_dir(checkout.root, sha).with_name(f".{sha}.lock")
    assert json.loads(lock.read_text())["pid"] == killed.pid  # it holds the lock, training
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    (checkout.gate / "pr").touch()
    (checkout.gate / "main").touch()

    code, out, err = run_cli("run", "--dry-run")

    assert code == 0, err
    assert f"mlci: took over a stale lock left by pid {killed.pid} (no longer running): " in err
    assert "verdict: passed" in out
    tags = [t["args"][-1] for t in projects.trainings(checkout.counter)]
    assert tags == ["pr", "main"]  # the killed training never finished; this run trained
    assert_record_complete(checkout.root, sha)
    assert_report_complete(checkout.root / ".mlci" / "report", sha)
    assert projects.run_entries(checkout.root) == sorted([sha, checkout.merge_base])
