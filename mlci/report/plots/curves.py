"""ROC and precision-recall curves of base and head: roc.png and pr.png."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from mlci.report.plots.columns import label_key, require
from mlci.report.plots.style import BASE, HEAD, direction_color, figure, save, signed, styled
from mlci.sources.predictions import label


@dataclass(frozen=True)
class _Scores:
    """Binary truth and scores: one class, or every class flattened (micro-average)."""

    what: str
    y: np.ndarray
    score: np.ndarray
    per_class: tuple[tuple[str, np.ndarray, np.ndarray], ...] = ()


def roc_pr(base: pd.DataFrame | None, head: pd.DataFrame, out_dir: Path) -> list[Path]:
    """ROC (AUC in the legend) and precision-recall (average precision): roc.png, pr.png."""
    head_scores = _scores(head, "head")
    if head_scores is None:
        return []
    base_scores = _scores(base, "base")
    sides = [(s, name) for s, name in ((base_scores, "base"), (head_scores, "head")) if s]
    return [_curve_plot(sides, out_dir, kind) for kind in ("roc", "pr")]


def _scores(df: pd.DataFrame | None, side: str) -> _Scores | None:
    if df is None:
        return None
    df = require(df, ("y_true",), side)
    columns = sorted((c for c in df.columns if str(c).startswith("score_")), key=str)
    if "y_score" in df.columns:
        return _binary(df)
    if columns:
        return _one_vs_rest(df, columns)
    return None


def _binary(df: pd.DataFrame) -> _Scores | None:
    df = df.dropna(subset=["y_score"])
    labels = sorted({label(v) for v in df["y_true"]}, key=label_key)
    if len(labels) != 2:
        return None
    y = (df["y_true"].map(label) == labels[-1]).to_numpy()
    score = pd.to_numeric(df["y_score"], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(score)
    return _Scores(f"positive class {labels[-1]}", y[keep], score[keep])


def _one_vs_rest(df: pd.DataFrame, columns: Sequence[str]) -> _Scores | None:
    classes = sorted((str(c)[len("score_") :] for c in columns), key=label_key)
    scores = df[[f"score_{c}" for c in classes]].apply(pd.to_numeric, errors="coerce")
    keep = scores.notna().all(axis=1).to_numpy()
    truth = df["y_true"].map(label).to_numpy()[keep]
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
    with styled():
        fig = figure()
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
            legend.set_title(f"{stat} {signed(round(delta, 4))} vs base")
            legend.get_title().set_color(direction_color(delta, True))
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
