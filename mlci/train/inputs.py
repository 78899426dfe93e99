"""What feeds training, and one fingerprint of it: the run cache's key.

`train.inputs` are globs relative to the directory of mlci.yaml (default: every tracked
file but DEFAULT_INPUT_EXCLUDES); the outputs that `train` names, mlci.yaml itself (its
train section is hashed on its own) and `.mlci/` are never inputs. Globs read like
.gitignore lines: `*` stays within a folder, `**` crosses folders, a glob without a `/`
matches a name at any depth, and a glob that names a folder takes what is inside it.

The fingerprint hashes the inputs' git blob ids, the train section, the params files and
the report name (a matrix job's `--name`).
Tracked files that git sees unchanged are never read: their blob ids come from the index
(`git ls-files -s`) or the commit (`git ls-tree`). Only what git does not know (changed
tracked files, untracked files a glob names) is hashed, and a stat cache in `.mlci/` keeps
those hashes until the file changes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import record as records
from mlci.config import DEFAULT_INPUT_EXCLUDES, Config, TrainConfig

if TYPE_CHECKING:
    from mlci.workspace import Workspace

VERSION = "i1"  # in every fingerprint: a new way of hashing never matches an old one
_STAT_CACHE = "cache/blobs.json"
_GLOB_CHARS = re.compile(r"[*?\[]")


# -- which paths are inputs --------------------------------------------------------------


def is_input(config: Config, path: str) -> bool:
    """Does the file at `path` (relative to the directory of mlci.yaml) feed training?"""
    return _rule(config)(path)


def _rule(config: Config) -> Callable[[str], bool]:
    """is_input with the globs compiled once, for filtering thousands of paths."""
    never = _any_of((records.STATE_DIR, config.path.name, *outputs(config.train)))
    globs = explicit(config.train)
    wanted = _any_of(globs) if globs else None
    unwanted = _any_of(DEFAULT_INPUT_EXCLUDES)

    def rule(path: str) -> bool:
        path = path.removeprefix("./")
        if never.fullmatch(path):
            return False
        if wanted is not None:
            return wanted.fullmatch(path) is not None
        return unwanted.fullmatch(path) is None

    return rule


def explicit(train: TrainConfig) -> tuple[str, ...]:
    """The globs the user gave (`train.inputs`, and the older `train.data`), or ()."""
    return (*train.inputs, *train.data)


def outputs(train: TrainConfig) -> tuple[str, ...]:
    """What the training writes: never an input, even when a glob matches it."""
    return (*train.metrics, *([train.predictions] if train.predictions else []), *train.plots)


@functools.lru_cache(maxsize=64)
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for a set of globs: a repository of 10,000 files is filtered in one pass."""
    return re.compile("|".join(f"(?:{_regex(p)})" for p in patterns), re.DOTALL)


def _regex(pattern: str) -> str:
    """A glob as a regex over posix paths, with the .gitignore reading the docstring gives."""
    glob = pattern.strip().removeprefix("./").strip("/")
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            inner = glob[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + inner[1:] if inner.startswith("!") else inner) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    anywhere = "" if "/" in glob else "(?:.*/)?"
    return f"{anywhere}{''.join(out)}(?:/.*)?"


def _literal_dir(pattern: str) -> str | None:
    """The folder a glob is rooted in ("data" for data/**/*.csv); None when it has none."""
    glob = pattern.strip().removeprefix("./").strip("/")
    if "/" not in glob:
        return None if _GLOB_CHARS.search(glob) else glob
    parts = glob.split("/")
    fixed = []
    for part in parts[:-1]:
        if _GLOB_CHARS.search(part):
            break
        fixed.append(part)
    if len(fixed) == len(parts) - 1 and not _GLOB_CHARS.search(parts[-1]):
        fixed.append(parts[-1])
    return "/".join(fixed) or None


# -- the fingerprint ---------------------------------------------------------------------


