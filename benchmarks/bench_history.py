"""Notes at scale: `mlci history` over 5,000 noted commits, and what a noted main saves a PR.

Run: python benchmarks/bench_history.py  (about ten seconds; not a test)

1. A linear main of 5,000 commits with a note on each (both written by `git fast-import`,
   so the set-up takes a second, not the hours of `git notes add` in a loop). Times
   histories.history(limit=5000) in-process (goal: at most 2 s; one `git notes list` and one
   `git cat-file --batch`, no git process per commit), the table and JSON renderings, and
   baseline_notes.from_notes at the tip (the PR baseline look-up). When the CLI has `mlci history`,
   the whole command is timed too.
2. The point of the notes: main records its model once (`mlci record --push`); a pull
   request in a fresh clone then trains only its own code. Counts trainings with a
   counter file that the project's train.py appends to (goal: exactly one for the PR).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from common import (  # the paths above make `common` and `mlci` importable
    GIT_IDENTITY,
    BenchError,
    Command,
    git,
    sandbox_env,
    seconds,
    table,
    time_interleaved,
    venv_script,
)

COMMITS = 5_000
REPEAT = 5
GOALS = {"history_5000_s": 2.0, "pr_trainings": 1}
METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "log_loss",
    "latency_ms",
)
MLCI_YAML = "train: {command: [python, train.py], metrics: metrics.json}\n"

TRAIN_PY = '''"""Logistic regression on iris; appends one line to $COUNTER_FILE per training."""
import json
import os
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

x, y = load_iris(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
pred = LogisticRegression(C=float(Path("C.txt").read_text()), max_iter=300).fit(
    x_tr, y_tr).predict(x_te)
Path("metrics.json").write_text(json.dumps({"accuracy": float((pred == y_te).mean())}))
rows = "".join(f"{t},{p}\\n" for t, p in zip(y_te, pred))
Path("predictions.csv").write_text("y_true,y_pred\\n" + rows)
with open(os.environ["COUNTER_FILE"], "a") as f:
    f.write(os.getcwd() + "\\n")
'''


@contextlib.contextmanager
def sandbox(home: Path) -> Iterator[dict[str, str]]:
    """A clean environment for the in-process mlci calls, restored afterwards (run.py)."""
    from mlci import output

    saved_env, saved_cwd, saved_level = dict(os.environ), Path.cwd(), output.level
    env = sandbox_env(home)
    os.environ.clear()
    os.environ.update(env)
    output.set_level(output.QUIET)
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        output.set_level(saved_level)


def fast_import(repo: Path, env: dict[str, str], stream: bytes, *extra: str) -> None:
    done = subprocess.run(
        ["git", "fast-import", "--quiet", *extra],
        cwd=repo,
        env=env,
        input=stream,
        capture_output=True,
        check=False,
    )
    if done.returncode:
        raise BenchError(f"git fast-import failed: {done.stderr.decode(errors='replace')}")


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def build_noted_repo(root: Path, env: dict[str, str], count: int) -> list[str]:
    """main with `count` commits, each with a note; the shas, oldest first."""
    git(root.parent, env, "init", "-q", "-b", "main", str(root))
    who = f"{GIT_IDENTITY['GIT_COMMITTER_NAME']} <{GIT_IDENTITY['GIT_COMMITTER_EMAIL']}>"
    parts = []
    for i in range(1, count + 1):
        parts.append(
            f"commit refs/heads/main\nmark :{i}\ncommitter {who} {1_700_000_000 + i} "
            "+0000\n".encode()
            + _data(f"commit {i}")
        )
        if i == 1:
            parts.append(b"M 100644 inline mlci.yaml\n" + _data(MLCI_YAML))
        parts.append(b"M 100644 inline step.txt\n" + _data(f"{i}\n"))
    marks = root / ".git" / "bench-marks"
    fast_import(root, env, b"".join(parts), f"--export-marks={marks}")
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    shas = [by_mark[f":{i}"] for i in range(1, count + 1)]
    fast_import(root, env, notes_stream(shas, who))
    git(root, env, "reset", "-q", "--hard", "main")
    return shas


def notes_stream(shas: list[str], who: str) -> bytes:
    """One notes commit on refs/notes/mlci holding a real mlci note for every sha."""
    from mlci.git import note_schema
    from mlci.record import RunRecord

    parts = [
        f"commit refs/notes/mlci\ncommitter {who} 1700000000 +0000\n".encode() + _data("mlci notes")
    ]
    for i, sha in enumerate(shas):
        metrics = {name: 0.5 + ((i * 7 + j) % 100) / 1000 for j, name in enumerate(METRICS)}
        rec = RunRecord(
            sha=sha,
            metrics=metrics,
            params={"model": {"C": 1.0, "seed": i}},
            info={"fingerprints": {"code": sha, "params": "sha256:0", "data": None}},
        )
        parts.append(f"N inline {sha}\n".encode() + _data(note_schema.document(rec)))
    return b"".join(parts)


def timed(fn: Any, repeat: int = REPEAT) -> tuple[float, float, Any]:
    """(median, min) seconds of repeat calls, and the last value."""
    runs, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), min(runs), value


def history_figures(scratch: Path, env: dict[str, str]) -> dict[str, Any]:
    from mlci import baseline
    from mlci import history as histories
    from mlci.baseline import notes as baseline_notes
    from mlci.report import history as history_text
    from mlci.workspace import open_workspace

    repo = scratch / "noted"
    start = time.perf_counter()
    shas = build_noted_repo(repo, env, COMMITS)
    setup = time.perf_counter() - start
    ws = open_workspace(cwd=repo)
    med, low, h = timed(lambda: histories.history(ws, ref="main", limit=COMMITS))
    if len(h.entries) != COMMITS or h.entries[0].sha != shas[0]:
        raise BenchError(f"history found {len(h.entries)} of {COMMITS} notes")
    table_med, _, _ = timed(lambda: history_text.table(h, 4))
    json_med, _, _ = timed(lambda: history_text.to_json(h))
    ctx = baseline.Context(
        ws=ws,
        ref="main",
        merge_base=shas[-1],
        head_sha=shas[-1],
        allow_retrain=False,
    )
    find_med, _, found = timed(lambda: baseline_notes.from_notes(ctx))
    if not isinstance(found, baseline.Baseline) or found.sha != shas[-1]:
        raise BenchError(f"from_notes did not find the tip's note: {found}")
    figures: dict[str, Any] = {
        "commits": COMMITS,
        "setup_s": round(setup, 3),
        "history_median_s": round(med, 4),
        "history_min_s": round(low, 4),
        "table_median_s": round(table_med, 4),
        "json_median_s": round(json_med, 4),
        "from_notes_median_s": round(find_med, 4),
        "note_bytes": found.record.info.get("note_bytes") if found.record else None,
    }
    figures["cli_median_s"] = cli_history(repo, env)
    return figures


def cli_history(repo: Path, env: dict[str, str]) -> float | None:
    """`mlci history --limit 5000` as a user runs it, once the CLI has the command."""
    mlci = venv_script("mlci")
    if mlci is None:
        return None
    probe = subprocess.run(
        [str(mlci), "history", "--help"], cwd=repo, env=env, capture_output=True, check=False
    )
    if probe.returncode:
        return None
    cmd = Command((str(mlci), "history", "--limit", str(COMMITS)), repo, env)
    return round(time_interleaved({"history": cmd}, repeat=3)["history"].median, 4)


def training_figures(scratch: Path, env: dict[str, str]) -> dict[str, Any]:
    """main records once and pushes; a PR in a fresh clone trains only itself."""
    from mlci import baseline
    from mlci.commands import record as recording
    from mlci.git import notes as git_notes
    from mlci.train.runner import train_checkout
    from mlci.workspace import open_workspace

    origin, work, counter = scratch / "origin.git", scratch / "work", scratch / "counter.txt"
    git(scratch, env, "init", "-q", "--bare", "-b", "main", str(origin))
    git(scratch, env, "clone", "-q", str(origin), str(work))
    command = json.dumps([sys.executable, "train.py"])
    files = {
        "train.py": TRAIN_PY,
        "C.txt": "1.0\n",
        ".gitignore": ".mlci/\n*.csv\nmetrics.json\n",
        "mlci.yaml": f"train:\n  command: {command}\n  metrics: metrics.json\n"
        f"  predictions: predictions.csv\n"
        f"  env: {{COUNTER_FILE: {json.dumps(str(counter))}}}\n",
    }
    for name, text in files.items():
        (work / name).write_text(text)
    git(work, env, "add", "-A")
    git(work, env, "commit", "-q", "-m", "main")
    git(work, env, "push", "-q", "origin", "main")
    recorded = recording.record(open_workspace(cwd=work), push=True)
    main_trainings = _count(counter)
    pr = scratch / "pr"
    git(scratch, env, "clone", "-q", str(origin), str(pr))
    git(pr, env, "checkout", "-q", "-b", "pr")
    (pr / "C.txt").write_text("0.3\n")
    git(pr, env, "commit", "-q", "-am", "pr")
    ws = open_workspace(cwd=pr)
    start = time.perf_counter()
    git_notes.fetch(ws.repo)
    head = train_checkout(ws)
    ctx = baseline.Context(
        ws=ws,
        ref="main",
        merge_base=ws.repo.merge_base(head.sha, "main"),
        head_sha=head.sha,
        allow_retrain=True,
    )
    found = baseline.find(ctx)
    return {
        "main_trainings": main_trainings,
        "note_bytes": recorded.size,
        "note_has_predictions": recorded.predictions,
        "pr_trainings": _count(counter) - main_trainings,
        "baseline": found.strategy,
        "baseline_has_predictions": bool(found.record and found.record.predictions_path),
        "pr_run_s": round(time.perf_counter() - start, 3),
    }


def _count(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def report(hist: dict[str, Any], train: dict[str, Any]) -> None:
    goal = GOALS["history_5000_s"]
    print(
        table(
            f"history over {hist['commits']:,} noted commits",
            ["measure", "time"],
            [
                ["set-up (fast-import: commits + notes)", seconds(hist["setup_s"])],
                [
                    f"history(limit={hist['commits']}) median of {REPEAT}",
                    seconds(hist["history_median_s"]),
                ],
                ["  min", seconds(hist["history_min_s"])],
                ["history_table", seconds(hist["table_median_s"])],
                ["history_json", seconds(hist["json_median_s"])],
                ["from_notes at the tip (PR baseline)", seconds(hist["from_notes_median_s"])],
                [
                    "`mlci history --limit 5000` (CLI)",
                    seconds(hist["cli_median_s"])
                    if hist["cli_median_s"] is not None
                    else "— (no history command yet)",
                ],
            ],
        )
    )
    ok = "yes" if hist["history_median_s"] <= goal else "NO"
    print(f"goal: history of {hist['commits']:,} commits in at most {goal:g} s: {ok}\n")
    print(
        table(
            "trainings with a noted main",
            ["measure", "value"],
            [
                ["main: `mlci record --push` trainings", str(train["main_trainings"])],
                ["note size (bytes, with predictions)", f"{train['note_bytes']:,}"],
                ["PR run: trainings", str(train["pr_trainings"])],
                ["PR run: baseline strategy", train["baseline"]],
                ["PR run: baseline has predictions", str(train["baseline_has_predictions"])],
                ["PR run: wall time (fetch + train + baseline)", seconds(train["pr_run_s"])],
            ],
        )
    )
    ok = "yes" if train["pr_trainings"] == GOALS["pr_trainings"] else "NO"
    print(f"goal: exactly one training for the PR run: {ok}")


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlci-bench-notes-") as tmp:
        scratch = Path(tmp)
        with sandbox(scratch / "home") as env:
            hist = history_figures(scratch, env)
            train = training_figures(scratch, env)
    report(hist, train)
    goals = {
        "history_5000": hist["history_median_s"] <= GOALS["history_5000_s"],
        "pr_trainings": train["pr_trainings"] == GOALS["pr_trainings"],
    }
    return {"history": hist, "trainings": train, "goals_met": goals}


if __name__ == "__main__":
    main()
