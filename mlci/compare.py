"""Head against base: one row per metric (delta, relative delta, better or worse), params diffed.

Pure and stdlib-only, over frozen dataclasses: ``mlci gate`` and the report both read a
Comparison, and ``mlci gate`` must start fast.

JSON form (``to_dict``): NaN and infinities are written as the strings ``"nan"``,
``"inf"`` and ``"-inf"`` (``None`` already means "no value"), so the document passes
``json.dumps(allow_nan=False)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import isfinite

from mlci.record import json_safe

STATUSES = ("better", "worse", "unchanged", "added", "removed", "invalid", "new")
PARAM_STATUSES = ("changed", "added", "removed", "unchanged")


@dataclass(frozen=True)
class Row:
    """One metric on both sides. ``base`` is None when the metric is added or new."""

    name: str
    base: float | None
    head: float | None
    delta: float | None  # head - base; None unless both sides are finite
    rel_delta: float | None  # delta / abs(base); None when base is 0 or missing
    status: str
    higher_is_better: bool


@dataclass(frozen=True)
class ParamRow:
    name: str
    base: object
    head: object
    status: str


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    params: tuple[ParamRow, ...]
    has_baseline: bool
    _index: dict[str, Row] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {r.name: r for r in self.rows})

    def row(self, name: str) -> Row | None:
        return self._index.get(name)

    def changed_params(self) -> tuple[ParamRow, ...]:
        """What the report lists: params that differ, appeared or disappeared."""
        return tuple(p for p in self.params if p.status != "unchanged")

    def to_dict(self) -> dict[str, object]:
        return {
            "has_baseline": self.has_baseline,
            "rows": [_row_dict(r) for r in self.rows],
            "params": [_param_dict(p) for p in self.params],
        }


def compare(
    head: Mapping[str, float],
    base: Mapping[str, float] | None,
    *,
    higher_is_better: Callable[[str], bool],
    head_params: Mapping[str, object] | None = None,
    base_params: Mapping[str, object] | None = None,
    rel_tol: float = 1e-9,
) -> Comparison:
    """Rows: metrics on both sides in name order, then added, then removed.

    With no baseline (``base`` None) every row is "new"; a NaN or infinite value on
    either side makes a row "invalid", whatever else it is. Params are diffed only when
    both sides are given (None: nothing to diff against).
    """
    if base is None:
        rows = [_one_sided(n, None, head[n], higher_is_better(n), "new") for n in sorted(head)]
    else:
        both, added, removed = _split(head, base)
        rows = [_two_sided(n, base[n], head[n], higher_is_better(n), rel_tol) for n in both]
        rows += [_one_sided(n, None, head[n], higher_is_better(n), "added") for n in added]
        rows += [_one_sided(n, base[n], None, higher_is_better(n), "removed") for n in removed]
    params = (
        () if head_params is None or base_params is None else diff_params(head_params, base_params)
    )
    return Comparison(rows=tuple(rows), params=params, has_baseline=base is not None)


def _two_sided(name: str, base: float, head: float, hib: bool, rel_tol: float) -> Row:
    """Written for speed (a comparison may hold 10,000 metrics): no helper calls per row."""
    base, head = float(base), float(head)
    if not (isfinite(base) and isfinite(head)):
        return Row(name, base, head, None, None, "invalid", hib)
    delta = head - base
    size = abs(base)
    rel = delta / size if size else None
    if abs(delta) <= rel_tol * (size if size > 1.0 else 1.0):
        status = "unchanged"
    else:
        status = "better" if (delta > 0) == hib else "worse"
    return Row(name, base, head, delta, rel, status, hib)


def _one_sided(name: str, base: float | None, head: float | None, hib: bool, status: str) -> Row:
    base = None if base is None else float(base)
    head = None if head is None else float(head)
    value = head if base is None else base
    if value is not None and not isfinite(value):
        status = "invalid"
    return Row(name, base, head, None, None, status, hib)


def diff_params(head: Mapping[str, object], base: Mapping[str, object]) -> tuple[ParamRow, ...]:
    """Params in both sides in name order, then added, then removed, like metric rows."""
    both, added, removed = _split(head, base)
    rows = [
        ParamRow(n, base[n], head[n], "unchanged" if _same(base[n], head[n]) else "changed")
        for n in both
    ]
    rows += [ParamRow(n, None, head[n], "added") for n in added]
    rows += [ParamRow(n, base[n], None, "removed") for n in removed]
    return tuple(rows)


def _split(
    head: Mapping[str, object], base: Mapping[str, object]
) -> tuple[list[str], list[str], list[str]]:
    """Names in both, only in head, only in base: each sorted, so the order is stable."""
    both = sorted(n for n in head if n in base)
    added = sorted(n for n in head if n not in base)
    removed = sorted(n for n in base if n not in head)
    return both, added, removed


def _same(a: object, b: object) -> bool:
    """Equal as the user means it: True is not 1, 1 is 1.0, NaN is NaN."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


# --- JSON ----------------------------------------------------------------------------


def _row_dict(r: Row) -> dict[str, object]:
    return {
        "name": r.name,
        "base": json_safe(r.base),
        "head": json_safe(r.head),
        "delta": json_safe(r.delta),
        "rel_delta": json_safe(r.rel_delta),
        "status": r.status,
        "higher_is_better": r.higher_is_better,
    }


def _param_dict(p: ParamRow) -> dict[str, object]:
    return {
        "name": p.name,
        "base": json_safe(p.base),
        "head": json_safe(p.head),
        "status": p.status,
    }
