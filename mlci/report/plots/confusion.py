"""The confusion matrices of a classifier: base | head | head - base, in confusion_matrix.png."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap

from mlci.report.plots.columns import label_key, require
from mlci.report.plots.style import BETTER, WORSE, figure, save, short, styled
from mlci.sources.predictions import label

_WORSE_BETTER = LinearSegmentedColormap.from_list("mlci_worse_better", [WORSE, "#ffffff", BETTER])


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
    head = require(head, ("y_true", "y_pred"), "head")
    base = None if base is None else require(base, ("y_true", "y_pred"), "base")
    if head.empty:
        return None
    frames = [head] if base is None or base.empty else [base, head]
    labels, total = _class_labels(frames, max(2, max_classes))
    matrices = [_confusion(df, labels) for df in frames]
    with styled():
        fig = figure(4.5 if len(frames) == 1 else _matrix_height(labels), layout="compressed")
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


def _class_labels(frames: Sequence[pd.DataFrame], max_classes: int) -> tuple[list[str], int]:
    """The sorted union of classes, cut to the max_classes with most support in the last frame."""
    seen: set[str] = set()
    for df in frames:
        seen.update(label(v) for v in df["y_true"])
        seen.update(label(v) for v in df["y_pred"])
    labels = sorted(seen, key=label_key)
    if len(labels) <= max_classes:
        return labels, len(labels)
    support = frames[-1]["y_true"].map(label).value_counts()
    ranked = sorted(labels, key=lambda lab: (-int(support.get(lab, 0)), label_key(lab)))
    return sorted(ranked[:max_classes], key=label_key), len(labels)


def _confusion(df: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(df["y_true"].map(label), df["y_pred"].map(label), strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix


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
        return [short(lab, width) for lab in labels]
    head = _shared_start(labels)
    tail = _shared_start([lab[::-1] for lab in labels])
    head = head if head > 3 and all(len(lab) > head + tail for lab in labels) else 0
    tail = tail if tail > 3 and all(len(lab) > head + tail for lab in labels) else 0
    cores = [lab[head : len(lab) - tail] for lab in labels]
    names = [("…" if head else "") + core + ("…" if tail else "") for core in cores]
    return [short(name, width) for name in names]


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
