"""The one figure across the jobs of a matrix: a metric's head per job, its base beside it.

Drawn with the report's own figure helpers, so it looks like the other plots and its PNG
bytes depend only on the data (the assets branch stores images by content).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.patches import Patch

from mlci.plots import (
    BASE,
    HEAD,
    NEUTRAL,
    WORSE,
    _figure,
    _fmt,
    _more_note,
    _short,
    _style,
    _tall,
    save,
)


def jobs(
    bars: Sequence[tuple[str, float | None, float, bool]],
    metric: str,
    higher_is_better: bool,
    path: Path,
    limit: int,
) -> Path:
    """bars: (job, base, head, failed); the best heads first, at most `limit` of them."""
    ranked = sorted(bars, key=lambda b: (-b[2] if higher_is_better else b[2], b[0]))
    ranked = [b for b in ranked if math.isfinite(b[2])] or list(ranked)
    shown = ranked[: max(1, limit)]
    with _style():
        fig = _figure(_tall(len(shown)))
        ax = fig.subplots()
        for i, (_, base, head, failed) in enumerate(shown):
            if base is not None and math.isfinite(base):
                ax.barh(i - 0.2, base, height=0.38, color=BASE)
            ax.barh(i + 0.2, head, height=0.38, color=WORSE if failed else HEAD)
            ax.text(head, i + 0.2, " " + _fmt(head), va="center", fontsize=7.5)
        ax.set_yticks(range(len(shown)), [_short(b[0], 28) for b in shown])
        ax.set_ylim(len(shown) - 0.4, -0.6)
        values = [v for b in shown for v in (b[1], b[2]) if v is not None and math.isfinite(v)]
        low, high = min(0.0, *values), max(0.0, *values)
        ax.set_xlim(low * 1.12, high * 1.12 or 1.0)  # room for the value labels
        better = "higher" if higher_is_better else "lower"
        ax.set_xlabel(f"{metric} ({better} is better)")
        fig.suptitle(f"{metric} by job: head vs base", fontweight="bold")
        handles = [
            Patch(facecolor=BASE, label="base"),
            Patch(facecolor=HEAD, label="head"),
            Patch(facecolor=WORSE, label="head of a failed job"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=3)
        note = _more_note(len(shown), len(ranked))
        if note:
            fig.supxlabel(note, fontsize=8, color=NEUTRAL)
        return save(fig, path)
