"""The commit status `mlci/NAME` on the head sha: what branch protection gates on."""

from __future__ import annotations

from mlci.publish.github.check import rules, tally
from mlci.publish.github.client import JSON, Session

DESCRIPTION_LIMIT = 140  # characters of a commit status description


def post(s: Session) -> str:
    target = s.comment_url or s.ctx.run_url
    body: JSON = {
        "state": "success" if s.report.result["verdict"] == "passed" else "failure",
        "description": _description(s.report.result),
        "context": f"mlci/{s.name}",
        **({"target_url": target} if target else {}),
    }
    # a lost answer is looked for: a repeated status would be harmless, but is one more write
    s.client.call(
        "POST", f"{s.repo}/statuses/{s.ctx.head_sha}", body=body, look=lambda: _find_status(s, body)
    )
    return "status"


def _find_status(s: Session, sent: JSON) -> JSON | None:
    path = f"{s.repo}/commits/{s.ctx.head_sha}/statuses"
    _, found = s.client.call("GET", path, params={"per_page": 100})
    latest = next((x for x in found if x.get("context") == sent["context"]), None)
    keys = ("state", "description", "target_url")
    return latest if latest and all(latest.get(k) == sent.get(k) for k in keys) else None


def _description(result: JSON) -> str:
    """The status line: the tally, or the first failed rule and why."""
    failed = [r for r in rules(result) if r.get("outcome") == "failed"]
    if result["verdict"] != "failed" or not failed:
        return tally(result)[:DESCRIPTION_LIMIT]
    first = failed[0]
    text = f"failed: {first.get('metric')} {first.get('reason')}"
    if len(failed) > 1:
        text += f" (+{len(failed) - 1} more)"
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"
