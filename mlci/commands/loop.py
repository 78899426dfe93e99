"""The steps every comparing command shares, in the order they run: find the baseline,
compare, judge, write the report. run, diff, gate, report, record and merge call them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import output
from mlci.errors import MlciError
from mlci.record import RunRecord
from mlci.workspace import Workspace

if TYPE_CHECKING:
    from mlci.baseline import Baseline
    from mlci.compare import Comparison
    from mlci.config import Config
    from mlci.judge.evidence import SliceTable
    from mlci.judge.gates import Verdict
    from mlci.report.value import Report


def default_out(ws: Workspace) -> Path:
    """.mlci/report/: where a report goes without --out."""
    from mlci import record as records

    return records.state_dir(ws.root) / "report"


def base_ref(ws: Workspace, base: str | None, ci_base: str | None) -> str:
    """The base ref to compare with, checked to exist (a missing one says how to fetch it)."""
    from mlci import baseline as baselines

    ref = baselines.resolve_ref(ws, base, ci_base)
    ws.repo.resolve(ref)
    return ref


def find_baseline(
    ws: Workspace,
    *,
    base: str | None,
    head_sha: str,
    ci_base: str | None = None,
    fetch_notes: bool = False,
    allow_retrain: bool | None = None,
) -> Baseline:
    """Resolve the base ref, its merge-base with head, and the first strategy that answers.

    With fetch_notes (`mlci run`), refs/notes/mlci is fetched from origin first; offline,
    the local notes serve and a warning says so.
    """
    from mlci import baseline as baselines
    from mlci.git import notes

    ref = base_ref(ws, base, ci_base)
    head = "HEAD" if head_sha == ws.repo.head_sha() else head_sha
    merge_base = ws.repo.merge_base(head, ref)
    fetched = bool(fetch_notes and ws.repo.remote_url() and notes.fetch(ws.repo))
    output.debug(f"mlci: base {ref}, merge-base {merge_base[:7]}, notes fetched: {fetched}")
    ctx = baselines.Context(
        ws=ws,
        ref=ref,
        merge_base=merge_base,
        head_sha=head_sha,
        allow_retrain=ws.config.baseline.retrain if allow_retrain is None else allow_retrain,
        fetched_notes=fetched,
    )
    found = baselines.find(ctx)
    output.info(f"mlci: baseline: {found.describe()}")
    return found


def compare(ws: Workspace, head: RunRecord, baseline: Baseline) -> Comparison:
    """Head's metrics and params against the baseline's, with mlci.yaml's directions."""
    from mlci import compare as comparing

    base = baseline.record
    return comparing.compare(
        head.metrics,
        base.metrics if base is not None else None,
        higher_is_better=ws.config.higher_is_better,
        head_params=head.params,
        base_params=base.params if base is not None else None,
    )


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    slices: tuple[SliceTable, ...] = ()
    evidence: dict[str, Any] | None = None  # for last.json: `mlci gate` reuses it


def judge(
    ws: Workspace, head: RunRecord, baseline: Baseline, cached: dict[str, Any] | None = None
) -> Judgement:
    """The rules of mlci.yaml (always the PR's) applied to head and the baseline.

    `noise:` and `slices:` rules need the predictions (pandas, scipy); their results are
    kept with the last comparison and reused while the rules stay the same, so that
    `mlci gate` stays light."""
    from mlci.judge import evidence, gates

    base = baseline.record
    found, saved = None, None
    if evidence.needed(ws.config):
        key = evidence.rules_key(ws.config)
        if cached is not None and cached.get("key") == key:
            found = evidence.from_json(cached)
        else:
            found = evidence.collect(ws.config, head, base)
        saved = {"key": key, **evidence.to_json(found)}
    verdict = gates.evaluate(
        ws.config.gates,
        head.metrics,
        base.metrics if base is not None else None,
        sources=head.sources,
        metric_files=head.metric_files,
        extra=found.extra if found else None,
        noise=found.noise if found else None,
        precision=ws.config.precision,
    )
    return Judgement(verdict, found.slices if found else (), saved)


