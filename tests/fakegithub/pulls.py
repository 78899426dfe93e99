"""Pull requests, and their issue side, as GitHub renders them."""

from __future__ import annotations

from tests.fakegithub.api import JSON, Call, Reply, json_reply
from tests.fakegithub.state import Pull, Repo, State, node_id


class Pulls(State):
    """GET pulls (with ?head=), a pull request and its issue."""

    def _pull_part(self, repo: Repo, full_name: str, ref: str, sha: str) -> JSON:
        part_repo = self._repos.get(full_name)
        owner = full_name.split("/")[0]
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self._user_json(self._user(owner)),
            "repo": self._repo_json(part_repo)
            if part_repo
            else {
                **self._repo_json(repo),
                "full_name": full_name,
                "name": full_name.split("/")[1],
                "fork": True,
                "url": f"{self.url}/repos/{full_name}",
                "html_url": f"{self.web_url}/{full_name}",
            },
        }

    def _pull_json(self, repo: Repo, pull: Pull) -> JSON:
        api, html = self._repo_url(repo), f"{self.web_url}/{repo.full_name}"
        return {
            "url": f"{api}/pulls/{pull.number}",
            "id": pull.number + repo.id,
            "node_id": node_id("PullRequest", pull.number + repo.id),
            "html_url": f"{html}/pull/{pull.number}",
            "diff_url": f"{html}/pull/{pull.number}.diff",
            "patch_url": f"{html}/pull/{pull.number}.patch",
            "issue_url": f"{api}/issues/{pull.number}",
            "comments_url": f"{api}/issues/{pull.number}/comments",
            "statuses_url": f"{api}/statuses/{pull.head_sha}",
            "number": pull.number,
            "state": "open",
            "locked": False,
            "title": f"Pull request {pull.number}",
            "user": self._user_json(pull.user),
            "body": None,
            "created_at": pull.created,
            "updated_at": pull.created,
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "draft": False,
            "merged": False,
            "mergeable": None,
            "head": self._pull_part(repo, pull.head_repo, pull.head_ref, pull.head_sha),
            "base": self._pull_part(repo, repo.full_name, pull.base_ref, pull.base_sha),
            "author_association": "CONTRIBUTOR",
            "comments": self._count_comments(repo, pull),
            "commits": 1,
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }

    def _count_comments(self, repo: Repo, pull: Pull) -> int:
        return sum(1 for c in repo.comments.values() if c["_number"] == pull.number)

    def _issue_json(self, repo: Repo, pull: Pull) -> JSON:
        api, html = self._repo_url(repo), f"{self.web_url}/{repo.full_name}"
        data = self._pull_json(repo, pull)
        return {
            "url": f"{api}/issues/{pull.number}",
            "repository_url": api,
            "comments_url": data["comments_url"],
            "html_url": data["html_url"],
            "id": data["id"],
            "node_id": data["node_id"],
            "number": pull.number,
            "title": data["title"],
            "user": data["user"],
            "labels": [],
            "state": "open",
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": data["comments"],
            "created_at": pull.created,
            "updated_at": pull.created,
            "closed_at": None,
            "author_association": "CONTRIBUTOR",
            "body": None,
            "pull_request": {
                "url": data["url"],
                "html_url": f"{html}/pull/{pull.number}",
                "diff_url": data["diff_url"],
                "patch_url": data["patch_url"],
            },
        }

    def _list_pulls(self, call: Call) -> Reply:
        """Open pull requests (the fake closes none), ?head=owner:branch honoured."""
        pulls = sorted(call.repo.pulls.values(), key=lambda p: -p.number)
        head = call.query.get("head")
        if head:
            owner, _, branch = head.partition(":")
            pulls = [
                p for p in pulls if p.head_repo.split("/")[0] == owner and p.head_ref == branch
            ]
        if call.query.get("state", "open") == "closed":
            pulls = []
        page, headers = self._paginate(call, [self._pull_json(call.repo, p) for p in pulls])
        return json_reply(200, page, headers)

    def _get_pull(self, call: Call) -> Reply:
        return json_reply(200, self._pull_json(call.repo, self._pull(call)))

    def _get_issue(self, call: Call) -> Reply:
        return json_reply(200, self._issue_json(call.repo, self._pull(call)))
