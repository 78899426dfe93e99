"""Base beside head for what the training itself drew: dvclive's per-step series as two
curves on one plot, and the user's own images (`train.plots`) as two panels.

Imports matplotlib (through the figure style), so only the report stage imports this module.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlci.report.plots.style import BASE, HEAD, figure, save, slug, styled

SERIES = "series.json"  # in a run record: dvclive's per-step values, name -> [[step, value]]
USER_IMAGES = "user"  # in a run record: the train.plots images, named as in the report


def load_series(run_dir: Path | None) -> dict[str, list[list[float]]]:
    path = run_dir / SERIES if run_dir is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def series_curves(base_dir: Path | None, head_dir: Path | None, out_dir: Path) -> list[Path]:
    """One figure per series the head logged: the head's curve over the base's, per step."""
    base, head = load_series(base_dir), load_series(head_dir)
    made = []
    for name, points in sorted(head.items()):
        with styled():
            fig = figure(3.6)
            ax = fig.subplots()
            if name in base:
                xs, ys = zip(*base[name], strict=True)
                ax.plot(xs, ys, color=BASE, marker="o", markersize=3, label="base")
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=HEAD, marker="o", markersize=3, label="head")
            ax.set_xlabel("step")
            ax.set_title(f"{name} per step")
            ax.legend(loc="best", fontsize=8)
        made.append(save(fig, out_dir / f"series-{slug(name)}.png"))
    return made


def user_image_pair(head_image: Path, base_dir: Path | None) -> bool:
    """Redraw a copied user image as base | head when the baseline's record has it too."""
    base_image = base_dir / USER_IMAGES / head_image.name if base_dir is not None else None
    if base_image is None or not base_image.is_file() or head_image.suffix.lower() != ".png":
        return False
    import matplotlib.image

    try:
        pixels = [matplotlib.image.imread(str(p)) for p in (base_image, head_image)]
    except (OSError, SyntaxError, ValueError):  # not a PNG matplotlib can read: shown as is
        return False
    with styled():
        fig = figure(4.0)
        for ax, image, title in zip(fig.subplots(1, 2), pixels, ("base", "head"), strict=True):
            ax.imshow(image)
            ax.set_title(title)
            ax.axis("off")
    save(fig, head_image)
    return True
