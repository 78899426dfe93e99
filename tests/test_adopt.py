"""Real repositories, zero edits: `mlci init`, then `mlci run --dry-run` on a PR branch.

Each project is built as its authors wrote it before mlci (tests/adopters.py). The user
runs `mlci init` on a branch, commits what it wrote with a model change, and runs the
loop; nothing they wrote and nothing init wrote is edited by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import adopters
from tests.conftest import commit_all, git
from tests.projects import RunCli, error_lines
from tests.test_actions import actionlint


@pytest.fixture(autouse=True)
def python_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python train.py` and `dvc repro`, as the projects' own workflows write them."""
    bindir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))


def adopt(run_cli: RunCli, project: Path, *init_args: str) -> dict[str, Any]:
    """`mlci init` on a new branch; returns mlci.yaml as written (and checks it loads)."""
    git(project, "checkout", "-q", "-b", "adopt-mlci")
    code, out, err = run_cli("init", *init_args)
    assert code == 0, out + err
    return dict(yaml.safe_load((project / "mlci.yaml").read_text()))


def run_pr(run_cli: RunCli, project: Path) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli("run", "--dry-run", "--base", "main")
    assert code in (0, 1), out + err
    result = json.loads((project / ".mlci" / "report" / "result.json").read_text())
    report = (project / ".mlci" / "report" / "report.md").read_text()
    return code, result, report


def row(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in result["comparison"]["rows"] if r["name"] == name)


def png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")


def test_cml_project_with_metrics_txt_and_plot(repo: Path, run_cli: RunCli) -> None:
    adopters.build_cml(repo)
    written = adopt(run_cli, repo)
    assert written["train"] == {
        "command": "python train.py",
        "metrics": "metrics.txt",
        "plots": "plot.png",
        "timeout": 3600,
    }
    assert written["gates"] == [{"metric": "Accuracy", "max_drop": "2%"}]
    base_acc = float((repo / "metrics.txt").read_text().split(":")[1])  # init's one training
    workflow = (repo / ".github" / "workflows" / "mlci.yml").read_text()
    assert "working-directory" not in workflow and "paths:" not in workflow

    text = (repo / "train.py").read_text().replace("x_tr[:, :4]", "x_tr[:, :8]")
    (repo / "train.py").write_text(text.replace("x_te[:, :4]", "x_te[:, :8]"))
    commit_all(repo, "adopt mlci; use eight features")
    _, result, report = run_pr(run_cli, repo)
    head_acc = float((repo / "metrics.txt").read_text().split(":")[1])
    assert head_acc != base_acc
    assert row(result, "Accuracy")["base"] == pytest.approx(base_acc)
    assert row(result, "Accuracy")["head"] == pytest.approx(head_acc)
    assert result["baseline"]["strategy"] == "retrain"
    assert "| `Accuracy` | " in report and 'alt="plot: base | head"' in report
    assert png_width(repo / ".mlci" / "report" / result["plots"][-1]) == 800  # two panels
    assert png_width(repo / "plot.png") < 400  # the user's own file is left as it was


def test_a_reused_training_keeps_the_users_image(repo: Path, run_cli: RunCli) -> None:
    adopters.build_cml(repo)
    adopt(run_cli, repo)
    commit_all(repo, "adopt mlci")
    assert run_cli("train")[0] == 0
    (repo / "README.md").write_text("# in more words\n")
    sha = commit_all(repo, "docs only")
    code, _, err = run_cli("train")
    assert code == 0 and "reused the training of" in err, err
    image = repo / ".mlci" / "runs" / sha / "user" / "plot.png"
    assert image.read_bytes() == (repo / "plot.png").read_bytes()  # drawn as the head's


