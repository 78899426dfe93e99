"""Base against head per metric, each bar scaled to its metric, with the change beside it:
metrics.png. Each function returns the path it wrote, or None when there is nothing to draw."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.patches import Patch

from mlci.report.plots.style import (
    BASE,
    DRAWABLE,
    HEAD,
    NEUTRAL,
    direction_color,
    figure,
    fmt,
    more_note,
    right_labels,
    save,
    short,
    signed,
    styled,
    tall,
)


@dataclass(frozen=True)
class _MetricRow:
    name: str
    base: float | None
    head: float | None
    higher_is_better: bool

    @property
    def delta(self) -> float | None:
        if self.base is None or self.head is None:
            return None
        return self.head - self.base

    @property
    def rel(self) -> float | None:
        delta = self.delta
        if delta is None or self.base == 0 or self.base is None:
            return None
        return delta / abs(self.base)

    def rank(self) -> float:
        """Largest relative change first; a change from 0 counts as infinite; no delta last."""
        if self.delta is None:
            return -1.0
        if self.rel is None:
            return math.inf if self.delta != 0 else 0.0
        return abs(self.rel)

    def label(self) -> str:
        if self.head is None:
            return "missing in head"
        if self.base is None:
            return "new"
        assert self.delta is not None
        rel = self.rel
        if self.delta == 0:
            return "no change"
        return signed(self.delta) + (f" ({_pct(rel)})" if rel is not None else " (base 0)")


def _finite(value: float | None) -> float | None:
    """A value the bars can show; infinities and numbers like 1e308 are left out."""
    return value if value is not None and abs(value) < DRAWABLE else None


def _pct(ratio: float) -> str:
    pct = ratio * 100
    digits = 0 if abs(pct) >= 100 else 1 if abs(pct) >= 1 else 2
    return f"{pct:+.{digits}f}%"


def metric_bars(
    rows: Sequence[tuple[str, float | None, float | None, bool]],
    out_dir: Path,
    *,
    limit: int = 20,
) -> Path | None:
    """Base vs head per metric, each scaled to its own max, with the change in a column.

    Metrics live on different scales (accuracy vs rmse), so bars are normalised per metric
    and the actual numbers are written on them. None when no metric has both sides.
    """
    items = _ranked_metrics(rows)
    if not any(r.delta is not None for r in items):
        return None
    shown = items[: max(1, limit)]
    with styled():
        fig = figure(tall(len(shown)))
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])
        _draw_values(left, shown)
        _draw_changes(right, shown)
        fig.suptitle("Metrics: head vs base", fontweight="bold")
        handles = [Patch(facecolor=BASE, label="base"), Patch(facecolor=HEAD, label="head")]
        fig.legend(handles=handles, loc="outside upper left", ncols=2)
        note = more_note(len(shown), len(items))
        if note:
            fig.supxlabel(note, fontsize=8, color=NEUTRAL)
        return save(fig, out_dir / "metrics.png")


def _ranked_metrics(
    rows: Sequence[tuple[str, float | None, float | None, bool]],
) -> list[_MetricRow]:
    """Drawable rows, the largest relative change first (ties by name, so stable)."""
    items = [_MetricRow(n, _finite(b), _finite(h), hib) for n, b, h, hib in rows]
    items = [r for r in items if r.base is not None or r.head is not None]
    return sorted(sorted(items, key=lambda r: r.name), key=lambda r: -r.rank())


def _draw_values(ax: Axes, rows: Sequence[_MetricRow]) -> None:
    lowest = 0.0
    for i, row in enumerate(rows):
        scale = max(abs(v) for v in (row.base, row.head) if v is not None) or 1.0
        for value, offset, color in ((row.base, -0.2, BASE), (row.head, 0.2, HEAD)):
            if value is None:
                continue
            x = value / scale
            lowest = min(lowest, x)
            ax.barh(i + offset, x, height=0.38, color=color)
            ax.text(max(x, 0) + 0.02, i + offset, fmt(value), va="center", fontsize=7.5)
    ax.set_yticks(range(len(rows)), [short(r.name, 28) for r in rows])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_xlim(lowest * 1.05 - (0.02 if lowest < 0 else 0), 1.3)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.set_xticks([])
    ax.grid(False)
    ax.set_xlabel("value (bars scaled per metric)")


def _draw_changes(ax: Axes, rows: Sequence[_MetricRow]) -> None:
    colors = []
    for i, row in enumerate(rows):
        delta = row.delta
        color = NEUTRAL if delta is None else direction_color(delta, row.higher_is_better)
        colors.append(color)
        if row.rel is not None:
            ax.barh(i, row.rel * 100, height=0.55, color=color)
    ax.set_yticks([])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    right_labels(ax, [r.label() for r in rows], colors)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("relative change, %  (green better, red worse)")
    limit = max((abs(r.rel) * 100 for r in rows if r.rel is not None), default=1.0) or 1.0
    ax.set_xlim(-limit * 1.1, limit * 1.1)
