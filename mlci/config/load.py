"""Finding mlci.yaml and reading it: YAML nodes first, then the sections built from them."""

from __future__ import annotations

from pathlib import Path

from mlci.config import sections
from mlci.config.node import Node, display_path
from mlci.config.schema import CONFIG_NAME, Config
from mlci.errors import ConfigError


def find(root: Path, config: Path | None = None, *, here: Path | None = None) -> Path:
    """The config file to use: --config as given, else mlci.yaml at the repository root.
    When there is none, the error lists the mlci.yaml files below `here` (projects in
    sub-folders)."""
    path = config if config is not None else root / CONFIG_NAME
    if not path.is_file():
        if config is not None:
            missing = "is a directory" if config.is_dir() else "not found"
            raise ConfigError(
                f"config file {config} {missing}", where="--config", hint="check the path"
            )
        start = here or root
        below = [display_path(p) for p in configs_below(start)]
        if below:
            raise ConfigError(
                f"no {CONFIG_NAME} here or above it; found below: " + ", ".join(below),
                where=str(start),
                hint="cd into that project's folder, or pass --config FILE",
            )
        raise ConfigError(
            f"no {CONFIG_NAME} here or above it",
            where=str(start),
            hint="run `mlci init` to write a starter, or pass --config FILE",
        )
    return path


SKIPPED_DIRS = {".git", ".mlci", ".venv", "venv", "node_modules", ".dvc", "__pycache__"}


def configs_below(start: Path, limit: int = 10) -> list[Path]:
    """The mlci.yaml files under start, nearest first (virtualenvs and .git skipped)."""
    import os

    found: list[Path] = []
    for folder, dirs, files in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        if CONFIG_NAME in files and Path(folder) != start:
            found.append(Path(folder) / CONFIG_NAME)
    found.sort(key=lambda p: (len(p.parts), str(p)))
    return found[:limit]


def load(path: Path) -> Config:
    """Read and validate mlci.yaml; every error names the file, line and key path."""
    import yaml

    from mlci import bounded

    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})",
            where=shown,
            hint="save mlci.yaml as UTF-8",
        ) from e
    except OSError as e:
        raise ConfigError(
            f"cannot read it: {e.strerror or e}", where=shown, hint="check the file"
        ) from e
    try:
        node = yaml.compose(text, Loader=bounded.yaml_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        problem = bounded.yaml_problem(e)
        raise ConfigError(
            f"YAML syntax error: {problem}", where=where, hint="fix the YAML syntax"
        ) from e
    doc = Node.wrap(node, path, "", 1)
    return sections.build(doc, path)


def load_text(text: str, path: Path) -> Config:
    """Validate mlci.yaml as it was at another revision (the baseline's train section)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(text, encoding="utf-8")
        config = load(copy)
    return Config(**{**config.__dict__, "path": path})
