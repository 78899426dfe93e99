"""The one figure across the jobs of a matrix: a metric's head per job, its base beside it.

Only matplotlib's object API with the Agg canvas (no pyplot, no pandas: a merge job has
nothing else to import), a fixed layout (constrained layout costs more than the bars with
a hundred jobs), the report's colours, and PNG bytes that depend only on the data, so the
assets branch stores one image per content.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

BASE, HEAD, FAILED, NOTE = (
    "#9a9a9a",
    "#1f6fb4",
    "#d62728",
    "#6b6b6b",
)  # as mlci.report.plots.style


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
    height = min(9.5, 1.6 + 0.27 * len(shown))
    fig = Figure(figsize=(8.0, height), dpi=100)
    FigureCanvasAgg(fig)
    inch = 1 / height
    fig.subplots_adjust(left=0.2, right=0.96, top=1 - 0.7 * inch, bottom=0.85 * inch)
    ax = fig.add_subplot()
    for i, (_, base, head, failed) in enumerate(shown):
        if base is not None and math.isfinite(base):
            ax.barh(i - 0.2, base, height=0.38, color=BASE)
        ax.barh(i + 0.2, head, height=0.38, color=FAILED if failed else HEAD)
        ax.text(head, i + 0.2, f" {head:.4g}", va="center", fontsize=7)
    names = [b[0] if len(b[0]) <= 28 else b[0][:27] + "…" for b in shown]
    ax.set_yticks(range(len(shown)), names, fontsize=8)
    ax.set_ylim(len(shown) - 0.4, -0.6)
    values = [v for b in shown for v in (b[1], b[2]) if v is not None and math.isfinite(v)]
    low, high = min(0.0, *values), max(0.0, *values)
    ax.set_xlim(low * 1.12, high * 1.12 or 1.0)  # room for the value labels
    better = "higher" if higher_is_better else "lower"
    ax.set_xlabel(f"{metric} ({better} is better)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    title = f"{metric} by job: head vs base"
    fig.text(0.02, 1 - 0.3 * inch, title, fontweight="bold", fontsize=10, va="center")
    handles = [
        Patch(facecolor=BASE, label="base"),
        Patch(facecolor=HEAD, label="head"),
        Patch(facecolor=FAILED, label="head of a failed job"),
    ]
    fig.legend(
        handles=handles,
        loc="center right",
        bbox_to_anchor=(0.98, 1 - 0.3 * inch),
        ncols=3,
        fontsize=7,
        frameon=False,
    )
    if len(ranked) > len(shown):
        note = f"{len(ranked) - len(shown)} more jobs in result.json"
        fig.text(0.01, 0.01, note, fontsize=7, color=NOTE)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    return path
