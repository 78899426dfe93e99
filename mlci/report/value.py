"""The Report value: what a run's report holds (verdict, comparison, plots, slice tables,
notes), built once and then rendered as markdown, HTML and result.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlci.baseline import Baseline
from mlci.compare import Comparison
from mlci.judge.evidence import SliceTable
from mlci.judge.gates import Verdict
from mlci.record import RunRecord

ICONS = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


@dataclass(frozen=True)
class Plot:
    title: str
    path: Path  # the image in the report directory
    link: str = ""  # its path relative to the report directory: plots/NAME.png
    width: int = 800

    @property
    def href(self) -> str:
        return self.link or f"plots/{self.path.name}"


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    head: RunRecord
    baseline: Baseline
    comparison: Comparison
    verdict: Verdict
    precision: int = 4
    plots: tuple[Plot, ...] = ()
    slices: tuple[SliceTable, ...] = ()
    log_tail: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # warnings a reviewer should see (plot globs, fallbacks)
    run_url: str | None = None


PLOT_TITLES: Sequence[tuple[str, str]] = (
    ("metrics", "Metrics, base vs head"),
    ("confusion_matrix", "Confusion matrices"),
    ("roc", "ROC curve"),
    ("pr", "Precision-recall curve"),
    ("residuals", "Residuals"),
    ("history", "History on the base branch"),
    ("slices", "Slices"),
)
