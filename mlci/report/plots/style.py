"""The look every report figure shares: base (grey) against head (blue), worse in red, better
in green, and PNG bytes that depend only on what is drawn.

Every figure is a ``matplotlib.figure.Figure`` drawn by the Agg canvas, never pyplot, so
no global figure state leaks, and it is saved with no metadata that varies: the same data
gives the same PNG bytes, which lets the GitHub publisher upload images under
content-addressed names and skip what is already there.

The figure modules are imported lazily (only when a report is rendered), so they import
matplotlib, numpy and pandas at the top.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import matplotlib
import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

matplotlib.use("Agg")

BASE, HEAD = "#9a9a9a", "#1f6fb4"
WORSE, BETTER, NEUTRAL = "#d62728", "#2a9d3c", "#6b6b6b"
WORSE_LIGHT = "#f2a7a7"
DPI = 100
WIDTH = 8.0
DRAWABLE = 1e150  # beyond it a difference or an axis limit overflows to infinity

_STYLE: dict[str, Any] = {
    "text.parse_math": False,  # a metric or slice named "$x^$" is text, not broken TeX
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}

BOXED: dict[str, Any] = {"frameon": True, "framealpha": 0.92, "edgecolor": "none"}


@contextmanager
def styled() -> Iterator[None]:
    """matplotlib's defaults plus ours, whatever the user's matplotlibrc says."""
    with matplotlib.style.context(["default", _STYLE]):
        yield


def figure(
    height: float = 4.5, layout: Literal["constrained", "compressed"] = "constrained"
) -> Figure:
    """A blank figure of the report's width on the Agg canvas: no pyplot, no global state."""
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write fig as a PNG whose bytes depend only on what is drawn (no Software text chunk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with styled():
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def slug(text: str) -> str:
    """A file-name-safe form of a metric name: 'f1 macro/test' -> 'f1_macro_test'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "metric"


def short(text: str, width: int) -> str:
    """text cut to width characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def fmt(value: float) -> str:
    """A number as a figure shows it: four significant digits, thousands separated."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def signed(value: float) -> str:
    """A change with its sign, so that +0.01 reads as a change and not a value."""
    return fmt(value) if value < 0 else "+" + fmt(value)


def direction_color(delta: float, higher_is_better: bool) -> str:
    """Green for a change the right way, red for the wrong way, grey for none."""
    if delta == 0 or not math.isfinite(delta):
        return NEUTRAL
    return BETTER if (delta > 0) == higher_is_better else WORSE


def tall(rows: int) -> float:
    """Figure height for one bar row per item: readable at 20-30 rows, compact at 3."""
    return min(9.5, max(2.6, 1.3 + 0.27 * rows))


def right_labels(ax: Axes, texts: Sequence[str], colors: Sequence[str]) -> None:
    """One coloured label per bar row in a column right of ax, where it never covers a bar."""
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(len(texts)), texts)
    for tick, color in zip(right.get_yticklabels(), colors, strict=True):
        tick.set_color(color)
    right.tick_params(axis="y", length=0)
    right.grid(False)
    right.spines[["top", "left", "bottom"]].set_visible(False)


def more_note(shown: int, total: int) -> str | None:
    """Where the rows a figure left out are, or None when it shows them all."""
    return f"{total - shown} more in result.json" if total > shown else None


def nan_if_huge(value: float) -> float:
    """NaN (not drawn) for a value whose axis would overflow; the table still shows it."""
    return value if abs(value) < DRAWABLE else math.nan
