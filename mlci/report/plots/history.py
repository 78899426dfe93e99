"""One metric along the base branch, with the PR's value as the last point: history.png."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from mlci.report.plots.style import (
    BASE,
    BOXED,
    HEAD,
    NEUTRAL,
    direction_color,
    figure,
    fmt,
    nan_if_huge,
    save,
    short,
    signed,
    slug,
    styled,
)


def history(
    points: Sequence[tuple[str, float]],
    metric: str,
    out_dir: Path,
    *,
    head: tuple[str, float] | None = None,
    name: str | None = None,
    higher_is_better: bool | None = None,
) -> Path | None:
    """One metric along the base branch, oldest first, with the PR's value as the last point.

    The file is history.png, or history-<name>.png when ``name`` is given (one per metric).
    ``higher_is_better`` colours the PR's change against the newest base point.
    """
    points = [(sha, nan_if_huge(v)) for sha, v in points]
    head = (head[0], nan_if_huge(head[1])) if head is not None else None
    if not points or not any(math.isfinite(v) for _, v in points):
        return None
    values = np.array([v for _, v in points], dtype=float)
    with styled():
        fig = figure(4.0)
        ax = fig.subplots()
        dense = len(points) > 40
        ax.plot(
            np.arange(len(points)),
            values,
            color=BASE,
            linewidth=1.6,
            marker="" if dense else "o",
            markersize=4,
            label="base branch",
        )
        if not dense and math.isfinite(values[-1]):
            ax.annotate(
                fmt(values[-1]),
                (len(points) - 1, values[-1]),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color=NEUTRAL,
            )
        labels = [short(sha, 10) for sha, _ in points]
        if head is not None:
            _draw_head_point(ax, len(points), head[1], float(values[-1]), higher_is_better)
            labels.append(f"{short(head[0], 10)}\n(this PR)")
        _thin_ticks(ax, labels)
        commits = f"{len(points)} commit" + ("s" if len(points) > 1 else "")
        ax.set_title(f"{metric} along the base branch ({commits})", fontweight="bold")
        ax.set_xlabel("commit (oldest → newest)")
        ax.set_ylabel(short(metric, 40))
        ax.margins(x=0.04, y=0.15)
        legend = ax.legend(loc="best", **BOXED)
        if head is not None:
            legend.get_texts()[-1].set_color(_head_color(head[1], values[-1], higher_is_better))
        file = f"history-{slug(name)}.png" if name else "history.png"
        return save(fig, out_dir / file)


def _head_color(value: float, last: float, higher_is_better: bool | None) -> str:
    if higher_is_better is None or not (math.isfinite(value) and math.isfinite(last)):
        return HEAD
    return direction_color(value - last, higher_is_better)


def _draw_head_point(
    ax: Axes, x: int, value: float, last: float, higher_is_better: bool | None
) -> None:
    """The PR's value after the newest base commit; its change is in the legend, off the data."""
    label = f"this PR: {fmt(value)}"
    if math.isfinite(value) and math.isfinite(last):
        label += f" ({signed(value - last)} vs newest base)"
    ax.plot([x - 1, x], [last, value], color=HEAD, linestyle=":", linewidth=1.2)
    ax.plot(
        [x],
        [value],
        color=_head_color(value, last, higher_is_better),
        marker="o",
        markersize=9,
        linestyle="",
        markeredgecolor=HEAD,
        markeredgewidth=2,
        label=label,
        zorder=3,
    )


def _thin_ticks(ax: Axes, labels: Sequence[str], most: int = 12) -> None:
    """At most `most` labels, always keeping the newest (nearest the PR) one."""
    step = max(1, math.ceil(len(labels) / most))
    keep = sorted(range(len(labels) - 1, -1, -step))
    ax.set_xticks(keep, [labels[i] for i in keep])
    ax.grid(axis="x", visible=False)
