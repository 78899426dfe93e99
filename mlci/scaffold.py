"""`mlci init`: a starter mlci.yaml and workflow for an existing repository.

It guesses what it can (a train.py, a metrics file the training already writes), never
overwrites a file, and checks every target before it writes the first one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlci.config import display_path
from mlci.errors import UsageError
from mlci.resources import templates_dir

WORKFLOW = Path(".github") / "workflows" / "mlci.yml"
SCRIPTS = ("train.py", "src/train.py", "scripts/train.py", "training/train.py")
METRIC_FILES = (
    "metrics.json",
    "metrics.yaml",
    "metrics.yml",
    "metrics.csv",
    "eval/metrics.json",
    "results/metrics.json",
    "dvclive",
)
GITIGNORE_LINE = ".mlci/"


IGNORE_WORDS = {
    "added": "added .mlci/ to .gitignore",
    "created": "created .gitignore with .mlci/",
    "present": ".gitignore already ignores .mlci/",
}


@dataclass(frozen=True)
class InitResult:
    written: tuple[Path, ...]
    gitignore: str  # "added", "present" or "created"
    guesses: tuple[str, ...]

    def summary(self, shown: Callable[[Path], str]) -> str:
        """What was written and guessed, and the three steps left to the user."""
        lines = [f"wrote {shown(p)}" for p in self.written]
        lines += [f"  guessed {g}" for g in self.guesses]
        lines += [
            IGNORE_WORDS[self.gitignore],
            "",
            "Left to do:",
            "  1. check the train section of mlci.yaml, then try `mlci run --dry-run`",
            "  2. commit mlci.yaml and .github/workflows/mlci.yml, and push",
            "  3. protect the base branch: require the status check `mlci / default`",
        ]
        return "\n".join(lines)


def starter_config(root: Path) -> tuple[str, list[str]]:
    """The starter mlci.yaml, with the training command and metrics file filled in."""
    text = (templates_dir() / "mlci.yaml").read_text(encoding="utf-8")
    guesses = []
    script = next((s for s in SCRIPTS if (root / s).is_file()), None)
    if script is not None and script != "train.py":
        text = text.replace("command: python train.py", f"command: python {script}")
    if script is not None:
        guesses.append(f"train.command: python {script} (found {script})")
    metrics = next((m for m in METRIC_FILES if (root / m).exists()), None)
    if metrics is not None:
        text = text.replace("metrics: metrics.json", f"metrics: {metrics}")
        guesses.append(f"train.metrics: {metrics} (found it)")
    return text, guesses


def init(root: Path, *, workflow: str, base_branch: str = "main") -> InitResult:
    """Write mlci.yaml and the workflow; refuse (exit 2) when either exists."""
    config_text, guesses = starter_config(root)
    workflow = workflow.replace("branches: [main]", f"branches: [{base_branch}]")
    targets = {root / "mlci.yaml": config_text, root / WORKFLOW: workflow}
    for path in targets:
        if path.exists() or path.is_symlink():  # a dangling symlink is someone's too
            raise UsageError(
                f"{path.relative_to(root)} already exists",
                where=display_path(path),
                hint="`mlci init` never overwrites a file: move it away or edit it by hand",
            )
        for folder in path.relative_to(root).parents:
            if (root / folder).exists() and not (root / folder).is_dir():
                raise UsageError(
                    f"{folder} is a file, not a directory",
                    where=display_path(root / folder),
                    hint=f"move it away so that `mlci init` can write {path.relative_to(root)}",
                )
    written = []
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": fail rather than overwrite
            f.write(text)
        written.append(path)
    return InitResult(written=tuple(written), gitignore=_ignore_state(root), guesses=tuple(guesses))


def _ignore_state(root: Path) -> str:
    """Add `.mlci/` to .gitignore (appending; the user's lines stay as they are)."""
    path = root / ".gitignore"
    if not path.exists():
        path.write_text(f"{GITIGNORE_LINE}\n", encoding="utf-8")
        return "created"
    try:
        data = path.read_bytes()  # any encoding: only ASCII lines are looked for and added
    except OSError as e:
        raise UsageError(
            f"cannot read .gitignore: {e.strerror or e}",
            where=display_path(path),
            hint=f"add the line {GITIGNORE_LINE} to it yourself",
        ) from e
    lines = data.decode("utf-8", errors="replace").splitlines()
    if any(line.strip() in (".mlci", ".mlci/", "/.mlci", "/.mlci/") for line in lines):
        return "present"
    sep = b"" if data.endswith(b"\n") or not data else b"\n"
    with path.open("ab") as f:
        f.write(sep + f"{GITIGNORE_LINE}\n".encode())
    return "added"
