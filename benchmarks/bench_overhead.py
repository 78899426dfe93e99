"""What CI costs beyond the training: `mlci run --dry-run` on the bundled example with a
noted main (the PR trains once, the baseline comes from the note), its wall time minus
the PR's training, against the peers' loop after their training: `dvc metrics diff main`
(CML's `cml comment update` + `cml check create` are not installable here: the npm
registry this machine reaches has no @dvcorg/cml, so DVC stands alone and the ratio is
flattering to the peers). Then the run cache: how many times a PR that changes only
README.md trains (goal 0) and one that changes train.py (goal 1).

Run alone (`python benchmarks/bench_overhead.py`) or through `make bench`.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BenchError, Command, git, run, sandbox_env, table, time_interleaved, venv_script

REPEAT = 3
GOAL_OVERHEAD_S = 1.0
GOAL_VS_PEERS = 3.0  # the peers' loop at least this many times mlci's overhead


def _mlci(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    mlci = str(venv_script("mlci") or "mlci")
    done = subprocess.run(
        [mlci, *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):  # 1 is a failed gate: a verdict, not an error
        raise BenchError(f"mlci {' '.join(args)} exited {done.returncode}: {done.stderr[-800:]}")
    return done


def _noted_example(scratch: Path, env: dict[str, str]) -> Path:
    """The demo repository: main's two commits trained and noted, the PR branch checked out."""
    from mlci.commands import demo

    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = env["PATH"]  # `python train.py` must be this venv's python
    try:
        return demo.make_repo(scratch / "repo", record=True)
    finally:
        os.environ["PATH"] = saved


def _training_s(repo: Path, sha: str) -> float:
    info = json.loads((repo / ".mlci" / "runs" / sha / "record.json").read_text())
    return float(info.get("duration") or 0.0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def overhead(scratch: Path, env: dict[str, str]) -> dict[str, Any]:
    """Median of REPEAT dry runs (--no-cache, so each one trains) minus each run's training;
    in CPU seconds too (the run's, minus `python train.py` run alone), which a busy machine
    disturbs far less than the wall time."""
    repo = _noted_example(scratch, env)
    head = git(repo, env, "rev-parse", "HEAD")
    totals, trainings, cpus, train_cpus = [], [], [], []
    for _ in range(REPEAT):
        before, started = _children_cpu(), time.perf_counter()
        _mlci(repo, env, "run", "--dry-run", "--base", "main", "--no-cache")
        totals.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - before)
        trainings.append(_training_s(repo, head))
        before = _children_cpu()
        run(Command(("python", "train.py"), repo, env))
        train_cpus.append(_children_cpu() - before)
    result = json.loads((repo / ".mlci" / "report" / "result.json").read_text())
    if result["baseline"]["strategy"] != "note":
        raise BenchError(f"the baseline came from {result['baseline']['strategy']}, not the note")
    started = time.perf_counter()
    _mlci(repo, env, "run", "--dry-run", "--base", "main")  # nothing changed: the cache answers
    cached = time.perf_counter() - started
    over = [t - s for t, s in zip(totals, trainings, strict=True)]
    return {
        "repo": repo,
        "total_s": statistics.median(totals),
        "training_s": statistics.median(trainings),
        "overhead_s": statistics.median(over),
        "overhead_runs_s": over,
        "overhead_cpu_s": statistics.median(c - t for c, t in zip(cpus, train_cpus, strict=True)),
        "rerun_cached_s": cached,
    }


