"""Commit statuses, one by one and combined."""

from __future__ import annotations

from tests.fakegithub.api import JSON, Call, Reply, check_sha, invalid, json_reply
from tests.fakegithub.state import State, node_id, now, public

STATUS_DESCRIPTION_LIMIT = 140


class Statuses(State):
    """Post a commit status; list them (newest first) or combine the latest per context."""

    def _create_status(self, call: Call) -> Reply:
        sha = check_sha(call.args["sha"])
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("state") not in ("error", "failure", "pending", "success"):
            raise invalid("Status", "state", "", code="invalid")
        description = body.get("description")
        if isinstance(description, str) and len(description) > STATUS_DESCRIPTION_LIMIT:
            raise invalid(
                "Status",
                "description",
                f"description is too long (maximum is {STATUS_DESCRIPTION_LIMIT} characters)",
            )
        sid, stamp = next(self._ids), now()
        data: JSON = {
            "url": f"{self._repo_url(call.repo)}/statuses/{sha}",
            "avatar_url": f"{self.web_url}/avatars/u/{call.user.id if call.user else 0}",
            "id": sid,
            "node_id": node_id("StatusContext", sid),
            "state": body["state"],
            "description": description,
            "target_url": body.get("target_url"),
            "context": body.get("context") or "default",
            "created_at": stamp,
            "updated_at": stamp,
            "creator": self._user_json(call.user),  # type: ignore[arg-type]
            "_sha": sha,
        }
        call.repo.statuses.append(data)
        return json_reply(201, public(data))

    def _statuses_of(self, call: Call) -> list[JSON]:
        sha = call.repo.git.resolve(call.args["ref"]) or call.args["ref"]
        return [public(s) for s in reversed(call.repo.statuses) if s["_sha"] == sha]

    def _list_statuses(self, call: Call) -> Reply:
        page, headers = self._paginate(call, self._statuses_of(call))
        return json_reply(200, page, headers)

    def _combined_status(self, call: Call) -> Reply:
        latest: dict[str, JSON] = {}
        for s in self._statuses_of(call):
            latest.setdefault(s["context"], s)
        states = {s["state"] for s in latest.values()}
        state = (
            "failure"
            if states & {"error", "failure"}
            else "pending"
            if "pending" in states or not states
            else "success"
        )
        sha = call.repo.git.resolve(call.args["ref"]) or call.args["ref"]
        return json_reply(
            200,
            {
                "state": state,
                "statuses": list(latest.values()),
                "sha": sha,
                "total_count": len(latest),
                "repository": self._repo_json(call.repo),
                "commit_url": f"{self._repo_url(call.repo)}/commits/{sha}",
                "url": f"{self._repo_url(call.repo)}/commits/{sha}/status",
            },
        )
