"""The report's figures: base (grey) against head (blue), worse in red, better in green.

Every figure is a ``matplotlib.figure.Figure`` drawn by the Agg canvas, never pyplot, so
no global figure state leaks, and it is saved with no metadata that varies: the same data
gives the same PNG bytes, which lets the GitHub publisher upload images under
content-addressed names and skip what is already there. Each function returns the path it
wrote, or None (``[]`` for ``roc_pr``) when there is nothing to draw.

This module is imported lazily (only when a report is rendered), so it imports matplotlib,
numpy and pandas at the top; scikit-learn is imported inside the curve helpers.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mlci.errors import MetricsError

matplotlib.use("Agg")

BASE, HEAD = "#9a9a9a", "#1f6fb4"
WORSE, BETTER, NEUTRAL = "#d62728", "#2a9d3c", "#6b6b6b"
WORSE_LIGHT = "#f2a7a7"
DPI = 100
WIDTH = 8.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
_SCATTER_MAX = 5000
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
_BOXED: dict[str, Any] = {"frameon": True, "framealpha": 0.92, "edgecolor": "none"}
_WORSE_BETTER = LinearSegmentedColormap.from_list("mlci_worse_better", [WORSE, "#ffffff", BETTER])


# ---- figure plumbing ---------------------------------------------------------------------


@contextmanager
def _style() -> Iterator[None]:
    """matplotlib's defaults plus ours, whatever the user's matplotlibrc says."""
    with matplotlib.style.context(["default", _STYLE]):
        yield


def _figure(
    height: float = 4.5, layout: Literal["constrained", "compressed"] = "constrained"
) -> Figure:
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write fig as a PNG whose bytes depend only on what is drawn (no Software text chunk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with _style():
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _slug(text: str) -> str:
    """A file-name-safe form of a metric name: 'f1 macro/test' -> 'f1_macro_test'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "metric"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _signed(value: float) -> str:
    return _fmt(value) if value < 0 else "+" + _fmt(value)


def _pct(ratio: float) -> str:
    pct = ratio * 100
    digits = 0 if abs(pct) >= 100 else 1 if abs(pct) >= 1 else 2
    return f"{pct:+.{digits}f}%"


def _direction_color(delta: float, higher_is_better: bool) -> str:
    if delta == 0 or not math.isfinite(delta):
        return NEUTRAL
    return BETTER if (delta > 0) == higher_is_better else WORSE


def _tall(rows: int) -> float:
    """Figure height for one bar row per item: readable at 20-30 rows, compact at 3."""
    return min(9.5, max(2.6, 1.3 + 0.27 * rows))


def _right_labels(ax: Axes, texts: Sequence[str], colors: Sequence[str]) -> None:
    """One coloured label per bar row in a column right of ax, where it never covers a bar."""
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(len(texts)), texts)
    for tick, color in zip(right.get_yticklabels(), colors, strict=True):
        tick.set_color(color)
    right.tick_params(axis="y", length=0)
    right.grid(False)
    right.spines[["top", "left", "bottom"]].set_visible(False)


def _more_note(shown: int, total: int) -> str | None:
    return f"{total - shown} more in result.json" if total > shown else None


# ---- metric bars -------------------------------------------------------------------------


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
        return _signed(self.delta) + (f" ({_pct(rel)})" if rel is not None else " (base 0)")


DRAWABLE = 1e150  # beyond it a difference or an axis limit overflows to infinity


def _finite(value: float | None) -> float | None:
    """A value the bars can show; infinities and numbers like 1e308 are left out."""
    return value if value is not None and abs(value) < DRAWABLE else None


