"""The run cache: no training when nothing that feeds it changed, counted by the training
script itself (each real training appends a line to $COUNTER_FILE)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlci import config as configs
from mlci.train import inputs
from tests.projects import (
    GATES,
    TRAIN_PY,
    RunCli,
    commit,
    git,
    mlci_yaml,
    params_yaml,
    trainings,
)


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trainings.jsonl"
    monkeypatch.setenv("COUNTER_FILE", str(path))
    return path


def make_project(root: Path, *, yaml: str | None = None) -> str:
    """main: a ridge regression with a README and docs; returns the commit."""
    return commit(
        root,
        "ridge",
        {
            "train.py": TRAIN_PY,
            "params.yaml": params_yaml(1.0),
            "mlci.yaml": yaml or mlci_yaml("main", "main"),
            "README.md": "# ridge\n",
            "docs/guide.md": "how to\n",
            ".gitignore": ".mlci/\nmetrics.json\npredictions.csv\ndata/\n",
        },
    )


def branch(root: Path, name: str, files: dict[str, str]) -> str:
    git(root, "checkout", "-q", "-b", name, "main")
    return commit(root, name, files)


def test_a_readme_only_pr_trains_zero_times_and_reports_the_main_numbers(
    repo: Path, counter: Path, run_cli: RunCli
) -> None:
    main = make_project(repo)
    code, _, err = run_cli("record")
    assert code == 0, err
    assert len(trainings(counter)) == 1
    shutil.rmtree(repo / ".mlci")  # a fresh CI runner: only the note is left
    branch(repo, "readme", {"README.md": "# ridge\n\nBetter words.\n"})

    code, _, err = run_cli("run", "--dry-run", "--base", "main", "--out", "rep")
    assert code == 0, err
    assert len(trainings(counter)) == 1  # no new training
    assert f"reused the training of {main[:7]}: its inputs are identical (its note)" in err
    result = json.loads((repo / "rep" / "result.json").read_text())
    assert result["head"]["reused_from"] == main
    rows = result["comparison"]["rows"]
    assert rows and all(r["head"] == r["base"] and r["delta"] == 0 for r in rows)
    assert result["baseline"]["sha"] == main
    report = (repo / "rep" / "report.md").read_text()
    assert f"reused the training of {main[:7]}: its inputs are identical" in report


def test_docs_do_not_train_params_do_and_no_cache_or_cache_false_always_do(
    repo: Path, counter: Path, run_cli: RunCli
) -> None:
    make_project(repo)
    assert run_cli("train")[0] == 0
    assert len(trainings(counter)) == 1

    branch(repo, "docs", {"docs/guide.md": "how to, in more words\n"})
    code, _, err = run_cli("train")
    assert code == 0 and "reused the training of" in err
    assert len(trainings(counter)) == 1

    code, _, err = run_cli("train", "--no-cache")
    assert code == 0 and "reused" not in err
    assert len(trainings(counter)) == 2

    branch(repo, "params", {"params.yaml": params_yaml(0.5)})
    code, _, err = run_cli("train")
    assert code == 0 and "reused" not in err
    assert len(trainings(counter)) == 3
    code, _, err = run_cli("train")  # the same inputs again: this commit's own record
    assert code == 0 and "reused the training of" in err
    assert len(trainings(counter)) == 3

    yaml = (repo / "mlci.yaml").read_text().replace("  env:", "  cache: false\n  env:")
    branch(repo, "no-cache", {"mlci.yaml": yaml})  # the same inputs, the cache turned off
    code, _, err = run_cli("train")
    assert code == 0 and "reused" not in err
    assert len(trainings(counter)) == 4


def test_a_commit_of_a_dirty_training_names_the_dirty_run_it_reuses(
    repo: Path, counter: Path, run_cli: RunCli
) -> None:
    main = make_project(repo)
    (repo / "params.yaml").write_text(params_yaml(0.5))  # uncommitted: its own run directory
    assert run_cli("train")[0] == 0
    dirty = [p.name for p in (repo / ".mlci" / "runs").iterdir() if "+" in p.name]
    assert len(dirty) == 1 and dirty[0].startswith(main + "+")
    commit(repo, "C 0.5", {"params.yaml": params_yaml(0.5)})
    code, _, err = run_cli("train")
    assert code == 0 and len(trainings(counter)) == 1
    # the training was of the changed tree, not of main's commit (C=1.0)
    assert f"reused the training of {main[:7]}+{dirty[0][-8:]}: its inputs" in err


def test_explicit_inputs_count_untracked_data_and_ignore_the_rest(
    repo: Path, counter: Path, run_cli: RunCli
) -> None:
    yaml = mlci_yaml("main", "main", gates=GATES).replace(
        "  env:", "  inputs: [train.py, params.yaml, 'data/**']\n  env:"
    )
    make_project(repo, yaml=yaml)
    (repo / "data").mkdir()
    (repo / "data" / "rows.csv").write_text("a,b\n1,2\n")  # ignored by git: DVC-style data
    assert run_cli("train")[0] == 0
    (repo / "other.py").write_text("print('not an input')\n")
    commit(repo, "an unrelated script")
    code, _, err = run_cli("train")
    assert code == 0 and "reused the training of" in err
    (repo / "data" / "rows.csv").write_text("a,b\n1,3\n")
    code, _, err = run_cli("train")
    assert code == 0 and "reused" not in err
    assert len(trainings(counter)) == 2


def test_a_baseline_retrain_reuses_a_training_with_the_same_inputs(
    repo: Path, counter: Path, run_cli: RunCli
) -> None:
    first = make_project(repo)
    assert run_cli("train")[0] == 0  # a local record of main's first commit, no note
    commit(repo, "words on main", {"README.md": "# ridge, explained\n"})
    branch(repo, "pr", {"params.yaml": params_yaml(0.5)})
    code, _, err = run_cli("run", "--dry-run", "--base", "main", "--out", "rep")
    assert code in (0, 1), err
    assert len(trainings(counter)) == 2  # the first commit and the PR; never main's head
    baseline = json.loads((repo / "rep" / "result.json").read_text())["baseline"]
    assert baseline["strategy"] == "retrain"
    assert baseline["detail"] == f"reused the training of {first[:7]}: its inputs are identical"


def test_notes_without_an_input_fingerprint_never_match(
    repo: Path, counter: Path, run_cli: RunCli
) -> None:
    main = make_project(repo)
    note = {"schema": 1, "sha": main, "metrics": {"r2": 0.5}, "params": {}, "fingerprints": {}}
    git(repo, "notes", "--ref", "mlci", "add", "-m", json.dumps(note), main)
    branch(repo, "readme", {"README.md": "# other words\n"})
    code, _, err = run_cli("train")
    assert code == 0 and "reused" not in err
    assert len(trainings(counter)) == 1


# -- which files are inputs ---------------------------------------------------------------


def config_with(tmp_path: Path, train: str) -> configs.Config:
    path = tmp_path / "mlci.yaml"
    path.write_text(f"train:\n{train}")
    return configs.load(path)


def test_the_default_inputs_are_tracked_files_but_docs_and_outputs(tmp_path: Path) -> None:
    cfg = config_with(
        tmp_path,
        "  command: python train.py\n  metrics: [metrics.json, dvclive]\n"
        "  predictions: out/pred.csv\n  plots: ['plots/*.png']\n",
    )
    for path in ("train.py", "params.yaml", "src/model.py", "data/x.csv", "plots/a.txt"):
        assert inputs.is_input(cfg, path), path
    for path in (
        "README.md",
        "src/NOTES.md",
        "docs/index.rst",
        ".github/workflows/ci.yml",
        "LICENSE",
        "LICENSE.txt",
        "metrics.json",
        "dvclive/metrics.json",
        "out/pred.csv",
        "plots/a.png",
        ".mlci/runs/x/metrics.json",
        "mlci.yaml",
    ):
        assert not inputs.is_input(cfg, path), path


def test_explicit_inputs_are_globs_read_like_gitignore_lines(tmp_path: Path) -> None:
    cfg = config_with(
        tmp_path,
        "  command: python train.py\n  metrics: metrics.json\n"
        "  inputs: ['src/**/*.py', '*.yaml', data]\n",
    )
    for path in ("src/a.py", "src/deep/b.py", "params.yaml", "conf/x.yaml", "data/raw/1.csv"):
        assert inputs.is_input(cfg, path), path
    for path in ("src/a.txt", "train.py", "README.md", "datas/x", "mlci.yaml"):
        assert not inputs.is_input(cfg, path), path
