"""The formats of metric and params files: json, yaml, csv/tsv (last row) and text, each
parsed from its text into one flat ``name -> value`` mapping (nested keys joined with '.').

Users write metrics in whatever shape their training already produces; compare and gates
see a single shape. Only stdlib and PyYAML (imported lazily): ``mlci gate`` imports this
and must start fast.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path

from mlci.errors import MetricsError

SUPPORTED = (".json", ".yaml", ".yml", ".csv", ".tsv", ".txt", ".log")
# `Accuracy: 0.844`, `Mean Absolute Error = 41.99` (CML's metrics.txt), `acc: 93%`
_TEXT_PAIR = re.compile(
    r"^\s*(?P<name>[^:=]*?[^\s:=])\s*[:=]\s*"
    r"(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)"
    r"\s*%?\.?\s*$",
    re.IGNORECASE,
)


def flatten(obj: object, prefix: str = "") -> dict[str, object]:
    """Nested dicts and lists -> one level: {'a': {'b': [1]}} -> {'a.b.0': 1}."""
    if isinstance(obj, dict):
        items: Iterable[tuple[object, object]] = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return {prefix: obj}
    flat: dict[str, object] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def to_number(value: object) -> float | None:
    """A metric value as a float, or None when it is not a number (bools are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_text(text: str, name: str) -> dict[str, object]:
    """Parse by the extension of name; csv/tsv give their header and last data row."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        kind = f"'{suffix}'" if suffix else "(no extension)"
        raise MetricsError(
            f"unknown file format {kind}",
            where=name,
            hint="use a .json, .yaml, .yml, .csv, .tsv, .txt or .log file, or a dvclive directory",
        )
    if not text.strip():
        raise MetricsError(
            "the file is empty", where=name, hint="check that the training writes its values"
        )
    if suffix == ".json":
        data = _parse_json(text, name)
    elif suffix in (".yaml", ".yml"):
        data = _parse_yaml(text, name)
    elif suffix in (".txt", ".log"):
        return _parse_pairs(text, name)
    else:
        return _parse_table(text, name, delimiter="\t" if suffix == ".tsv" else ",")
    if not isinstance(data, dict):
        raise MetricsError(
            f"the top level is a {_type_name(data)}, not a mapping of names to values",
            where=name,
            hint='write a mapping such as {"accuracy": 0.93}',
        )
    return flatten(data)


FLAT_HINT = "write a flat mapping of metric names to numbers"


def _parse_json(text: str, name: str) -> object:
    from mlci import bounded

    try:
        return bounded.load_json(text)  # accepts NaN and Infinity, as Python and dvclive write
    except json.JSONDecodeError as e:
        raise MetricsError(
            f"invalid JSON: {e.msg}",
            where=f"{name}:{e.lineno}:{e.colno}",
            hint="fix the JSON at that line and column",
        ) from e
    except bounded.TooLarge as e:
        raise MetricsError(f"too deep to read: {e}", where=name, hint=FLAT_HINT) from e


def _parse_yaml(text: str, name: str) -> object:
    import yaml

    from mlci import bounded

    try:
        return yaml.load(text, Loader=bounded.yaml_loader())  # a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        problem = bounded.yaml_problem(e)
        hint = "fix the YAML at that position" if mark is not None else FLAT_HINT
        raise MetricsError(f"invalid YAML: {problem}", where=where, hint=hint) from e


def _parse_pairs(text: str, name: str) -> dict[str, object]:
    """Every `NAME: NUMBER` / `NAME = NUMBER`, several per line split by ',' or ';'; lines
    of prose around them are skipped. A name seen twice keeps its last value (a log)."""
    values: dict[str, object] = {}
    for line in text.splitlines():
        for part in re.split(r"[,;]", line):
            match = _TEXT_PAIR.match(part)
            if match:
                values[match["name"]] = float(match["number"])
    if not values:
        raise MetricsError(
            "no `NAME: NUMBER` or `NAME = NUMBER` in this text file",
            where=name,
            hint="write one value per line, such as `Accuracy: 0.93`",
        )
    return values


def _parse_table(text: str, name: str, delimiter: str) -> dict[str, object]:
    """Header row + the last data row: a per-epoch log ends with the final values."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    last: list[str] | None = None
    last_line = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
            else:
                last, last_line = row, reader.line_num
    except csv.Error as e:
        raise MetricsError(
            f"invalid {Path(name).suffix[1:]}: {e}", where=f"{name}:{reader.line_num}"
        ) from e
    if header is None or last is None:
        raise MetricsError(
            "no data row below the header",
            where=name,
            hint="write a header row of names and at least one row of values",
        )
    if len(last) != len(header):
        raise MetricsError(
            f"the last row has {len(last)} fields but the header has {len(header)}",
            where=f"{name}:{last_line}",
            hint="write one value per column",
        )
    return {key: _cell(cell) for key, cell in zip(header, last, strict=True)}


def _cell(cell: str) -> object:
    text = cell.strip()
    if not text:
        return None
    number = to_number(text)
    return text if number is None else number


def _type_name(value: object) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names = {"list": "list", "str": "string"}
    return names.get(type(value).__name__, type(value).__name__)
