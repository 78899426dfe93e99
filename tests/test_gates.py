"""evaluate(): every bound, the exact boundary, no baseline, missing and NaN metrics."""

from __future__ import annotations

import json
import math

import pytest

from mlci.config import Bound, GateRule
from mlci.judge.gates import Check, RuleResult, Verdict, evaluate
from mlci.report.rules import format_rules


def _one(
    rule: GateRule, head: dict[str, float], base: dict[str, float] | None, **kw: object
) -> RuleResult:
    verdict = evaluate([rule], head, base, **kw)  # type: ignore[arg-type]
    assert len(verdict.results) == 1
    return verdict.results[0]


def _outcome(rule: GateRule, head: float, base: float | None = None) -> str:
    name = rule.metric
    return _one(rule, {name: head}, None if base is None else {name: base}).outcome


# --- absolute bounds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "outcome"), [(0.95, "passed"), (0.9, "passed"), (0.8999, "failed"), (-1.0, "failed")]
)
def test_min(head: float, outcome: str) -> None:
    assert _outcome(GateRule("accuracy", min=0.9), head) == outcome


@pytest.mark.parametrize(
    ("head", "outcome"), [(0.2, "passed"), (0.25, "passed"), (0.2501, "failed")]
)
def test_max(head: float, outcome: str) -> None:
    assert _outcome(GateRule("rmse", max=0.25), head) == outcome


def test_min_boundary_with_float_rounding_passes() -> None:
    assert _outcome(GateRule("accuracy", min=0.3), 0.1 + 0.2) == "passed"
    assert _outcome(GateRule("accuracy", max=0.3), 0.1 + 0.2) == "passed"


def test_min_and_max_need_no_baseline() -> None:
    result = _one(GateRule("accuracy", min=0.9, max=1.0), {"accuracy": 0.912}, None)
    assert result.outcome == "passed"
    assert [c.reason for c in result.checks] == ["0.912 >= 0.9", "0.912 <= 1"]
    assert result.reason == "0.912 >= 0.9; 0.912 <= 1"


def test_min_failure_reason() -> None:
    result = _one(GateRule("accuracy", min=0.9), {"accuracy": 0.85}, None)
    assert result.outcome == "failed"
    assert result.checks[0] == Check("min", "0.9", "failed", "0.85 < 0.9", 0.85, 0.9)
    assert result.reason == "0.85 < 0.9"


# --- bounds against the baseline ------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "base", "outcome"),
    [
        (0.95, 0.95, "passed"),
        (0.96, 0.95, "passed"),  # a rise is no drop
        (0.94, 0.95, "passed"),  # drop exactly 0.01: 0.95 - 0.94 is 0.010000000000000009
        (0.9399, 0.95, "failed"),
        (0.5, 0.95, "failed"),
    ],
)
def test_max_drop_absolute(head: float, base: float, outcome: str) -> None:
    assert _outcome(GateRule("accuracy", max_drop=Bound(0.01)), head, base) == outcome


@pytest.mark.parametrize(
    ("head", "base", "outcome"),
    [
        (0.30, 0.30, "passed"),
        (0.20, 0.30, "passed"),  # a drop is no rise
        (0.31, 0.30, "passed"),  # rise exactly 0.01
        (0.3101, 0.30, "failed"),
    ],
)
def test_max_rise_absolute(head: float, base: float, outcome: str) -> None:
    assert _outcome(GateRule("rmse", max_rise=Bound(0.01)), head, base) == outcome


@pytest.mark.parametrize(
    ("head", "outcome"), [(98.0, "passed"), (98.01, "passed"), (97.99, "failed"), (120.0, "passed")]
)
def test_max_drop_percent(head: float, outcome: str) -> None:
    # 2% of 100 is 2: a drop to 98 is exactly the bound
    assert _outcome(GateRule("score", max_drop=Bound(2, relative=True)), head, 100.0) == outcome


@pytest.mark.parametrize(("head", "outcome"), [(105.0, "passed"), (105.01, "failed")])
def test_max_rise_percent(head: float, outcome: str) -> None:
    assert _outcome(GateRule("latency", max_rise=Bound(5, relative=True)), head, 100.0) == outcome


def test_percent_of_a_negative_base_uses_its_size() -> None:
    rule = GateRule("score", max_drop=Bound(10, relative=True))
    assert _outcome(rule, -10.9, -10.0) == "passed"  # drop 0.9 <= 10% of |-10|
    assert _outcome(rule, -11.1, -10.0) == "failed"


def test_max_drop_is_literal_for_a_lower_is_better_metric() -> None:
    """max_drop bounds head < base whatever the direction: an rmse that falls is a 'drop'."""
    rule = GateRule("rmse", max_drop=Bound(0.01))
    assert _outcome(rule, 0.40, 0.50) == "failed"  # rmse improved by 0.1, but dropped
    assert _outcome(rule, 0.60, 0.50) == "passed"  # rmse got worse: no drop
    assert _outcome(GateRule("rmse", max_rise=Bound(0.01)), 0.60, 0.50) == "failed"


