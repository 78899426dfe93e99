"""`mlci init`: mlci.yaml and a workflow for a repository as it is, never overwriting.

It reads what the project already has (mlci.scaffold.discover), trains once to see which metric
names really come out, and writes gates on those. mlci.yaml goes where it runs, so a
project in a sub-folder gets a workflow with `working-directory` and a `paths:` filter.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.config import CONFIG_NAME, display_path
from mlci.errors import MlciError, UsageError
from mlci.scaffold import discover
from mlci.sources.registry import infer_higher_is_better

if TYPE_CHECKING:
    from mlci.git.repo import Repo

WORKFLOWS = Path(".github") / "workflows"
GITIGNORE_LINE = ".mlci/"
GATE_WORDS = ("accuracy", "acc", "f1", "auc", "roc_auc", "r2", "precision", "recall")
TOLERANCE = '"2%"'  # relative: fits 0.93 accuracy and an MAE of 41.99 alike

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
    kept: tuple[Path, ...] = ()  # the fork publish workflow was already there
    todos: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # what the try produced (or the committed files hold)
    failure: MlciError | None = None  # the try's training failed: shown after the summary

    def summary(self, shown: Callable[[Path], str]) -> str:
        """What was written, found and left to do."""
        lines = [f"wrote {shown(p)}" for p in self.written]
        lines += [f"kept {shown(p)}: it already exists" for p in self.kept]
        lines += [f"  found {g}" for g in self.guesses]
        lines += [f"  TODO: {t}" for t in self.todos]
        if self.metrics:
            lines.append(f"  metrics: {', '.join(self.metrics)}")
        lines += [
            IGNORE_WORDS[self.gitignore],
            "",
            "Left to do:",
            "  1. try `mlci run --dry-run` on a branch"
            + (" (resolve the TODOs of mlci.yaml first)" if self.todos else ""),
            "  2. commit mlci.yaml and the workflows, and push",
            "  3. protect the base branch: require the status check `mlci / default`",
            "  4. pull requests from forks get their full report from the publish workflow"
            " (docs/forks.md); delete it if you take none",
        ]
        return "\n".join(lines)


def init(
    project: Path,
    repo: Repo,
    *,
    workflow: str,
    publish: str,
    base_branch: str,
    try_training: bool = True,
) -> InitResult:
    """Write mlci.yaml in `project` and the workflow; refuse (exit 2) when either exists.
    The fork publish workflow (`publish`) is offered beside them, and kept when it exists."""
    found = discover.discover(project, repo.root)
    subdir = _subdir(project, repo.root)
    targets = {
        project / CONFIG_NAME: "",
        repo.root / WORKFLOWS / _workflow_name(subdir): _workflow(
            workflow, base_branch, subdir, found
        ),
    }
    publish_path = repo.root / WORKFLOWS / _workflow_name(subdir, "mlci-publish")
    kept = publish_path.exists() or publish_path.is_symlink()
    for path in targets:
        if path.exists() or path.is_symlink():  # a dangling symlink is someone's too
            shown = os.path.relpath(path)  # not resolved: a symlink is named as itself
            raise UsageError(
                f"{shown} already exists",
                where=shown,
                hint="`mlci init` never overwrites a file: move it away or edit it by hand",
            )
        for folder in path.relative_to(repo.root).parents:
            if (repo.root / folder).exists() and not (repo.root / folder).is_dir():
                raise UsageError(
                    f"{folder} is a file, not a directory",
                    where=display_path(repo.root / folder),
                    hint="move it away so that `mlci init` can write "
                    f"{path.relative_to(repo.root)}",
                )
    train_text = _train_section(found)
    names, failure = _metric_names(project, repo, train_text, try_training, found)
    targets[project / CONFIG_NAME] = train_text + _rest(names, found, try_training, failure)
    if not kept:
        targets[publish_path] = _publish(publish, subdir)
    written = []
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": fail rather than overwrite
            f.write(text)
        written.append(path)
    return InitResult(
        written=tuple(written),
        gitignore=_ignore_state(repo.root),
        kept=(publish_path,) if kept else (),
        guesses=tuple(found.found),
        todos=tuple(f"{key}: {why}" for key, why in found.todos.items()),
        metrics=tuple(names),
        failure=failure,
    )


def _subdir(project: Path, root: Path) -> str:
    rel = project.resolve().relative_to(root.resolve()).as_posix()
    return "" if rel == "." else rel


def _workflow_name(subdir: str, stem: str = "mlci") -> str:
    return f"{stem}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', subdir)}.yml" if subdir else f"{stem}.yml"


def _publish(template: str, subdir: str) -> str:
    """The fork publish workflow, listening to the workflow that init writes beside it."""
    if not subdir:
        return template
    text = template.replace("name: mlci publish\n", f"name: mlci publish {subdir}\n", 1)
    return text.replace("workflows: [mlci] ", f'workflows: ["mlci {subdir}"] ', 1)


def _scalar(value: str) -> str:
    """A YAML scalar: plain when safe (metric names like `Mean Absolute Error`), else quoted."""
    plain = re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9_ ./()-]*[A-Za-z0-9_./)]|[A-Za-z0-9_]", value)
    return value if plain else json.dumps(value)


def _items(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "[" + ", ".join(map(_scalar, values)) + "]"


def _train_section(found: discover.Findings) -> str:
    command, shell = discover.command_lines(found.command)
    lines = [
        "# mlci.yaml: how to train this model and which rules gate a pull request.",
        '# Written by `mlci init`; every key is described in the README, section "mlci.yaml".',
        "train:",
    ]
    lines += _todo(found, "command")
    lines.append(_keyed(found, "command", json.dumps(command) if shell else _scalar(command)))
    if shell:
        lines.append("  shell: true  # several steps: run with bash -c")
    lines += _todo(found, "metrics")
    lines.append(_keyed(found, "metrics", _items([_scalar(m) for m in found.metrics])))
    for key in ("params", "plots"):
        values: list[str] = getattr(found, key)
        if values:
            lines.append(_keyed(found, key, _items([_scalar(v) for v in values])))
    lines += ["  timeout: 3600", ""]
    return "\n".join(lines) + "\n"


def _keyed(found: discover.Findings, key: str, value: str) -> str:
    """`  key: value  # where it was found`."""
    where = found.origin.get(key)
    return f"  {key}: {value}" + (f"  # {where}" if where and key not in found.todos else "")


def _todo(found: discover.Findings, key: str) -> list[str]:
    why = found.todos.get(key)
    return [f"  # TODO: {why}: check this guess"] if why else []


def _metric_names(
    project: Path, repo: Repo, train_text: str, try_training: bool, found: discover.Findings
) -> tuple[list[str], MlciError | None]:
    """The metric names training really writes (one training), or the committed files'."""
    from mlci import config as configs
    from mlci.sources import metrics as metric_files

    config = configs.load_text(train_text, project / CONFIG_NAME)
    if try_training and "metrics" not in found.todos:
        from mlci.train.runner import train_checkout
        from mlci.workspace import Workspace

        try:
            rec = train_checkout(Workspace(repo=repo, config=config))
        except MlciError as e:
            return [], e
        return list(rec.metrics), None
    try:
        values = metric_files.read_metrics(config.train.metrics, project)
    except MlciError:
        return [], None
    return list(values.values), None


