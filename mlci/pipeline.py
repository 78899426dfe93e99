"""The stages of mlci in order, each result passed to the next.

Commands call one function here; the stages below take plain values and records.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import output
from mlci.errors import MlciError, UsageError
from mlci.record import RunRecord
from mlci.workspace import Workspace

if TYPE_CHECKING:
    from mlci.baseline import Baseline
    from mlci.compare import Comparison
    from mlci.config import Config
    from mlci.judge.gates import Verdict
    from mlci.report.markdown import Report, SliceTable


def train_head(ws: Workspace) -> RunRecord:
    """Train the checkout as it is and write `.mlci/runs/<HEAD sha>/`."""
    from mlci.train.runner import train_checkout

    return train_checkout(ws)


def metric_summary(rec: RunRecord, precision: int) -> str:
    """A short table of a record's metrics for the terminal."""
    if not rec.metrics:
        return "no metrics"
    width = max(len(name) for name in rec.metrics)
    lines = [
        f"{name:<{width}}  {value:.{precision}f}" for name, value in sorted(rec.metrics.items())
    ]
    return "\n".join(lines)


def head_record(ws: Workspace) -> RunRecord:
    """HEAD's run record or, like `dvc metrics diff`, the metric files in the working tree."""
    from mlci import record as records
    from mlci.sources import metrics as metric_files
    from mlci.sources.params import read_params
    from mlci.train.runner import checkout_run_id

    sha = ws.repo.head_sha()
    found = records.find(ws.root, checkout_run_id(ws))
    if found is not None:
        return found
    files = ws.config.train.metrics
    if not files or not all((ws.root / f).exists() for f in files):
        raise UsageError(
            f"no run record for HEAD ({sha[:7]}) and no metric files in the working tree",
            where=str(records.run_dir(ws.root, checkout_run_id(ws))),
            hint="run `mlci train` first",
        )
    values = metric_files.read_metrics(files, ws.root)
    params = read_params(ws.config.train.params, ws.root) if ws.config.train.params else {}
    info = {
        "trained_by": "working-tree files",
        "dirty": ws.repo.is_dirty(),
        "metric_files": list(files),
        **records.sources_info(values.sources, list(files)),
    }
    return RunRecord(sha=sha, metrics=values.values, params=params, info=info)


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
    from mlci import baseline_notes
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
        notes=baseline_notes.from_notes,
    )
    found = baselines.find(ctx)
    output.info(f"mlci: baseline: {found.describe()}")
    return found


def compare(ws: Workspace, head: RunRecord, baseline: Baseline) -> Comparison:
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
class Diff:
    head: RunRecord
    baseline: Baseline
    comparison: Comparison


def diff(ws: Workspace, *, base: str | None, ci_base: str | None = None) -> Diff:
    """head record -> baseline -> comparison, saved as the last comparison for `mlci gate`."""
    from mlci import last

    head = head_record(ws)
    found = find_baseline(ws, base=base, head_sha=head.sha, ci_base=ci_base)
    last.save(ws.root, head, found)
    return Diff(head=head, baseline=found, comparison=compare(ws, head, found))


def render_diff(result: Diff, precision: int, *, fmt: str) -> str:
    import json

    from mlci.report import tables
    from mlci.report.markdown import COMMENT_LIMIT  # `diff --md` is meant for a PR comment

    if fmt == "json":
        doc = {
            "head": {"sha": result.head.sha, "dirty": result.head.dirty},
            "baseline": result.baseline.to_dict(),
            **result.comparison.to_dict(),
        }
        return json.dumps(doc, indent=2, allow_nan=False)
    title = f"baseline: {result.baseline.describe()}"
    if fmt == "md":
        head = f"_{tables.escape(title)}_\n\n"
        return head + tables.markdown_within(
            result.comparison, precision, COMMENT_LIMIT - len(head)
        )
    return f"{title}\n\n" + tables.text(result.comparison, precision)


def gate_last(ws: Workspace) -> Verdict:
    from mlci import last

    saved = last.load(ws.root)
    head = ws.repo.head_sha()
    if saved.head.sha != head:
        output.warn(
            f"the last comparison is of {saved.head.sha[:7]}, but HEAD is {head[:7]}: "
            "run `mlci diff` to compare HEAD"
        )
    output.info(f"mlci: gating {saved.head.sha[:7]} against {saved.baseline.describe()}")
    judged = judge(ws, saved.head, saved.baseline, saved.evidence)
    if judged.evidence != saved.evidence:  # computed now: keep it for the next gate
        last.save(ws.root, saved.head, saved.baseline, saved.timings, judged.evidence)
    return judged.verdict


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


