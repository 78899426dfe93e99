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
        if path.exists():
            raise UsageError(
                f"{path.relative_to(root)} already exists",
                where=display_path(path),
                hint="`mlci init` never overwrites a file: move it away or edit it by hand",
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
    text = path.read_text(encoding="utf-8")
    if any(line.strip() in (".mlci", ".mlci/", "/.mlci", "/.mlci/") for line in text.splitlines()):
        return "present"
    sep = "" if text.endswith("\n") or not text else "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(f"{sep}{GITIGNORE_LINE}\n")
    return "added"