def _nan_if_huge(value: float) -> float:
    """NaN (not drawn) for a value whose axis would overflow; the table still shows it."""
    return value if abs(value) < DRAWABLE else math.nan


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
    with _style():
        fig = _figure(_tall(len(shown)))
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])
        _draw_values(left, shown)
        _draw_changes(right, shown)
        fig.suptitle("Metrics: head vs base", fontweight="bold")
        handles = [Patch(facecolor=BASE, label="base"), Patch(facecolor=HEAD, label="head")]
        fig.legend(handles=handles, loc="outside upper left", ncols=2)
        note = _more_note(len(shown), len(items))
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
            ax.text(max(x, 0) + 0.02, i + offset, _fmt(value), va="center", fontsize=7.5)
    ax.set_yticks(range(len(rows)), [_short(r.name, 28) for r in rows])
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
        color = NEUTRAL if delta is None else _direction_color(delta, row.higher_is_better)
        colors.append(color)
        if row.rel is not None:
            ax.barh(i, row.rel * 100, height=0.55, color=color)
    ax.set_yticks([])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    _right_labels(ax, [r.label() for r in rows], colors)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("relative change, %  (green better, red worse)")
    limit = max((abs(r.rel) * 100 for r in rows if r.rel is not None), default=1.0) or 1.0
    ax.set_xlim(-limit * 1.1, limit * 1.1)


# ---- predictions -------------------------------------------------------------------------


