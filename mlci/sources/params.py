"""A run's params files, merged like its metrics; values stay JSON scalars."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from mlci.sources.metrics import merged


def read_params(paths: Sequence[str], root: Path) -> dict[str, object]:
    """Params files merged like metrics; values stay JSON scalars (str, int, float, bool, null)."""
    return {name: _json_scalar(raw) for name, raw, _ in merged(paths, root, "train.params")}


def _json_scalar(value: object) -> object:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()  # YAML turns 2024-01-31 into a date
    return str(value)