def test_percent_bound_with_zero_base() -> None:
    rule = GateRule("errors", max_rise=Bound(10, relative=True))
    assert _outcome(rule, 0.0, 0.0) == "passed"  # no change is within 10% of 0
    result = _one(rule, {"errors": 1.0}, {"errors": 0.0})
    assert result.outcome == "failed"
    assert result.reason == "rise 1 > 0 (10% of 0)"


def test_drop_reasons() -> None:
    fail = _one(
        GateRule("accuracy", max_drop=Bound(2, relative=True)),
        {"accuracy": 0.919},
        {"accuracy": 0.95},
    )
    assert fail.reason == "drop 0.031 > 0.019 (2% of 0.95)"
    assert fail.checks[0].limit == "2%"
    assert fail.checks[0].value == pytest.approx(0.031)
    assert fail.checks[0].threshold == pytest.approx(0.019)
    ok = _one(GateRule("accuracy", max_drop=Bound(0.01)), {"accuracy": 0.945}, {"accuracy": 0.95})
    assert ok.reason == "drop 0.005 <= 0.01"
    up = _one(GateRule("accuracy", max_drop=Bound(0.01)), {"accuracy": 0.96}, {"accuracy": 0.95})
    assert up.reason == "no drop (0.95 -> 0.96)"


def test_a_near_miss_prints_differently_from_its_limit() -> None:
    result = _one(GateRule("a", max_drop=Bound(0.01)), {"a": 0.9399999}, {"a": 0.95})
    assert result.outcome == "failed"
    assert result.reason.startswith("drop 0.0100001 > 0.01")


# --- no baseline -----------------------------------------------------------------------


def test_no_baseline_skips_relative_bounds() -> None:
    rule = GateRule("accuracy", max_drop=Bound(0.01), max_rise=Bound(2, relative=True))
    verdict = evaluate([rule], {"accuracy": 0.9}, None)
    result = verdict.results[0]
    assert result.outcome == "skipped"
    assert [c.outcome for c in result.checks] == ["skipped", "skipped"]
    assert result.checks[0].reason == "no baseline to compare with"
    assert "max_drop: no baseline" in result.reason and "max_rise" in result.reason
    assert verdict.passed and not verdict.blessed
    assert (verdict.failed, verdict.skipped) == (0, 1)


def test_metric_missing_from_the_baseline_is_skipped() -> None:
    result = _one(GateRule("f1", max_drop=Bound(0.01)), {"f1": 0.9}, {"accuracy": 0.9})
    assert result.outcome == "skipped"
    assert result.reason == "max_drop: f1 is not in the baseline"
    assert result.base is None


def test_absolute_bound_still_decides_when_the_relative_one_is_skipped() -> None:
    rule = GateRule("accuracy", min=0.9, max_drop=Bound(0.01))
    assert _outcome(rule, 0.95) == "skipped"
    failed = _one(rule, {"accuracy": 0.85}, None)
    assert failed.outcome == "failed"  # a failed check wins over a skipped one
    assert failed.reason == "0.85 < 0.9"


# --- missing and non-finite metrics ------------------------------------------------------


def test_missing_metric_fails_with_file_and_did_you_mean() -> None:
    head = {"accuracy": 0.9, "f1_macro": 0.8, "roc_auc": 0.95}
    result = _one(
        GateRule("acuracy", min=0.9, max_drop=Bound(0.01)),
        head,
        head,
        metric_files=["metrics.json", "eval.yaml"],
    )
    assert result.outcome == "failed"
    assert result.head is None
    assert "'acuracy'" in result.reason
    assert "metrics.json, eval.yaml" in result.reason
    assert "did you mean 'accuracy'?" in result.reason
    assert all(c.outcome == "failed" for c in result.checks) and len(result.checks) == 2


def test_missing_metric_without_close_match_lists_the_few_there_are() -> None:
    result = _one(
        GateRule("latency", max=1.0), {"accuracy": 0.9, "f1": 0.8}, None, metric_files=["m.json"]
    )
    assert result.reason == "metric 'latency' not found in m.json; it has accuracy, f1"
    many = {f"zz{i}": 1.0 for i in range(20)}
    assert _one(GateRule("latency", max=1.0), many, None).reason == (
        "metric 'latency' not found in the head's metrics"
    )
    assert "no metrics were read" in _one(GateRule("a", min=0), {}, None).reason


@pytest.mark.parametrize(
    ("value", "word"), [(math.nan, "NaN"), (math.inf, "infinite"), (-math.inf, "infinite")]
)
def test_non_finite_head_fails(value: float, word: str) -> None:
    result = _one(
        GateRule("loss", max=1.0, max_rise=Bound(0.1)),
        {"loss": value},
        {"loss": 0.5},
        sources={"loss": "metrics.json"},
    )
    assert result.outcome == "failed"
    assert result.reason == f"loss is {word} in metrics.json"
    assert all(c.outcome == "failed" for c in result.checks)


