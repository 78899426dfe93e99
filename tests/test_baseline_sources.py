"""baseline.sources in order, what feeds training, and a dirty head's own run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci import config as configs
from mlci.train.inputs import is_input
from tests import projects
from tests.conftest import commit_all, git
from tests.projects import RunCli, Template
from tests.test_diff_gate import files_template, on_branch, retrain_template

__all__ = ["files_template", "retrain_template"]  # fixtures shared with test_diff_gate


def diff_json(run_cli: RunCli) -> dict[str, object]:
    code, out, err = run_cli("diff", "main", "--json")
    assert code == 0, err
    return dict(json.loads(out)["baseline"])


def with_sources(root: Path, sources: str) -> None:
    text = (root / "mlci.yaml").read_text().split("baseline:")[0]
    (root / "mlci.yaml").write_text(text + f"baseline:\n  sources: {sources}\n")
    commit_all(root, f"baseline sources {sources}")


def test_sources_are_tried_in_the_order_given(
    files_template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    root = on_branch(files_template, tmp_path, monkeypatch, "pr")
    with_sources(root, "[mlflow, files]")
    found = diff_json(run_cli)
    assert found["strategy"] == "file"
    assert found["tried"] == ["mlflow: train.mlflow is not set"]

    with_sources(root, "[notes]")
    found = diff_json(run_cli)
    assert found["strategy"] == "none"
    assert len(found["tried"]) == 1 and str(found["tried"][0]).startswith("notes: no note")


def test_stale_committed_metrics_are_skipped_naming_both_commits(
    files_template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    root = on_branch(files_template, tmp_path, monkeypatch, "main")
    (root / "docs").mkdir()
    (root / "docs" / "model.md").write_text("# not an input\n")
    commit_all(root, "docs only: the committed metrics stay the model's")
    found = diff_json(run_cli)
    assert found["strategy"] == "file"

    text = (root / "mlci.yaml").read_text()
    (root / "mlci.yaml").write_text(text + "baseline:\n  sources: [files]\n")
    (root / "params.yaml").write_text(projects.params_yaml(3.0))
    changed = commit_all(root, "alpha 3, metrics.json not updated")
    found = diff_json(run_cli)
    written = files_template.shas["c2"]
    assert found["strategy"] == "none"
    assert found["tried"] == [
        f"committed files: metrics.json is stale: committed at {written[:7]}, but "
        f"params.yaml changed later at {changed[:7]}"
    ]


def test_a_dirty_head_on_the_merge_base_has_its_own_run_directory(
    retrain_template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    root = on_branch(retrain_template, tmp_path, monkeypatch, "main")
    (root / "params.yaml").write_text(projects.params_yaml(0.5))  # uncommitted, on main
    code, _, err = run_cli("run", "--dry-run", "--base", "main")
    assert code in (0, 1), err
    sha = retrain_template.shas["c2"]
    runs = projects.run_entries(root)
    assert len(runs) == 2 and sha in runs
    [dirty] = [r for r in runs if r != sha]
    assert dirty.startswith(f"{sha}+") and len(dirty) == len(sha) + 9
    report = (root / ".mlci" / "report" / "report.md").read_text()
    assert "ridge alpha=0.5" in report and "ridge alpha=1.0" not in report
    result = json.loads((root / ".mlci" / "report" / "result.json").read_text())
    r2 = {r["name"]: r for r in result["comparison"]["rows"]}["r2"]
    assert r2["base"] != r2["head"]


def test_is_input(tmp_path: Path) -> None:
    path = tmp_path / "mlci.yaml"
    path.write_text(
        "train:\n  command: python train.py\n  metrics: [eval/metrics.json, dvclive]\n"
        "  params: params.json\n  predictions: preds.csv\n  plots: ['plots/*.png']\n"
    )
    cfg = configs.load(path)
    # the params feed training; mlci.yaml's train section is fingerprinted on its own
    for name in ("train.py", "data/x.csv", "params.yaml", "src/a/b.py", "params.json"):
        assert is_input(cfg, name), name
    for name in (
        "README.md",
        "src/NOTES.md",
        "docs/a/b.txt",
        ".github/workflows/ci.yml",
        "LICENSE.txt",
        "eval/metrics.json",
        "dvclive/plots/metrics/acc.tsv",
        "mlci.yaml",
        "preds.csv",
        "plots/roc.png",
        ".mlci/runs/x/metrics.json",
    ):
        assert not is_input(cfg, name), name
    path.write_text(
        "train:\n  command: python train.py\n  metrics: m.json\n  inputs: ['src/**', '*.py']\n"
    )
    cfg = configs.load(path)
    assert is_input(cfg, "src/deep/model.py") and is_input(cfg, "tools/x.py")
    assert not is_input(cfg, "data/x.csv") and not is_input(cfg, "m.json")


def dvclive_files(acc: float, loss: float, *, summary: bool) -> dict[str, str]:
    """dvclive's output after two steps: the per-step tsv files, and its metrics.json."""
    tsv = "timestamp\tstep\t{name}\n1\t0\t0.1\n2\t1\t{value}\n"
    files = {
        "dvclive/plots/metrics/acc.tsv": tsv.format(name="acc", value=acc),
        "dvclive/plots/metrics/train/loss.tsv": tsv.format(name="loss", value=loss),
    }
    if summary:
        files["dvclive/metrics.json"] = json.dumps({"acc": acc, "train": {"loss": loss}, "step": 1})
    return files


@pytest.mark.parametrize(
    ("metrics", "summary"), [("dvclive", False), ("dvclive/metrics.json", True)]
)
def test_dvclive_output_committed_at_the_merge_base_is_read_like_on_disk(
    repo: Path, run_cli: RunCli, metrics: str, summary: bool
) -> None:
    """The base is read by the same code as the head: a dvclive directory is read (not
    'not tracked'), and dvclive's step is no metric at the base either."""
    (repo / "mlci.yaml").write_text(
        f"train:\n  command: python -c pass\n  metrics: {metrics}\nbaseline:\n  sources: [files]\n"
    )
    (repo / ".gitignore").write_text(".mlci/\n")
    for name, text in dvclive_files(0.8, 0.5, summary=summary).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    base = commit_all(repo, "main, with dvclive's output")
    git(repo, "checkout", "-q", "-b", "pr")
    for name, text in dvclive_files(0.9, 0.25, summary=summary).items():
        (repo / name).write_text(text)
    commit_all(repo, "pr")
    code, out, err = run_cli("diff", "main", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["baseline"]["strategy"] == "file" and doc["baseline"]["sha"] == base
    rows = {row["name"]: (row["base"], row["head"]) for row in doc["rows"]}
    assert rows == {"acc": (0.8, 0.9), "train.loss": (0.5, 0.25)}
