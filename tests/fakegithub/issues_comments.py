"""Issue comments on pull requests, within GitHub's limit on a comment body."""

from __future__ import annotations

from tests.fakegithub.api import JSON, ApiError, Call, Reply, invalid, json_reply
from tests.fakegithub.state import ACTIONS_APP, Repo, State, User, node_id, now, public

COMMENT_LIMIT = 65536  # characters


class IssueComments(State):
    """List, post, read, edit and delete the comments of a pull request."""

    def _list_comments(self, call: Call) -> Reply:
        number = self._pull(call).number
        found = [public(c) for c in call.repo.comments.values() if c["_number"] == number]
        page, headers = self._paginate(call, found)
        return json_reply(200, page, headers)

    @staticmethod
    def _comment_body(call: Call) -> str:
        body = call.body.get("body") if isinstance(call.body, dict) else None
        if not isinstance(body, str):
            raise invalid("IssueComment", "body", "", code="missing_field")
        if len(body) > COMMENT_LIMIT:
            raise invalid(
                "IssueComment", "body", f"body is too long (maximum is {COMMENT_LIMIT} characters)"
            )
        return body

    def _new_comment(self, repo: Repo, number: int, body: str, user: User) -> JSON:
        cid, stamp = next(self._ids), now()
        api = self._repo_url(repo)
        data: JSON = {
            "url": f"{api}/issues/comments/{cid}",
            "html_url": f"{self.web_url}/{repo.full_name}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{api}/issues/{number}",
            "id": cid,
            "node_id": node_id("IssueComment", cid),
            "user": self._user_json(user),
            "created_at": stamp,
            "updated_at": stamp,
            "author_association": "OWNER" if user == repo.owner else "NONE",
            "body": body,
            "performed_via_github_app": ACTIONS_APP if user.type == "Bot" else None,
            "_number": number,
        }
        repo.comments[cid] = data
        return data

    def _create_comment(self, call: Call) -> Reply:
        pull = self._pull(call)
        data = self._new_comment(call.repo, pull.number, self._comment_body(call), call.user)  # type: ignore[arg-type]
        return json_reply(201, public(data), {"Location": data["url"]})

    def _comment(self, call: Call) -> JSON:
        found = call.repo.comments.get(int(call.args["id"])) if call.args["id"].isdigit() else None
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def _get_comment(self, call: Call) -> Reply:
        return json_reply(200, public(self._comment(call)))

    def _edit_comment(self, call: Call) -> Reply:
        data = self._comment(call)
        data.update(body=self._comment_body(call), updated_at=now())
        return json_reply(200, public(data))

    def _delete_comment(self, call: Call) -> Reply:
        del call.repo.comments[self._comment(call)["id"]]
        return json_reply(204, None)
