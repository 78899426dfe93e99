"""The user's own images (train.plots), copied into the report under flat, stable names."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from mlci.report.plots.style import slug

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")

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
    stem = "-".join(slug(part) for part in rel.with_suffix("").parts)
    suffix = rel.suffix.lower()
    name, count = stem + suffix, 1
    while name in taken:
        count += 1
        name = f"{stem}-{count}{suffix}"
    taken.add(name)
    return name
