"""Matrix fan-in: the report directories of several jobs become one report, one verdict.

Each job of a GitHub Actions matrix runs `mlci run --dry-run --name JOB --out DIR` and
uploads DIR; `mlci merge DIR...` reads them back (result.json is the contract, report.md
must be there too), names every directory that is missing, half-written or of another
commit, and hands the jobs to merge_report for the one comment. The verdict fails when
any job failed or could not be read; a skipped rule only costs the `blessed`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import __version__, output
from mlci.errors import UsageError

if TYPE_CHECKING:
    from mlci.ci import CIContext
    from mlci.workspace import Workspace

KEY_METRICS = 3  # leaderboard columns: the gated metrics first, at most this many


@dataclass(frozen=True)
class Job:
    """One job's report directory: its result.json, or why it cannot be used."""

    name: str
    path: Path
    result: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # missing, half-written, another commit

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def passed(self) -> bool:
        return self.ok and self.result.get("verdict") == "passed"

    @property
    def blessed(self) -> bool:
        return self.passed and bool(self.result.get("blessed"))

    @property
    def rules(self) -> list[dict[str, Any]]:
        gates = self.result.get("gates")
        found = gates.get("results") if isinstance(gates, dict) else None
        return [r for r in found or [] if isinstance(r, dict)]

    def row(self, metric: str) -> dict[str, Any] | None:
        comparison = self.result.get("comparison")
        rows = comparison.get("rows") if isinstance(comparison, dict) else None
        return next((r for r in rows or [] if r.get("name") == metric), None)


