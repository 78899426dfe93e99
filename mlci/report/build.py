"""Turn a run's results into a Report: choose and draw the plots that fit the task, take
the log tail and the timings. The only stage that touches pandas and matplotlib.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import atomic, output, record
from mlci.baseline import Baseline
from mlci.compare import Comparison
from mlci.config import PLOT_KINDS, Config
from mlci.errors import MlciError, UsageError
from mlci.judge.evidence import SliceTable
from mlci.judge.gates import Verdict
from mlci.record import RunRecord
from mlci.report.value import Plot, Report

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Inputs:
    config: Config
    head: RunRecord
    baseline: Baseline
    comparison: Comparison
    verdict: Verdict
    slices: tuple[SliceTable, ...] = ()
    history: tuple[tuple[str, float], ...] = ()  # (short sha, value) of the first gated metric
    history_metric: str | None = None
    timings: Mapping[str, float] | None = None
    run_url: str | None = None
    notes: tuple[str, ...] = ()


REPORT_FILES = ("report.md", "report.html", "result.json", "plots", "pull.json")
# what a run keeps in the report directory while it works: its lock and its staging folder
_WORKING = (".write-test-", atomic.STAGE_PREFIX, atomic.LOCK_NAME)


def prepare_out_dir(out: Path) -> Path:
    """The report directory, created; a file in the way, a directory of someone else's
    files or no write access is a usage error."""
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"--out {out} is a file, not a directory",
            where="--out",
            hint="give a directory for the report",
        )
    _refuse_foreign(out)
    try:
        (out / "plots").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise UsageError(
            f"cannot write the report to {out}: {e.strerror or e}",
            where="--out",
            hint="choose a writable directory with --out",
        ) from e
    _remove_old_plots(out)
    return out


def _refuse_foreign(out: Path) -> None:
    """--out may be new, empty, or a report mlci wrote before (replaced); anything else
    holds files of the user's that the report would overwrite or mix with."""
    if not out.is_dir():
        return
    entries = [e for e in out.iterdir() if not e.name.startswith(_WORKING)]
    if not entries or _is_report(out):
        foreign = [e.name for e in entries if e.name not in REPORT_FILES]
    else:  # an empty plots/ is what a run that stopped early leaves
        foreign = [
            e.name for e in entries if e.name != "plots" or not e.is_dir() or any(e.iterdir())
        ]
    if foreign:
        names = ", ".join(sorted(foreign)[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UsageError(
            f"--out {out} holds files mlci did not write ({names})",
            where="--out",
            hint="give a new or empty directory, or the directory of an earlier mlci report",
        )


def _is_report(out: Path) -> bool:
    try:
        doc = json.loads((out / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and {"schema", "verdict", "mlci"} <= doc.keys()


def _remove_old_plots(out: Path) -> None:
    """The images an earlier report of ours listed would linger; nothing else is touched,
    so pointing --out at a folder of the user's own loses none of their files."""
    try:
        earlier = json.loads((out / "result.json").read_text(encoding="utf-8"))
        listed = [str(p) for p in earlier.get("plots", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return
    for link in listed:
        path = (out / link).resolve()
        if path.is_relative_to((out / "plots").resolve()) and path.is_file():
            path.unlink()


def build(inputs: Inputs, out: Path, report_dir: Path | None = None) -> Report:
    """Draw the plots into out/plots and return the Report that links them (out may be a
    private directory whose files go to report_dir once complete)."""
    cfg, head, base = inputs.config, inputs.head, inputs.baseline.record
    notes = list(inputs.notes)
    head_df = _predictions(head, "head")
    base_df = _predictions(base, "base") if base is not None else None
    task = _task(head, head_df)
    wanted = cfg.report.plots if cfg.report.plots is not None else PLOT_KINDS
    plots = _draw(inputs, wanted, head_df, base_df, task, out / "plots")
    from mlci.report.plots import user as user_plots

    skip = (record.state_dir(cfg.root), out, report_dir or out)  # never copy mlci's own images
    user, warnings = user_plots.copy_user_plots(
        cfg.train.plots, cfg.root, out / "plots", exclude=skip
    )
    for w in warnings:
        output.warn(w)
    notes += warnings
    plots += _beside_base(inputs, user, out)
    return Report(
        name=cfg.report.name,
        title=cfg.report.title,
        head=head,
        baseline=inputs.baseline,
        comparison=inputs.comparison,
        verdict=inputs.verdict,
        precision=cfg.precision,
        plots=tuple(plots),
        slices=inputs.slices,
        log_tail=_log_tail(head),
        timings=dict(inputs.timings or {}),
        notes=tuple(notes),
        run_url=inputs.run_url,
    )


def _beside_base(inputs: Inputs, user: list[Path], out: Path) -> list[Plot]:
    """The user's images (base | head when the baseline's record has them) and dvclive's
    per-step series, base and head curves on one plot."""
    from mlci.report import sidebyside

    base = inputs.baseline.record
    base_dir = base.path if base is not None else None
    made = []
    for path in user:
        paired = sidebyside.user_image_pair(path, base_dir)
        title = f"{path.stem}: base | head" if paired else path.stem
        made.append(Plot(title=title, path=path, link=path.relative_to(out).as_posix()))
    wanted = inputs.config.report.plots
    if wanted is None or "metrics" in wanted:
        for path in sidebyside.series_curves(base_dir, inputs.head.path, out / "plots"):
            made.append(Plot(title=path.stem, path=path, link=f"plots/{path.name}"))
    return made


def _predictions(rec: RunRecord | None, side: str) -> pd.DataFrame | None:
    from mlci.sources import predictions

    path = rec.predictions_path if rec is not None else None
    return predictions.load(path, side=side) if path is not None else None


def _task(head: RunRecord, df: pd.DataFrame | None) -> str | None:
    from mlci.sources import predictions

    if df is None:
        return head.info.get("task")
    task = predictions.task_of(df, head.info.get("task"))
    assert head.predictions_path is not None
    predictions.check_task(df, task, head.predictions_path)
    return task


Figure = tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def _draw(
    inputs: Inputs,
    wanted: tuple[str, ...],
    head_df: pd.DataFrame | None,
    base_df: pd.DataFrame | None,
    task: str | None,
    plots_dir: Path,
) -> list[Plot]:
    from mlci.report.plots import bars, confusion, curves, history, regression, slices
    from mlci.report.value import PLOT_TITLES

    titles = dict(PLOT_TITLES)
    higher = inputs.config.higher_is_better
    todo: list[Figure] = []
    if "metrics" in wanted and inputs.comparison.has_baseline:
        rows = [(r.name, r.base, r.head, r.higher_is_better) for r in inputs.comparison.rows]
        todo.append(("metrics", bars.metric_bars, (rows, plots_dir), {}))
    if head_df is not None and task == "classification":
        if "confusion_matrix" in wanted:
            args = (base_df, head_df, plots_dir)
            todo.append(("confusion_matrix", confusion.confusion_matrices, args, {}))
        if "roc" in wanted or "pr" in wanted:
            todo.append(("roc_pr", curves.roc_pr, (base_df, head_df, plots_dir), {}))
    if head_df is not None and task == "regression" and "residuals" in wanted:
        todo.append(("residuals", regression.regression, (base_df, head_df, plots_dir), {}))
    if "history" in wanted and inputs.history and inputs.history_metric:
        value = inputs.head.metrics.get(inputs.history_metric)
        point = (inputs.head.sha[:7], value) if value is not None else None
        args = (inputs.history, inputs.history_metric, plots_dir)
        options = {"head": point, "higher_is_better": higher(inputs.history_metric)}
        todo.append(("history", history.history, args, options))
    if "slices" in wanted:
        for table in inputs.slices:
            rows_ = [
                (str(r["label"]), float(r["delta"]), int(r["n"]), bool(r["failed"]))
                for r in table.data
                if r.get("delta") is not None
            ]
            options = {"higher_is_better": higher(table.metric)}
            todo.append(("slices", slices.slice_deltas, (rows_, table.metric, plots_dir), options))
    made: list[Plot] = []
    for (kind, *_), drawn in zip(todo, _draw_all(todo), strict=True):
        for path in drawn if isinstance(drawn, list) else [drawn]:
            kind_ = ("roc" if path.stem == "roc" else "pr") if kind == "roc_pr" else kind
            if path is not None and kind_ in wanted:
                made.append(
                    Plot(title=titles.get(kind_, kind_), path=path, link=f"plots/{path.name}")
                )
    return made


def _draw_all(todo: list[Figure]) -> list[Any]:
    """Draw the figures in forked processes, one per core: drawing is most of what a report
    costs beyond the training, and the figures are independent. One at a time where fork
    is missing, for a single figure, or to raise a drawing error with all its detail."""
    import multiprocessing
    import os

    workers = min(len(todo), os.cpu_count() or 1)
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(fn, *args, **options) for _, fn, args, options in todo]
                return [f.result() for f in futures]
        except MlciError:
            pass  # drawn again below, so the error keeps its where and hint
    return [fn(*args, **options) for _, fn, args, options in todo]


def _log_tail(rec: RunRecord) -> str:
    from mlci.train.command import log_tail

    log = rec.log_path
    return log_tail(log, 40) if log is not None and log.is_file() else ""
