"""`mlci train`: train the checkout as it is and write `.mlci/runs/<HEAD sha>/`."""

from __future__ import annotations

from pathlib import Path

from mlci import output
from mlci.commands.loop import shown
from mlci.record import RunRecord
from mlci.workspace import open_workspace


def main(config: Path | None, *, cache: bool) -> int:
    """Prints the metrics; a training with identical inputs is reused unless cache is off."""
    from mlci.train.runner import train_checkout

    ws = open_workspace(config, cache=cache)
    rec = train_checkout(ws)
    output.result(metric_summary(rec, ws.config.precision))
    output.info(f"mlci: run record written to {shown(rec.path)}")
    return 0


def metric_summary(rec: RunRecord, precision: int) -> str:
    """A short table of a record's metrics for the terminal."""
    if not rec.metrics:
        return "no metrics"
    width = max(len(name) for name in rec.metrics)
    lines = [
        f"{name:<{width}}  {value:.{precision}f}" for name, value in sorted(rec.metrics.items())
    ]
    return "\n".join(lines)
