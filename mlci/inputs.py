"""What feeds training: the files matched by `train.inputs`, never what training writes.

A committed metrics file is stale when an input changed after it; the run cache keys on the
same set. Globs are relative to the directory of mlci.yaml; one without a '/' matches a
file's name at any depth, as in .gitignore (`*.md`).
"""

from __future__ import annotations

import functools
import re
from pathlib import PurePosixPath

from mlci.config import DEFAULT_INPUT_EXCLUDES, Config
from mlci.record import STATE_DIR


def is_input(config: Config, path: str | PurePosixPath) -> bool:
    """True when `path` (relative to mlci.yaml's directory) feeds the training."""
    rel = PurePosixPath(path).as_posix().removeprefix("./")
    train = config.train
    if rel == STATE_DIR or rel.startswith(f"{STATE_DIR}/"):
        return False
    outputs = (*train.metrics, *train.params, *train.plots)
    outputs += (train.predictions,) if train.predictions else ()
    for out in outputs:
        stripped = out.rstrip("/")
        if rel.startswith(f"{stripped}/") or _matches(stripped, rel):
            return False
    if train.inputs:
        return any(_matches(pattern, rel) for pattern in train.inputs)
    return not any(_matches(pattern, rel) for pattern in DEFAULT_INPUT_EXCLUDES)


def _matches(pattern: str, rel: str) -> bool:
    if "/" not in pattern.rstrip("/"):
        return bool(_regex(pattern).fullmatch(rel.rsplit("/", 1)[-1])) or bool(
            _regex(pattern).fullmatch(rel)
        )
    return bool(_regex(pattern.removeprefix("./")).fullmatch(rel))


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: `**` spans folders, `*` and `?` stay inside one."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
