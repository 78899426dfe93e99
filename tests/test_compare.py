"""compare(): rows, statuses, deltas, params, and the JSON form that result.json holds."""

from __future__ import annotations

import json
import math

import pytest

from mlci.compare import Comparison, Row, compare, diff_params
from mlci.sources.registry import infer_higher_is_better


def _cmp(head: dict[str, float], base: dict[str, float] | None, **kw: object) -> Comparison:
    return compare(head, base, higher_is_better=infer_higher_is_better, **kw)  # type: ignore[arg-type]


def _status(c: Comparison, name: str) -> str:
    row = c.row(name)
    assert row is not None
    return row.status


def test_better_and_worse_follow_the_direction() -> None:
    c = _cmp(
        {"accuracy": 0.92, "rmse": 0.4, "log_loss": 0.5, "f1": 0.7},
        {"accuracy": 0.90, "rmse": 0.5, "log_loss": 0.4, "f1": 0.8},
    )
    assert _status(c, "accuracy") == "better"
    assert _status(c, "rmse") == "better"  # lower is better, and it went down
    assert _status(c, "log_loss") == "worse"
    assert _status(c, "f1") == "worse"
    row = c.row("rmse")
    assert row is not None and row.higher_is_better is False


def test_delta_and_rel_delta() -> None:
    row = _cmp({"accuracy": 0.9}, {"accuracy": 0.8}).row("accuracy")
    assert row is not None
    assert row.delta == pytest.approx(0.1)
    assert row.rel_delta == pytest.approx(0.125)
    neg = _cmp({"score": -1.5}, {"score": -2.0}).row("score")
    assert neg is not None
    assert neg.rel_delta == pytest.approx(0.25)  # relative to abs(base): an increase stays positive


def test_rel_delta_is_none_when_base_is_zero() -> None:
    row = _cmp({"r2": 0.3}, {"r2": 0.0}).row("r2")
    assert row is not None
    assert row.delta == pytest.approx(0.3)
    assert row.rel_delta is None
    assert row.status == "better"


def test_unchanged_within_tolerance() -> None:
    c = _cmp({"a": 0.1 + 0.2, "b": 1e6 + 1e-4, "c": 0.5 + 1e-6}, {"a": 0.3, "b": 1e6, "c": 0.5})
    assert _status(c, "a") == "unchanged"  # float rounding is not a change
    assert _status(c, "b") == "unchanged"  # tolerance scales with |base|
    assert _status(c, "c") == "better"
    assert _status(_cmp({"c": 0.5 + 1e-6}, {"c": 0.5}, rel_tol=1e-3), "c") == "unchanged"


def test_added_removed_and_order() -> None:
    c = _cmp(
        {"z": 1.0, "a": 1.0, "new2": 1.0, "new1": 1.0},
        {"z": 2.0, "a": 1.0, "gone": 3.0, "old": 4.0},
    )
    assert [r.name for r in c.rows] == ["a", "z", "new1", "new2", "gone", "old"]
    assert [r.status for r in c.rows] == [
        "unchanged",
        "worse",
        "added",
        "added",
        "removed",
        "removed",
    ]
    added, removed = c.row("new1"), c.row("gone")
    assert added == Row("new1", None, 1.0, None, None, "added", True)
    assert removed == Row("gone", 3.0, None, None, None, "removed", True)
    assert c.has_baseline


def test_no_baseline_rows_are_new() -> None:
    c = _cmp({"b": 1.0, "a": 2.0}, None)
    assert not c.has_baseline
    assert [(r.name, r.status, r.base, r.delta) for r in c.rows] == [
        ("a", "new", None, None),
        ("b", "new", None, None),
    ]


def test_empty_baseline_is_a_baseline() -> None:
    c = _cmp({"a": 1.0}, {})
    assert c.has_baseline
    assert _status(c, "a") == "added"


@pytest.mark.parametrize(
    ("head", "base"),
    [(math.nan, 1.0), (1.0, math.nan), (math.inf, 1.0), (1.0, -math.inf), (math.nan, math.nan)],
)
def test_non_finite_is_invalid(head: float, base: float) -> None:
    row = _cmp({"m": head}, {"m": base}).row("m")
    assert row is not None
    assert row.status == "invalid"
    assert row.delta is None and row.rel_delta is None


