"""`mlci merge` of 8 and of 100 job directories: wall time beyond start-up (goal: 100 jobs
in under 2 s) and the size of the comment (GitHub takes at most 65,536 characters).

The job directories are real: one `mlci run --dry-run` of the built-in pipeline, copied
once per job with its own name and a head metric moved a little, as a matrix over seeds
would leave them. Run alone (`python benchmarks/bench_matrix.py`) or through `make bench`.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (
    COMMENT_LIMIT,
    BenchError,
    Command,
    git,
    run,
    sandbox_env,
    table,
    time_interleaved,
    venv_script,
)

SIZES = (8, 100)
REPEAT = 3
GOAL_100_S = 2.0
MLCI_YAML = """train:
  sklearn: {dataset: iris, model: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 3}}
gates:
  - metric: accuracy
    min: 0.9
    max_drop: 0.05
  - metric: f1_macro
    min: 0.5
report:
  plots: [metrics]
"""


def _job_template(repo: Path, env: dict[str, str], mlci: str) -> Path:
    repo.mkdir()
    git(repo, env, "init", "-q", "-b", "main")
    (repo / "mlci.yaml").write_text(MLCI_YAML)
    (repo / ".gitignore").write_text(".mlci/\n")
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "iris")
    out = repo.parent / "job"
    argv = (mlci, "-q", "run", "--dry-run", "--base", "main", "--name", "job", "--out", str(out))
    done = Command(argv, repo, env)
    try:
        run(done)
    except BenchError as e:
        if "exited 1 " not in str(e):  # a failed gate is a verdict
            raise
    return out


def _jobs(template: Path, folder: Path, n: int) -> list[str]:
    """n copies of the job directory, each its own job with a slightly different head."""
    dirs = []
    for i in range(n):
        copy = folder / f"seed-{i:03d}"
        shutil.copytree(template, copy)
        data = json.loads((copy / "result.json").read_text())
        data["name"] = copy.name
        for row in data["comparison"]["rows"]:
            if isinstance(row.get("head"), float):
                row["head"] = round(row["head"] - 0.002 * (i % 7), 6)
        (copy / "result.json").write_text(json.dumps(data))
        dirs.append(str(copy))
    return dirs


def main() -> dict[str, Any]:
    mlci = str(venv_script("mlci") or "mlci")
    with tempfile.TemporaryDirectory(prefix="mlci-bench-matrix-") as tmp:
        scratch = Path(tmp)
        env = sandbox_env(scratch / "home")
        repo = scratch / "repo"
        template = _job_template(repo, env, mlci)
        commands = {"mlci --help": Command((mlci, "--help"), repo, env)}
        sizes: dict[int, list[str]] = {}
        for n in SIZES:
            sizes[n] = _jobs(template, scratch / f"jobs-{n}", n)
            out = scratch / f"merged-{n}"
            argv = (mlci, "-q", "merge", "--dry-run", *sizes[n], "--out", str(out))
            commands[f"merge {n}"] = Command(argv, repo, env)
        timings = time_interleaved(_allowing_failed_gates(commands), repeat=REPEAT)
        chars = {n: len((scratch / f"merged-{n}" / "report.md").read_text()) for n in SIZES}
    start, startup_cpu = timings["mlci --help"].median, timings["mlci --help"].cpu_median
    rows, found = [], {}
    for n in SIZES:
        t = timings[f"merge {n}"]
        found[n] = {
            "median_s": t.median,
            "beyond_startup_s": t.median - start,
            "cpu_median_s": t.cpu_median,
            "cpu_beyond_startup_s": (t.cpu_median or 0) - (startup_cpu or 0),
            "chars": chars[n],
        }
        goal = "" if n != 100 else ("yes" if t.median - start < GOAL_100_S else "NO")
        rows.append(
            [
                str(n),
                f"{t.median:.2f} s",
                f"{t.median - start:.2f} s",
                f"{found[n]['cpu_beyond_startup_s']:.2f} s",
                f"{chars[n]:,}",
                "yes" if chars[n] <= COMMENT_LIMIT else "NO",
                goal,
            ]
        )
    print(
        table(
            f"mlci merge --dry-run: median of {REPEAT} runs (start-up: mlci --help {start:.2f} s)",
            [
                "jobs",
                "wall",
                "beyond start-up",
                "(cpu)",
                "comment chars",
                "fits",
                f"< {GOAL_100_S:g} s",
            ],
            rows,
        )
    )
    return {"startup_s": start, "merge": found}


def _allowing_failed_gates(commands: dict[str, Command]) -> dict[str, Command]:
    """`mlci merge` exits 1 when a job failed; wrap it so the timer sees a success."""
    wrapped = {}
    for name, cmd in commands.items():
        if cmd.argv[1:3] == ("-q", "merge"):
            shell = " ".join(f"'{a}'" for a in cmd.argv) + " || [ $? -eq 1 ]"
            wrapped[name] = Command(("bash", "-c", shell), cmd.cwd, cmd.env)
        else:
            wrapped[name] = cmd
    return wrapped


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