def _label_key(value: object) -> tuple[int, float, str]:
    """Numbers in numeric order, then strings: 2 < 10, and '2' < '10' too."""
    text = _label_str(value)
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _label_str(value: object) -> str:
    """How a label prints and matches a score_<class> column: 1.0 (from a CSV) -> '1'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _require(df: pd.DataFrame, columns: Sequence[str], side: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MetricsError(
            f"{side} predictions have no {', '.join(missing)} column",
            where=f"predictions of {side}",
            hint="write one row per example with columns y_true and y_pred "
            "(optionally y_score or score_<class>)",
        )
    return df.dropna(subset=list(columns))


def _class_labels(frames: Sequence[pd.DataFrame], max_classes: int) -> tuple[list[str], int]:
    """The sorted union of classes, cut to the max_classes with most support in the last frame."""
    seen: set[str] = set()
    for df in frames:
        seen.update(_label_str(v) for v in df["y_true"])
        seen.update(_label_str(v) for v in df["y_pred"])
    labels = sorted(seen, key=_label_key)
    if len(labels) <= max_classes:
        return labels, len(labels)
    support = frames[-1]["y_true"].map(_label_str).value_counts()
    ranked = sorted(labels, key=lambda lab: (-int(support.get(lab, 0)), _label_key(lab)))
    return sorted(ranked[:max_classes], key=_label_key), len(labels)


def _confusion(df: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(df["y_true"].map(_label_str), df["y_pred"].map(_label_str), strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix


def confusion_matrices(
    base: pd.DataFrame | None,
    head: pd.DataFrame,
    out_dir: Path,
    *,
    max_classes: int = 20,
) -> Path | None:
    """base | head | head - base, counts in the cells; the difference is green where better.

    On the diagonal more is better, off it less is better, so the third panel colours the
    change by what it means rather than by its sign.
    """
    head = _require(head, ("y_true", "y_pred"), "head")
    base = None if base is None else _require(base, ("y_true", "y_pred"), "base")
    if head.empty:
        return None
    frames = [head] if base is None or base.empty else [base, head]
    labels, total = _class_labels(frames, max(2, max_classes))
    matrices = [_confusion(df, labels) for df in frames]
    with _style():
        fig = _figure(4.5 if len(frames) == 1 else _matrix_height(labels), layout="compressed")
        axes = fig.subplots(1, 1 if len(frames) == 1 else 3, squeeze=False)[0]
        vmax = max(int(m.max()) for m in matrices) or 1
        size = _cell_font(len(labels), len(axes))
        titles = ("base", "head") if len(frames) == 2 else ("head (no baseline)",)
        for ax, matrix, title in zip(axes, matrices, titles, strict=False):
            _draw_counts(ax, matrix, labels, title, vmax, size)
        if len(frames) == 2:
            _draw_difference(axes[2], matrices[1] - matrices[0], labels, size)
        for ax in axes[1:]:
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
        title = "Confusion matrix (rows: true class, columns: predicted)"
        if total > len(labels):
            title += f", top {len(labels)} of {total} classes by support"
        fig.suptitle(title, fontweight="bold")
        return save(fig, out_dir / "confusion_matrix.png")


def _matrix_height(labels: Sequence[str]) -> float:
    """Three square panels side by side: tall enough for them and their rotated labels."""
    longest = max(len(name) for name in _tick_names(labels))
    rotated = len(labels) > 8 or longest > 3
    return 3.25 + (0.07 * longest if rotated else 0.0)


def _cell_font(classes: int, panels: int) -> float | None:
    """Font size for the counts in the cells, or None when the cells are too small for text."""
    cells = classes * panels if panels > 1 else classes * 1.6
    for most, size in ((6, 11.0), (12, 9.0), (24, 8.0), (32, 6.5)):
        if cells <= most:
            return size
    return None


def _tick_names(labels: Sequence[str], width: int = 12) -> list[str]:
    """Labels short enough for a matrix axis that still tell classes apart.

    'category_04_long_name' and 'category_05_long_name' share their start and end, so
    those are cut ('…04…') before anything else.
    """
    if all(len(lab) <= width for lab in labels) or len(labels) < 2:
        return [_short(lab, width) for lab in labels]
    head = _shared_start(labels)
    tail = _shared_start([lab[::-1] for lab in labels])
    head = head if head > 3 and all(len(lab) > head + tail for lab in labels) else 0
    tail = tail if tail > 3 and all(len(lab) > head + tail for lab in labels) else 0
    cores = [lab[head : len(lab) - tail] for lab in labels]
    names = [("…" if head else "") + core + ("…" if tail else "") for core in cores]
    return [_short(name, width) for name in names]


def _shared_start(texts: Sequence[str]) -> int:
    """How many leading characters all texts have in common."""
    shortest = min(len(t) for t in texts)
    for i in range(shortest):
        if len({t[i] for t in texts}) > 1:
            return i
    return shortest


def _matrix_axes(ax: Axes, labels: Sequence[str], title: str) -> None:
    n = len(labels)
    names = _tick_names(labels)
    long_names = any(len(lab) > 3 for lab in names)
    ax.set_xticks(range(n), names, rotation=90 if n > 8 or long_names else 0)
    ax.set_yticks(range(n), names)
    ax.tick_params(length=0, labelsize=8 if n <= 10 else 6)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#cccccc")
    ax.set_title(title)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")


def _draw_counts(
    ax: Axes,
    matrix: np.ndarray,
    labels: Sequence[str],
    title: str,
    vmax: int,
    size: float | None,
) -> None:
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
    _matrix_axes(ax, labels, title)
    if size is None:
        return
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > vmax * 0.55 else "#222222"
        ax.text(j, i, str(count), ha="center", va="center", fontsize=size, color=color)


def _draw_difference(ax: Axes, diff: np.ndarray, labels: Sequence[str], size: float | None) -> None:
    gain = np.where(np.eye(len(labels), dtype=bool), diff, -diff)
    limit = int(np.abs(gain).max()) or 1
    ax.imshow(gain, cmap=_WORSE_BETTER, vmin=-limit, vmax=limit, interpolation="nearest")
    _matrix_axes(ax, labels, "head − base (green better)")
    if size is None:
        return
    for (i, j), count in np.ndenumerate(diff):
        if count:
            ax.text(j, i, f"{count:+d}", ha="center", va="center", fontsize=size)


# ---- ROC and precision-recall ------------------------------------------------------------


@dataclass(frozen=True)
class _Scores:
    """Binary truth and scores: one class, or every class flattened (micro-average)."""

    what: str
    y: np.ndarray
    score: np.ndarray
    per_class: tuple[tuple[str, np.ndarray, np.ndarray], ...] = ()


def _scores(df: pd.DataFrame | None, side: str) -> _Scores | None:
    if df is None:
        return None
    df = _require(df, ("y_true",), side)
    columns = sorted((c for c in df.columns if str(c).startswith("score_")), key=str)
    if "y_score" in df.columns:
        return _binary(df)
    if columns:
        return _one_vs_rest(df, columns)
    return None


def _binary(df: pd.DataFrame) -> _Scores | None:
    df = df.dropna(subset=["y_score"])
    labels = sorted({_label_str(v) for v in df["y_true"]}, key=_label_key)
    if len(labels) != 2:
        return None
    y = (df["y_true"].map(_label_str) == labels[-1]).to_numpy()
    score = pd.to_numeric(df["y_score"], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(score)
    return _Scores(f"positive class {labels[-1]}", y[keep], score[keep])


def _one_vs_rest(df: pd.DataFrame, columns: Sequence[str]) -> _Scores | None:
    classes = sorted((str(c)[len("score_") :] for c in columns), key=_label_key)
    scores = df[[f"score_{c}" for c in classes]].apply(pd.to_numeric, errors="coerce")
    keep = scores.notna().all(axis=1).to_numpy()
    truth = df["y_true"].map(_label_str).to_numpy()[keep]
    matrix = scores.to_numpy(dtype=float)[keep]
    onehot = np.stack([truth == c for c in classes], axis=1)
    if not onehot.any() or onehot.all():
        return None
    if len(classes) == 2:
        return _Scores(f"positive class {classes[1]}", onehot[:, 1], matrix[:, 1])
    per_class = tuple(
        (c, onehot[:, i], matrix[:, i])
        for i, c in enumerate(classes)
        if 0 < onehot[:, i].sum() < len(onehot)
    )
    what = f"micro-average over {len(classes)} classes"
    return _Scores(what, onehot.ravel(), matrix.ravel(), per_class if len(classes) <= 10 else ())


def roc_pr(base: pd.DataFrame | None, head: pd.DataFrame, out_dir: Path) -> list[Path]:
    """ROC (AUC in the legend) and precision-recall (average precision): roc.png, pr.png."""
    head_scores = _scores(head, "head")
    if head_scores is None:
        return []
    base_scores = _scores(base, "base")
    sides = [(s, name) for s, name in ((base_scores, "base"), (head_scores, "head")) if s]
    return [_curve_plot(sides, out_dir, kind) for kind in ("roc", "pr")]


def _curve(kind: str, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC (fpr, tpr, AUC) or PR (recall, precision, average precision), as scikit-learn
    computes them, in numpy: importing sklearn.metrics alone costs more than the plot."""
    order = np.argsort(-score, kind="mergesort")
    truth, ranked = y[order].astype(float), score[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tps = np.cumsum(truth)[last]
    fps = last + 1 - tps
    pos, neg = tps[-1], fps[-1]
    if kind == "roc":
        tpr = np.r_[0.0, tps] / pos if pos else np.zeros(len(tps) + 1)
        fpr = np.r_[0.0, fps] / neg if neg else np.zeros(len(fps) + 1)
        return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    precision = tps / (tps + fps)
    recall = tps / pos if pos else np.zeros(len(tps))
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return np.r_[recall[::-1], 0.0], np.r_[precision[::-1], 1.0], ap


def _curve_plot(sides: Sequence[tuple[_Scores, str]], out_dir: Path, kind: str) -> Path:
    stat = "AUC" if kind == "roc" else "AP"
    draw = "default" if kind == "roc" else "steps-post"
    with _style():
        fig = _figure()
        ax = fig.subplots()
        values: dict[str, float] = {}
        for scores, side in sides:
            if side == "head":
                for _, y, s in scores.per_class:
                    x, yy, _ = _curve(kind, y, s)
                    ax.plot(x, yy, color=HEAD, alpha=0.3, linewidth=1, drawstyle=draw)
            x, yy, value = _curve(kind, scores.y, scores.score)
            values[side] = value
            style = {"base": (BASE, "--", 1.8), "head": (HEAD, "-", 2.2)}[side]
            ax.plot(
                x,
                yy,
                color=style[0],
                linestyle=style[1],
                linewidth=style[2],
                drawstyle=draw,
                label=f"{side} ({stat} {value:.4f})",
            )
        head = sides[-1][0]
        if head.per_class:
            ax.plot([], [], color=HEAD, alpha=0.4, label="head, each class")
        _curve_axes(ax, kind, head)
        legend = ax.legend(loc="lower right" if kind == "roc" else "lower left", alignment="left")
        if "base" in values:
            delta = values["head"] - values["base"]
            legend.set_title(f"{stat} {_signed(round(delta, 4))} vs base")
            legend.get_title().set_color(_direction_color(delta, True))
        title = "ROC curve" if kind == "roc" else "Precision-recall curve"
        ax.set_title(f"{title} ({head.what})", fontweight="bold")
        return save(fig, out_dir / f"{kind}.png")


def _curve_axes(ax: Axes, kind: str, head: _Scores) -> None:
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", linewidth=1, label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    else:
        ax.axhline(
            float(np.mean(head.y)),
            color="#bbbbbb",
            linestyle=":",
            linewidth=1,
            label="chance (head's positive rate)",
        )
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)