def test_non_finite_base_fails_relative_bounds_only() -> None:
    rule = GateRule("accuracy", min=0.5, max_drop=Bound(1, relative=True))
    result = _one(rule, {"accuracy": 0.9}, {"accuracy": math.nan})
    assert result.outcome == "failed"
    assert [c.outcome for c in result.checks] == ["passed", "failed"]
    assert result.reason == "baseline accuracy is NaN"
    assert _outcome(GateRule("accuracy", min=0.5), 0.9, math.inf) == "passed"


# --- extra checks, verdict ---------------------------------------------------------------


def test_extra_checks_merge_into_their_rule() -> None:
    rules = [GateRule("a", min=0.0), GateRule("b", min=0.0)]
    noise = Check("noise", "0.95", "failed", "drop is significant: CI [-0.04, -0.01]")
    verdict = evaluate(rules, {"a": 1.0, "b": 1.0}, None, extra={1: [noise]})
    assert verdict.results[0].outcome == "passed"
    assert verdict.results[1].outcome == "failed"
    assert verdict.results[1].checks[-1] == noise
    assert verdict.results[1].reason == noise.reason
    assert not verdict.passed and verdict.failed == 1


def test_check_rejects_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="outcome"):
        Check("min", "1", "ok", "")


def test_verdict_counts() -> None:
    rules = [GateRule("a", min=0.5), GateRule("b", min=0.5), GateRule("c", max_drop=Bound(1))]
    verdict = evaluate(rules, {"a": 1.0, "b": 0.0, "c": 1.0}, None)
    assert [r.outcome for r in verdict.results] == ["passed", "failed", "skipped"]
    assert (verdict.passed, verdict.blessed, verdict.failed, verdict.skipped) == (
        False,
        False,
        1,
        1,
    )
    good = evaluate(rules[:1], {"a": 1.0}, None)
    assert good.passed and good.blessed
    empty = evaluate([], {}, None)
    assert empty.passed and empty.blessed


def test_verdict_round_trip_through_strict_json() -> None:
    rules = [
        GateRule(
            "accuracy",
            min=0.9,
            max_drop=Bound(2.5, relative=True),
            noise=0.95,
            slices=("sex",),
            min_slice_size=10,
            line=7,
        ),
        GateRule("loss", max=1.0, max_rise=Bound(0.1)),
        GateRule("missing", min=0.0),
        GateRule("f1", max_drop=Bound(0.01)),
    ]
    head = {"accuracy": 0.91, "loss": math.nan, "f1": 0.8}
    verdict = evaluate(rules, head, {"accuracy": 0.95, "loss": math.inf}, metric_files=["m.json"])
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    counts = (data["passed"], data["blessed"], data["failed"], data["skipped"])
    assert counts == (False, False, 3, 1)
    assert data["results"][0]["rule"]["max_drop"] == "2.5%"
    assert data["results"][1]["head"] == "nan"
    assert data["results"][0]["rule"]["line"] == rules[0].line


# --- terminal listing --------------------------------------------------------------------


def test_format_rules() -> None:
    rules = [
        GateRule("accuracy", min=0.9),
        GateRule("f1", max_drop=Bound(0.01)),
        GateRule("auc", max_drop=Bound(2, relative=True)),
        GateRule("acuracy", min=0.9),
        GateRule("loss", max=1.0),
        GateRule("rmse", min=0.0, max_rise=Bound(0.1)),
    ]
    head = {"accuracy": 0.9123, "f1": 0.769, "auc": 0.90, "loss": math.nan, "rmse": 0.3}
    base = {"accuracy": 0.9, "f1": 0.8, "auc": 0.95}
    lines = format_rules(evaluate(rules, head, base, metric_files=["metrics.json"])).splitlines()
    assert lines == [
        "PASS accuracy >= 0.9 (0.9123)",
        "FAIL f1: drop 0.0310 > 0.01",
        "FAIL auc: drop 0.0500 > 2% (0.0190)",
        "FAIL acuracy: metric 'acuracy' not found in metrics.json;"
        " did you mean 'accuracy' or 'auc'?",
        "FAIL loss: loss is NaN",
        "SKIP rmse max_rise: rmse is not in the baseline",
        "1 passed, 4 failed, 1 skipped",
    ]


def test_format_rules_precision_skip_and_several_bounds() -> None:
    rules = [GateRule("acc", min=0.5, max_drop=Bound(0.01), max_rise=Bound(0.2))]
    assert format_rules(evaluate(rules, {"acc": 0.91234}, None), precision=2).splitlines() == [
        "SKIP acc max_drop, max_rise: no baseline to compare with",
        "0 passed, 0 failed, 1 skipped",
    ]
    passed = format_rules(evaluate(rules, {"acc": 0.91234}, {"acc": 0.9}), precision=2)
    assert passed.splitlines()[0] == "PASS acc >= 0.5, drop <= 0.01, rise <= 0.2 (0.91)"
    both = format_rules(evaluate(rules, {"acc": 0.4}, {"acc": 0.9}), precision=1)
    assert both.splitlines()[0] == "FAIL acc: 0.4 < 0.5; drop 0.5 > 0.01"


def test_format_rules_with_no_rules() -> None:
    assert format_rules(Verdict(())) == "0 passed, 0 failed, 0 skipped"
