"""A regressor's predictions against the truth, and its residuals: residuals.png."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from mlci.report.plots.columns import require
from mlci.report.plots.style import BASE, BOXED, DRAWABLE, HEAD, figure, fmt, save, styled

_SCATTER_MAX = 5000


def regression(base: pd.DataFrame | None, head: pd.DataFrame, out_dir: Path) -> Path | None:
    """Predicted vs true (the diagonal is perfect) and the residual histogram: residuals.png."""
    sides = [(_numeric(head, "head"), "head")]
    if base is not None:
        sides.insert(0, (_numeric(base, "base"), "base"))
    sides = [(df, name) for df, name in sides if not df.empty]
    if not any(name == "head" for _, name in sides):
        return None
    with styled():
        fig = figure()
        scatter, hist = fig.subplots(1, 2)
        _draw_scatter(scatter, sides)
        _draw_residuals(hist, sides)
        fig.suptitle("Regression: predictions and residuals", fontweight="bold")
        return save(fig, out_dir / "residuals.png")


def _numeric(df: pd.DataFrame, side: str) -> pd.DataFrame:
    df = require(df, ("y_true", "y_pred"), side)
    out = pd.DataFrame(
        {
            "y_true": pd.to_numeric(df["y_true"], errors="coerce"),
            "y_pred": pd.to_numeric(df["y_pred"], errors="coerce"),
        }
    )
    drawable = (out["y_true"].abs() < DRAWABLE) & (out["y_pred"].abs() < DRAWABLE)
    return out[drawable]  # NaN, infinities and values like 1e308 would overflow the axes


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
            label=f"{side} (RMSE {fmt(rmse)})",
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
    ax.legend(loc="upper left", markerscale=2, **BOXED)


def _draw_residuals(ax: Axes, sides: Sequence[tuple[pd.DataFrame, str]]) -> None:
    residuals = {side: (df["y_pred"] - df["y_true"]).to_numpy() for df, side in sides}
    pooled = np.concatenate(list(residuals.values()))
    bins = int(min(40, max(10, math.sqrt(len(pooled)))))
    edges = [float(e) for e in np.histogram_bin_edges(pooled, bins=bins)]
    for side, res in residuals.items():
        label = f"{side} (mean {fmt(float(res.mean()))}, sd {fmt(float(res.std()))})"
        if side == "base":
            ax.hist(res, bins=edges, histtype="stepfilled", color=BASE, alpha=0.5, label=label)
        else:
            ax.hist(res, bins=edges, histtype="step", color=HEAD, linewidth=1.8, label=label)
    ax.axvline(0, color="#444444", linestyle="--", linewidth=1)
    ax.set_title("residuals (predicted − true)")
    ax.set_xlabel("residual")
    ax.set_ylabel("examples")
    ax.margins(y=0.25)
    ax.legend(loc="upper left", **BOXED)