# ---- regression --------------------------------------------------------------------------


def _numeric(df: pd.DataFrame, side: str) -> pd.DataFrame:
    df = _require(df, ("y_true", "y_pred"), side)
    out = pd.DataFrame(
        {
            "y_true": pd.to_numeric(df["y_true"], errors="coerce"),
            "y_pred": pd.to_numeric(df["y_pred"], errors="coerce"),
        }
    )
    drawable = (out["y_true"].abs() < DRAWABLE) & (out["y_pred"].abs() < DRAWABLE)
    return out[drawable]  # NaN, infinities and values like 1e308 would overflow the axes


def regression(base: pd.DataFrame | None, head: pd.DataFrame, out_dir: Path) -> Path | None:
    """Predicted vs true (the diagonal is perfect) and the residual histogram: residuals.png."""
    sides = [(_numeric(head, "head"), "head")]
    if base is not None:
        sides.insert(0, (_numeric(base, "base"), "base"))
    sides = [(df, name) for df, name in sides if not df.empty]
    if not any(name == "head" for _, name in sides):
        return None
    with _style():
        fig = _figure()
        scatter, hist = fig.subplots(1, 2)
        _draw_scatter(scatter, sides)
        _draw_residuals(hist, sides)
        fig.suptitle("Regression: predictions and residuals", fontweight="bold")
        return save(fig, out_dir / "residuals.png")


