"""The repository, the user, commits (the API's view) and contents, and the raw file URLs
of the web side."""

from __future__ import annotations

import mimetypes
import urllib.parse

from tests.fakegithub.api import JSON, NOT_ACCESSIBLE, ApiError, Call, Reply, check_sha, json_reply
from tests.fakegithub.state import Repo, State, Token, TreeEntry, b64_lines, node_id, now


class Repos(State):
    """GET user, repository, commits and contents; raw files by ref and path."""

    def _get_user(self, token: Token | None) -> Reply:
        if token is None:
            raise ApiError(401, "Requires authentication")
        if token.user.type == "Bot":  # an installation token has no user
            raise ApiError(403, NOT_ACCESSIBLE)
        return json_reply(200, self._user_json(token.user))

    def _get_repo(self, call: Call) -> Reply:
        return json_reply(200, self._repo_json(call.repo, call.token))

    def _list_commits(self, call: Call) -> Reply:
        """First-parent history of ?sha= (a branch or sha), newest first, ?until= honoured."""
        git = call.repo.git
        sha = git.resolve(call.query.get("sha") or call.repo.default_branch)
        if sha is None:
            raise ApiError(404, "Not Found")
        until = call.query.get("until")
        found = []
        while sha is not None:
            commit = git.commits[sha]
            if until is None or str(commit.data["committer"]["date"]) <= until:
                found.append(commit.data)
            sha = commit.parents[0] if commit.parents else None
        page, headers = self._paginate(call, found)
        return json_reply(200, [{"sha": c["sha"], "commit": c} for c in page], headers)

    def _get_commit(self, call: Call) -> Reply:
        """A commit by sha; shas the fake never saw (the user's own git) are answered too."""
        sha = call.repo.git.resolve(call.args["ref"]) or check_sha(call.args["ref"])
        known = call.repo.git.commits.get(sha)
        api, html = self._repo_url(call.repo), f"{self.web_url}/{call.repo.full_name}"
        person = {"name": "Test Author", "email": "author@example.com", "date": now()}
        git = (
            known.data
            if known
            else {
                "sha": sha,
                "url": f"{api}/git/commits/{sha}",
                "author": person,
                "committer": person,
                "message": "commit",
                "parents": [],
                "tree": {
                    "sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                    "url": f"{api}/git/trees/4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                },
            }
        )
        return json_reply(
            200,
            {
                "sha": sha,
                "node_id": node_id("Commit", int(sha[:8], 16)),
                "commit": {
                    **{k: git[k] for k in ("author", "committer", "message", "tree", "url")},
                    "comment_count": 0,
                },
                "url": f"{api}/commits/{sha}",
                "html_url": f"{html}/commit/{sha}",
                "comments_url": f"{api}/commits/{sha}/comments",
                "author": None,
                "committer": None,
                "parents": git["parents"],
                "files": [],
            },
        )

    def _entry_at(self, call: Call, ref: str, path: str) -> TreeEntry:
        git = call.repo.git
        sha = git.resolve(ref)
        if sha is None:
            raise ApiError(404, f"No commit found for the ref {ref}")
        entry = git.walk(git.commits[sha].tree, path)
        if entry is None:
            raise ApiError(404, "Not Found")
        return entry

    def _get_contents(self, call: Call) -> Reply:
        ref = call.query.get("ref") or call.repo.default_branch
        path = call.args.get("path", "").strip("/")
        entry = self._entry_at(call, ref, path)
        if entry.type == "tree":
            items = [
                self._content_json(call.repo, f"{path}/{e.name}".lstrip("/"), e, ref, False)
                for e in call.repo.git.trees[entry.sha]
            ]
            return json_reply(200, items)
        return json_reply(200, self._content_json(call.repo, path, entry, ref, True))

    def _content_json(
        self, repo: Repo, path: str, entry: TreeEntry, ref: str, with_content: bool
    ) -> JSON:
        api, html = self._repo_url(repo), f"{self.web_url}/{repo.full_name}"
        quoted = urllib.parse.quote(path)
        kind = {"blob": "file", "tree": "dir"}.get(entry.type, "submodule")
        data: JSON = {
            "type": kind,
            "size": len(repo.git.blobs.get(entry.sha, b"")),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": entry.sha,
            "url": f"{api}/contents/{quoted}?ref={urllib.parse.quote(ref)}",
            "git_url": f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}",
            "html_url": f"{html}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{quoted}",
            "download_url": f"{self.web_url}/raw/{repo.full_name}/{ref}/{quoted}"
            if kind == "file"
            else None,
        }
        data["_links"] = {"self": data["url"], "git": data["git_url"], "html": data["html_url"]}
        if with_content and kind == "file":
            blob = repo.git.blobs[entry.sha]
            big = len(blob) > 1024 * 1024  # over 1 MB GitHub leaves the content out
            data.update(
                content="" if big else b64_lines(blob), encoding="none" if big else "base64"
            )
        return data

    def _raw(self, call: Call) -> Reply:
        entry = self._entry_at(call, call.args["ref"], call.args["path"])
        if entry.type != "blob":
            raise ApiError(404, "Not Found")
        kind = mimetypes.guess_type(call.args["path"])[0] or "application/octet-stream"
        return Reply(200, call.repo.git.blobs[entry.sha], {"Content-Type": kind})
