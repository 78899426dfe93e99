"""Small real ML projects in git repos, built once per module and copied per test.

The model is a ridge regression on scikit-learn's diabetes data, trained by a real
`train.py` that mlci runs as the user's command. Each training appends one JSON line
to the file named by $COUNTER_FILE (outside the repository), so tests can count
trainings and see which train section ran and where.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlci import cli

RunCli = Callable[..., tuple[int, str, str]]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
QUIET_GIT = {"GIT_OPTIONAL_LOCKS": "0"}  # our own `git status` must not refresh the index

TRAIN_PY = '''"""Ridge regression on diabetes: metrics.json, predictions.csv, a counter line."""
import json
import os
import sys
from pathlib import Path

import yaml
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

params = yaml.safe_load(Path("params.yaml").read_text())
x, y = load_diabetes(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=params["seed"])
model = Ridge(alpha=params["model"]["alpha"]).fit(x_tr, y_tr)
pred = model.predict(x_te)
metrics = {
    "r2": r2_score(y_te, pred),
    "rmse": mean_squared_error(y_te, pred) ** 0.5,
    "mae": mean_absolute_error(y_te, pred),
    "size": {"test": len(y_te)},
}
Path("metrics.json").write_text(json.dumps(metrics, indent=2))
rows = "".join(f"{t!r},{p!r}\\n" for t, p in zip(y_te, pred))
Path("predictions.csv").write_text("y_true,y_pred\\n" + rows)
print(f"ridge alpha={params['model']['alpha']}: r2={metrics['r2']:.4f}")
counter = os.environ.get("COUNTER_FILE")
if counter:
    line = {"args": sys.argv[1:], "tag": os.environ.get("TRAIN_TAG"), "cwd": os.getcwd(),
            "metrics": metrics}
    with open(counter, "a") as f:
        f.write(json.dumps(line) + "\\n")
'''

GATES = """gates:
  - metric: r2
    min: 0.1
    max_drop: 0.05
  - metric: mae
    max_rise: "50%"
