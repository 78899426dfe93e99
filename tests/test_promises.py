"""Promises kept around the numbers: inputs refused in one line, config lines, tiny tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlci import config
from mlci.errors import ConfigError, MetricsError
from mlci.judge import align, evidence, gates, paired, values
from mlci.record import RunRecord
from mlci.report import rules
from mlci.sources import predictions


def _iris_predictions() -> pd.DataFrame:
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x[::2], y[::2])
    frame = pd.DataFrame({"id": np.arange(1, len(y), 2), "y_true": y[1::2]})
    frame["y_pred"] = model.predict(x[1::2])
    for i, cls in enumerate(model.classes_):
        frame[f"score_{cls}"] = model.predict_proba(x[1::2])[:, i]
    return frame


def _refused(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(MetricsError) as info:
        predictions.load(path, side="head")
    line = info.value.line()
    assert line.startswith("mlci: error: ") and "\n" not in line
    assert str(path) in line
    return line


def test_scores_scikit_learn_would_refuse_are_refused_in_one_line(tmp_path: Path) -> None:
    good = _iris_predictions()
    empty = good.copy()
    empty.loc[[3, 7], "score_1"] = np.nan
    assert "2 of 75 rows of score_1 are empty" in _refused(tmp_path, empty)
    infinite = good.copy()
    infinite.loc[5, "score_2"] = np.inf
    assert "1 of 75 rows of score_2 are infinite" in _refused(tmp_path, infinite)
    unscaled = good.copy()
    unscaled.loc[:9, "score_0"] += 0.5
    line = _refused(tmp_path, unscaled)
    assert "10 of 75 rows of score_0, score_1, score_2 do not sum to 1 (row 1: 1.5)" in line
    binary = pd.DataFrame({"y_true": [0, 1, 1], "y_pred": [0, 1, 0], "y_score": [0.2, None, 0.4]})
    assert "1 of 3 rows of y_score are empty" in _refused(tmp_path, binary)
    regression = pd.DataFrame({"y_true": [1.5, 2.0, 3.0], "y_pred": [1.0, float("inf"), 2.5]})
    assert "1 of 3 rows of y_pred are infinite" in _refused(tmp_path, regression)


def test_rounded_probabilities_are_accepted_and_rescaled(tmp_path: Path) -> None:
    frame = _iris_predictions()
    columns = ["score_0", "score_1", "score_2"]
    frame[columns] = frame[columns].round(2)  # rows now sum to 0.99 .. 1.01
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    loaded = predictions.load(path, side="head")
    assert np.allclose(loaded[columns].sum(axis=1), 1.0)
    assert 0.9 < values.metric_value("roc_auc", loaded) <= 1.0


def test_roc_auc_with_a_class_absent_from_y_true_is_not_computed() -> None:
    frame = _iris_predictions()
    without_two = frame[frame["y_true"] != 2]
    reason = values.unsupported("roc_auc", without_two)
    assert reason == "class 2 has no example in y_true"
    assert values.supported("accuracy", without_two)


def test_ids_written_as_floats_in_one_file_match_integers_in_the_other() -> None:
    head = _iris_predictions()
    base = head.assign(id=head["id"].astype(float)).iloc[::-1]
    aligned_base, aligned_head = align.align(base, head, base_name="b.csv", head_name="h.csv")
    assert (aligned_base["id"].to_numpy() == aligned_head["id"].to_numpy()).all()
    text = head.assign(id=head["id"].map(lambda i: f"ex-{i}"))
    with pytest.raises(MetricsError, match="ids do not match"):
        align.align(text, head, base_name="b.csv", head_name="h.csv")


def test_roc_auc_first_order_bootstrap_is_close_to_the_exact_one() -> None:
    """Above the exact limit roc_auc resamples one sum per row; both agree on the interval."""
    rng = np.random.default_rng(3)
    n = 20_000
    labels = rng.integers(0, 3, size=n)
    frames = []
    for strength in (1.0, 1.1):
        logits = rng.normal(size=(n, 3)) + strength * np.eye(3)[labels]
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        frame = pd.DataFrame(proba, columns=["score_0", "score_1", "score_2"])
        frames.append(frame.assign(y_true=labels, y_pred=proba.argmax(axis=1)))
    base, head = frames
    binary = [f.assign(y_true=labels == 0, y_score=f["score_0"]) for f in frames]
    for b, h in (
        (base, head),
        (binary[0][["y_true", "y_pred", "y_score"]], binary[1][["y_true", "y_pred", "y_score"]]),
    ):
        exact = paired.paired_bootstrap("roc_auc", b, h, resamples=400, exact_limit=10**12)
        linear = paired.paired_bootstrap("roc_auc", b, h, resamples=400, exact_limit=0)
        assert linear.delta == pytest.approx(exact.delta, abs=1e-12)
        width = exact.high - exact.low
        assert abs(linear.low - exact.low) < 0.15 * width
        assert abs(linear.high - exact.high) < 0.15 * width


def _records(tmp_path: Path, base: pd.DataFrame, head: pd.DataFrame) -> tuple[RunRecord, RunRecord]:
    out = []
    for name, frame in (("base", base), ("head", head)):
        run = tmp_path / name
        run.mkdir()
        frame.to_csv(run / "predictions.csv", index=False)
        right = float((frame["y_true"] == frame["y_pred"]).mean())
        out.append(RunRecord(sha=name, metrics={"accuracy": right}, path=run))
    return out[0], out[1]


def test_too_few_examples_fall_back_to_the_plain_bound_and_say_so(tmp_path: Path) -> None:
    base = pd.DataFrame({"y_true": [0, 1, 1, 0, 1], "y_pred": [0, 1, 1, 0, 1]})
    head = base.assign(y_pred=[0, 1, 0, 0, 1])
    (tmp_path / "mlci.yaml").write_text(
        "train:\n  command: python train.py\n  metrics: m.json\n  predictions: predictions.csv\n"
        "gates:\n  - metric: accuracy\n    max_drop: 0.1\n    noise: true\n"
    )
    cfg = config.load(tmp_path / "mlci.yaml")
    base_run, head_run = _records(tmp_path, base, head)
    found = evidence.collect(cfg, head_run, base_run)
    assert found.noise[0] == "5 examples are too few to test (fewer than 10)"
    verdict = gates.evaluate(cfg.gates, head_run.metrics, base_run.metrics, noise=found.noise)
    (result,) = verdict.results
    assert result.outcome == "failed"  # a drop of 0.2 > 0.1, decided by the plain bound
    assert "plain bound: 5 examples are too few to test" in result.reason


def test_slices_too_small_to_test_fall_back_to_the_plain_bound_and_say_so(
    tmp_path: Path,
) -> None:
    """40 examples are tested as a whole; slices of 8 (min_slice_size 5) cannot be."""
    truth = [i % 2 for i in range(40)]
    base = pd.DataFrame({"y_true": truth, "y_pred": truth, "grp": [f"g{i % 5}" for i in range(40)]})
    head = base.assign(y_pred=[1 - t if i % 5 == 3 and i < 30 else t for i, t in enumerate(truth)])
    (tmp_path / "mlci.yaml").write_text(
        "train:\n  command: python train.py\n  metrics: m.json\n  predictions: predictions.csv\n"
        "gates:\n  - metric: accuracy\n    max_drop: 0.5\n    noise: true\n"
        "    slices: [grp]\n    min_slice_size: 5\n"
    )
    cfg = config.load(tmp_path / "mlci.yaml")
    base_run, head_run = _records(tmp_path, base, head)
    found = evidence.collect(cfg, head_run, base_run)
    (check,) = found.extra[0]
    assert check.outcome == "failed"  # g3 drops 0.75 > 0.5, decided by the plain bound
    assert (
        check.reason
        == "1 of 5 slices fail: grp=g3: drop 0.7500 > 0.5 (plain bound: too few to test)"
    )
    (table,) = found.slices
    cells = [rules.slice_cells(row, table, cfg.precision) for row in table.rows]
    notes = {c["label"]: c["note"] for c in cells}
    assert notes["grp=g3"].endswith("(plain bound: too few to test)")
    assert notes["grp=g0"] == "✅ · plain bound: too few to test (n &lt; 10)"


def test_an_unknown_nested_key_names_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "mlci.yaml"
    path.write_text(
        "train:\n  command: x\n  metrics: m.json\nreprot:\n  title: A\n  name: b\ngates: []\n"
    )
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert "reprot is not a known key" in info.value.line()
    assert "mlci.yaml:4)" in info.value.line()  # the key's line, not its first child's
    path.write_text(
        "train:\n  command: x\n  metrics: m.json\ngates:\n  - metric: accuracy\n    mni: 0.9\n"
    )
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert "mlci.yaml:6)" in info.value.line()


def test_precision_reaches_the_gate_reasons() -> None:
    rule = config.GateRule(metric="accuracy", min=0.9, max_drop=config.Bound(0.01, False))
    verdict = gates.evaluate([rule], {"accuracy": 0.944123}, {"accuracy": 0.9612345}, precision=2)
    shown = " ".join(c.reason for c in verdict.results[0].checks)
    assert shown == "0.94 >= 0.9 drop 0.02 > 0.01"
    assert math.isclose(verdict.results[0].head or 0, 0.944123)  # the value itself is whole
