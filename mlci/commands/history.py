"""`mlci history`: the metrics along the base branch from the notes, as a table or JSON,
and with --plot the trend of one metric."""

from __future__ import annotations

from pathlib import Path

from mlci import output
from mlci.commands.loop import shown
from mlci.errors import UsageError
from mlci.git import notes as git_notes
from mlci.history import History
from mlci.workspace import Workspace, open_workspace


def main(
    config: Path | None,
    *,
    ref: str | None,
    limit: int,
    metric: str | None,
    as_json: bool,
    plot: Path | None,
) -> int:
    """`mlci history [--ref] [--limit] [--metric] [--json] [--plot DIR]`, oldest first."""
    from mlci import baseline as baselines
    from mlci import history as histories
    from mlci.report import history as text

    ws = open_workspace(config)
    if ws.repo.remote_url():  # the notes CI recorded live on origin; offline, the local ones
        git_notes.fetch(ws.repo)
    found = histories.history(ws, ref=baselines.resolve_ref(ws, ref), limit=limit, metric=metric)
    output.result(text.to_json(found) if as_json else text.table(found, ws.config.precision))
    if plot is not None and found.columns:
        drawn = draw(ws, found, metric or found.columns[0], plot)
        if drawn is not None:
            output.info(f"mlci: trend plot written to {shown(drawn)}")
    return 0


def draw(ws: Workspace, found: History, name: str, plot: Path) -> Path | None:
    """The trend of one metric into the directory plot (made when missing)."""
    from mlci import history as histories
    from mlci.report.plots import history as history_plot

    points = [(sha[:7], value) for sha, value in histories.points(found, name)]
    try:
        plot.mkdir(parents=True, exist_ok=True)
        return history_plot.history(
            points, name, plot, higher_is_better=ws.config.higher_is_better(name)
        )
    except OSError as e:  # a file in the way, a read-only place
        why = "it is a file" if plot.is_file() else e.strerror or str(e)
        raise UsageError(
            f"cannot draw the trend plot into {plot}: {why}",
            where="--plot",
            hint="give a directory mlci may write to",
        ) from e
