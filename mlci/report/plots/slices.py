"""The change of one metric per slice of the data, failed slices first: slices-<metric>.png."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes

from mlci.report.plots.style import (
    NEUTRAL,
    WORSE,
    WORSE_LIGHT,
    direction_color,
    figure,
    more_note,
    nan_if_huge,
    right_labels,
    save,
    short,
    signed,
    slug,
    styled,
    tall,
)


def slice_deltas(
    rows: Sequence[tuple[str, float, int, bool]],
    metric: str,
    out_dir: Path,
    *,
    limit: int = 30,
    higher_is_better: bool = True,
) -> Path | None:
    """The change (head - base) of one metric per slice, failed first, then worst first.

    Bars are red for a slice whose gate failed, pale red for worse but passing, green for
    better; the numbers sit in a column on the right so that they never cover a bar.
    """
    rows = [(label, nan_if_huge(delta), n, failed) for label, delta, n, failed in rows]
    if not rows:
        return None

    def badness(row: tuple[str, float, int, bool]) -> tuple[int, float, str]:
        delta = row[1] if math.isfinite(row[1]) else 0.0
        return (0 if row[3] else 1, delta if higher_is_better else -delta, row[0])

    items = sorted(rows, key=badness)
    shown = items[: max(1, limit)]
    with styled():
        fig = figure(tall(len(shown)))
        ax = fig.subplots()
        colors = [_slice_bar(ax, i, row, higher_is_better) for i, row in enumerate(shown)]
        _slice_axes(ax, shown, colors, metric)
        failed = sum(1 for r in rows if r[3])
        ax.set_title(
            f"{metric} per slice, worst first ({failed} of {len(rows)} failed)", fontweight="bold"
        )
        note = more_note(len(shown), len(items))
        if note:
            fig.supxlabel(note, fontsize=8, color=NEUTRAL)
        return save(fig, out_dir / f"slices-{slug(metric)}.png")


def _slice_bar(ax: Axes, i: int, row: tuple[str, float, int, bool], higher_is_better: bool) -> str:
    _, delta, _, failed = row
    finite = math.isfinite(delta)
    color = direction_color(delta, higher_is_better) if finite else NEUTRAL
    if color == WORSE and not failed:
        color = WORSE_LIGHT
    ax.barh(i, delta if finite else 0.0, height=0.6, color=color)
    return WORSE if failed else NEUTRAL if color == WORSE_LIGHT else color


def _slice_axes(
    ax: Axes, rows: Sequence[tuple[str, float, int, bool]], colors: Sequence[str], metric: str
) -> None:
    ax.set_yticks(range(len(rows)), [short(r[0], 32) for r in rows])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    notes = [
        f"{signed(d) if math.isfinite(d) else 'n/a'}   n={n:,}" + ("   FAILED" if f else "")
        for _, d, n, f in rows
    ]
    right_labels(ax, notes, colors)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.grid(axis="y", visible=False)
    finite = [abs(r[1]) for r in rows if math.isfinite(r[1])]
    span = max(finite, default=0.0) or 1.0
    ax.set_xlim(-span * 1.1, span * 1.1)
    ax.set_xlabel(f"{short(metric, 40)}: head − base")