def of_checkout(ws: Workspace, train: TrainConfig | None = None) -> str:
    """The fingerprint of the checkout as it is now, uncommitted changes included."""
    config = ws.config if train is None else replace(ws.config, train=train)
    repo, prefix = ws.repo, _prefix(ws)
    blobs = _project(repo.index_blobs(ws.subdir), prefix)
    changed = _project(dict.fromkeys(repo.changed_in_worktree(ws.subdir), ""), prefix)
    extra = _untracked(ws, config.train)
    rule = _rule(config)
    wanted = {p for p in (*blobs, *extra) if rule(p)} | set(config.train.params)
    known = {p: blobs[p] for p in wanted if p in blobs and p not in changed}
    stat = _StatCache(records.state_dir(ws.root) / _STAT_CACHE)
    hashed = stat.blobs(ws.root, sorted(wanted - known.keys()))
    stat.save()
    return _digest({**known, **hashed}, config)


def at_commit(ws: Workspace, sha: str, train: TrainConfig) -> str:
    """The fingerprint of a commit as committed (no checkout): a clean checkout of it
    whose untracked files no input glob names has the same one."""
    config = replace(ws.config, train=train)
    blobs = _project(ws.repo.blobs_at(sha, ws.subdir), _prefix(ws))
    rule = _rule(config)
    files = {p: b for p, b in blobs.items() if rule(p) or p in train.params}
    return _digest(files, config)


def _digest(files: dict[str, str], config: Config) -> str:
    """The report name counts too: the jobs of a matrix (`--name JOB`) often differ only
    by an environment variable their training reads, so they never stand for each other."""
    h = hashlib.sha256(f"mlci inputs {VERSION}\n".encode())
    h.update("".join(f"{path}\0{blob}\n" for path, blob in sorted(files.items())).encode())
    h.update(json.dumps(config.train.as_dict(), sort_keys=True, default=str).encode())
    h.update(f"\nreport {config.report.name}".encode())
    return f"{VERSION}:{h.hexdigest()[:32]}"


def _prefix(ws: Workspace) -> str:
    return f"{ws.subdir}/" if ws.subdir else ""


def _project(entries: dict[str, str], prefix: str) -> dict[str, str]:
    """Repo-relative paths -> paths relative to the directory of mlci.yaml."""
    if not prefix:
        return entries
    return {p[len(prefix) :]: v for p, v in entries.items() if p.startswith(prefix)}


def _untracked(ws: Workspace, train: TrainConfig) -> list[str]:
    """Untracked files that explicit globs name: anywhere unless git ignores them, and
    ignored ones too under a folder a glob names (`data/**` for data a DVC pull brought)."""
    globs = explicit(train)
    if not globs:
        return []
    folders = {_literal_dir(g) for g in globs}
    named = [ws.in_repo(f) for f in folders if f]
    found = ws.repo.untracked([ws.subdir], ignored=False)
    if named:
        found += ws.repo.untracked(named, ignored=True)
    return list(_project(dict.fromkeys(found, ""), _prefix(ws)))


def blob_id(path: Path) -> str:
    """The id git gives the file's content (`git hash-object`), without running git."""
    if path.is_symlink():
        data = os.readlink(path).encode()
        return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
    h = hashlib.sha1(b"blob %d\0" % path.stat().st_size, usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _StatCache:
    """Blob ids of files git does not know, kept while size, mtime and inode stay the same."""

    def __init__(self, file: Path) -> None:
        self.file, self.dirty = file, False
        try:
            loaded: Any = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = {}
        self.entries: dict[str, list[Any]] = loaded if isinstance(loaded, dict) else {}

    def blobs(self, root: Path, paths: list[str]) -> dict[str, str]:
        """path -> blob id of the files that exist (a deleted tracked file has none); the
        files not in the cache are hashed in threads (hashlib lets go of the GIL)."""
        from concurrent.futures import ThreadPoolExecutor

        found, keys = {}, {}
        for path in paths:
            try:
                st = (root / path).lstat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                continue
            keys[path] = [st.st_size, st.st_mtime_ns, st.st_ino]
            known = self.entries.get(path)
            if isinstance(known, list) and len(known) == 4 and known[:3] == keys[path]:
                found[path] = str(known[3])
        missing = [p for p in keys if p not in found]
        if missing:
            with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
                for path, blob in zip(
                    missing, pool.map(lambda p: blob_id(root / p), missing), strict=True
                ):
                    found[path], self.entries[path] = blob, [*keys[path], blob]
            self.dirty = True
        return found

    def save(self) -> None:
        if not self.dirty:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}")
        tmp.write_text(json.dumps(self.entries), encoding="utf-8")
        tmp.replace(self.file)