def default_out(ws: Workspace) -> Path:
    from mlci import record as records

    return records.state_dir(ws.root) / "report"


def run_loop(
    ws: Workspace,
    *,
    base: str | None,
    out: Path | None,
    ci_base: str | None = None,
    run_url: str | None = None,
) -> Outcome:
    """train -> baseline -> compare -> gate -> report, all written to the report directory."""
    import time

    from mlci import last
    from mlci.report import build as assemble

    out_dir = assemble.prepare_out_dir(out or default_out(ws))
    base_ref(ws, base, ci_base)  # a missing base fails now, not after an hour of training
    t0 = time.monotonic()
    _preload_report_libraries(ws.config)
    head = train_head(ws)
    t1 = time.monotonic()
    found = find_baseline(ws, base=base, head_sha=head.sha, ci_base=ci_base, fetch_notes=True)
    timings = {"head training": t1 - t0, "baseline": time.monotonic() - t1}  # report order
    outcome = write_report(ws, head, found, out_dir, timings=timings, run_url=run_url, started=t0)
    last.save(ws.root, head, found, dict(outcome.report.timings), outcome.evidence)
    return outcome


def _preload_report_libraries(config: Config) -> None:
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
            import mlci.report.plots.figures  # pandas, numpy, matplotlib with Agg

            if stats:
                import mlci.judge.stats  # noqa: F401  (scipy)

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
    from mlci.report import markdown as reports

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
    from mlci import notes

    try:
        trend = notes.history(ws, ref=found.ref, limit=30)
    except MlciError:
        return (), None
    known = {name for entry in trend.entries for name in entry.metrics}
    names = [g.metric for g in ws.config.gates] + sorted(known)
    metric = next((m for m in names if m in known), None)
    if metric is None or len(trend.entries) < 2:
        return (), None
    points = tuple((sha[:7], v) for sha, v in notes.history_points(trend, metric))
    return points, metric


def report_last(ws: Workspace, out: Path | None) -> Outcome:
    """`mlci report`: render the last comparison again (after editing the rules, say)."""
    from mlci import last
    from mlci.report import build as assemble

    saved = last.load(ws.root)
    out_dir = assemble.prepare_out_dir(out or default_out(ws))
    return write_report(
        ws, saved.head, saved.baseline, out_dir, timings=saved.timings, cached=saved.evidence
    )


def summary_lines(outcome: Outcome, precision: int) -> str:
    """What `mlci run` and `mlci report` print: the rules, the verdict, the files."""
    from mlci.config import display_path
    from mlci.judge import gates
    from mlci.report.markdown import verdict_words

    _, words = verdict_words(outcome.verdict)
    lines = []
    if outcome.verdict.results:
        lines.append(gates.format_rules(outcome.verdict, precision).rstrip())
    lines.append(f"verdict: {words}")
    for key in ("md", "html", "json"):
        lines.append(f"{key:>4}: {display_path(outcome.paths[key])}")
    return "\n".join(lines)


def history(
    ws: Workspace,
    *,
    ref: str | None,
    limit: int,
    metric: str | None,
    as_json: bool,
    plot: Path | None,
) -> tuple[str, Path | None]:
    """`mlci history`: the table (or JSON) and, with --plot, the trend of one metric."""
    from mlci import baseline as baselines
    from mlci import notes
    from mlci.git import notes as git_notes

    if ws.repo.remote_url():  # the notes CI recorded live on origin; offline, the local ones
        git_notes.fetch(ws.repo)
    found = notes.history(ws, ref=baselines.resolve_ref(ws, ref), limit=limit, metric=metric)
    text = notes.history_json(found) if as_json else notes.history_table(found, ws.config.precision)
    drawn = None
    if plot is not None and found.columns:
        from mlci.report.plots import figures as plots

        name = metric or found.columns[0]
        points = [(sha[:7], value) for sha, value in notes.history_points(found, name)]
        try:
            plot.mkdir(parents=True, exist_ok=True)
            drawn = plots.history(
                points, name, plot, higher_is_better=ws.config.higher_is_better(name)
            )
        except OSError as e:  # a file in the way, a read-only place
            why = "it is a file" if plot.is_file() else e.strerror or str(e)
            raise UsageError(
                f"cannot draw the trend plot into {plot}: {why}",
                where="--plot",
                hint="give a directory mlci may write to",
            ) from e
    return text, drawn
