"""The check run `mlci / NAME` on the head sha, with one annotation per failed rule."""

from __future__ import annotations

import uuid

from mlci.publish.github.client import JSON, Session, StepFailed
from mlci.report.fit import CHECK_LIMIT, fit

ANNOTATIONS_PER_REQUEST = 50
RACE_WAIT = 5  # seconds to wait for a concurrent run's check run
CHECK_NOTE = (
    "\n> [!WARNING]\n> mlci cut this summary here to fit GitHub's limit of 65,535 bytes for a "
    "check run: the full report is in the pull-request comment, the workflow run's "
    "artifacts and result.json.\n"
)


def post(s: Session) -> str:
    """A new completed check run on the head sha; annotations 50 per request.

    Every publish posts its own (GitHub shows the latest per name), except when another
    run of this report publishes at the same moment: then one check run is left.
    """
    if s.lost_race:
        raise StepFailed(
            f"check run: another run of report {s.name} posted its comment at the same "
            "moment; that run posts the check run",
            skip=True,
        )
    summary, _ = fit(s.body, CHECK_LIMIT, CHECK_NOTE, in_bytes=True)
    conclusion = "success" if s.report.result["verdict"] == "passed" else "failure"
    output = {"title": tally(s.report.result), "summary": summary}
    if s.fresh_since is not None and _same_check(s, s.fresh_since, output["title"], conclusion):
        return "check run (the same verdict, posted by a run of this report at the same moment)"
    notes = _annotations(s)
    external_id = uuid.uuid4().hex  # finds this very run again after a lost answer
    body: JSON = {
        "name": f"mlci / {s.name}",
        "head_sha": s.ctx.head_sha,
        "status": "completed",
        "conclusion": conclusion,
        "external_id": external_id,
        "output": {**output, "annotations": notes[:ANNOTATIONS_PER_REQUEST]},
        **({"details_url": s.ctx.run_url} if s.ctx.run_url else {}),
    }
    _, run = s.client.call(
        "POST", f"{s.repo}/check-runs", body=body, look=lambda: _find_check(s, external_id)
    )
    for start in range(ANNOTATIONS_PER_REQUEST, len(notes), ANNOTATIONS_PER_REQUEST):
        batch = notes[start : start + ANNOTATIONS_PER_REQUEST]
        total = start + len(batch)
        s.client.call(
            "PATCH",
            f"{s.repo}/check-runs/{run['id']}",
            body={"output": {**output, "annotations": batch}},
            look=lambda total=total: _annotated(s, run["id"], total),  # type: ignore[misc]
        )
    return "check run" + (f" ({len(notes)} annotations)" if notes else "")


def _same_check(s: Session, since: str, title: str, conclusion: str) -> bool:
    """Another run created our comment moments ago: it posts a check run too. Wait a few
    seconds for it; when its verdict is ours, it stays the one check run of the sha."""
    params = {"check_name": f"mlci / {s.name}", "filter": "all", "per_page": 100}
    path = f"{s.repo}/commits/{s.ctx.head_sha}/check-runs"
    waited = 0.0
    while True:
        _, data = s.client.call("GET", path, params=params)
        runs = [r for r in data["check_runs"] if str(r.get("started_at")) >= since]
        if runs:
            return any(
                r.get("conclusion") == conclusion and (r.get("output") or {}).get("title") == title
                for r in runs
            )
        if waited >= min(RACE_WAIT, s.ctx.max_wait):
            return False
        s.client.wait(1.0)
        waited += 1.0


def _find_check(s: Session, external_id: str) -> JSON | None:
    params = {"check_name": f"mlci / {s.name}", "filter": "all", "per_page": 100}
    _, data = s.client.call("GET", f"{s.repo}/commits/{s.ctx.head_sha}/check-runs", params=params)
    return next((r for r in data["check_runs"] if r.get("external_id") == external_id), None)


def _annotated(s: Session, run_id: int, total: int) -> JSON | None:
    """The check run when it has `total` annotations already (annotations add up)."""
    _, run = s.client.call("GET", f"{s.repo}/check-runs/{run_id}")
    return run if run["output"]["annotations_count"] >= total else None


def _annotations(s: Session) -> list[JSON]:
    return [
        {
            "path": s.config_file.removeprefix("./"),
            "start_line": max(1, int(r.get("rule", {}).get("line") or 1)),
            "end_line": max(1, int(r.get("rule", {}).get("line") or 1)),
            "annotation_level": "failure",
            "title": f"mlci / {s.name}: {r.get('metric')}",
            "message": str(r.get("reason") or "failed"),
        }
        for r in rules(s.report.result)
        if r.get("outcome") == "failed"
    ]


def rules(result: JSON) -> list[JSON]:
    """The gate rules' results in result.json."""
    gates = result.get("gates")
    results = gates.get("results") if isinstance(gates, dict) else None
    return [r for r in results or [] if isinstance(r, dict)]


def tally(result: JSON) -> str:
    """The check run title: "passed: 3 of 3 rules" / "failed: 1 of 3 rules"."""
    found = rules(result)
    failed = sum(r.get("outcome") == "failed" for r in found)
    skipped = sum(r.get("outcome") == "skipped" for r in found)
    if not found:
        return f"{result['verdict']}: no rules"
    if result["verdict"] == "failed":
        return f"failed: {failed} of {len(found)} rules"
    text = f"passed: {len(found) - failed - skipped} of {len(found)} rules"
    return text + (f", {skipped} skipped" if skipped else "")
