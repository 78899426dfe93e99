"""The project a command works on: its git repository, its mlci.yaml and its `.mlci/` dir.

mlci.yaml is looked for in the working directory and then up to the repository root, so
a project in a subdirectory of a larger repository works too; the paths in mlci.yaml are
relative to the directory that holds it (the repository root in the usual layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci import config as configs
from mlci import output
from mlci.config import Config

if TYPE_CHECKING:
    from mlci.git.repo import Repo


@dataclass(frozen=True)
class Workspace:
    repo: Repo
    config: Config
    cache: bool = True  # False with --no-cache: train even when the inputs are unchanged

    @property
    def root(self) -> Path:
        """The project directory: where mlci.yaml is, commands run and `.mlci/` lives."""
        return self.config.root

    @property
    def subdir(self) -> str:
        """The project directory relative to the repository root ('' at the root)."""
        rel = self.root.resolve().relative_to(self.repo.root.resolve())
        return "" if str(rel) == "." else rel.as_posix()

    def in_repo(self, path: str) -> str:
        """A project-relative path as a repository-relative one, for `git show`."""
        return f"{self.subdir}/{path}" if self.subdir else path


def open_workspace(
    config_path: Path | None = None,
    cwd: Path | None = None,
    *,
    report_name: str | None = None,
    cache: bool = True,
    optional: bool = False,
) -> Workspace:
    """The repository here and its mlci.yaml; with `optional`, the defaults when there is
    none (`mlci merge` needs only the report's name and the publishing switches)."""
    from mlci.git.repo import Repo

    here = (cwd or Path.cwd()).resolve()
    repo = Repo(here)
    if config_path is None:
        config_path = _find_upwards(here, repo.root.resolve())
        if config_path is None and optional:
            default = Config(path=repo.root / configs.CONFIG_NAME, train=configs.TrainConfig())
            return Workspace(repo, configs.with_report_name(default, report_name), cache)
    path = configs.find(repo.root, config_path, here=here)
    config = configs.with_report_name(configs.load(path.resolve()), report_name)
    output.debug(f"mlci: config {path.resolve()}, repository {repo.root}")
    return Workspace(repo=repo, config=config, cache=cache)


def _find_upwards(start: Path, top: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / configs.CONFIG_NAME
        if candidate.is_file():
            return candidate
        if folder == top:
            break
    return None
