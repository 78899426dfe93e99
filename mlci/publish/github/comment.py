"""The sticky pull-request comment: one per report name, ours, edited in place on re-runs."""

from __future__ import annotations

import email.utils
import re
import time
from datetime import datetime
from typing import Any

from mlci.publish.github.client import JSON, Session
from mlci.report.fit import COMMENT_LIMIT, fit
from mlci.report.markdown import marker

CLOCK_SLACK = 2  # seconds: the Date header and created_at are whole seconds
NEXT_PAGE = re.compile(r'<([^>]+)>;\s*rel="next"')
COMMENT_NOTE = (
    "\n> [!WARNING]\n> mlci cut this report here to fit GitHub's limit of 65,536 characters "
    "for a comment: the full report is in the workflow run's artifacts and in result.json.\n"
)


def post(s: Session) -> str:
    """Edit our comment for this report name, or post it; never leave two of ours.

    Runs at the same moment both post: listed again afterwards, the oldest comment stays,
    and a run whose own comment was not the oldest lost the race (it leaves the check run
    to the winner, so the head sha gets one).
    """
    body, cut = fit(s.body, COMMENT_LIMIT, COMMENT_NOTE, in_bytes=False)
    s.body = body
    mine, posted = _ours(s), None
    if not mine:
        path = f"{s.repo}/issues/{s.ctx.pr_number}/comments"
        _, posted = s.client.call(
            "POST", path, body={"body": body}, look=lambda: next(iter(_ours(s)), None)
        )
        mine = _ours(s) or [posted]  # listed again: a concurrent run may have posted as well
    keep = mine[0]
    if posted is not None and keep["id"] != posted["id"]:
        s.lost_race = True
    elif posted is None and _created_meanwhile(
        str(keep.get("created_at")), s.server_date, s.ctx.started
    ):
        s.fresh_since = str(keep.get("created_at"))
    changed = _same(keep.get("body")) != _same(body)
    if changed:
        url = f"{s.repo}/issues/comments/{keep['id']}"
        keep = s.client.call("PATCH", url, body={"body": body})[1]
    for extra in mine[1:]:
        _delete(s, extra)
    s.comment_url = keep.get("html_url")
    how = "edited" if changed else ("posted" if posted is not None else "unchanged")
    return f"comment ({how}{', cut to fit' if cut else ''})"


def _created_meanwhile(created: str, server_date: str | None, started: float | None) -> bool:
    """Was the comment created after this mlci process started (by GitHub's clock, which
    the Date header of the listing ties to ours)? Then another run is publishing too."""
    if not server_date or started is None:
        return False
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        skew = email.utils.parsedate_to_datetime(server_date).timestamp() - time.time()
    except (TypeError, ValueError):
        return False
    return then >= started + skew - CLOCK_SLACK


def _ours(s: Session) -> list[JSON]:
    """Our comments for this name, oldest first.

    Ours: the body starts with the marker (mlci writes it as the first line) and the author
    is a bot (GITHUB_TOKEN comments as github-actions[bot]) or our own login. A comment
    that quotes the marker, or that a person wrote, is never ours.
    """
    mark = marker(s.name)
    found = [c for c in _all_comments(s) if (c.get("body") or "").lstrip().startswith(mark)]
    mine = [c for c in found if _authored_by_us(s, c.get("user") or {})]
    return sorted(mine, key=lambda c: (str(c.get("created_at")), int(c["id"])))


def _authored_by_us(s: Session, user: JSON) -> bool:
    if user.get("type") == "Bot":
        return True
    return user.get("login") is not None and user.get("login") == s.login()


def _all_comments(s: Session) -> list[JSON]:
    comments: list[JSON] = []
    url: str | None = f"{s.repo}/issues/{s.ctx.pr_number}/comments"
    params: dict[str, Any] | None = {"per_page": 100}
    while url:
        headers, page = s.client.call("GET", url, params=params)
        s.server_date = headers.get("date") or s.server_date
        comments += page
        match = NEXT_PAGE.search(headers.get("link", ""))
        url, params = (match.group(1), None) if match else (None, None)
    return comments


def _delete(s: Session, comment: JSON) -> None:
    from github.GithubException import GithubException

    try:
        s.client.call("DELETE", f"{s.repo}/issues/comments/{comment['id']}")
    except GithubException as e:
        if e.status != 404:  # gone already: a repeated DELETE after a lost answer
            raise


def _same(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n")
