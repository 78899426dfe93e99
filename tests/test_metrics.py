"""Metric and params files in every format users write, and every way they go wrong."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlci.errors import Exit, MetricsError
from mlci.sources import formats
from mlci.sources.metrics import MissingMetricsFile, read_file, read_metrics
from mlci.sources.params import read_params


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_line(root: Path, name: str, text: str) -> str:
    write(root, name, text)
    with pytest.raises(MetricsError) as info:
        read_metrics([name], root)
    assert info.value.exit_code == Exit.RUN_FAILED
    return info.value.line()


# formats


def test_json_nested_keys_are_flattened_and_numbers_are_floats(tmp_path: Path) -> None:
    write(tmp_path, "m.json", '{"accuracy": 1, "val": {"loss": 0.25, "f1": [0.5, 0.75]}}')
    got = read_metrics(["m.json"], tmp_path)
    assert got.values == {"accuracy": 1.0, "val.loss": 0.25, "val.f1.0": 0.5, "val.f1.1": 0.75}
    assert all(type(v) is float for v in got.values.values())
    assert got.sources == dict.fromkeys(got.values, "m.json")
    assert got.non_numeric == {}


@pytest.mark.parametrize("name", ["m.yaml", "m.yml"])
def test_yaml(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "rmse: 3.5\ntest:\n  r2: .8\n  mae: 2\n")
    assert read_metrics([name], tmp_path).values == {"rmse": 3.5, "test.r2": 0.8, "test.mae": 2.0}


def test_csv_takes_the_last_data_row(tmp_path: Path) -> None:
    write(tmp_path, "log.csv", "epoch,loss,acc\n1,0.9,0.5\n2,0.4,0.8\n3,0.2,0.9\n\n")
    got = read_metrics(["log.csv"], tmp_path)
    assert got.values == {"epoch": 3.0, "loss": 0.2, "acc": 0.9}


def test_tsv_and_non_numeric_cells(tmp_path: Path) -> None:
    write(tmp_path, "m.tsv", "model\tauc\tnote\nrf\t0.91\t\n")
    got = read_metrics(["m.tsv"], tmp_path)
    assert got.values == {"auc": 0.91}
    assert got.non_numeric == {"model": "'rf'", "note": "None"}


def test_csv_with_a_bom_and_quotes(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text('\ufeff"acc","f1"\n"0.5","0.25"\n', encoding="utf-8")
    assert read_metrics(["m.csv"], tmp_path).values == {"acc": 0.5, "f1": 0.25}


def test_flatten_lists_and_empty_prefix() -> None:
    assert formats.flatten({"a": {"b": {"c": 1}}, "l": [{"x": 2}, 3]}) == {
        "a.b.c": 1,
        "l.0.x": 2,
        "l.1": 3,
    }
    assert formats.flatten({"a": 1}, prefix="p") == {"p.a": 1}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (0.5, 0.5),
        ("0.5", 0.5),
        (" 2 ", 2.0),
        ("inf", math.inf),
        ("-inf", -math.inf),
        (True, None),
        (False, None),
        ("abc", None),
        (None, None),
        ([1], None),
        (10**400, math.inf),
    ],
)
def test_to_number(value: object, expected: float | None) -> None:
    assert formats.to_number(value) == expected


def test_to_number_nan_string() -> None:
    got = formats.to_number("nan")
    assert got is not None and math.isnan(got)


def test_parse_text_by_extension() -> None:
    assert formats.parse_text('{"a": {"b": 1}}', "x/M.JSON") == {"a.b": 1}
    assert formats.parse_text("a,b\n1,x\n", "m.csv") == {"a": 1.0, "b": "x"}


# NaN, inf and values that are not numbers


def test_nan_and_infinity_are_kept_and_flagged(tmp_path: Path) -> None:
    write(tmp_path, "m.json", '{"loss": NaN, "ratio": Infinity, "low": -Infinity, "acc": 0.5}')
    got = read_metrics(["m.json"], tmp_path)
    assert math.isnan(got.values["loss"])
    assert got.values["ratio"] == math.inf and got.values["low"] == -math.inf
    assert got.non_finite == ("loss", "ratio", "low")


def test_nan_in_yaml_and_csv(tmp_path: Path) -> None:
    write(tmp_path, "m.yaml", "loss: .nan\n")
    write(tmp_path, "m.csv", "acc\nnan\n")
    got = read_metrics(["m.yaml", "m.csv"], tmp_path)
    assert set(got.non_finite) == {"loss", "acc"}


def test_bools_strings_and_nulls_are_reported_not_dropped(tmp_path: Path) -> None:
    write(tmp_path, "m.json", '{"acc": 0.9, "ok": true, "model": "rf", "auc": null, "s": "0.5"}')
    got = read_metrics(["m.json"], tmp_path)
    assert got.values == {"acc": 0.9, "s": 0.5}
    assert got.non_numeric == {"ok": "True", "model": "'rf'", "auc": "None"}
    assert got.sources["ok"] == "m.json"


# merging


def test_two_files_merge_and_the_later_wins_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a.json", '{"acc": 0.5, "f1": 0.4, "note": "x"}')
    write(tmp_path, "sub/b.yaml", "acc: 0.7\nnote: 3\nloss: 0.1\n")
    got = read_metrics(["a.json", "sub/b.yaml"], tmp_path)
    assert got.values == {"acc": 0.7, "f1": 0.4, "note": 3.0, "loss": 0.1}
    assert got.non_numeric == {}
    assert got.sources == {
        "acc": "sub/b.yaml",
        "f1": "a.json",
        "note": "sub/b.yaml",
        "loss": "sub/b.yaml",
    }
    err = capsys.readouterr().err
    assert "warning" in err and "acc, note" in err and "a.json" in err and "sub/b.yaml" in err


def test_no_warning_without_overlap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a.json", '{"acc": 0.5}')
    write(tmp_path, "b.json", '{"f1": 0.5}')
    assert read_metrics(["a.json", "b.json"], tmp_path).values == {"acc": 0.5, "f1": 0.5}
    assert capsys.readouterr().err == ""


def test_a_later_non_number_replaces_an_earlier_number(tmp_path: Path) -> None:
    write(tmp_path, "a.json", '{"acc": 0.5}')
    write(tmp_path, "b.json", '{"acc": "n/a"}')
    got = read_metrics(["a.json", "b.json"], tmp_path)
    assert got.values == {} and got.non_numeric == {"acc": "'n/a'"}


# dvclive


def test_dvclive_directory_with_metrics_json(tmp_path: Path) -> None:
    write(tmp_path, "dvclive/metrics.json", json.dumps({"train": {"loss": 0.2}, "step": 4}))
    write(tmp_path, "dvclive/plots/metrics/train/loss.tsv", "timestamp\tstep\tloss\n1\t0\t9\n")
    got = read_metrics(["dvclive"], tmp_path)
    assert got.values == {"train.loss": 0.2}  # dvclive's step is not a metric
    assert got.sources == {"train.loss": "dvclive"}


def test_dvclive_directory_with_only_tsv_files(tmp_path: Path) -> None:
    plots = "dvclive/plots/metrics"
    write(tmp_path, f"{plots}/train/loss.tsv", "timestamp\tstep\tloss\n100\t0\t0.9\n200\t1\t0.3\n")
    write(tmp_path, f"{plots}/acc.tsv", "timestamp\tstep\tacc\n100\t0\t0.5\n200\t1\t0.75\n")
    got = read_metrics(["dvclive/"], tmp_path)
    assert got.values == {"acc": 0.75, "train.loss": 0.3}


def test_dvclive_tsv_with_an_odd_column_name(tmp_path: Path) -> None:
    write(tmp_path, "live/plots/metrics/score.tsv", "timestamp\tstep\tvalue\n1\t0\t0.5\n")
    assert read_file(tmp_path / "live") == {"score": 0.5}


def test_a_directory_that_is_not_dvclive_output(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(MetricsError) as info:
        read_metrics(["out"], tmp_path)
    line = info.value.line()
    assert "(out)" in line and "metrics.json" in line and "plots/metrics" in line


def test_dvclive_errors_name_the_inner_file(tmp_path: Path) -> None:
    write(tmp_path, "dvclive/plots/metrics/loss.tsv", "timestamp\tstep\tloss\n")
    with pytest.raises(MetricsError) as info:
        read_metrics(["dvclive"], tmp_path)
    assert "dvclive/plots/metrics/loss.tsv" in info.value.line()


# params


def test_params_keep_json_scalars(tmp_path: Path) -> None:
    write(
        tmp_path,
        "params.yaml",
        "model:\n  n_estimators: 200\n  criterion: gini\n  bootstrap: true\n"
        "  max_depth: null\nlr: 0.01\nlayers: [64, 32]\ndate: 2024-01-31\n",
    )
    got = read_params(["params.yaml"], tmp_path)
    assert got == {
        "model.n_estimators": 200,
        "model.criterion": "gini",
        "model.bootstrap": True,
        "model.max_depth": None,
        "lr": 0.01,
        "layers.0": 64,
        "layers.1": 32,
        "date": "2024-01-31",
    }
    json.dumps(got)  # the run record stores them as JSON


def test_params_merge_later_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a.json", '{"lr": 0.1, "seed": 1}')
    write(tmp_path, "b.json", '{"lr": "auto"}')
    assert read_params(["a.json", "b.json"], tmp_path) == {"lr": "auto", "seed": 1}
    assert "lr in both a.json and b.json" in capsys.readouterr().err


def test_missing_params_file_points_at_train_params(tmp_path: Path) -> None:
    with pytest.raises(MissingMetricsFile) as info:
        read_params(["params.yaml"], tmp_path)
    assert "params file not found (params.yaml)" in info.value.line()
    assert "train.params" in info.value.line()


# errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingMetricsFile) as info:
        read_metrics(["out/metrics.json"], tmp_path)
    assert isinstance(info.value, MetricsError) and info.value.exit_code == 3
    line = info.value.line()
    assert "metrics file not found (out/metrics.json)" in line
    assert "train.metrics in mlci.yaml" in line and "training writes" in line


def test_a_missing_file_after_a_good_one_still_fails(tmp_path: Path) -> None:
    write(tmp_path, "a.json", '{"acc": 0.5}')
    with pytest.raises(MissingMetricsFile, match="not found"):
        read_metrics(["a.json", "b.json"], tmp_path)


def test_invalid_json_gives_line_and_column(tmp_path: Path) -> None:
    line = error_line(tmp_path, "m.json", '{\n  "acc": 0.5,\n  "f1": ,\n}')
    assert "invalid JSON: Expecting value (m.json:3:9)" in line
    assert "Fix the JSON" in line


def test_invalid_yaml_gives_line_and_column(tmp_path: Path) -> None:
    line = error_line(tmp_path, "m.yaml", "acc: 0.5\nf1: [0.1, 0.2\nloss: 1\n")
    assert "invalid YAML:" in line and "(m.yaml:3:" in line
    assert "Fix the YAML" in line


def test_yaml_tab_indent_error_position(tmp_path: Path) -> None:
    line = error_line(tmp_path, "m.yml", "a:\n\tb: 1\n")
    assert "(m.yml:2:1)" in line


@pytest.mark.parametrize("name", ["m.json", "m.yaml", "m.csv", "m.tsv"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    line = error_line(tmp_path, name, "\n  \n")
    assert f"the file is empty ({name})" in line


def test_csv_with_only_a_header(tmp_path: Path) -> None:
    line = error_line(tmp_path, "m.csv", "acc,f1\n\n")
    assert "no data row below the header (m.csv)" in line and "header row" in line


def test_csv_last_row_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    line = error_line(tmp_path, "m.csv", "acc,f1\n0.5,0.4\n0.6\n")
    assert "1 fields but the header has 2 (m.csv:3)" in line


@pytest.mark.parametrize(
    ("text", "kind"), [("[0.5, 0.6]", "list"), ('"acc"', "string"), ("0.5", "number")]
)
def test_json_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    line = error_line(tmp_path, "m.json", text)
    assert f"the top level is a {kind}, not a mapping" in line and "(m.json)" in line


def test_yaml_top_level_list(tmp_path: Path) -> None:
    line = error_line(tmp_path, "m.yaml", "- 0.5\n- 0.6\n")
    assert "the top level is a list" in line and "(m.yaml)" in line


@pytest.mark.parametrize(("name", "shown"), [("m.ini", "'.ini'"), ("metrics", "(no extension)")])
def test_unknown_extension(tmp_path: Path, name: str, shown: str) -> None:
    line = error_line(tmp_path, name, "acc 0.5\n")
    assert f"unknown file format {shown} ({name})" in line
    for ext in (".json", ".yaml", ".yml", ".csv", ".tsv", ".txt", ".log", "dvclive"):
        assert ext in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Accuracy: 0.844\n", {"Accuracy": 0.844}),  # CML's classic metrics.txt
        (
            "Mean Absolute Error = 41.99, Mean Squared Error = 1788.0.\n",
            {"Mean Absolute Error": 41.99, "Mean Squared Error": 1788.0},
        ),
        ("Done\nacc: 93%; f1 = 0.9\nloss: 1e-3\n", {"acc": 93.0, "f1": 0.9, "loss": 0.001}),
        ("epoch 1 loss: 0.5\nepoch 2 loss: 0.4\n", {"epoch 1 loss": 0.5, "epoch 2 loss": 0.4}),
        ("rmse = -inf\nval: nan\n", {"rmse": -math.inf, "val": math.nan}),
    ],
)
def test_text_metric_files(tmp_path: Path, text: str, expected: dict[str, float]) -> None:
    write(tmp_path, "metrics.txt", text)
    got = read_metrics(["metrics.txt"], tmp_path).values
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == value or (math.isnan(value) and math.isnan(got[name]))


def test_log_file_keeps_the_last_value_of_a_name(tmp_path: Path) -> None:
    write(tmp_path, "train.log", "step 1\nloss: 0.9\nstep 2\nloss: 0.3\n")
    assert read_metrics(["train.log"], tmp_path).values == {"loss": 0.3}


def test_text_file_without_a_number_is_one_clear_line(tmp_path: Path) -> None:
    line = error_line(tmp_path, "metrics.txt", "Accuracy: high\nall good\n")
    assert line.startswith("mlci: error: no `NAME: NUMBER` or `NAME = NUMBER`")
    assert "(metrics.txt)" in line and "Accuracy: 0.93" in line and "\n" not in line


def test_dvclive_series_and_step_dropped_from_a_named_summary(tmp_path: Path) -> None:
    write(tmp_path, "dvclive/metrics.json", json.dumps({"acc": 0.9, "step": 2}))
    write(tmp_path, "dvclive/plots/metrics/acc.tsv", "timestamp\tstep\tacc\n1\t0\t0.5\n2\t1\t0.9\n")
    assert read_metrics(["dvclive/metrics.json"], tmp_path).values == {"acc": 0.9}
    from mlci.sources.metrics import dvclive_series

    assert dvclive_series(tmp_path / "dvclive") == {"acc": [(0.0, 0.5), (1.0, 0.9)]}


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_bytes(b'{"acc": "\xff"}')
    with pytest.raises(MetricsError, match="not UTF-8") as info:
        read_metrics(["m.json"], tmp_path)
    assert "(m.json)" in info.value.line()


def test_read_file_display_defaults_to_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, "m.json", "[1]")
    with pytest.raises(MetricsError) as info:
        read_file(path)
    assert str(path) in info.value.line()
    with pytest.raises(MetricsError) as info:
        read_file(path, display="shown.json")
    assert "(shown.json)" in info.value.line()
