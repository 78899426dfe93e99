"""The per-example evidence behind `noise:` and `slices:` rules, from the predictions of
head and baseline: a paired test per rule and the rule evaluated on every slice.

Light itself, as the report imports its values: numpy, pandas and scipy come with the
paired tests, imported only when a rule asks for them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlci.config import Config, GateRule
from mlci.errors import MetricsError
from mlci.judge.gates import Check, Noise, breaks
from mlci.record import RunRecord
from mlci.sources.registry import PROPORTIONS

if TYPE_CHECKING:
    import pandas as pd

    from mlci.judge.slices import SliceResult


_SAVED_FORM = 2  # of to_json's output: a last.json saved in another form is recomputed


@dataclass(frozen=True)
class SliceRow:
    """One slice of a rule: its numbers, why it breaks the rule and what its test found."""

    column: str
    value: str
    n: int
    base: float | None  # None: the baseline has no predictions
    head: float
    delta: float
    gated: bool  # n >= min_slice_size
    reason: str  # why it breaks the rule, '' when it holds (or is too small to gate)
    test: str  # the paired test's words, or why there is none; '' when noise is not asked
    low: float | None = None  # the paired test's interval of head - base
    high: float | None = None
    p_adjusted: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """For result.json and the plots: non-finite numbers as null."""
        return {
            "label": f"{self.column}={self.value}",
            "column": self.column,
            "value": self.value,
            "n": self.n,
            "base": _finite(self.base),
            "head": _finite(self.head),
            "delta": _finite(self.delta),
            "gated": self.gated,
            "failed": bool(self.reason),
            "reason": self.reason,
            "low": _finite(self.low),
            "high": _finite(self.high),
            "p_adjusted": self.p_adjusted,
        }


@dataclass(frozen=True)
class SliceTable:
    """Per-slice results of one rule, worst first."""

    title: str
    metric: str
    rows: tuple[SliceRow, ...]
    min_size: int  # smaller slices are shown, not gated
    failed: int = 0

    @property
    def data(self) -> tuple[dict[str, Any], ...]:
        return tuple(r.to_dict() for r in self.rows)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class Evidence:
    noise: dict[int, Noise | str] = field(default_factory=dict)
    extra: dict[int, list[Check]] = field(default_factory=dict)
    slices: tuple[SliceTable, ...] = ()


def needed(config: Config) -> bool:
    return any(r.noise is not None or r.slices for r in config.gates)


def rules_key(config: Config) -> str:
    """What the evidence depends on in mlci.yaml: the rules (lines aside), directions and
    the precision its words are written with; and the form it is saved in."""
    rules = [{**dataclasses.asdict(r), "line": 0} for r in config.gates]
    directions = {r.metric: config.higher_is_better(r.metric) for r in config.gates}
    return json.dumps(
        [rules, directions, config.precision, _SAVED_FORM], sort_keys=True, default=str
    )


def to_json(found: Evidence) -> dict[str, Any]:
    """For last.json, so `mlci gate` can reuse it without loading pandas and scipy."""
    return {
        "noise": {
            str(i): n if isinstance(n, str) else dataclasses.asdict(n)
            for i, n in found.noise.items()
        },
        "extra": {str(i): [c.to_dict() for c in checks] for i, checks in found.extra.items()},
        "slices": [dataclasses.asdict(t) for t in found.slices],
    }


def from_json(data: Mapping[str, Any]) -> Evidence:
    noise: dict[int, Noise | str] = {
        int(i): n if isinstance(n, str) else Noise(**n) for i, n in data["noise"].items()
    }
    extra = {int(i): [_check(c) for c in checks] for i, checks in data["extra"].items()}
    slices = tuple(
        SliceTable(
            title=t["title"],
            metric=t["metric"],
            rows=tuple(SliceRow(**r) for r in t["rows"]),
            min_size=int(t["min_size"]),
            failed=int(t["failed"]),
        )
        for t in data["slices"]
    )
    return Evidence(noise=noise, extra=extra, slices=slices)


def _check(d: Mapping[str, Any]) -> Check:
    return Check(
        bound=d["bound"],
        limit=d["limit"],
        outcome=d["outcome"],
        reason=d["reason"],
        value=d.get("value"),
        threshold=d.get("threshold"),
    )


def collect(config: Config, head: RunRecord, base: RunRecord | None) -> Evidence:
    """Paired tests and slice checks for every rule that asks for them."""
    pair = _pair(head, base)
    noise: dict[int, Noise | str] = {}
    extra: dict[int, list[Check]] = {}
    tables: list[SliceTable] = []
    for i, rule in enumerate(config.gates):
        if rule.noise is None and not rule.slices:
            continue
        missing = _why_not(rule, head, pair)
        if rule.noise is not None:
            noise[i] = missing or _paired(rule, pair, config)
        if not rule.slices:
            continue
        if missing is not None and _absolute(rule) and pair is not None:
            missing = _head_only(rule, pair)  # min/max per slice need only the head
        if missing is not None or pair is None:
            extra[i] = [Check("slices", ", ".join(rule.slices), "skipped", missing or "")]
        else:
            check, table = _slices(rule, pair, config)
            extra[i] = [check]
            if table is not None:
                tables.append(table)
    return Evidence(noise=noise, extra=extra, slices=tuple(tables))


@dataclass(frozen=True)
class _Pair:
    """Base and head predictions on the same examples, and the files they came from.

    `base` is None when only the head has predictions (enough for min/max slices)."""

    base: pd.DataFrame | None
    head: pd.DataFrame
    base_name: str
    head_name: str


def _absolute(rule: GateRule) -> bool:
    """Only min/max bounds: the head alone decides."""
    return rule.max_drop is None and rule.max_rise is None


def _pair(head: RunRecord, base: RunRecord | None) -> _Pair | None:
    from mlci.judge.align import align
    from mlci.sources import predictions

    hp = head.predictions_path
    bp = base.predictions_path if base is not None else None
    if hp is None:
        return None
    if bp is None:
        return _Pair(None, predictions.load(hp, side="head"), "", str(hp))
    b, h = align(
        predictions.load(bp, side="base"),
        predictions.load(hp, side="head"),
        base_name=str(bp),
        head_name=str(hp),
    )
    return _Pair(base=b, head=h, base_name=str(bp), head_name=str(hp))


def _why_not(rule: GateRule, head: RunRecord, pair: _Pair | None) -> str | None:
    from mlci.judge.values import unsupported

    if pair is None or pair.base is None:
        side = "the head" if pair is None else "the baseline"
        return f"no predictions for {side} (train.predictions)"
    reason = unsupported(rule.metric, pair.head)
    if reason is not None:
        return f"{rule.metric} cannot be computed from the predictions: {reason}"
    return None


def _head_only(rule: GateRule, pair: _Pair) -> str | None:
    from mlci.judge.values import unsupported

    reason = unsupported(rule.metric, pair.head)
    return None if reason is None else f"{rule.metric} cannot be computed: {reason}"


def _paired(rule: GateRule, pair: _Pair | None, config: Config) -> Noise | str:
    """The one-sided test in the direction of the bound, or why the plain bound decides."""
    from mlci.judge import paired

    assert rule.noise is not None and pair is not None and pair.base is not None
    if len(pair.head) < paired.MIN_EXAMPLES:
        return f"{len(pair.head)} examples are too few to test (fewer than {paired.MIN_EXAMPLES})"
    side = "greater" if rule.max_drop is None else "less"  # the same interval either way
    test = paired.paired_test(
        rule.metric, pair.base, pair.head, confidence=rule.noise, alternative=side
    )
    higher = config.higher_is_better(rule.metric)
    pp = rule.metric in PROPORTIONS
    text = test.describe(higher, percent_points=pp, precision=config.precision)
    how = f"{test.method}, one-sided {100 * rule.noise:g}%, n={test.n}"
    return Noise(low=test.low, high=test.high, text=f"{text} ({how})")


def _direction(rule: GateRule) -> str:
    """max_drop asks "is head lower?", max_rise "is head higher?"; both: either side."""
    if rule.max_rise is None:
        return "less"
    return "greater" if rule.max_drop is None else "two-sided"


def _slices(rule: GateRule, pair: _Pair, config: Config) -> tuple[Check, SliceTable | None]:
    """The rule on every slice big enough to gate; one check that names the failing ones."""
    from mlci.judge.slices import slice_table

    higher = config.higher_is_better(rule.metric)
    label = ", ".join(rule.slices)
    try:
        rows = slice_table(
            rule.metric,
            pair.base,
            pair.head,
            rule.slices,
            min_size=rule.min_slice_size,
            confidence=rule.noise,
            alternative=_direction(rule),
            higher_is_better=higher,
            base_name=pair.base_name,
            head_name=pair.head_name,
        )
    except MetricsError as e:  # a slice column that is not there: the rule fails, and says so
        return Check("slices", label, "failed", e.sentence()), None
    pp = rule.metric in PROPORTIONS
    verdicts = [_slice_verdict(rule, r, higher, config.precision) for r in rows]
    failing = [(r, why) for r, why in zip(rows, verdicts, strict=True) if why]
    check = _slices_check(rule, label, failing, len(rows), sum(1 for r in rows if r.gated))
    table = SliceTable(
        title=f"{rule.metric} by {label}",
        metric=rule.metric,
        rows=tuple(
            _row(r, why, pp, config.precision, rule, higher, pair.base is not None)
            for r, why in zip(rows, verdicts, strict=True)
        ),
        min_size=rule.min_slice_size,
        failed=len(failing),
    )
    return check, table


def _slices_check(
    rule: GateRule, label: str, failing: list[tuple[SliceResult, str]], total: int, gated: int
) -> Check:
    """One check for all the slices: the first failing ones, or why none could fail."""
    if failing:
        worst = "; ".join(f"{r.column}={r.value}: {why}" for r, why in failing[:3])
        more = f" (+{len(failing) - 3} more)" if len(failing) > 3 else ""
        return Check(
            "slices", label, "failed", f"{len(failing)} of {gated} slices fail: {worst}{more}"
        )
    if gated == 0:
        return Check(
            "slices",
            label,
            "skipped",
            f"every slice is smaller than min_slice_size ({rule.min_slice_size})",
        )
    small = total - gated
    note = f", {small} too small to gate (n < {rule.min_slice_size})" if small else ""
    return Check("slices", label, "passed", f"all {gated} slices pass{note}")


def _slice_verdict(rule: GateRule, r: SliceResult, higher: bool, precision: int) -> str:
    """Why this slice breaks the rule, or '' when it holds (or is too small to gate)."""
    if not r.gated:
        return ""
    if not math.isfinite(r.head) or not (math.isfinite(r.base) or _absolute(rule)):
        return f"{rule.metric} cannot be computed on this slice"
    if rule.min is not None and breaks("min", rule.min, r.head, r.base)[0]:
        return f"{r.head:.{precision}f} < {rule.min:g}"
    if rule.max is not None and breaks("max", rule.max, r.head, r.base)[0]:
        return f"{r.head:.{precision}f} > {rule.max:g}"
    for kind, bound in (("max_drop", rule.max_drop), ("max_rise", rule.max_rise)):
        if bound is None:
            continue
        broken, change, _ = breaks(kind, bound, r.head, r.base)
        if broken:
            real = r.paired is None or (
                r.paired.high < 0 if kind == "max_drop" else r.paired.low > 0
            )
            if rule.noise is None or real:
                word = "drop" if kind == "max_drop" else "rise"
                plain = " (plain bound: too few to test)" if rule.noise and not r.paired else ""
                return f"{word} {change:.{precision}f} > {bound}{plain}"
    return ""


def _row(
    r: SliceResult,
    why: str,
    pp: bool,
    precision: int,
    rule: GateRule,
    higher: bool,
    has_base: bool,
) -> SliceRow:
    from mlci.judge import paired

    test = ""
    if r.paired is not None:
        test = r.paired.describe(higher, pp, precision)
    elif rule.noise is not None and r.gated and has_base and not why:
        test = f"plain bound: too few to test (n < {paired.MIN_EXAMPLES})"
    return SliceRow(
        column=r.column,
        value=r.value,
        n=r.n,
        base=r.base if has_base else None,
        head=r.head,
        delta=r.delta,
        gated=r.gated,
        reason=why,
        test=test,
        low=r.paired.low if r.paired else None,
        high=r.paired.high if r.paired else None,
        p_adjusted=r.adjusted_p,
    )