@dataclass(frozen=True)
class Outcome:
    """What a run produced: the verdict and where the report went."""

    verdict: Verdict
    paths: dict[str, Path]
    report: Report
    evidence: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict.passed else 1


def preload_report_libraries(config: Config) -> None:
    """Import pandas and matplotlib in a thread while the training runs: it mostly waits
    on its subprocess, and the report needs them right after (about a second saved), and
    scipy too when a noise or slice rule will need it (another second)."""
    import contextlib
    import threading

    from mlci.judge import evidence

    stats = evidence.needed(config)

    def load() -> None:
        # on an ImportError the report imports them again and reports the problem
        with contextlib.suppress(ImportError):
            if stats:
                import scipy.stats  # noqa: F401  (the paired tests)

    threading.Thread(target=load, name="mlci-preload", daemon=True).start()


def write_report(
    ws: Workspace,
    head: RunRecord,
    found: Baseline,
    out_dir: Path,
    *,
    timings: dict[str, float] | None = None,
    run_url: str | None = None,
    started: float | None = None,
    cached: dict[str, Any] | None = None,
) -> Outcome:
    """compare -> gate -> plots -> report.md, report.html, result.json."""
    import time

    from mlci import atomic
    from mlci.report import build as assemble
    from mlci.report import files as reports

    comparison = compare(ws, head, found)
    judged = judge(ws, head, found, cached)
    verdict, slices = judged.verdict, judged.slices
    points, metric = history_for_report(ws, found)
    inputs = assemble.Inputs(
        config=ws.config,
        head=head,
        baseline=found,
        comparison=comparison,
        verdict=verdict,
        slices=slices,
        history=points,
        history_metric=metric,
        timings=timings,
        run_url=run_url,
    )
    # rendered privately, then moved in whole under out_dir's lock: another run writing
    # the same report directory never leaves a mix of two reports
    with atomic.staged_dir(out_dir, assemble.prepare_out_dir) as stage:
        built = assemble.build(inputs, stage, report_dir=out_dir)
        if started is not None:
            built = replace(built, timings={**built.timings, "total": time.monotonic() - started})
        paths = reports.write(built, stage)
    paths = {key: out_dir / path.relative_to(stage) for key, path in paths.items()}
    plots = tuple(replace(p, path=out_dir / p.href) for p in built.plots)
    built = replace(built, plots=plots)
    return Outcome(verdict=verdict, paths=paths, report=built, evidence=judged.evidence)


def history_for_report(
    ws: Workspace, found: Baseline
) -> tuple[tuple[tuple[str, float], ...], str | None]:
    """The base branch's trend of the first gated metric, for the report's history plot."""
    wanted = ws.config.report.plots
    if (wanted is not None and "history" not in wanted) or found.ref == "(none)":
        return (), None
    from mlci import history as histories

    try:
        trend = histories.history(ws, ref=found.ref, limit=30)
    except MlciError:
        return (), None
    known = {name for entry in trend.entries for name in entry.metrics}
    names = [g.metric for g in ws.config.gates] + sorted(known)
    metric = next((m for m in names if m in known), None)
    if metric is None or len(trend.entries) < 2:
        return (), None
    points = tuple((sha[:7], v) for sha, v in histories.points(trend, metric))
    return points, metric


def summary_lines(outcome: Outcome, precision: int) -> str:
    """What `mlci run` and `mlci report` print: the rules, the verdict, the files."""
    from mlci.config import display_path
    from mlci.report import rules
    from mlci.report.markdown import verdict_words

    _, words = verdict_words(outcome.verdict)
    lines = []
    if outcome.verdict.results:
        lines.append(rules.format_rules(outcome.verdict, precision).rstrip())
    lines.append(f"verdict: {words}")
    for key in ("md", "html", "json"):
        lines.append(f"{key:>4}: {display_path(outcome.paths[key])}")
    return "\n".join(lines)


def shown(path: Path | None) -> str:
    """A path as the user would type it (relative when under the working directory)."""
    from mlci.config import display_path

    return display_path(path) if path is not None else "-"