def _rest(
    names: list[str], found: discover.Findings, tried: bool, failure: MlciError | None
) -> str:
    """baseline, gates (on real metric names) and report."""
    lines = ["baseline:", "  retrain: true          # retrain the merge-base when it has no record"]
    lines += ["", "gates:"]
    primary = _primary(names)
    if primary is None:
        why = (
            f"the training failed ({failure.what})"
            if failure is not None
            else "no metric was produced yet"
            if tried and "metrics" not in found.todos
            else "no metric file to read yet (init ran with --no-try)"
            if not tried
            else "train.metrics is a guess"
        )
        lines += [
            f"  # TODO: {why}: name a metric that train.metrics holds",
            "  # - metric: accuracy",
            f"  #   max_drop: {TOLERANCE}",
        ]
    else:
        bound = "max_drop" if infer_higher_is_better(primary) else "max_rise"
        lines += [f"  - metric: {_scalar(primary)}", f"    {bound}: {TOLERANCE}"]
        others = [n for n in names if n != primary]
        if others:
            lines.append(f"  # also measured: {', '.join(others)}")
    lines += ["", "report:", "  title: Model report", ""]
    return "\n".join(lines)


def _primary(names: list[str]) -> str | None:
    """The metric to gate: a score (accuracy, f1, auc, r2) first, else an error or loss."""
    if not names:
        return None
    words = [(name, set(re.split(r"[^a-z0-9]+", name.lower()))) for name in names]
    for word in GATE_WORDS:
        match = next((name for name, parts in words if word in parts), None)
        if match is not None:
            return match
    lower = [name for name in names if not infer_higher_is_better(name)]
    return (lower or names)[0]


def _workflow(template: str, base_branch: str, subdir: str, found: discover.Findings) -> str:
    """The workflow template for this repository: its base branch, and for a sub-folder
    project a `paths:` filter and `working-directory` on the steps that run in it."""
    text = template.replace("branches: [main]", f"branches: [{base_branch}]")
    if found.uses_dvc:
        text = text.replace(
            "        run: if [ -f requirements.txt ]",
            "        run: python -m pip install dvc; if [ -f requirements.txt ]",
        )
    if not subdir:
        return text
    paths = f'    paths: ["{subdir}/**"]\n'
    text = text.replace("name: mlci\n", f"name: mlci {subdir}\n", 1)
    text = text.replace("  pull_request:\n", "  pull_request:\n" + paths, 1)
    branches = f"    branches: [{base_branch}]\n"
    text = text.replace(branches, branches + paths)
    text = text.replace(
        "      - name: Install the project's requirements\n",
        f"      - name: Install the project's requirements\n        working-directory: {subdir}\n",
    )
    return text.replace(
        "        uses: mlci-dev/mlci/actions/run@v0\n",
        f"        uses: mlci-dev/mlci/actions/run@v0\n        with:\n"
        f"          working-directory: {subdir}\n",
    )


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