def _draw_scatter(ax: Axes, sides: Sequence[tuple[pd.DataFrame, str]]) -> None:
    lows, highs = [], []
    for df, side in sides:
        shown = df if len(df) <= _SCATTER_MAX else df.sample(_SCATTER_MAX, random_state=0)
        rmse = float(np.sqrt(np.mean((df["y_pred"] - df["y_true"]) ** 2)))
        ax.scatter(
            shown["y_true"],
            shown["y_pred"],
            s=9,
            alpha=0.45 if side == "base" else 0.6,
            color=BASE if side == "base" else HEAD,
            linewidths=0,
            label=f"{side} (RMSE {_fmt(rmse)})",
        )
        lows.append(min(df["y_true"].min(), df["y_pred"].min()))
        highs.append(max(df["y_true"].max(), df["y_pred"].max()))
    low, high = float(min(lows)), float(max(highs))
    pad = (high - low) * 0.03 or 1.0
    ax.plot(
        [low - pad, high + pad],
        [low - pad, high + pad],
        color="#444444",
        linestyle="--",
        linewidth=1,
        label="perfect",
    )
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_title("predicted vs true")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.legend(loc="upper left", markerscale=2, **_BOXED)


def _draw_residuals(ax: Axes, sides: Sequence[tuple[pd.DataFrame, str]]) -> None:
    residuals = {side: (df["y_pred"] - df["y_true"]).to_numpy() for df, side in sides}
    pooled = np.concatenate(list(residuals.values()))
    bins = int(min(40, max(10, math.sqrt(len(pooled)))))
    edges = [float(e) for e in np.histogram_bin_edges(pooled, bins=bins)]
    for side, res in residuals.items():
        label = f"{side} (mean {_fmt(float(res.mean()))}, sd {_fmt(float(res.std()))})"
        if side == "base":
            ax.hist(res, bins=edges, histtype="stepfilled", color=BASE, alpha=0.5, label=label)
        else:
            ax.hist(res, bins=edges, histtype="step", color=HEAD, linewidth=1.8, label=label)
    ax.axvline(0, color="#444444", linestyle="--", linewidth=1)
    ax.set_title("residuals (predicted − true)")
    ax.set_xlabel("residual")
    ax.set_ylabel("examples")
    ax.margins(y=0.25)
    ax.legend(loc="upper left", **_BOXED)


