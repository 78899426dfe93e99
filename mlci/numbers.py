"""How mlci writes a number, so that a rule's reason and the table beside it agree."""

from __future__ import annotations

import math


def number(value: float | None, precision: int) -> str:
    """A table cell: `precision` digits after the point, tiny values in e-notation."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < 10**-precision:
        return f"{value:.{max(precision - 1, 1)}e}"
    return f"{value:.{precision}f}"


def prose(value: float, precision: int) -> str:
    """A number in a sentence: as in a table, with the trailing zeros dropped."""
    text = number(value, precision)
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text
