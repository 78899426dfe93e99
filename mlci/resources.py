"""Files shipped with mlci: templates and the bundled example, in a wheel or a checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    """Inside the wheel they sit in the package; in a source checkout, beside it."""
    inside = _HERE / name
    return inside if inside.is_dir() else _HERE.parent / name


def templates_dir() -> Path:
    return _shipped("templates")


def examples_dir() -> Path:
    return _shipped("examples")
