"""`mlci init`: mlci.yaml and the GitHub workflows written from what the repository already
has (dvc.yaml, CML workflows, params and metric files), never overwriting a file."""

from __future__ import annotations

from pathlib import Path

from mlci import output
from mlci.commands.loop import shown


def main(*, try_training: bool) -> int:
    """Writes into the working directory; trains once unless try_training is off."""
    from mlci.git import repo as gitrepo
    from mlci.resources import templates_dir
    from mlci.scaffold import files as scaffold

    repo = gitrepo.Repo(Path.cwd())
    workflows = templates_dir() / "workflows"
    branch = repo.default_branch() or repo.current_branch() or "main"
    result = scaffold.init(
        Path.cwd(),
        repo,
        workflow=(workflows / "mlci.yml").read_text(encoding="utf-8"),
        publish=(workflows / "mlci-publish.yml").read_text(encoding="utf-8"),
        base_branch=branch,
        try_training=try_training,
    )
    output.result(result.summary(shown))
    if result.failure is not None:
        raise result.failure
    return 0