def test_dvc_pipeline_with_a_stale_committed_metrics_json(
    repo: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    written_at, stale_at = adopters.build_dvc(repo)
    committed = json.loads(git(repo, "show", f"{written_at}:metrics.json"))
    written = adopt(run_cli, repo)
    assert written["train"] == {
        "command": "dvc repro",
        "metrics": "metrics.json",
        "params": "params.yaml",
        "timeout": 3600,
    }
    assert written["gates"] == [{"metric": "accuracy", "max_drop": "2%"}]
    workflow = repo / ".github" / "workflows" / "mlci.yml"
    assert "python -m pip install dvc;" in workflow.read_text()
    done = actionlint([workflow], repo, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    base = json.loads((repo / "metrics.json").read_text())  # `dvc repro` of init's try
    assert base["accuracy"] != committed["accuracy"]  # the committed file is stale

    (repo / "params.yaml").write_text("prepare:\n  features: 6\ntrain:\n  max_depth: 3\n")
    commit_all(repo, "adopt mlci; a deeper tree")
    shutil.rmtree(repo / ".mlci")  # as on a CI runner: the baseline is `dvc repro` at main
    _, result, _ = run_pr(run_cli, repo)
    head = json.loads((repo / "metrics.json").read_text())
    assert row(result, "accuracy")["base"] == pytest.approx(base["accuracy"])
    assert row(result, "accuracy")["head"] == pytest.approx(head["accuracy"])
    assert result["baseline"]["strategy"] == "retrain"
    assert result["baseline"]["detail"] == "retrained"
    assert any(
        f"metrics.json is stale: committed at {written_at[:7]}, but train.py changed later "
        f"at {stale_at[:7]}" in why
        for why in result["baseline"]["tried"]
    )


def test_dvclive_project_drops_step(repo: Path, run_cli: RunCli) -> None:
    adopters.build_dvclive(repo)
    written = adopt(run_cli, repo)
    assert written["train"] == {
        "command": "python train.py",
        "metrics": "dvclive",
        "params": "params.yaml",
        "timeout": 3600,
    }
    assert written["gates"] == [{"metric": "acc", "max_drop": "2%"}]
    base = json.loads((repo / "dvclive" / "metrics.json").read_text())

    (repo / "params.yaml").write_text("alpha: 0.001\nepochs: 6\n")
    commit_all(repo, "adopt mlci; more epochs")
    _, result, _ = run_pr(run_cli, repo)
    head = json.loads((repo / "dvclive" / "metrics.json").read_text())
    assert {r["name"] for r in result["comparison"]["rows"]} == {"acc", "loss"}  # no `step`
    assert row(result, "acc")["base"] == pytest.approx(base["acc"])
    assert row(result, "acc")["head"] == pytest.approx(head["acc"])
    assert {"plots/series-acc.png", "plots/series-loss.png"} <= set(result["plots"])


def test_subfolder_project_with_its_own_requirements(
    repo: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    adopters.build_subfolder(repo)
    project = repo / "regression"
    os.chdir(project)
    git(project, "checkout", "-q", "-b", "adopt-mlci")
    code, out, err = run_cli("init")
    assert code == 0, out + err
    assert "  found requirements.txt: the workflow installs it before training" in out
    written = yaml.safe_load((project / "mlci.yaml").read_text())
    assert not (repo / "mlci.yaml").exists()
    assert written["train"] == {
        "command": "python train.py",
        "metrics": "metrics.txt",
        "timeout": 3600,
    }
    assert written["gates"] == [{"metric": "Mean Absolute Error", "max_rise": "2%"}]
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "mlci-regression.yml").read_text())
    assert workflow[True]["pull_request"] == {"paths": ["regression/**"]}
    pr_steps = workflow["jobs"]["pull-request"]["steps"]
    assert {"working-directory": "regression"} in [s.get("with") for s in pr_steps]
    assert any(s.get("working-directory") == "regression" for s in pr_steps)
    publish = repo / ".github" / "workflows" / "mlci-publish-regression.yml"
    assert workflow["name"] == "mlci regression"  # what the publish workflow listens to
    assert yaml.safe_load(publish.read_text())[True]["workflow_run"]["workflows"] == [
        "mlci regression"
    ]
    done = actionlint(
        [repo / ".github" / "workflows" / "mlci-regression.yml", publish], repo, tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    base_text = (project / "metrics.txt").read_text()

    (project / "train.py").write_text((project / "train.py").read_text().replace("1.0", "0.1"))
    commit_all(repo, "adopt mlci; less regularisation")
    _, result, report = run_pr(run_cli, project)
    head_text = (project / "metrics.txt").read_text()
    mae = row(result, "Mean Absolute Error")
    assert f"= {mae['base']:.2f}," in base_text and f"= {mae['head']:.2f}," in head_text
    assert "\x1b" not in report and "Epoch 3/3" not in report.split("Training log")[0]

    os.chdir(repo)  # from the root, the error names the project's mlci.yaml
    code, _, err = run_cli("run", "--dry-run")
    assert code == 2
    assert error_lines(err) == [
        f"mlci: error: no mlci.yaml here or above it; found below: regression/mlci.yaml ({repo}). "
        "Cd into that project's folder, or pass --config FILE."
    ]


def test_two_projects_below_are_both_listed(repo: Path, run_cli: RunCli) -> None:
    for name in ("a", "b/deep"):
        (repo / name).mkdir(parents=True)
        (repo / name / "mlci.yaml").write_text("train: {command: x, metrics: m.json}\n")
    commit_all(repo, "two projects")
    code, _, err = run_cli("train")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "found below: a/mlci.yaml, b/deep/mlci.yaml (" in err


def test_dvc_yaml_without_metrics_is_a_todo(repo: Path, run_cli: RunCli) -> None:
    (repo / "dvc.yaml").write_text("stages:\n  train:\n    cmd: python train.py\n")
    commit_all(repo, "a pipeline without metrics")
    code, out, err = run_cli("init")
    assert code == 0, err
    assert "TODO: metrics: dvc.yaml declares no metrics in any stage" in out
    text = (repo / "mlci.yaml").read_text()
    assert (
        "  # TODO: dvc.yaml declares no metrics in any stage: check this guess\n"
        "  metrics: metrics.json\n"
    ) in text
    assert "command: dvc repro" in text and "# - metric: accuracy" in text
    assert not (repo / ".mlci" / "runs").exists()  # nothing to read: no training tried


def test_init_never_overwrites_and_no_try_reads_the_committed_files(
    repo: Path, run_cli: RunCli
) -> None:
    adopters.build_cml(repo)
    (repo / "metrics.txt").write_text("Accuracy: 0.5\n")
    code, _, err = run_cli("init", "--no-try")
    assert code == 0, err
    assert not (repo / ".mlci" / "runs").exists()
    assert "- metric: Accuracy" in (repo / "mlci.yaml").read_text()
    before = (repo / "mlci.yaml").read_text()
    code, _, err = run_cli("init")
    assert code == 2 and error_lines(err)[0].startswith("mlci: error: mlci.yaml already exists")
    assert (repo / "mlci.yaml").read_text() == before


def test_init_offers_the_fork_publish_workflow_and_keeps_one_there(
    repo: Path, run_cli: RunCli
) -> None:
    adopters.build_cml(repo)
    workflows = repo / ".github" / "workflows"
    code, out, err = run_cli("init", "--no-try")
    assert code == 0, err
    publish = workflows / "mlci-publish.yml"
    assert "wrote .github/workflows/mlci-publish.yml" in out.splitlines()
    assert yaml.safe_load(publish.read_text())[True]["workflow_run"]["workflows"] == ["mlci"]
    assert "mlci publish --from" in publish.read_text()

    (repo / "mlci.yaml").unlink()
    (workflows / "mlci.yml").unlink()
    publish.write_text("# the user's own\n")
    code, out, err = run_cli("init", "--no-try")
    assert code == 0, err
    assert publish.read_text() == "# the user's own\n"
    assert "kept .github/workflows/mlci-publish.yml: it already exists" in out.splitlines()
    assert (workflows / "mlci.yml").is_file()


def test_a_workflow_with_two_training_steps_gets_shell_true(repo: Path, run_cli: RunCli) -> None:
    workflow = adopters.CML_WORKFLOW.replace(
        "          python train.py\n", "          python get_data.py\n          python train.py\n"
    )
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "cml.yaml").write_text(workflow)
    (repo / "params.yaml").write_text("seed: 1\n")
    commit_all(repo, "two steps")
    code, out, err = run_cli("init", "--no-try")
    assert code == 0, err
    written = yaml.safe_load((repo / "mlci.yaml").read_text())
    assert written["train"]["command"] == "python get_data.py && python train.py"
    assert written["train"]["shell"] is True
    assert written["train"]["metrics"] == "metrics.txt"
    assert written["train"]["params"] == "params.yaml"
    assert (
        "found train.command: python get_data.py, python train.py (.github/workflows/cml.yaml)"
        in out
    )
    assert (
        "TODO: no metric file to read yet (init ran with --no-try)"
        in (repo / "mlci.yaml").read_text()
    )
