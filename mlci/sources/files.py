"""Where a run's metric and params files are read from: the disk, or a commit.

One reader (mlci.sources.metrics.read_file) serves both, so the metrics committed at the
merge-base are read exactly like the ones a training just wrote, dvclive output included.
Paths are Paths: absolute or relative to the working directory on disk, relative to the
repository root in a commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from mlci.paths import is_inside

if TYPE_CHECKING:
    from mlci.git.repo import Repo

Kind = Literal["file", "dir"]


class Files(Protocol):
    """The few questions the readers ask about a tree of files."""

    def kind(self, path: Path) -> Kind | None:
        """ "dir", "file" (anything else that exists), or None when there is nothing there."""

    def read(self, path: Path) -> bytes:
        """The bytes of a file; OSError when they cannot be had."""

    def is_file(self, path: Path, within: Path) -> bool:
        """A file that, symlinks resolved, stays in the checkout around `within`."""

    def glob(self, directory: Path, suffix: str, within: Path) -> list[Path]:
        """Files below directory ending in suffix that stay in the checkout around `within`,
        sorted like paths."""


class Disk:
    """The working tree (or a temporary training directory): files as they are now."""

    def kind(self, path: Path) -> Kind | None:
        return "dir" if path.is_dir() else "file" if path.exists() else None

    def read(self, path: Path) -> bytes:
        return path.read_bytes()

    def is_file(self, path: Path, within: Path) -> bool:
        return path.is_file() and is_inside(path, within)

    def glob(self, directory: Path, suffix: str, within: Path) -> list[Path]:
        return sorted(p for p in directory.rglob(f"*{suffix}") if is_inside(p, within))


class AtCommit:
    """The files of a commit, read from git's objects without a checkout."""

    def __init__(self, repo: Repo, sha: str) -> None:
        self.repo, self.sha = repo, sha

    def kind(self, path: Path) -> Kind | None:
        if self.repo.tracked_at(self.sha, path.as_posix()):
            return "file"
        return "dir" if self.repo.list_files(self.sha, path.as_posix()) else None

    def read(self, path: Path) -> bytes:
        data = self.repo.blob(self.sha, path.as_posix())
        if data is None:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return data

    def is_file(self, path: Path, within: Path) -> bool:
        return self.repo.tracked_at(self.sha, path.as_posix())  # a tree cannot lead out

    def glob(self, directory: Path, suffix: str, within: Path) -> list[Path]:
        found = self.repo.list_files(self.sha, directory.as_posix())
        return sorted(Path(p) for p in found if p.endswith(suffix))


DISK = Disk()
