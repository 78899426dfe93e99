"""What a repository already says about its training, read for `mlci init`.

Adopters keep what they have: a DVC pipeline (`dvc.yaml`: `dvc repro`, its metrics, params
and plots), a CML workflow (its training step, the metric files it `cat`s, the images it
posts), a `params.yaml`, a dvclive directory, a `metrics.*` file. Each finding says where
it came from; what could not be found becomes a `# TODO:` with the reason.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import UsageError

SCRIPTS = ("train.py", "src/train.py", "scripts/train.py", "training/train.py")
METRIC_FILES = (
    "metrics.json",
    "metrics.yaml",
    "metrics.yml",
    "metrics.csv",
    "metrics.txt",
    "eval/metrics.json",
    "results/metrics.json",
)
DVCLIVE_DIRS = ("dvclive", "results/dvclive")
IMAGE = re.compile(r"[\w./-]+\.(?:png|jpe?g|svg|gif)\b", re.IGNORECASE)
METRIC_CAT = re.compile(r"\bcat\s+([\w./-]+\.(?:txt|json|ya?ml|csv|tsv|log))\b")
TRAINING_LINE = re.compile(r"^(?:python3?|dvc\s+repro|make|bash|sh|\./|Rscript|julia)\b")


@dataclass
class Findings:
    """The train section init proposes, with why each part was chosen."""

    command: list[str] = field(default_factory=list)  # one or more shell-free commands
    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # "train.command: dvc repro (dvc.yaml)"
    todos: dict[str, str] = field(default_factory=dict)  # key -> why it is a guess
    origin: dict[str, str] = field(default_factory=dict)  # key -> where it was read
    uses_dvc: bool = False

    def add(self, key: str, values: list[str], where: str) -> None:
        target: list[str] = getattr(self, key)
        new = [v for v in dict.fromkeys(values) if v not in target]
        if new:
            target.extend(new)
            self.found.append(f"train.{key}: {', '.join(new)} ({where})")
            self.origin[key] = f"{self.origin[key]}; {where}" if key in self.origin else where


def discover(project: Path, repo_root: Path) -> Findings:
    """Read dvc.yaml, the Actions workflows, params, dvclive and metric files of `project`."""
    found = Findings()
    if (project / "requirements.txt").is_file():
        found.found.append("requirements.txt: the workflow installs it before training")
    if (project / "dvc.yaml").is_file():
        _from_dvc(project / "dvc.yaml", found)
    for workflow in _workflows(repo_root):
        _from_workflow(workflow, project, repo_root, found)
    if not found.command:
        script = next((s for s in SCRIPTS if (project / s).is_file()), None)
        if script is not None:
            found.add("command", [f"python {script}"], f"found {script}")
    if (project / "params.yaml").is_file():
        found.add("params", ["params.yaml"], "found it")
    if not found.metrics:
        live = next((d for d in DVCLIVE_DIRS if (project / d).is_dir()), None)
        files = [m for m in METRIC_FILES if (project / m).is_file()]
        if live is not None:
            found.add("metrics", [live], "a dvclive directory")
        elif _logs_with_dvclive(project, found.command):  # its default directory, not yet written
            found.add("metrics", ["dvclive"], "the training logs with dvclive")
        elif files:
            found.add("metrics", files[:1], "found it")
    if not found.command:
        found.command = ["python train.py"]
        found.todos["command"] = "no dvc.yaml, training step of a workflow or train.py found"
    if not found.metrics:
        found.metrics = ["metrics.json"]
        found.todos.setdefault(
            "metrics", "no metric file, dvclive directory or dvc.yaml metrics found"
        )
    return found


def _logs_with_dvclive(project: Path, commands: list[str]) -> bool:
    """The training script imports dvclive (its output directory may not exist yet)."""
    for command in commands:
        script = next((w for w in command.split() if w.endswith(".py")), None)
        path = project / script if script else None
        if path is not None and path.is_file() and "dvclive" in path.read_text(errors="replace"):
            return True
    return False


def _from_dvc(path: Path, found: Findings) -> None:
    """`dvc repro` runs the pipeline; its stages name the metrics, params and plots."""
    doc = _yaml(path)
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict) or not stages:
        raise UsageError(
            "dvc.yaml has no stages",
            where=str(path.name),
            hint="add the stages of the pipeline, or move dvc.yaml away and run `mlci init` again",
        )
    found.uses_dvc = True
    found.add("command", ["dvc repro"], "dvc.yaml")
    metrics, params, plots = [], [], []
    for stage in stages.values():
        if not isinstance(stage, dict):
            continue
        metrics += _paths(stage.get("metrics"))
        params += _params_files(stage.get("params"))
        plots += _paths(stage.get("plots"))
    plots += _paths(doc.get("plots"))
    found.add("metrics", metrics, "dvc.yaml")
    found.add("params", params, "dvc.yaml")
    found.add("plots", [p for p in plots if IMAGE.fullmatch(p)], "dvc.yaml")
    if not metrics:
        found.todos["metrics"] = "dvc.yaml declares no metrics in any stage"


def _paths(entries: Any) -> list[str]:
    """dvc.yaml lists paths as strings or as one-key mappings ({path: {cache: false}})."""
    out: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict):
            out += [str(key) for key in entry]
    return out


def _params_files(entries: Any) -> list[str]:
    """Bare names are keys of params.yaml; a mapping names another file."""
    files: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        name = "params.yaml" if isinstance(entry, str) else None
        if isinstance(entry, dict):
            files += [str(key) for key in entry if str(key) not in files]
        elif name is not None and name not in files:
            files.append(name)
    return files


def _workflows(repo_root: Path) -> list[Path]:
    folder = repo_root / ".github" / "workflows"
    names = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []
    return [p for p in names if not p.name.startswith("mlci")]


def _from_workflow(path: Path, project: Path, repo_root: Path, found: Findings) -> None:
    """The training step of a CML-style workflow, the files it cats, the images it posts."""
    where = path.relative_to(repo_root).as_posix()
    doc = _yaml(path)
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    for job in jobs.values() if isinstance(jobs, dict) else []:
        for step in job.get("steps") or [] if isinstance(job, dict) else []:
            if not isinstance(step, dict) or not isinstance(step.get("run"), str):
                continue
            defaults = (job.get("defaults") or {}).get("run") or {}
            folder = step.get("working-directory") or defaults.get("working-directory") or ""
            _from_script(step["run"], repo_root / str(folder), project, where, found)


def _relative(path: str, base: Path, project: Path) -> str | None:
    """A path a step uses (from its directory) relative to the project, or None outside it."""
    try:
        rel = (base / path).resolve().relative_to(project.resolve())
    except ValueError:
        return None
    return rel.as_posix()


def _from_script(script: str, base: Path, project: Path, where: str, found: Findings) -> None:
    commands, metrics, images = [], [], []
    for raw in script.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("cd "):
            base = base / line[3:].split("&&")[0].strip()
            line = line.partition("&&")[2].strip()
        metrics += _inside(METRIC_CAT.findall(line), base, project)
        if "cml" in line or "echo" in line or "report.md" in line:
            images += _inside(IMAGE.findall(line), base, project)
            continue
        in_project = base.resolve() == project.resolve()
        if TRAINING_LINE.match(line) and "pip" not in line and ">" not in line and in_project:
            commands.append(line)
    if commands and not found.command:
        found.add("command", commands, where)
    found.add("metrics", metrics, f"{where} cats it")
    found.add("plots", images, f"{where} posts it")


def _inside(paths: list[str], base: Path, project: Path) -> list[str]:
    return [rel for p in paths if (rel := _relative(p, base, project)) is not None]


def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UsageError(
            f"cannot read {path.name}: {str(e).splitlines()[0]}",
            where=str(path),
            hint="fix that file, then run `mlci init` again",
        ) from e


def command_lines(commands: list[str]) -> tuple[str, bool]:
    """train.command as YAML text and whether it needs train.shell: several steps do."""
    if len(commands) == 1 and _plain(commands[0]):
        return commands[0], False
    return " && ".join(commands), True


def _plain(command: str) -> bool:
    from mlci.config import shell_operator

    try:
        shlex.split(command)
    except ValueError:
        return False
    return shell_operator(command) is None
