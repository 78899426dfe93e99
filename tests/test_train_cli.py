"""`mlci train` end to end, as a user runs it: a real project, a real training, real git.

Each failure is checked for its exit code, its one `mlci: error:` line, and that it lost
nothing: the user's files and git state are as they were and no run record is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlci import __version__
from tests import projects
from tests.conftest import commit_all, git
from tests.projects import RunCli, Template

PY = sys.executable


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("template") / "ridge"
    return Template(root, projects.build_retrain_project(root))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: Template) -> Path:
    """The ridge project on main, as the working directory, with a training counter."""
    root = projects.checkout_copy(template, tmp_path / "repo", "main")
    monkeypatch.chdir(root)
    monkeypatch.setenv("COUNTER_FILE", str(tmp_path / "trainings.jsonl"))
    return root


@dataclass(frozen=True)
class Trained:
    root: Path
    code: int
    out: str
    err: str
    sha: str
    tree: str
    runs: list[dict[str, Any]]

    @property
    def run_dir(self) -> Path:
        return self.root / ".mlci" / "runs" / self.sha

    def record(self, name: str) -> Any:
        return json.loads((self.run_dir / name).read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, template: Template) -> Trained:
    """One `mlci train` of the clean project on main, shared by the tests that read it."""
    base = tmp_path_factory.mktemp("trained")
    root = projects.checkout_copy(template, base / "repo", "main")
    with projects.isolated(base / "home", root) as mp:
        mp.setenv("COUNTER_FILE", str(base / "trainings.jsonl"))
        code, out, err = projects.run_captured("train")
    return Trained(
        root=root,
        code=code,
        out=out,
        err=err,
        sha=projects.git(root, "rev-parse", "HEAD"),
        tree=projects.git(root, "rev-parse", "HEAD^{tree}"),
        runs=projects.trainings(base / "trainings.jsonl"),
    )


# -- a successful training ---------------------------------------------------------------


def test_train_exits_0_and_prints_the_metrics_on_stdout(trained: Trained) -> None:
    assert trained.code == 0, trained.err
    metrics = trained.runs[0]["metrics"]
    expected = {
        "mae": metrics["mae"],
        "r2": metrics["r2"],
        "rmse": metrics["rmse"],
        "size.test": float(metrics["size"]["test"]),
    }
    rows = [line.split() for line in trained.out.splitlines()]
    assert rows == [[name, f"{value:.4f}"] for name, value in sorted(expected.items())]
    assert f"mlci: run record written to .mlci/runs/{trained.sha}" in trained.err


def test_train_writes_the_run_record_of_head(trained: Trained) -> None:
    names = {p.name for p in trained.run_dir.iterdir()}
    assert names == {"metrics.json", "params.json", "record.json", "train.log", "predictions.csv"}
    assert projects.run_entries(trained.root) == [trained.sha]  # nothing half-written beside it


def test_metrics_json_is_flat_floats_as_the_script_wrote_them(trained: Trained) -> None:
    written = json.loads((trained.root / "metrics.json").read_text())
    metrics = trained.record("metrics.json")
    assert metrics == {
        "r2": written["r2"],
        "rmse": written["rmse"],
        "mae": written["mae"],
        "size.test": float(written["size"]["test"]),
    }
    assert all(type(v) is float for v in metrics.values())


def test_params_and_predictions_are_kept(trained: Trained) -> None:
    assert trained.record("params.json") == {"model.alpha": 1.0, "seed": 0}
    kept = (trained.run_dir / "predictions.csv").read_bytes()
    assert kept == (trained.root / "predictions.csv").read_bytes()
    assert kept.startswith(b"y_true,y_pred\n")


def test_train_log_holds_what_the_command_printed(trained: Trained) -> None:
    log = (trained.run_dir / "train.log").read_text()
    assert "ridge alpha=1.0: r2=" in log
    assert "ridge alpha=1.0: r2=" in trained.err  # streamed to the terminal as well


def test_record_json_says_what_was_trained_how_and_when(trained: Trained) -> None:
    info = trained.record("record.json")
    assert info["sha"] == trained.sha
    assert info["trained_by"] == "command"
    assert isinstance(info["duration"], float) and info["duration"] > 0
    assert info["fingerprints"]["code"] == trained.tree  # clean: the commit's own tree
    assert info["dirty"] is False
    assert info["mlci"] == __version__
    assert info["train"]["command"] == [PY, "train.py", "--tag", "main"]


def test_the_command_ran_once_in_the_checkout_with_train_env(trained: Trained) -> None:
    assert len(trained.runs) == 1
    run = trained.runs[0]
    assert run["args"] == ["--tag", "main"]
    assert run["tag"] == "main-section"  # train.env of mlci.yaml reached the command
    assert Path(run["cwd"]).resolve() == trained.root.resolve()


@pytest.mark.parametrize(
    ("dataset", "model", "metrics", "params"),
    [
        (
            "iris",
            "sklearn.linear_model.LogisticRegression",
            {
                "accuracy",
                "balanced_accuracy",
                "f1_macro",
                "precision_macro",
                "recall_macro",
                "roc_auc",
                "log_loss",
            },
            {"max_iter": 500},
        ),
        ("diabetes", "sklearn.linear_model.Ridge", {"rmse", "mae", "r2"}, {"alpha": 0.5}),
    ],
)
def test_builtin_pipeline_writes_model_and_predictions(
    repo: Path,
    run_cli: RunCli,
    dataset: str,
    model: str,
    metrics: set[str],
    params: dict[str, object],
) -> None:
    (repo / "mlci.yaml").write_text(
        f"train:\n  sklearn:\n    dataset: {dataset}\n    model: {model}\n"
        f"    params: {json.dumps(params)}\n"
    )
    (repo / ".gitignore").write_text(".mlci/\n")
    sha = commit_all(repo, "sklearn project")
    before = projects.snapshot(repo)
    code, out, err = run_cli("train")
    assert code == 0, err
    run_dir = repo / ".mlci" / "runs" / sha
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "metrics.json",
        "params.json",
        "record.json",
        "train.log",
        "predictions.csv",
        "model.pkl",
    } <= names
    values = json.loads((run_dir / "metrics.json").read_text())
    assert set(values) == metrics
    assert {line.split()[0] for line in out.splitlines()} == metrics
    info = json.loads((run_dir / "record.json").read_text())
    assert info["trained_by"] == "sklearn" and info["fingerprints"]["code"] == git(
        repo, "rev-parse", "HEAD^{tree}"
    )
    estimator = pickle.loads((run_dir / "model.pkl").read_bytes())
    assert callable(estimator.predict)
    header = (run_dir / "predictions.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["id", "y_true", "y_pred"]
    assert projects.snapshot(repo) == before  # the pipeline writes nothing into the checkout


def test_uncommitted_changes_are_trained_and_recorded_as_dirty(
    project: Path, run_cli: RunCli
) -> None:
    (project / "params.yaml").write_text(projects.params_yaml(0.5))
    before = projects.git_state(project)
    code, _, err = run_cli("train")
    assert code == 0, err
    assert "uncommitted changes" in err
    sha = git(project, "rev-parse", "HEAD")
    diff = hashlib.sha256(
        subprocess.run(
            ["git", "diff", "--binary", "HEAD"], cwd=project, check=True, capture_output=True
        ).stdout
    ).hexdigest()
    run = f"{sha}+{diff[:8]}"  # never the commit's own run directory
    assert projects.run_entries(project) == [run]
    info = json.loads((project / ".mlci" / "runs" / run / "record.json").read_text())
    assert info["dirty"] is True and info["sha"] == sha
    assert info["fingerprints"]["code"] != git(project, "rev-parse", "HEAD^{tree}")
    assert info["fingerprints"]["code"] == tree_of_working_files(project)
    params = json.loads((project / ".mlci" / "runs" / run / "params.json").read_text())
    assert params["model.alpha"] == 0.5  # what was trained, not what was committed
    assert projects.git_state(project) == before  # the user's index was not touched


def tree_of_working_files(root: Path) -> str:
    """The tree `git add -u && git write-tree` would make, in a throwaway index."""
    index = root.parent / "scratch-index"
    shutil.copyfile(root / ".git" / "index", index)
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "add", "-u"], cwd=root, env=env, check=True)
    done = subprocess.run(
        ["git", "write-tree"], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


# -- bad input: the configuration ---------------------------------------------------------

SKLEARN = "sklearn.linear_model.LogisticRegression"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "train:\n  command: [python, train.py\n  metrics: m.json\n",
            ["YAML syntax error", "(mlci.yaml:3)", "Fix the YAML syntax"],
            id="yaml-syntax",
        ),
        pytest.param(
            "train:\n  comand: python train.py\n  metrics: m.json\n",
            ["train.comand is not a known key", "(mlci.yaml:2)", "Did you mean 'command'?"],
            id="unknown-key",
        ),
        pytest.param(
            "train:\n  command: python train.py\n  metrics: m.json\n  timeout: soon\n",
            ["train.timeout must be a number, got str 'soon'", "(mlci.yaml:4)"],
            id="wrong-type",
        ),
        pytest.param(
            "gates:\n  - metric: r2\n    min: 0.1\n",
            ["has no 'train' section", "(mlci.yaml:1)", "train.command or train.sklearn"],
            id="no-train",
        ),
        pytest.param(
            f"train:\n  command: python train.py\n  metrics: m.json\n"
            f"  sklearn: {{dataset: iris, model: {SKLEARN}}}\n",
            ["train must have exactly one of 'command' and 'sklearn'", "(mlci.yaml:1)"],
            id="command-and-sklearn",
        ),
        pytest.param(
            f"train:\n  sklearn:\n    dataset: iriss\n    model: {SKLEARN}\n",
            [
                "train.sklearn.dataset is not a dataset scikit-learn ships: 'iriss'",
                "(mlci.yaml:3)",
                "Did you mean 'iris'?",
            ],
            id="unknown-dataset",
        ),
        pytest.param(
            "train:\n  command: python train.py\n",
            ["train needs 'metrics'", "(mlci.yaml:", "Add train.metrics"],
            id="no-metrics-key",
        ),
    ],
)
def test_a_bad_mlci_yaml_is_one_line_and_exit_2(
    repo: Path, run_cli: RunCli, text: str, expected: list[str]
) -> None:
    (repo / "mlci.yaml").write_text(text)
    commit_all(repo, "bad config")
    before = projects.snapshot(repo)
    code, out, err = run_cli("train")
    assert code == 2
    assert out == ""
    assert err.splitlines() == projects.error_lines(err)  # exactly the error line, nothing else
    assert len(err.splitlines()) == 1
    for part in expected:
        assert part in err
    assert_nothing_changed(repo, before)


def test_no_mlci_yaml_says_run_mlci_init(repo: Path, run_cli: RunCli) -> None:
    (repo / "README.md").write_text("# nothing here yet\n")
    commit_all(repo, "readme")
    before = projects.snapshot(repo)
    code, _, err = run_cli("train")
    assert code == 2
    assert projects.error_lines(err) == [
        f"mlci: error: no mlci.yaml here or above it ({repo}). Run `mlci init` to write a starter, "
        "or pass --config FILE."
    ]
    assert_nothing_changed(repo, before)


def test_an_unknown_estimator_lists_close_matches(repo: Path, run_cli: RunCli) -> None:
    (repo / "mlci.yaml").write_text(
        "train:\n  sklearn:\n    dataset: iris\n    model: sklearn.linear_model.LogisticRegresion\n"
    )
    commit_all(repo, "typo")
    before = projects.snapshot(repo)
    code, _, err = run_cli("train")
    assert code == 2
    [line] = projects.error_lines(err)
    assert "LogisticRegresion" in line and "train.sklearn.model" in line
    assert "Did you mean sklearn.linear_model.LogisticRegression" in line
    assert_nothing_changed(repo, before)


def test_an_unknown_estimator_names_the_file_and_line(repo: Path, run_cli: RunCli) -> None:
    """Every mlci.yaml error names the file, line and key path."""
    (repo / "mlci.yaml").write_text(
        "train:\n  sklearn:\n    dataset: iris\n    model: sklearn.linear_model.LogisticRegresion\n"
    )
    commit_all(repo, "typo")
    code, _, err = run_cli("train")
    assert code == 2
    [line] = projects.error_lines(err)
    assert "mlci.yaml:4" in line, line


# -- bad input: the training ----------------------------------------------------------------

FAILING = """import sys
for epoch in range(1, 31):
    print(f"epoch {epoch}: loss 0.{epoch:02d}")
