"""Gate rules -> per-rule results -> the verdict whose exit code gates the merge.

Pure and stdlib-only, over frozen dataclasses: ``mlci gate`` imports this and must start
fast. Outcomes are values, never exceptions: a missing or NaN metric is a failed rule,
a rule that needs a baseline when there is none is skipped (the verdict still passes,
but the run is not blessed). Noise and slice checks are computed elsewhere and merged in
through ``evaluate(extra=...)``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mlci.config import Bound, GateRule
from mlci.numbers import prose
from mlci.record import json_safe

OUTCOMES = ("passed", "failed", "skipped")
_EPS = 1e-12  # relative: a drop exactly equal to the bound passes despite float rounding


@dataclass(frozen=True)
class Noise:
    """The paired test of a rule's metric: the interval of head - base, and its words."""

    low: float
    high: float
    text: str  # "within noise: -0.8 pp [-2.1, +0.4]"

    def real(self, kind: str) -> bool:
        """Is the change a real drop (max_drop) or a real rise (max_rise)?"""
        return self.high < 0 if kind == "max_drop" else self.low > 0


@dataclass(frozen=True)
class Check:
    """One bound of a rule. value/threshold, when known, let a renderer pick its precision."""

    bound: str  # "min" | "max" | "max_drop" | "max_rise", or what an extra check is called
    limit: str  # as written in mlci.yaml: "0.9", "2%"
    outcome: str
    reason: str
    value: float | None = None  # head for min/max, the drop or rise for max_drop/max_rise
    threshold: float | None = None  # the absolute limit value was held to

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"check outcome must be one of {', '.join(OUTCOMES)}: {self.outcome}")

    def to_dict(self) -> dict[str, object]:
        return {
            "bound": self.bound,
            "limit": self.limit,
            "outcome": self.outcome,
            "reason": self.reason,
            "value": json_safe(self.value),
            "threshold": json_safe(self.threshold),
        }


@dataclass(frozen=True)
class RuleResult:
    rule: GateRule
    metric: str
    base: float | None
    head: float | None
    outcome: str
    checks: tuple[Check, ...]
    reason: str  # one line a reviewer reads: why it failed, was skipped or passed

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "rule": _rule_dict(self.rule),
            "base": json_safe(self.base),
            "head": json_safe(self.head),
            "outcome": self.outcome,
            "reason": self.reason,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class Verdict:
    results: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        """No rule failed; skipped rules do not fail the verdict."""
        return self.failed == 0

    @property
    def blessed(self) -> bool:
        """Every rule passed and none was skipped: the model may be deployed."""
        return all(r.outcome == "passed" for r in self.results)

    @property
    def failed(self) -> int:
        return sum(r.outcome == "failed" for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(r.outcome == "skipped" for r in self.results)

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "blessed": self.blessed,
            "failed": self.failed,
            "skipped": self.skipped,
            "results": [r.to_dict() for r in self.results],
        }


def evaluate(
    rules: Sequence[GateRule],
    head: Mapping[str, float],
    base: Mapping[str, float] | None,
    *,
    sources: Mapping[str, str] | None = None,
    metric_files: Sequence[str] = (),
    extra: Mapping[int, Sequence[Check]] | None = None,
    noise: Mapping[int, Noise | str] | None = None,
    precision: int = 4,
) -> Verdict:
    """Every rule against head (and base for max_drop/max_rise).

    ``sources`` maps a metric to the file it was read from (named in NaN messages);
    ``metric_files`` are the files a missing metric was looked for in; ``extra`` maps a
    rule's index to checks computed elsewhere (slices), merged into its result; ``noise``
    maps a rule with ``noise:`` to its paired test, or to why there is none (the rule then
    falls back to the plain bound and says so); ``precision`` is the digits after the
    point of the numbers in the reasons (mlci.yaml's `precision`).
    """
    extra, noise = extra or {}, noise or {}
    return Verdict(
        tuple(
            _with_noise(
                _evaluate_rule(
                    rule,
                    head,
                    base,
                    sources or {},
                    metric_files,
                    tuple(extra.get(i, ())),
                    precision,
                ),
                noise.get(i),
            )
            for i, rule in enumerate(rules)
        )
    )


def _with_noise(result: RuleResult, noise: Noise | str | None) -> RuleResult:
    """A max_drop/max_rise breach fails only when the paired test shows the change is real."""
    if result.rule.noise is None or noise is None:
        return result
    checks = []
    for c in result.checks:
        if c.bound not in ("max_drop", "max_rise") or c.outcome == "skipped":
            checks.append(c)
        elif isinstance(noise, str):
            checks.append(replace(c, reason=f"{c.reason} (plain bound: {noise})"))
        elif c.outcome == "failed" and c.value is not None and not noise.real(c.bound):
            checks.append(replace(c, outcome="passed", reason=f"{c.reason}, but {noise.text}"))
        else:
            checks.append(replace(c, reason=f"{c.reason}; {noise.text}"))
    outcome = _outcome(checks)
    reason = result.reason if result.head is None else _reason(outcome, checks)
    return replace(result, checks=tuple(checks), outcome=outcome, reason=reason)


def _evaluate_rule(
    rule: GateRule,
    head: Mapping[str, float],
    base: Mapping[str, float] | None,
    sources: Mapping[str, str],
    metric_files: Sequence[str],
    extra: tuple[Check, ...],
    precision: int,
) -> RuleResult:
    name = rule.metric
    value = head.get(name)
    base_value = None if base is None else base.get(name)
    problem = None
    if value is None:
        problem = _missing(name, head, metric_files)
    elif not math.isfinite(value):
        where = f" in {sources[name]}" if name in sources else ""
        problem = f"{name} is {_non_finite(value)}{where}"
    if problem is not None:
        checks = tuple(Check(b, lim, "failed", problem) for b, lim, _ in _bounds(rule))
    else:
        assert value is not None
        checks = tuple(
            _check(b, lim, spec, value, base, base_value, name, precision)
            for b, lim, spec in _bounds(rule)
        )
    checks += extra
    outcome = _outcome(checks)
    reason = problem if problem is not None else _reason(outcome, checks)
    return RuleResult(rule, name, base_value, value, outcome, checks, reason)