"""


def mlci_yaml(tag: str, env_tag: str, *, script: str = "train.py", gates: str = GATES) -> str:
    """The project's mlci.yaml: the venv's python runs the script with `--tag TAG`."""
    command = json.dumps([sys.executable, script, "--tag", tag])
    return (
        f"train:\n  command: {command}\n  metrics: metrics.json\n  params: params.yaml\n"
        f"  predictions: predictions.csv\n  env: {{TRAIN_TAG: {env_tag}}}\n{gates}"
    )


def params_yaml(alpha: float) -> str:
    return f"model:\n  alpha: {alpha}\nseed: 0\n"


def metrics_json(r2: float, rmse: float, mae: float) -> str:
    return json.dumps({"r2": r2, "rmse": rmse, "mae": mae}, indent=2) + "\n"


# -- git, without relying on the function-scoped environment fixtures ---------------------


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, **QUIET_GIT}
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def commit(root: Path, message: str, files: dict[str, str] | None = None) -> str:
    write(root, files or {})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


# -- the templates ---------------------------------------------------------------------------


def build_retrain_project(root: Path) -> dict[str, str]:
    """metrics.json is not committed, so a baseline must be retrained at the merge-base.

    main: c1 -> c2 (alpha 1.0, `--tag main`); branches from c2: pr-ok (alpha 0.5, a better
    r2, and its own train section `--tag pr`), pr-bad (alpha 10: r2 drops by ~0.21).
    """
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    shas = {
        "c1": commit(
            root,
            "c1",
            {
                "train.py": TRAIN_PY,
                "params.yaml": params_yaml(1.0),
                "mlci.yaml": mlci_yaml("main", "main-section"),
                ".gitignore": ".mlci/\nmetrics.json\npredictions.csv\n",
            },
        )
    }
    shas["c2"] = commit(root, "c2", {"README.md": "# ridge\n"})
    git(root, "checkout", "-q", "-b", "pr-ok")
    shas["pr-ok"] = commit(
        root,
        "smaller alpha",
        {
            "params.yaml": params_yaml(0.5),
            "mlci.yaml": mlci_yaml("pr", "pr-section"),
        },
    )
    git(root, "checkout", "-q", "-b", "pr-bad", "main")
    shas["pr-bad"] = commit(root, "much larger alpha", {"params.yaml": params_yaml(10.0)})
    git(root, "checkout", "-q", "main")
    return shas


FILE_METRICS = {
    "c1": (0.30, 58.0, 46.0),
    "c2": (0.36, 56.5, 44.9),
    "pr": (0.38, 55.5, 43.9),
}


def build_files_project(root: Path) -> dict[str, str]:
    """metrics.json is committed on every commit: the baseline is read from git, not trained.

    main: c1 -> c2; pr from c2. The metric values are FILE_METRICS (r2, rmse, mae).
    """
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    shas = {
        "c1": commit(
            root,
            "c1",
            {
                "train.py": TRAIN_PY,
                "params.yaml": params_yaml(1.0),
                "mlci.yaml": mlci_yaml("main", "main-section"),
                ".gitignore": ".mlci/\n",
                "metrics.json": metrics_json(*FILE_METRICS["c1"]),
            },
        )
    }
    shas["c2"] = commit(root, "c2", {"metrics.json": metrics_json(*FILE_METRICS["c2"])})
    git(root, "checkout", "-q", "-b", "pr")
    shas["pr"] = commit(
        root,
        "pr",
        {
            "params.yaml": params_yaml(0.5),
            "metrics.json": metrics_json(*FILE_METRICS["pr"]),
        },
    )
    git(root, "checkout", "-q", "main")
    return shas


@dataclass(frozen=True)
class Template:
    path: Path
    shas: dict[str, str]


def checkout_copy(template: Template, dest: Path, branch: str) -> Path:
    """A copy of the template repository, on `branch`."""
    shutil.copytree(template.path, dest)
    git(dest, "checkout", "-q", branch)
    return dest


# -- what a test looks at ------------------------------------------------------------------


def trainings(counter: Path) -> list[dict[str, Any]]:
    """One entry per training that ran, oldest first."""
    if not counter.exists():
        return []
    return [json.loads(line) for line in counter.read_text().splitlines()]


def file_hashes(root: Path, skip: tuple[str, ...] = (".git", ".mlci")) -> dict[str, str]:
    """sha256 of every file under root, except under the `skip` top-level directories."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip or not path.is_file():
            continue
        out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def git_state(root: Path) -> dict[str, str]:
    """Everything about the checkout that mlci must leave as it found it."""
    git_dir = root / ".git"
    return {
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "head": (git_dir / "HEAD").read_text(),
        "refs": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "all": git(root, "rev-parse", "--all"),
        "index": git(root, "ls-files", "--stage"),
        "index_bytes": hashlib.sha256((git_dir / "index").read_bytes()).hexdigest(),
        "config": (git_dir / "config").read_text(),
        "worktrees": git(root, "worktree", "list", "--porcelain"),
        "stash": git(root, "stash", "list"),
    }


def snapshot(root: Path) -> dict[str, dict[str, str]]:
    return {"files": file_hashes(root), "git": git_state(root)}


def run_entries(root: Path) -> list[str]:
    """What is in .mlci/runs/: run records and any leftover temporary directories."""
    runs = root / ".mlci" / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mlci: error: ")]


# -- running the CLI from a module-scoped fixture -----------------------------------------


@contextlib.contextmanager
def isolated(home: Path, cwd: Path) -> Iterator[pytest.MonkeyPatch]:
    """What conftest's autouse fixtures give a test, for fixtures that outlive one test.

    Module-scoped fixtures are set up before function-scoped autouse ones, so they make
    their own clean environment: no CI variables, a throwaway HOME, a git identity.
    """
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("GITHUB_", "MLCI_", "RUNNER_")) or name in ("CI", "GIT_DIR"):
                mp.delenv(name, raising=False)
        home.mkdir(parents=True, exist_ok=True)
        (home / ".gitconfig").write_text("[commit]\n\tgpgsign = false\n")
        mp.setenv("HOME", str(home))
        mp.setenv("MPLBACKEND", "Agg")
        for key, value in GIT_ENV.items():
            mp.setenv(key, value)
        mp.chdir(cwd)
        yield mp


def run_captured(*args: str) -> tuple[int, str, str]:
    """`mlci ARGS` in-process with its own capture: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(list(args))
    return code, out.getvalue(), err.getvalue()