def load(path: Path, head_sha: str) -> Job:
    """A job directory as `mlci run --dry-run --out DIR` left it, or the reason it cannot be
    used; a job without a result.json is named after its directory."""
    fallback = path.name or str(path)
    if not path.is_dir():
        return Job(fallback, path, problem=f"no report directory at {path}: the job left none")
    try:
        result = json.loads((path / "result.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Job(fallback, path, problem=f"half-written: no result.json in {path}")
    except (OSError, ValueError) as e:
        return Job(
            fallback, path, problem=f"half-written: result.json in {path} is unreadable ({e})"
        )
    problem = _shape_problem(result)
    if problem is not None:
        name = result.get("name") if isinstance(result, dict) else None
        return Job(str(name or fallback), path, problem=f"half-written: {problem} in {path}")
    name = str(result["name"])
    if not (path / "report.md").is_file():
        return Job(name, path, result, problem=f"half-written: no report.md in {path}")
    sha = str(result["head"]["sha"])
    if sha != head_sha:
        return Job(
            name,
            path,
            result,
            problem=f"from another commit: {sha[:7]}, not {head_sha[:7]} (a stale artifact?)",
        )
    return Job(name, path, result)


def _shape_problem(result: Any) -> str | None:
    """What result.json lacks that a merge needs, or None."""
    if not isinstance(result, dict):
        return "result.json is not a JSON object"
    if result.get("verdict") not in ("passed", "failed"):
        return "result.json has no verdict"
    head = result.get("head")
    if not isinstance(result.get("name"), str) or not isinstance(head, dict):
        return "result.json has no report name or head"
    if not isinstance(head.get("sha"), str):
        return "result.json has no head commit"
    return None


def check_names(jobs: list[Job]) -> None:
    """Two jobs with one name would make one row out of two models: an error (exit 2)."""
    twice = sorted(name for name, n in Counter(j.name for j in jobs).items() if n > 1)
    if twice:
        where = ", ".join(str(j.path) for j in jobs if j.name == twice[0])
        raise UsageError(
            f"two jobs are named {twice[0]!r}",
            where=where,
            hint="give each matrix job its own name (`mlci run --name JOB`) and pass each "
            "directory once",
        )


@dataclass(frozen=True)
class Merged:
    """The jobs and what they add up to."""

    name: str
    title: str
    head_sha: str
    jobs: tuple[Job, ...]
    metrics: tuple[str, ...]  # the leaderboard's key metrics
    higher: dict[str, bool]  # metric -> higher is better
    best: str | None  # the job with the best head on the first key metric

    @property
    def passed(self) -> bool:
        return all(j.passed for j in self.jobs)

    @property
    def blessed(self) -> bool:
        return all(j.blessed for j in self.jobs)

    @property
    def broken(self) -> tuple[Job, ...]:
        return tuple(j for j in self.jobs if not j.ok)

    @property
    def failed_gates(self) -> int:
        """The jobs' failed rules, plus one for each job that could not be read."""
        return sum(int(j.result.get("failed_gates", 0)) for j in self.jobs if j.ok) + len(
            self.broken
        )

    @property
    def skipped_gates(self) -> int:
        return sum(int(j.result.get("skipped_gates", 0)) for j in self.jobs if j.ok)


def combine(jobs: list[Job], *, name: str, title: str, head_sha: str) -> Merged:
    check_names(jobs)
    usable = [j for j in jobs if j.ok]
    metrics = _key_metrics(usable)
    higher = {}
    for m in metrics:
        row = next((r for j in usable if (r := j.row(m)) is not None), None)
        higher[m] = bool(row.get("higher_is_better", True)) if row else True
    best = _best(usable, metrics[0], higher[metrics[0]]) if metrics else None
    return Merged(name, title, head_sha, tuple(jobs), tuple(metrics), higher, best)


def _key_metrics(jobs: list[Job]) -> list[str]:
    """The gated metrics in the order the rules name them, else each job's first rows."""
    names = [str(r.get("metric")) for j in jobs for r in j.rules if r.get("metric")]
    if not names:
        for j in jobs:
            rows = (j.result.get("comparison") or {}).get("rows") or []
            names += [str(r.get("name")) for r in rows[:KEY_METRICS]]
    return list(dict.fromkeys(names))[:KEY_METRICS]


def _best(jobs: list[Job], metric: str, higher: bool) -> str | None:
    values = [(number((j.row(metric) or {}).get("head")), j.name) for j in jobs]
    scored = [(v, n) for v, n in values if v is not None and math.isfinite(v)]
    if len(scored) < 2:
        return None
    return (max if higher else min)(scored)[1]


def number(value: Any) -> float | None:
    """A value of result.json as a float (NaN and infinities are written as strings)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def result_data(merged: Merged, plots: list[str]) -> dict[str, Any]:
    """result.json of the merged report; `gates` lists every job's rules (named JOB: metric)
    and one failed entry per unreadable job, so the check run and status say which job."""
    rules: list[dict[str, Any]] = []
    for job in merged.jobs:
        if job.ok:
            rules += [
                {**r, "metric": f"{job.name}: {r.get('metric')}", "job": job.name}
                for r in job.rules
            ]
        else:
            rules.append(
                {
                    "metric": job.name,
                    "job": job.name,
                    "outcome": "failed",
                    "reason": job.problem,
                    "rule": {},
                }
            )
    return {
        "schema": 1,
        "name": merged.name,
        "verdict": "passed" if merged.passed else "failed",
        "blessed": merged.blessed,
        "failed_gates": merged.failed_gates,
        "skipped_gates": merged.skipped_gates,
        "head": {"sha": merged.head_sha},
        "key_metrics": list(merged.metrics),
        "best": merged.best,
        "jobs": [_job_data(j) for j in merged.jobs],
        "gates": {"results": rules},
        "plots": plots,
        "mlci": __version__,
    }


def _job_data(job: Job) -> dict[str, Any]:
    return {
        "name": job.name,
        "dir": str(job.path),
        "verdict": job.result.get("verdict") if job.ok else "failed",
        "blessed": job.blessed,
        "failed_gates": job.result.get("failed_gates", 0) if job.ok else 0,
        "skipped_gates": job.result.get("skipped_gates", 0) if job.ok else 0,
        "problem": job.problem,
        "baseline": (job.result.get("baseline") or {}).get("description") if job.ok else None,
    }


# -- `mlci merge` ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeRun:
    exit_code: int
    text: str


def run(
    ws: Workspace,
    ctx: CIContext,
    dirs: list[Path],
    *,
    out: Path | None,
    dry_run: bool,
    strict: bool,
) -> MergeRun:
    """Read the jobs, write the merged report, publish it where the context says."""
    from mlci import ci, jobs
    from mlci.pipeline import default_out
    from mlci.report import build as assemble
    from mlci.report import matrix as merge_report
    from mlci.report.markdown import to_html

    out_dir = out or default_out(ws)
    if any(out_dir.resolve() == d.resolve() for d in dirs):
        raise UsageError(
            f"--out {out_dir} is one of the job directories",
            where="--out",
            hint="write the merged report to a directory of its own",
        )
    head = ws.repo.head_sha()
    loaded = [load(d, head) for d in dirs]
    merged = combine(
        loaded, name=ws.config.report.name, title=ws.config.report.title, head_sha=head
    )
    mode = "dry-run" if dry_run else ctx.mode
    if mode == "pr":
        ci.check_repository(ctx, ws.repo.remote_url())
    out_dir = assemble.prepare_out_dir(out_dir)
    drawn = merge_report.draw(merged, out_dir / "plots")
    plot = f"plots/{drawn.name}" if drawn else None
    markdown = merge_report.render(merged, ws.config.precision, plot=plot, run_url=ctx.run_url)
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    images = {plot: drawn} if plot and drawn else {}
    (out_dir / "report.html").write_text(to_html(markdown, merged.title, images), encoding="utf-8")
    data = result_data(merged, [plot] if plot else [])
    (out_dir / "result.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    for job in merged.broken:
        output.warn(f"job {job.name}: {job.problem}")
    code = 0 if merged.passed else 1
    if mode == "pr":
        code = jobs.publish_github(ws, ctx, out_dir, code, strict=strict)
    else:
        if not dry_run:
            output.info(
                "mlci: not a pull_request job in GitHub Actions: nothing is posted "
                "(the merged report stays on disk)"
            )
        jobs.local_publish(ws, ctx, out_dir / "report.md")
    return MergeRun(code, _summary_text(merged, out_dir))


def _summary_text(merged: Merged, out_dir: Path) -> str:
    from mlci.config import display_path
    from mlci.report import rules

    lines = []
    for job in merged.jobs:
        if not job.ok:
            lines.append(f"failed  {job.name}: {job.problem}")
        else:
            skipped = " (rules skipped)" if job.passed and not job.blessed else ""
            lines.append(f"{job.result['verdict']:<7} {job.name}{skipped}")
            lines.extend("  " + line for line in rules.failed_in_result(job.result))
    failed = [j.name for j in merged.jobs if not j.passed]
    verdict = "passed" if merged.passed else f"failed ({', '.join(failed)})"
    lines.append(f"verdict: {verdict}")
    for name in ("report.md", "report.html", "result.json"):
        lines.append(f"{name.split('.')[1]:>4}: {display_path(out_dir / name)}")
    return "\n".join(lines)
