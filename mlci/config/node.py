"""A YAML value that knows its file, line and key path, so that every error about
mlci.yaml points at the line of the bad value."""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, NoReturn

from mlci.config.schema import REFERENCE_HINT
from mlci.errors import ConfigError


class Node:
    """A YAML value with its file, line and key path, for errors that point at it."""

    def __init__(self, value: Any, file: Path, key: str, line: int) -> None:
        self.value, self.file, self.key, self.line = value, file, key, line

    @classmethod
    def wrap(cls, node: Any, file: Path, key: str, line: int) -> Node:
        import yaml

        if node is None:
            return cls({}, file, key, line)
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) or not key:
            line = node.start_mark.line + 1  # a block mapping or list starts below its key
        if isinstance(node, yaml.MappingNode):
            items: dict[str, Node] = {}
            for k, v in node.value:
                name = str(yaml.SafeLoader(" ").construct_object(k))
                child = f"{key}.{name}" if key else name
                if name in items:
                    cls(None, file, child, k.start_mark.line + 1).fail("is given twice")
                items[name] = cls.wrap(v, file, child, k.start_mark.line + 1)
            return cls(items, file, key, line)
        if isinstance(node, yaml.SequenceNode):
            seq = [
                cls.wrap(v, file, f"{key}[{i}]", v.start_mark.line + 1)
                for i, v in enumerate(node.value)
            ]
            return cls(seq, file, key, line)
        loader = yaml.SafeLoader("")
        return cls(loader.construct_object(node), file, key, line)

    def where(self) -> str:
        return f"{display_path(self.file)}:{self.line}"

    def fail(self, problem: str, hint: str = REFERENCE_HINT) -> NoReturn:
        raise ConfigError(f"{self.key or 'the document'} {problem}", where=self.where(), hint=hint)

    def mapping(self, allowed: tuple[str, ...]) -> dict[str, Node]:
        if not isinstance(self.value, dict):
            self.fail(f"must be a mapping, got {kind(self.value)}")
        for name, child in self.value.items():
            if name not in allowed:
                child.fail("is not a known key", hint=suggest(name, allowed, "allowed"))
        return dict(self.value)

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail(f"must be a non-empty string, got {kind(self.value)}")
        return str(self.value)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"must be true or false, got {kind(self.value)}")
        return bool(self.value)

    def number(self, low: float | None = None, high: float | None = None) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(f"must be a number, got {kind(v)}")
        if (low is not None and v < low) or (high is not None and v > high):
            self.fail(
                f"must be between {low:g} and {high:g}, got {v:g}"
                if high is not None
                else f"must be at least {low:g}, got {v:g}"
            )
        return float(v)

    def integer(self, low: int = 0) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"must be a whole number, got {kind(self.value)}")
        if self.value < low:
            self.fail(f"must be at least {low}, got {self.value}")
        return int(self.value)

    def strings(self) -> tuple[str, ...]:
        """A string or a list of strings."""
        if isinstance(self.value, str):
            return (self.text(),)
        if not isinstance(self.value, list):
            self.fail(f"must be a string or a list of strings, got {kind(self.value)}")
        return tuple(item.text() for item in self.value)


def suggest(name: str, choices: tuple[str, ...], otherwise: str, n: int = 1) -> str:
    """A did-you-mean for a misspelt name, else the choices there are."""
    close = difflib.get_close_matches(name, choices, n=n)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return f"{otherwise}: " + ", ".join(choices)


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
