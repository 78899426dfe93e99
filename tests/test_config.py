# ruff: noqa: E501
"""mlci.yaml: every key of the schema, and one clear line for every kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mlci import config
from mlci.errors import ConfigError, Exit
from mlci.sources import registry

ROOT = Path(__file__).resolve().parent.parent


def load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "mlci.yaml"
    path.write_text(text)
    return config.load(path)


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.exit_code == Exit.USAGE
    return info.value.line()


def test_full_schema(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """\
train:
  command: python train.py --epochs "2 3"
  metrics: [metrics.json, eval/scores.csv]
  params: params.yaml
  predictions: predictions.csv
  plots: ["plots/*.png"]
  data: [data/train.csv]
  timeout: 60
  env: {SEED: 3, MODE: fast}
baseline: {ref: develop, retrain: false}
metrics:
  latency_ms: {higher_is_better: false}
precision: 3
gates:
  - metric: accuracy
    min: 0.9
    max: 1
    max_drop: "2.5%"
    noise: 0.99
    slices: [sex, age_band]
    min_slice_size: 50
  - metric: rmse
    max_rise: 0.1
    noise: true
report: {name: nightly-eval, title: Nightly, plots: [metrics, roc]}
github: {comment: false, check: true, status: false, summary: true, assets_branch: imgs}
""",
    )
    assert cfg.train.command == ("python", "train.py", "--epochs", "2 3")
    assert cfg.train.metrics == ("metrics.json", "eval/scores.csv")
    assert cfg.train.env == {"SEED": "3", "MODE": "fast"}
    assert cfg.train.timeout == 60.0
    assert cfg.baseline == config.BaselineConfig(ref="develop", retrain=False)
    assert cfg.precision == 3
    first, second = cfg.gates
    assert first.max_drop == config.Bound(2.5, relative=True)
    assert first.noise == 0.99 and first.slices == ("sex", "age_band") and first.line == 15
    assert first.min_slice_size == 50
    assert second.noise == 0.95 and second.max_rise == config.Bound(0.1)
    assert cfg.report.name == "nightly-eval" and cfg.report.plots == ("metrics", "roc")
    assert cfg.github.comment is False and cfg.github.assets_branch == "imgs"
    assert cfg.higher_is_better("latency_ms") is False


def test_defaults_and_sklearn(tmp_path: Path) -> None:
    cfg = load(tmp_path, "train:\n  sklearn: {dataset: wine, model: sklearn.svm.SVC}\n")
    assert cfg.train.sklearn == config.SklearnSpec(dataset="wine", model="sklearn.svm.SVC")
    assert cfg.train.command is None and cfg.gates == () and cfg.precision == 4
    assert cfg.report == config.ReportConfig() and cfg.github == config.GithubConfig()
    assert cfg.baseline.retrain is True and cfg.baseline.ref is None


def test_command_as_list_is_kept_verbatim(tmp_path: Path) -> None:
    cfg = load(tmp_path, "train:\n  command: [python, 'a b.py']\n  metrics: m.json\n")
    assert cfg.train.command == ("python", "a b.py")


@pytest.mark.parametrize(
    ("name", "higher"),
    [
        ("accuracy", True),
        ("val_loss", False),
        ("rmse", False),
        ("eval.mae", False),
        ("error_rate", False),
        ("latency_p99", False),
        ("train_time", False),
        ("f1_macro", True),
        ("r2", True),
        ("mse", False),
    ],
)
def test_direction_from_name(name: str, higher: bool) -> None:
    assert registry.infer_higher_is_better(name) is higher


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "train:\n  comand: python t.py\n",
            "train.comand is not a known key (mlci.yaml:2). Did you mean 'command'?",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngatez: []\n",
            "gatez is not a known key (mlci.yaml:4). Did you mean 'gates'?",
        ),
        (
            "train:\n  command: 3\n  metrics: m.json\n",
            "train.command must be a string or a list of strings, got int 3",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\n  timeout: soon\n",
            "train.timeout must be a number, got str 'soon' (mlci.yaml:4)",
        ),
        (
            "baseline:\n  retrain: yes please\ntrain:\n  command: x\n  metrics: m.json\n",
            "baseline.retrain must be true or false",
        ),
        ("precision: 4\n", "has no 'train' section"),
        (
            "train:\n  command: x\n  metrics: m.json\n  sklearn: {dataset: iris, model: a.B}\n",
            "must have exactly one of 'command' and 'sklearn'",
        ),
        ("train:\n  metrics: m.json\n", "must have exactly one of 'command' and 'sklearn'"),
        ("train:\n  command: python t.py\n", "train needs 'metrics'"),
        (
            "train:\n  sklearn: {dataset: wines, model: a.B}\n",
            "is not a dataset scikit-learn ships: 'wines' (mlci.yaml:2). Did you mean 'wine'?",
        ),
        ("train:\n  sklearn: {dataset: iris, model: RandomForest}\n", "must be an import path"),
        ("train:\n  sklearn: {dataset: iris}\n", "train.sklearn needs 'model'"),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  - metric: acc\n    max_drop: 2 %\n",
            "gates[0].max_drop must be a number or a percentage like \"2%\", got '2 %' (mlci.yaml:6)",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  - metric: acc\n    max_drop: abc\n",
            "got 'abc'",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  - metric: acc\n    max_drop: -0.1\n",
            "gates[0].max_drop must not be negative, got -0.1",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  - metric: acc\n    min: 0.9\n    max: 0.5\n",
            "gates[0].min (0.9) is greater than max (0.5) (mlci.yaml:6)",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  - metric: acc\n",
            "gates[0] needs a bound: min, max, max_drop or max_rise",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  - min: 1\n",
            "gates[0] needs 'metric'",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  - metric: acc\n    min: 0.1\n    noise: 2\n",
            "confidence in (0, 1), got 2",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\ngates:\n  metric: acc\n",
            "gates must be a list of rules, got a mapping",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\nreport: {name: 'my report'}\n",
            "report.name 'my report' may hold only letters, digits",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\nreport: {name: 'a-->b'}\n",
            "may hold only letters, digits",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\nreport: {plots: [metrics, rocc]}\n",
            "'rocc' is not a plot mlci makes (mlci.yaml:4). Did you mean 'roc'?",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\nprecision: 40\n",
            "precision must be at most 12",
        ),
        ("train:\n  command: x\n  metrics: m.json\n  env: [A]\n", "train.env must be a mapping"),
        (
            "train:\n  command: x\n  metrics: m.json\nmetrics:\n  rmse: {higher_is_beter: false}\n",
            "Did you mean 'higher_is_better'?",
        ),
        (
            "train:\n  command: [python a.py, python b.py]\n  shell: true\n  metrics: m.json\n",
            "train.command must be one string when train.shell is true: bash runs it as a script (mlci.yaml:2)",
        ),
        (
            "train:\n  command: x\n  metrics: m.json\nmlflow:\n  register: {model: m}\n",
            "mlflow.register needs train.mlflow: only a run mlci made in MLflow can be registered (mlci.yaml:5)",
        ),
        (
            "train:\n  command: x\n  command: y\n  metrics: m.json\n",
            "train.command is given twice (mlci.yaml:3)",
        ),
        ("- a\n- b\n", "the document must be a mapping, got a list"),
        ("train: [\n", "YAML syntax error"),
        ("train:\n  command: 'unterminated\n", "YAML syntax error"),
        (
            'train:\n  command: "a \'b"\n  metrics: m.json\n',
            "train.command cannot be split into words",
        ),
    ],
)
def test_bad_config_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    line = error(tmp_path, text)
    assert line.startswith("mlci: error: ")
    assert expected in line
    assert "\n" not in line
    assert "mlci.yaml:" in line  # the file and line are always named


def test_yaml_syntax_error_names_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = error(tmp_path, "train:\n  command: x\n  metrics: [a.json\nreport: {}\n")
    assert "(mlci.yaml:4)" in line or "(mlci.yaml:3)" in line


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.find(tmp_path)
    assert "no mlci.yaml" in info.value.line() and "mlci init" in info.value.line()
    with pytest.raises(ConfigError, match="not found"):
        config.find(tmp_path, tmp_path / "other.yaml")
    with pytest.raises(ConfigError, match="is a directory"):  # --config DIR: not "not found"
        config.find(tmp_path, tmp_path)


def test_shipped_starter_and_example_validate() -> None:
    starter = config.load(ROOT / "templates" / "mlci.yaml")
    assert starter.train.command == ("python", "train.py")
    example = config.load(ROOT / "examples" / "breast-cancer" / "mlci.yaml")
    assert example.train.predictions == "predictions.csv"
    assert [g.metric for g in example.gates] == ["accuracy", "roc_auc", "log_loss"]


def test_configs_are_frozen(tmp_path: Path) -> None:
    cfg = load(tmp_path, "train:\n  command: x\n  metrics: m.json\n")
    with pytest.raises(AttributeError):
        cfg.precision = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("command", "operator"),
    [
        ("python get_data.py && python train.py", "&&"),
        ("python train.py || true", "||"),
        ("python train.py | tee out.log", "|"),
        ("python a.py; python b.py", ";"),
        ("python train.py > log.txt", ">"),
        ("python train.py < in.txt", "<"),
        ("python train.py --seed $(date +%s)", "$("),
        ("python train.py --seed `date`", "`"),
        ("python train.py &", "&"),
    ],
)
def test_shell_operator_in_a_command_string_is_named(
    tmp_path: Path, command: str, operator: str
) -> None:
    line = error(tmp_path, f"train:\n  command: {command}\n  metrics: m.json\n")
    assert f"train.command has the shell operator `{operator}`" in line
    assert "mlci.yaml:2)" in line and "train.shell: true" in line and "list" in line


def test_quoted_operators_are_arguments_and_shell_true_runs_bash(tmp_path: Path) -> None:
    quoted = load(
        tmp_path, "train:\n  command: python t.py --sep '&&' \"a|b\" x\\;y\n  metrics: m.json\n"
    )
    assert quoted.train.command == ("python", "t.py", "--sep", "&&", "a|b", "x;y")
    text = "train:\n  command: python get_data.py && python train.py\n  shell: true\n  metrics: m.json\n"
    cfg = load(tmp_path, text)
    assert cfg.train.shell and cfg.train.command == (
        "bash",
        "-c",
        "python get_data.py && python train.py",
    )


def test_a_block_of_two_commands_is_named_and_a_continued_line_is_one(tmp_path: Path) -> None:
    block = "train:\n  command: |\n    python get_data.py\n    python train.py\n  metrics: m.json\n"
    line = error(tmp_path, block)
    assert "train.command has a line break, but no shell runs the command (" in line
    assert "mlci.yaml:2). Set `train.shell: true`" in line
    continued = (
        "train:\n  command: |\n    python train.py \\\n      --epochs 3\n  metrics: m.json\n"
    )
    assert load(tmp_path, continued).train.command == ("python", "train.py", "--epochs", "3")
    folded = "train:\n  command: >\n    python train.py\n    --epochs 3\n  metrics: m.json\n"
    assert load(tmp_path, folded).train.command == ("python", "train.py", "--epochs", "3")


def _readme_reference() -> str:
    """The mlci.yaml block of README.md's "mlci.yaml" section."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## mlci.yaml\n", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    "section",
    [
        (),
        ("train",),
        ("train", "mlflow"),
        ("baseline",),
        ("gates", 0),
        ("report",),
        ("github",),
        ("mlflow",),
        ("mlflow", "register"),
    ],
)
def test_the_readme_reference_shows_every_key_mlci_yaml_takes(
    section: tuple[str | int, ...], tmp_path: Path
) -> None:
    """The reference loads as it is, and at each level it shows (as a key, or named in a
    comment) every key the loader allows, asked of the loader itself: an unknown key's
    error lists them. `train.data` is the older name the Run cache section explains."""
    import yaml

    block = _readme_reference()
    (tmp_path / "mlci.yaml").write_text(block, encoding="utf-8")
    config.load(tmp_path / "mlci.yaml")
    doc = yaml.safe_load(block)
    node: Any = doc
    for part in section:
        node = node[part]
    commented = {
        w for line in block.splitlines() for w in re.findall(r"\w+", line.partition("#")[2])
    }
    node["zzzz"] = 1
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path / "mlci.yaml")
    hint = caught.value.hint or ""
    assert hint.startswith("allowed: "), caught.value.line()
    allowed = set(hint.removeprefix("allowed: ").split(", ")) - {"data"}
    assert allowed <= set(node) | commented, (
        f"{section}: README lacks {allowed - set(node) - commented}"
    )
