"""Git data: refs, blobs, trees and commits, hashed the way git hashes them, and the
GraphQL updateRefs mutation (a forced ref update with a lease)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from tests.fakegithub.api import JSON, NOT_ACCESSIBLE, ApiError, Call, Reply, invalid, json_reply
from tests.fakegithub.state import (
    GitCommit,
    GitStore,
    Repo,
    State,
    Token,
    TreeEntry,
    b64_lines,
    commit_text,
    git_hash,
    node_id,
    now,
)

TREE_MODES = {
    "100644": "blob",
    "100755": "blob",
    "120000": "blob",
    "040000": "tree",
    "160000": "commit",
}


class GitData(State):
    """The git database endpoints mlci uses for the assets branch."""

    def _ref_json(self, repo: Repo, ref: str) -> JSON:
        api, sha = self._repo_url(repo), repo.git.refs[ref]
        return {
            "ref": ref,
            "node_id": node_id("Ref", len(ref)),
            "url": f"{api}/git/{ref}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
        }

    def _get_ref(self, call: Call) -> Reply:
        ref = "refs/" + call.args["ref"]
        if ref in call.repo.git.refs:
            return json_reply(200, self._ref_json(call.repo, ref))
        matching = [r for r in sorted(call.repo.git.refs) if r.startswith(ref + "/")]
        if not matching or "/git/ref/" in call.path:
            raise ApiError(404, "Not Found")
        return json_reply(200, [self._ref_json(call.repo, r) for r in matching])

    def _commit_arg(self, repo: Repo, sha: Any) -> str:
        if not isinstance(sha, str) or sha not in repo.git.commits:
            raise ApiError(422, "Object does not exist")
        return sha

    def _create_ref(self, call: Call) -> Reply:
        ref = call.body.get("ref") if isinstance(call.body, dict) else None
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        sha = self._commit_arg(call.repo, call.body.get("sha"))
        if ref in call.repo.git.refs:
            raise ApiError(422, "Reference already exists")
        call.repo.git.refs[ref] = sha
        data = self._ref_json(call.repo, ref)
        return json_reply(201, data, {"Location": data["url"]})

    def _update_ref(self, call: Call) -> Reply:
        ref = "refs/" + call.args["ref"]
        git = call.repo.git
        if ref not in git.refs:
            raise ApiError(422, "Reference does not exist")
        body = call.body if isinstance(call.body, dict) else {}
        sha = self._commit_arg(call.repo, body.get("sha"))
        if not body.get("force") and not git.is_ancestor(git.refs[ref], sha):
            raise ApiError(422, "Update is not a fast forward")
        git.refs[ref] = sha
        return json_reply(200, self._ref_json(call.repo, ref))

    def _delete_ref(self, call: Call) -> Reply:
        if call.repo.git.refs.pop("refs/" + call.args["ref"], None) is None:
            raise ApiError(422, "Reference does not exist")
        return json_reply(204, None)

    def _create_blob(self, call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        content, encoding = body.get("content"), body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise invalid("Blob", "content", "", code="missing_field")
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=False)
            except ValueError as e:
                raise ApiError(422, "Invalid base64 content") from e
        elif encoding in ("utf-8", "utf8"):
            data = content.encode("utf-8")
        else:
            raise ApiError(422, f"encoding {encoding!r} is not one of utf-8, base64")
        sha = call.repo.git.put_blob(data)
        url = f"{self._repo_url(call.repo)}/git/blobs/{sha}"
        return json_reply(201, {"url": url, "sha": sha}, {"Location": url})

    def _get_blob(self, call: Call) -> Reply:
        data = call.repo.git.blobs.get(call.args["sha"])
        if data is None:
            raise ApiError(404, "Not Found")
        sha = call.args["sha"]
        return json_reply(
            200,
            {
                "sha": sha,
                "node_id": node_id("Blob", len(data)),
                "size": len(data),
                "url": f"{self._repo_url(call.repo)}/git/blobs/{sha}",
                "content": b64_lines(data),
                "encoding": "base64",
            },
        )

    def _tree_entries(self, git: GitStore, base: Any, entries: Any) -> dict[str, TreeEntry]:
        if base is not None and base not in git.trees:
            raise ApiError(422, "base_tree is not a valid tree")
        if not isinstance(entries, list):
            raise invalid("Tree", "tree", "", code="missing_field")
        flat = git.flatten(base) if base else {}
        for e in entries:
            path, mode = e.get("path"), e.get("mode")
            if not isinstance(path, str) or not path.strip("/") or mode not in TREE_MODES:
                raise ApiError(422, "GitRPC::BadObjectState: tree entry needs a path and a mode")
            path = path.strip("/")
            kind = e.get("type") or TREE_MODES[mode]
            if "content" in e:
                sha = git.put_blob(str(e["content"]).encode("utf-8"))
            elif e.get("sha") is None:  # null sha deletes the path
                flat = {p: v for p, v in flat.items() if p != path and not p.startswith(path + "/")}
                continue
            else:
                sha = e["sha"]
                known = {"blob": git.blobs.keys(), "tree": git.trees.keys()}.get(kind)
                if known is not None and sha not in known:
                    raise ApiError(422, f"tree.sha {sha} is not a valid {kind}")
            if kind == "tree":
                flat.update(git.flatten(sha, path + "/"))
            else:
                flat[path] = TreeEntry(path, mode, kind, sha)
        return flat

    def _create_tree(self, call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        git = call.repo.git
        sha = git.build(self._tree_entries(git, body.get("base_tree"), body.get("tree")))
        return json_reply(201, self._tree_json(call.repo, sha, recursive=False))

    def _tree_json(self, repo: Repo, sha: str, recursive: bool) -> JSON:
        api = self._repo_url(repo)

        def entries(tree: str, prefix: str) -> Iterator[JSON]:
            for e in repo.git.trees[tree]:
                kind = {"blob": "blobs", "tree": "trees"}.get(e.type, "commits")
                item: JSON = {
                    "path": prefix + e.name,
                    "mode": e.mode,
                    "type": e.type,
                    "sha": e.sha,
                    "url": f"{api}/git/{kind}/{e.sha}",
                }
                if e.type == "blob":
                    item["size"] = len(repo.git.blobs[e.sha])
                yield item
                if recursive and e.type == "tree":
                    yield from entries(e.sha, prefix + e.name + "/")

        return {
            "sha": sha,
            "url": f"{api}/git/trees/{sha}",
            "tree": list(entries(sha, "")),
            "truncated": False,
        }

    def _get_tree(self, call: Call) -> Reply:
        git, sha = call.repo.git, call.args["sha"]
        sha = git.resolve(sha) or sha  # a branch or tag name names its commit's tree
        sha = git.commits[sha].tree if sha in git.commits else sha
        if sha not in git.trees:
            raise ApiError(404, "Not Found")
        recursive = call.query.get("recursive", "") not in ("", "0", "false")
        return json_reply(200, self._tree_json(call.repo, sha, recursive))

    def _create_git_commit(self, call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        git = call.repo.git
        tree, parents, message = body.get("tree"), body.get("parents", []), body.get("message")
        if not isinstance(message, str):
            raise invalid("Commit", "message", "", code="missing_field")
        if tree not in git.trees:
            raise ApiError(422, "Tree SHA does not exist")
        if not isinstance(parents, list) or any(p not in git.commits for p in parents):
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
        login = call.user.login if call.user else "ghost"
        default = {"name": login, "email": f"{login}@users.noreply.github.com", "date": now()}
        author = {**default, **(body.get("author") or {})}
        committer = {**default, **(body.get("committer") or author)}
        sha = git_hash("commit", commit_text(str(tree), parents, author, committer, message))
        api, html = self._repo_url(call.repo), f"{self.web_url}/{call.repo.full_name}"
        data: JSON = {
            "sha": sha,
            "node_id": node_id("Commit", int(sha[:8], 16)),
            "url": f"{api}/git/commits/{sha}",
            "html_url": f"{html}/commit/{sha}",
            "author": author,
            "committer": committer,
            "message": message,
            "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
            "parents": [
                {"sha": p, "url": f"{api}/git/commits/{p}", "html_url": f"{html}/commit/{p}"}
                for p in parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }
        git.commits[sha] = GitCommit(str(tree), list(parents), data)
        return json_reply(201, data, {"Location": data["url"]})

    def _get_git_commit(self, call: Call) -> Reply:
        found = call.repo.git.commits.get(call.args["sha"])
        if found is None:
            raise ApiError(404, "Not Found")
        return json_reply(200, found.data)

    def _graphql(self, token: Token | None, raw: bytes) -> Reply:
        """The one mutation mlci sends: updateRefs, atomic, with beforeOid as a lease."""
        if token is None:
            raise ApiError(401, "This endpoint requires you to be authenticated.")
        body = json.loads(raw or b"{}")
        variables = body.get("variables") or {}
        if "updateRefs" not in str(body.get("query")):
            return json_reply(200, {"errors": [{"message": "unsupported query"}]})
        repo = next(
            (
                r
                for r in self._repos.values()
                if node_id("Repository", r.id) == variables.get("repo")
            ),
            None,
        )
        if repo is None:
            return json_reply(200, {"errors": [{"type": "NOT_FOUND", "message": "no repository"}]})
        if token.read_only:
            return json_reply(200, {"errors": [{"type": "FORBIDDEN", "message": NOT_ACCESSIBLE}]})
        updates = variables.get("updates") or []
        for u in updates:
            if repo.git.refs.get(u["name"]) != u.get("beforeOid", repo.git.refs.get(u["name"])):
                message = f"{u['name']} is at {repo.git.refs.get(u['name'])} but expected "
                return json_reply(200, {"errors": [{"message": message + u["beforeOid"]}]})
            if u["afterOid"] not in repo.git.commits:
                return json_reply(200, {"errors": [{"message": "afterOid is not a commit"}]})
        for u in updates:
            repo.git.refs[u["name"]] = u["afterOid"]
        return json_reply(200, {"data": {"updateRefs": {"clientMutationId": None}}})
