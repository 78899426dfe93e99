"""Parsing that cannot hang or crash on hostile input: YAML with its aliases expanded and
its nesting capped, JSON with its nesting capped, gzip with its output capped.

A metric file or a note is data from a training or a remote: a billion-laughs YAML of a
few hundred bytes, JSON nested ten thousand deep or a gzip bomb must end in one error
line, not in a hang, a MemoryError or a RecursionError.
"""

from __future__ import annotations

import json
import zlib
from functools import lru_cache
from typing import Any

MAX_DEPTH = 64  # levels of nesting; real metric and config files use fewer than 10
MAX_NODES = 100_000  # values after expanding YAML aliases
MAX_INFLATED = 256 * 1024 * 1024  # bytes a compressed blob may inflate to


class TooLarge(ValueError):
    """The input is beyond what mlci reads; the message says which limit."""


def yaml_loader() -> type:
    """A SafeLoader that refuses deep nesting and alias expansion beyond MAX_NODES."""
    return _loader()


@lru_cache(maxsize=1)
def _loader() -> type:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.YAMLError(f"nested deeper than {MAX_DEPTH} levels")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def get_single_node(self) -> Any:
            node = super().get_single_node()
            if node is not None and _expanded(node, {}) > MAX_NODES:
                raise yaml.YAMLError(
                    f"more than {MAX_NODES:,} values once its aliases are expanded"
                )
            return node

    return BoundedLoader


def _expanded(node: Any, seen: dict[int, int]) -> int:
    """How many values the node stands for with aliases expanded (memoised per node, so a
    bomb is measured without being expanded)."""
    key = id(node)
    if key in seen:
        return seen[key]
    seen[key] = MAX_NODES + 1  # a cycle counts as too many
    children = node.value if isinstance(node.value, list) else []
    total = 1
    for child in children:
        parts = child if isinstance(child, tuple) else (child,)
        for part in parts:
            total += _expanded(part, seen)
            if total > MAX_NODES:
                break
    seen[key] = total
    return total


def yaml_problem(e: Exception) -> str:
    """The one-line problem of a YAML error, without the file's text."""
    problem = getattr(e, "problem", None) or (str(e).splitlines() or ["invalid YAML"])[0]
    return str(problem)


def load_json(text: str | bytes) -> Any:
    """json.loads with nesting capped at MAX_DEPTH; TooLarge (a ValueError) beyond it."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise TooLarge(f"nested deeper than {MAX_DEPTH} levels") from None
    if _depth(data) > MAX_DEPTH:
        raise TooLarge(f"nested deeper than {MAX_DEPTH} levels")
    return data


def _depth(data: Any) -> int:
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, level = todo.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            todo.extend((v, level + 1) for v in value)
    return deepest


def gunzip(data: bytes, limit: int = MAX_INFLATED) -> bytes:
    """gzip.decompress that stops at `limit` bytes of output (TooLarge beyond)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise ValueError(f"not gzip data ({e})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"inflates to more than {limit // (1024 * 1024)} MiB")
    if not inflater.eof:
        raise ValueError("the gzip data is cut short")
    return out