def dvc_metrics_diff(scratch: Path, env: dict[str, str], repo: Path) -> dict[str, Any] | None:
    """`dvc metrics diff main --md` on the same metrics: main's committed, the PR's in the
    working tree, as a DVC user's CI step runs it after training."""
    dvc = venv_script("dvc")
    if dvc is None:
        return None
    runs = repo / ".mlci" / "runs"
    main = git(repo, env, "rev-parse", "main")
    head = git(repo, env, "rev-parse", "HEAD")
    peer = scratch / "dvc-repo"
    peer.mkdir()
    git(peer, env, "init", "-q", "-b", "main")
    run(Command((str(dvc), "init", "-q"), peer, env))
    (peer / "dvc.yaml").write_text("metrics:\n  - metrics.json\n")
    (peer / "metrics.json").write_text((runs / main / "metrics.json").read_text())
    git(peer, env, "add", "-A")
    git(peer, env, "commit", "-q", "-m", "main metrics")
    git(peer, env, "switch", "-q", "-c", "pr")
    (peer / "metrics.json").write_text((runs / head / "metrics.json").read_text())
    cmd = {"dvc": Command((str(dvc), "metrics", "diff", "main", "--md"), peer, env)}
    timing = time_interleaved(cmd, repeat=REPEAT)["dvc"]
    return {
        "median_s": timing.median,
        "cpu_median_s": timing.cpu_median,
        "runs_s": list(timing.runs),
    }


def trainings_per_pr(scratch: Path, env: dict[str, str], repo: Path) -> dict[str, int]:
    """How many trainings `mlci run --dry-run` starts for a PR that changes README.md only,
    and for one that changes train.py (counted from its `mlci: training` lines)."""
    counts = {}
    changes = {"README.md only": "README.md", "train.py": "train.py"}
    for label, name in changes.items():
        branch = "bench-" + name.replace(".", "-").lower()
        git(repo, env, "switch", "-q", "-c", branch, "main")
        path = repo / name
        path.write_text(path.read_text() + "\n# a change\n")
        git(repo, env, "commit", "-q", "-a", "-m", f"change {name}")
        done = _mlci(repo, env, "run", "--dry-run", "--base", "main")
        counts[label] = sum(1 for line in done.stderr.splitlines() if "mlci: training" in line)
    return counts


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlci-bench-overhead-") as tmp:
        scratch = Path(tmp)
        env = sandbox_env(scratch / "home")
        env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
        loop = overhead(scratch, env)
        repo = loop.pop("repo")
        dvc = dvc_metrics_diff(scratch, env, repo)
        counts = trainings_per_pr(scratch, env, repo)
    ratio = dvc["median_s"] / loop["overhead_s"] if dvc and loop["overhead_s"] > 0 else None
    cpu_ratio = (
        dvc["cpu_median_s"] / loop["overhead_cpu_s"] if dvc and loop["overhead_cpu_s"] > 0 else None
    )
    print(
        table(
            f"mlci run --dry-run on the example with a noted main, beyond its training "
            f"(median of {REPEAT})",
            [
                "total",
                "training",
                "overhead",
                "(cpu)",
                f"goal <= {GOAL_OVERHEAD_S:g} s",
                "re-run, cached",
            ],
            [
                [
                    f"{loop['total_s']:.2f} s",
                    f"{loop['training_s']:.2f} s",
                    f"{loop['overhead_s']:.2f} s",
                    f"{loop['overhead_cpu_s']:.2f} s",
                    "yes" if loop["overhead_s"] <= GOAL_OVERHEAD_S else "NO",
                    f"{loop['rerun_cached_s']:.2f} s",
                ]
            ],
        )
    )
    peers = "—" if dvc is None else f"{dvc['median_s']:.2f} s (cpu {dvc['cpu_median_s']:.2f} s)"
    print(
        table(
            "the peers' loop after training: dvc metrics diff alone (cml is not installable here)",
            ["dvc metrics diff", "dvc / mlci overhead", "(cpu)", f"goal >= {GOAL_VS_PEERS:g}x"],
            [
                [
                    peers,
                    "—" if ratio is None else f"{ratio:.2f}x",
                    "—" if cpu_ratio is None else f"{cpu_ratio:.2f}x",
                    "—" if ratio is None else ("yes" if ratio >= GOAL_VS_PEERS else "NO"),
                ]
            ],
        )
    )
    print(
        table(
            "trainings started by mlci run for a PR (the run cache)",
            ["the PR changes", "trainings", "goal"],
            [[label, str(n), "0" if "README" in label else "1"] for label, n in counts.items()],
        )
    )
    return {
        "overhead": loop,
        "dvc_metrics_diff": dvc,
        "dvc_vs_overhead": ratio,
        "trainings": counts,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