def _bounds(rule: GateRule) -> list[tuple[str, str, float | Bound]]:
    """The rule's bounds in a fixed order, each with its limit as written."""
    out: list[tuple[str, str, float | Bound]] = []
    for kind in ("min", "max", "max_drop", "max_rise"):
        spec = getattr(rule, kind)
        if spec is not None:
            out.append((kind, _limit(spec), spec))
    return out


def _check(
    kind: str,
    limit: str,
    spec: float | Bound,
    value: float,
    base: Mapping[str, float] | None,
    base_value: float | None,
    name: str,
    precision: int,
) -> Check:
    if isinstance(spec, Bound):
        return _relative(kind, limit, spec, value, base, base_value, name, precision)
    ok = not breaks(kind, spec, value, 0.0)[0]
    sign = (">=" if ok else "<") if kind == "min" else ("<=" if ok else ">")
    shown, _ = _pair(value, spec, precision)
    return Check(kind, limit, "passed" if ok else "failed", f"{shown} {sign} {limit}", value, spec)


def _relative(
    kind: str,
    limit: str,
    bound: Bound,
    value: float,
    base: Mapping[str, float] | None,
    base_value: float | None,
    name: str,
    precision: int,
) -> Check:
    """max_drop fails when base - head > amount, max_rise when head - base > amount."""
    if base is None:
        return Check(kind, limit, "skipped", "no baseline to compare with")
    if base_value is None:
        return Check(kind, limit, "skipped", f"{name} is not in the baseline")
    if not math.isfinite(base_value):
        return Check(kind, limit, "failed", f"baseline {name} is {_non_finite(base_value)}")
    broken, change, amount = breaks(kind, bound, value, base_value)
    word = "drop" if kind == "max_drop" else "rise"
    ok = not broken
    if change <= 0:
        reason = f"no {word} ({prose(base_value, precision)} -> {prose(value, precision)})"
    else:
        of = f" ({_limit(bound)} of {prose(base_value, precision)})" if bound.relative else ""
        a, b = _pair(change, amount, precision)
        reason = f"{word} {a} {'<=' if ok else '>'} {b}{of}"
    return Check(kind, limit, "passed" if ok else "failed", reason, change, amount)


def breaks(
    kind: str, spec: float | Bound, value: float, base_value: float
) -> tuple[bool, float, float]:
    """(broken, measured, limit): the one place a bound is decided, for a metric and for
    each of its slices. min and max measure the value; max_drop and max_rise the change
    from base_value. A value exactly on the bound passes despite float rounding."""
    if isinstance(spec, Bound):
        amount = spec.amount(base_value)
        change = base_value - value if kind == "max_drop" else value - base_value
        return change > amount + _EPS * max(abs(base_value), abs(value)), change, amount
    tol = _EPS * max(abs(value), abs(spec))
    return (value < spec - tol if kind == "min" else value > spec + tol), value, spec


def _missing(name: str, head: Mapping[str, float], metric_files: Sequence[str]) -> str:
    files = ", ".join(metric_files) if metric_files else "the head's metrics"
    text = f"metric '{name}' not found in {files}"
    if not head:
        return text + " (no metrics were read)"
    close = difflib.get_close_matches(name, list(head), n=3)
    if close:
        return text + "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if len(head) <= 8:
        return text + "; it has " + ", ".join(sorted(head))
    return text


def _outcome(checks: Sequence[Check]) -> str:
    outcomes = {c.outcome for c in checks}
    return next((o for o in ("failed", "skipped") if o in outcomes), "passed")


def _reason(outcome: str, checks: Sequence[Check]) -> str:
    if outcome == "passed":
        return "; ".join(c.reason for c in checks)
    picked = [c for c in checks if c.outcome == outcome]
    if outcome == "skipped":
        return "; ".join(f"{c.bound}: {c.reason}" for c in picked)
    return "; ".join(c.reason for c in picked)


def _non_finite(value: float) -> str:
    return "NaN" if math.isnan(value) else "infinite"


def _pair(value: float, limit: float, precision: int) -> tuple[str, str]:
    """Both at the report's precision, with more digits only if unequal ones print the same."""
    for digits in (precision, precision + 2, precision + 4, 12, 17):
        a, b = prose(value, digits), prose(limit, digits)
        if a != b or value == limit:
            return a, b
    return a, b


def _limit(spec: float | Bound) -> str:
    if isinstance(spec, Bound):
        return f"{spec.value:.12g}%" if spec.relative else f"{spec.value:.12g}"
    return f"{spec:.12g}"


# --- JSON ----------------------------------------------------------------------------


def _bound_json(bound: Bound | None) -> object:
    if bound is None:
        return None
    return f"{bound.value:.17g}%" if bound.relative else bound.value


def _rule_dict(rule: GateRule) -> dict[str, object]:
    return {
        "metric": rule.metric,
        "min": rule.min,
        "max": rule.max,
        "max_drop": _bound_json(rule.max_drop),
        "max_rise": _bound_json(rule.max_rise),
        "noise": rule.noise,
        "slices": list(rule.slices),
        "min_slice_size": rule.min_slice_size,
        "line": rule.line,
    }