def test_non_finite_one_sided_is_invalid() -> None:
    c = _cmp({"m": math.nan, "ok": 1.0}, None)
    assert _status(c, "m") == "invalid"
    assert _status(c, "ok") == "new"
    assert _status(_cmp({}, {"m": math.inf}), "m") == "invalid"


def test_ints_become_floats() -> None:
    row = _cmp({"n": 3}, {"n": 2}).row("n")
    assert row is not None
    assert isinstance(row.head, float) and isinstance(row.base, float)


def test_custom_direction() -> None:
    c = compare({"accuracy": 0.8}, {"accuracy": 0.9}, higher_is_better=lambda n: False)
    assert _status(c, "accuracy") == "better"


def test_row_lookup_of_unknown_name() -> None:
    assert _cmp({"a": 1.0}, {"a": 1.0}).row("b") is None


def test_params_changed_added_removed() -> None:
    c = _cmp(
        {"a": 1.0},
        {"a": 1.0},
        head_params={"lr": 0.01, "depth": 5, "opt": "adam", "new": 1, "flag": True},
        base_params={"lr": 0.1, "depth": 5.0, "opt": "adam", "old": "x", "flag": 1},
    )
    assert [(p.name, p.status) for p in c.params] == [
        ("depth", "unchanged"),
        ("flag", "changed"),
        ("lr", "changed"),
        ("opt", "unchanged"),
        ("new", "added"),
        ("old", "removed"),
    ]
    assert [p.name for p in c.changed_params()] == ["flag", "lr", "new", "old"]
    lr = c.params[2]
    assert (lr.base, lr.head) == (0.1, 0.01)


def test_params_nan_equals_nan_and_none_values() -> None:
    rows = diff_params({"x": math.nan, "y": None}, {"x": math.nan, "y": 0})
    assert [(p.name, p.status) for p in rows] == [("x", "unchanged"), ("y", "changed")]


def test_params_not_diffed_without_both_sides() -> None:
    assert _cmp({"a": 1.0}, None, head_params={"lr": 1}).params == ()
    assert _cmp({"a": 1.0}, {"a": 1.0}, base_params={"lr": 1}).params == ()
    assert _cmp({"a": 1.0}, {"a": 1.0}).changed_params() == ()


def test_strict_json_keeps_non_finite_values_as_strings() -> None:
    c = _cmp(
        {"acc": 0.9, "nan": math.nan, "inf": math.inf, "new": 1.0, "r2": 0.1},
        {"acc": 0.8, "nan": 1.0, "inf": 2.0, "gone": -math.inf, "r2": 0.0},
        head_params={"lr": 0.1, "layers": 3},
        base_params={"lr": 0.2, "opt": None},
    )
    data = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["nan"]["head"] == "nan" and rows["gone"]["base"] == "-inf"
    assert rows["acc"]["delta"] == pytest.approx(0.1)
    assert {p["name"] for p in data["params"]} == {"lr", "layers", "opt"}


def test_nan_param_is_written_as_a_string() -> None:
    c = _cmp({}, {}, head_params={"p": math.nan}, base_params={"p": 1.0})
    data = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert data["params"][0]["head"] == "nan"


def test_json_without_baseline() -> None:
    data = _cmp({"a": 1.0}, None).to_dict()
    assert data["has_baseline"] is False and data["rows"][0]["status"] == "new"


def test_ten_thousand_metrics() -> None:
    head = {f"m{i:05d}": i * 0.5 for i in range(10_000)}
    base = {f"m{i:05d}": i * 0.5 + (0.1 if i % 3 == 0 else 0.0) for i in range(1, 10_001)}
    c = _cmp(head, base)
    assert len(c.rows) == 10_001
    assert c.rows[0].name == "m00001"
    assert c.rows[-2].status == "added" and c.rows[-2].name == "m00000"
    assert c.rows[-1].status == "removed" and c.rows[-1].name == "m10000"
    statuses = [r.status for r in c.rows[:-2]]
    assert statuses.count("worse") == sum(1 for i in range(1, 10_000) if i % 3 == 0)
    assert c.row("m05000") is c.rows[4999]
