"""Paths from mlci.yaml stay inside the repository, symlinks included.

train.metrics, params, predictions, plots, data and inputs name files that mlci reads and
may publish: `../secrets.json`, `/etc/passwd` or a metrics.json that is a symlink out of
the checkout would put someone else's file into a PR comment.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlci.errors import ConfigError

HINT = (
    "keep it inside the repository: paths in mlci.yaml are relative to the directory of mlci.yaml"
)


def repo_top(start: Path) -> Path | None:
    """The nearest directory at or above start that holds .git (a worktree's .git is a file)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def escapes(given: str, root: Path) -> bool:
    """True when given (a path or a glob, relative to root) leads out of the repository,
    by its text or through a symlink on its literal part."""
    top = repo_top(root.resolve())
    if top is None:  # not in a checkout (a copy of mlci.yaml read from git): nothing to guard
        return False
    top = top.resolve()
    lexical = Path(os.path.normpath(root.resolve() / given))
    return _out(lexical, top) or _out((root / _literal_part(given)).resolve(), top)


def inside(root: Path, given: str, key: str) -> Path:
    """root/given for reading, or a ConfigError (exit 2) naming the key when it leads out."""
    if escapes(given, root):
        raise ConfigError(
            f"{key} leads outside the repository: {given}", where=f"{key} in mlci.yaml", hint=HINT
        )
    return root / given


def is_inside(path: Path, root: Path) -> bool:
    """For files a glob matched: does this one (symlinks resolved) stay in the repository?"""
    top = repo_top(root.resolve())
    return top is None or not _out(path.resolve(), top.resolve())


def _out(path: Path, top: Path) -> bool:
    """Outside the checkout, or inside .git (whose config may hold the checkout's token)."""
    return not path.is_relative_to(top) or path.is_relative_to(top / ".git")


def _literal_part(pattern: str) -> str:
    """The leading components of a glob that hold no wildcard."""
    parts = []
    for part in Path(pattern).parts:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return os.path.join(*parts) if parts else "."