print("ValueError: loss is nan", file=sys.stderr)
sys.exit(2)
"""


def command_project(repo: Path, script: str | None, argv: list[str]) -> Path:
    """A committed project whose train.command is argv (train.py holds `script`)."""
    if script is not None:
        (repo / "train.py").write_text(script)
    (repo / "mlci.yaml").write_text(
        f"train:\n  command: {json.dumps(argv)}\n  metrics: metrics.json\n"
    )
    (repo / ".gitignore").write_text(".mlci/\nmetrics.json\n")
    commit_all(repo, "project")
    return repo


def test_a_command_that_does_not_exist_is_exit_3(repo: Path, run_cli: RunCli) -> None:
    command_project(repo, None, ["no-such-trainer-xyz", "--fast"])
    before = projects.snapshot(repo)
    code, _, err = run_cli("train")
    assert code == 3
    [line] = projects.error_lines(err)
    assert "command not found: no-such-trainer-xyz" in line
    assert "(train.command)" in line and "Check train.command in mlci.yaml" in line
    assert_nothing_changed(repo, before)


def test_a_failing_command_is_exit_3_with_the_tail_of_its_log(repo: Path, run_cli: RunCli) -> None:
    command_project(repo, FAILING, [PY, "train.py"])
    before = projects.snapshot(repo)
    code, _, err = run_cli("train")
    assert code == 3
    [line] = projects.error_lines(err)
    assert re.search(r"training\b.* failed: `.*train\.py` exited with 2", line), line
    tail = err.split(line, 1)[1]
    assert "last lines of train.log:" in tail
    assert "epoch 30: loss 0.30" in tail and "ValueError: loss is nan" in tail
    assert "epoch 5:" not in tail  # a tail, not the whole log
    assert_nothing_changed(repo, before)


def test_the_log_a_failed_training_points_to_exists(repo: Path, run_cli: RunCli) -> None:
    """The error says 'the full log is in that file': the file must still be there."""
    command_project(repo, FAILING, [PY, "train.py"])
    code, _, err = run_cli("train")
    assert code == 3
    [line] = projects.error_lines(err)
    named = re.search(r"\(([^()]*train\.log)\)", line)
    assert named is not None, line
    log = Path(named.group(1))
    log = log if log.is_absolute() else repo / log
    assert log.is_file(), f"{log} is named in the error but does not exist"
    assert "epoch 1: loss 0.01" in log.read_text()  # the full log, not only the tail


def test_a_command_that_writes_no_metrics_is_exit_3(repo: Path, run_cli: RunCli) -> None:
    command_project(repo, "print('trained, but forgot to save')\n", [PY, "train.py"])
    before = projects.snapshot(repo)
    code, _, err = run_cli("train")
    assert code == 3
    [line] = projects.error_lines(err)
    assert "wrote no metrics.json" in line and "(train.metrics)" in line
    assert "Make the command write that file" in line
    assert_nothing_changed(repo, before)


def test_an_unparsable_metrics_file_is_exit_3_with_its_position(
    repo: Path, run_cli: RunCli
) -> None:
    script = "open('metrics.json', 'w').write('{\"r2\": 0.5,\\n')\n"
    command_project(repo, script, [PY, "train.py"])
    before = projects.snapshot(repo)
    code, _, err = run_cli("train")
    assert code == 3
    [line] = projects.error_lines(err)
    assert "invalid JSON" in line and "(metrics.json:2:1)" in line
    assert "Fix the JSON at that line and column" in line
    assert_nothing_changed(repo, before, written_by_command=("metrics.json",))


def test_outside_a_git_repository_is_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "mlci.yaml").write_text("train:\n  command: python train.py\n  metrics: m.json\n")
    monkeypatch.chdir(plain)
    before = projects.file_hashes(plain)
    code, _, err = run_cli("train")
    assert code == 3
    assert projects.error_lines(err) == [
        f"mlci: error: not inside a git repository ({plain}). Run mlci from inside your "
        "project's git checkout, or `git init` first."
    ]
    assert projects.file_hashes(plain, skip=()) == before
    assert not (plain / ".mlci").exists()


def test_a_repository_without_commits_is_exit_3(repo: Path, run_cli: RunCli) -> None:
    (repo / "mlci.yaml").write_text(
        f"train:\n  command: {json.dumps([PY, '-c', 'pass'])}\n  metrics: m.json\n"
    )
    code, _, err = run_cli("train")
    assert code == 3
    [line] = projects.error_lines(err)
    assert "no commits yet" in line and "commit your project first" in line.lower()
    assert projects.run_entries(repo) == []


def assert_nothing_changed(
    root: Path, before: dict[str, dict[str, str]], written_by_command: tuple[str, ...] = ()
) -> None:
    """The user's files and git state are as they were, and no run record was left."""
    after = projects.snapshot(root)
    files_after = {k: v for k, v in after["files"].items() if k not in written_by_command}
    assert files_after == before["files"]
    assert after["git"] == before["git"]
    assert projects.run_entries(root) == []
