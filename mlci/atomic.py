"""Writes that another run never sees half done: a file or directory is made beside its
place under a temporary name and renamed into it, which readers see all at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from mlci import lock
from mlci.config import display_path

LOCK_NAME = ".mlci.lock"  # the report directory's lock, inside it while held
STAGE_PREFIX = ".mlci-stage-"  # a report being rendered, moved in whole when done


def write_text(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a reader sees the old text or the new)."""
    with _replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def copy_file(src: Path, dst: Path) -> None:
    """shutil.copyfile, but a reader of `dst` never sees a partial copy."""
    with _replacing(dst) as tmp:
        shutil.copyfile(src, tmp)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` that takes its place when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def replace_dir(tmp: Path, target: Path) -> None:
    """Put the finished directory `tmp` at `target`. An existing target is exchanged with
    it in one step where the system can (Linux), so a reader never finds it missing; the
    old one is then deleted. The caller holds the target's lock: no other writer races."""
    if not target.exists():
        tmp.rename(target)
        return
    if _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old directory
        return
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """renameat2(RENAME_EXCHANGE): swap two paths atomically; False where unsupported."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # an old or non-glibc C library
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(done == 0)


@contextlib.contextmanager
def staged_dir(out: Path, prepare: Callable[[Path], object]) -> Iterator[Path]:
    """A private directory inside `out` to render into; when the block succeeds its files
    are moved into `out` under out's lock, `prepare(out)` first (to clear what the report
    there before listed), so two runs with the same --out leave one whole report."""
    stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=out))
    try:
        yield stage
        with lock.held(out / LOCK_NAME, f"the report directory {display_path(out)}"):
            prepare(out)
            files = sorted(p for p in stage.rglob("*") if p.is_file())
            # result.json names the report's files: it goes in last
            for src in sorted(files, key=lambda p: p.name == "result.json"):
                dst = out / src.relative_to(stage)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
