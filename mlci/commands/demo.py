"""`mlci demo`: a throwaway repository made from the bundled example, with a main commit
and a pull-request branch that changes the model, and the whole loop run on it as a
dry run. It shows what a pull request would get, with nothing to set up.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlci import output
from mlci.errors import UsageError

EXAMPLE = "breast-cancer"
PR_BRANCH = "pr/random-forest"
MAIN_TWEAK = ("C: 1.0", "C: 0.5")  # a second commit on main, so the history has a trend
PR_PARAMS = """\
model: forest
model_params:
  n_estimators: 40
  max_depth: 3
  random_state: 0
test_size: 0.3
seed: 0
"""


@dataclass(frozen=True)
class DemoResult:
    repo: Path
    verdict: str
    text: str


def make_repo(target: Path | None, *, record: bool = False) -> Path:
    """Copy the example into an empty directory and commit it on main (two commits, each
    recorded as a git note when `record`, as the push job would); the PR on a branch."""
    from mlci.git import repo as gitrepo
    from mlci.resources import examples_dir

    if target is None:
        target = Path(tempfile.mkdtemp(prefix="mlci-demo-"))
    elif target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} exists and is not an empty directory",
            where="mlci demo",
            hint="give a new or empty directory, or none for a temporary one",
        )
    source = examples_dir() / EXAMPLE
    shutil.copytree(
        source,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".mlci", "__pycache__", "metrics.json", "predictions.csv"),
    )
    repo = gitrepo.init(target)
    repo.commit_all("Train a logistic regression on the breast cancer data")
    if record:
        _record(target)
    params = target / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace(*MAIN_TWEAK), encoding="utf-8")
    repo.commit_all("Regularise a little more")
    if record:
        _record(target)
    repo.switch_new_branch(PR_BRANCH)
    (target / "params.yaml").write_text(PR_PARAMS, encoding="utf-8")
    repo.commit_all("Try a shallow random forest")
    return target


def _record(root: Path) -> None:
    """What the push job does on main: train and store the metrics as a git note."""
    from mlci import workspace
    from mlci.commands.record import record

    output.info(f"mlci: {record(workspace.open_workspace(cwd=root), push=False).summary()}")


def main(target: Path | None) -> int:
    """`mlci demo [DIR]`: prints what the pull request would get; exit 0 either way."""
    output.result(run(target).text)
    return 0


def run(target: Path | None) -> DemoResult:
    """Make the repository and run `mlci run --dry-run` on its PR branch."""
    from mlci import ci, workspace
    from mlci.commands import run as running

    # the example's `python train.py` must find the interpreter mlci runs on
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    try:
        repo = make_repo(target, record=True)
        output.info(f"mlci: demo repository at {repo} (main, and the PR branch {PR_BRANCH})")
        ws = workspace.open_workspace(cwd=repo)
        result = running.run(ws, ci.local(), dry_run=True, base="main", out=None)
    finally:
        os.environ["PATH"] = path
    verdict = "passed" if result.exit_code == 0 else "failed"
    text = (
        f"{result.text}\n\nThe PR branch swaps main's logistic regression for a shallow random "
        f"forest; the verdict above is what its pull request would get.\nThe demo repository is "
        f"{repo}: `cd` there and try `mlci diff`, `mlci gate` or `mlci history`."
    )
    return DemoResult(repo=repo, verdict=verdict, text=text)