# ---- history -----------------------------------------------------------------------------


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
    points = [(sha, _nan_if_huge(v)) for sha, v in points]
    head = (head[0], _nan_if_huge(head[1])) if head is not None else None
    if not points or not any(math.isfinite(v) for _, v in points):
        return None
    values = np.array([v for _, v in points], dtype=float)
    with _style():
        fig = _figure(4.0)
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
                _fmt(values[-1]),
                (len(points) - 1, values[-1]),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color=NEUTRAL,
            )
        labels = [_short(sha, 10) for sha, _ in points]
        if head is not None:
            _draw_head_point(ax, len(points), head[1], float(values[-1]), higher_is_better)
            labels.append(f"{_short(head[0], 10)}\n(this PR)")
        _thin_ticks(ax, labels)
        commits = f"{len(points)} commit" + ("s" if len(points) > 1 else "")
        ax.set_title(f"{metric} along the base branch ({commits})", fontweight="bold")
        ax.set_xlabel("commit (oldest → newest)")
        ax.set_ylabel(_short(metric, 40))
        ax.margins(x=0.04, y=0.15)
        legend = ax.legend(loc="best", **_BOXED)
        if head is not None:
            legend.get_texts()[-1].set_color(_head_color(head[1], values[-1], higher_is_better))
        file = f"history-{_slug(name)}.png" if name else "history.png"
        return save(fig, out_dir / file)


def _head_color(value: float, last: float, higher_is_better: bool | None) -> str:
    if higher_is_better is None or not (math.isfinite(value) and math.isfinite(last)):
        return HEAD
    return _direction_color(value - last, higher_is_better)


def _draw_head_point(
    ax: Axes, x: int, value: float, last: float, higher_is_better: bool | None
) -> None:
    """The PR's value after the newest base commit; its change is in the legend, off the data."""
    label = f"this PR: {_fmt(value)}"
    if math.isfinite(value) and math.isfinite(last):
        label += f" ({_signed(value - last)} vs newest base)"
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


# ---- slices ------------------------------------------------------------------------------


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
    rows = [(label, _nan_if_huge(delta), n, failed) for label, delta, n, failed in rows]
    if not rows:
        return None

    def badness(row: tuple[str, float, int, bool]) -> tuple[int, float, str]:
        delta = row[1] if math.isfinite(row[1]) else 0.0
        return (0 if row[3] else 1, delta if higher_is_better else -delta, row[0])

    items = sorted(rows, key=badness)
    shown = items[: max(1, limit)]
    with _style():
        fig = _figure(_tall(len(shown)))
        ax = fig.subplots()
        colors = [_slice_bar(ax, i, row, higher_is_better) for i, row in enumerate(shown)]
        _slice_axes(ax, shown, colors, metric)
        failed = sum(1 for r in rows if r[3])
        ax.set_title(
            f"{metric} per slice, worst first ({failed} of {len(rows)} failed)", fontweight="bold"
        )
        note = _more_note(len(shown), len(items))
        if note:
            fig.supxlabel(note, fontsize=8, color=NEUTRAL)
        return save(fig, out_dir / f"slices-{_slug(metric)}.png")


def _slice_bar(ax: Axes, i: int, row: tuple[str, float, int, bool], higher_is_better: bool) -> str:
    _, delta, _, failed = row
    finite = math.isfinite(delta)
    color = _direction_color(delta, higher_is_better) if finite else NEUTRAL
    if color == WORSE and not failed:
        color = WORSE_LIGHT
    ax.barh(i, delta if finite else 0.0, height=0.6, color=color)
    return WORSE if failed else NEUTRAL if color == WORSE_LIGHT else color


def _slice_axes(
    ax: Axes, rows: Sequence[tuple[str, float, int, bool]], colors: Sequence[str], metric: str
) -> None:
    ax.set_yticks(range(len(rows)), [_short(r[0], 32) for r in rows])
    ax.set_ylim(len(rows) - 0.4, -0.6)
    notes = [
        f"{_signed(d) if math.isfinite(d) else 'n/a'}   n={n:,}" + ("   FAILED" if f else "")
        for _, d, n, f in rows
    ]
    _right_labels(ax, notes, colors)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.grid(axis="y", visible=False)
    finite = [abs(r[1]) for r in rows if math.isfinite(r[1])]
    span = max(finite, default=0.0) or 1.0
    ax.set_xlim(-span * 1.1, span * 1.1)
    ax.set_xlabel(f"{_short(metric, 40)}: head − base")


# ---- the user's own images ---------------------------------------------------------------


MAX_USER_PLOTS = 20  # images of train.plots in one report; the rest are listed by name
MAX_NAMES_LISTED = 50


def copy_user_plots(
    patterns: Sequence[str], root: Path, out_dir: Path, *, exclude: Sequence[Path] = ()
) -> tuple[list[Path], list[str]]:
    """Copy train.plots images into out_dir/user/ under flat names made from their paths.

    'plots/a/loss.png' becomes 'plots-a-loss.png'; a clash gets '-2', '-3' in path order,
    so the same tree always gives the same names. Warnings name each glob that found no
    image, and each match outside the repository (skipped).
    """
    root = root.resolve()
    skip = [p.resolve() for p in exclude]
    found: list[Path] = []
    warnings: list[str] = []
    for pattern in patterns:
        matches, problem = _glob_images(pattern, root)
        matches = [m for m in matches if not any(m.is_relative_to(s) for s in skip)]
        if problem:
            warnings.append(f"train.plots: {pattern!r} {problem}")
        found.extend(m for m in matches if m not in found)
    found = sorted(found, key=lambda p: p.relative_to(root).as_posix())
    if len(found) > MAX_USER_PLOTS:
        warnings.append(_not_shown(found[MAX_USER_PLOTS:], root))
    copied: list[Path] = []
    taken: set[str] = set()
    for src in found[:MAX_USER_PLOTS]:
        dest = out_dir / "user" / _flat_name(src.relative_to(root), taken)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        copied.append(dest)
    return copied, warnings


def _not_shown(rest: Sequence[Path], root: Path) -> str:
    """The images past MAX_USER_PLOTS, by name: each one shown costs uploads and space."""
    names = [p.relative_to(root).as_posix() for p in rest]
    listed = ", ".join(names[:MAX_NAMES_LISTED])
    more = f" and {len(names) - MAX_NAMES_LISTED} more" if len(names) > MAX_NAMES_LISTED else ""
    return (
        f"train.plots: {len(names)} more images than the {MAX_USER_PLOTS} a report shows, "
        f"not shown: {listed}{more}"
    )


def _glob_images(pattern: str, root: Path) -> tuple[list[Path], str | None]:
    if not pattern.strip() or Path(pattern).is_absolute():
        return [], "is not a path relative to the directory of mlci.yaml"
    try:
        matches = sorted(root.glob(pattern))
    except ValueError as e:  # an empty or malformed pattern
        return [], f"is not a valid glob ({e})"
    files = [m.resolve() for m in matches if m.is_file()]
    inside = [f for f in files if f.is_relative_to(root)]
    images = [f for f in inside if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        return [], "matched no file"
    if len(inside) < len(files):
        return images, "matched files outside the repository (skipped)"
    if not images:
        kinds = ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
        return [], f"matched no image ({kinds})"
    return images, None


def _flat_name(rel: Path, taken: set[str]) -> str:
    stem = "-".join(_slug(part) for part in rel.with_suffix("").parts)
    suffix = rel.suffix.lower()
    name, count = stem + suffix, 1
    while name in taken:
        count += 1
        name = f"{stem}-{count}{suffix}"
    taken.add(name)
    return name
