"""The fake's stored state: users, tokens, repositories with their pull requests, comments,
check runs, statuses and git objects (blobs, trees, commits, refs), and the JSON shapes
every endpoint group shares (users, repositories, pages)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from tests.fakegithub.api import JSON, ApiError, Call

ACTIONS_APP: JSON = {
    "id": 15368,
    "slug": "github-actions",
    "node_id": "MDM6QXBwMTUzNjg=",
    "name": "GitHub Actions",
    "owner": {
        "login": "github",
        "id": 9919,
        "node_id": "MDEyOk9yZ2FuaXphdGlvbjk5MTk=",
        "type": "Organization",
        "site_admin": False,
    },
    "description": "Automate your workflow from idea to production",
    "external_url": "https://help.github.com/en/actions",
    "html_url": "https://github.com/apps/github-actions",
    "created_at": "2018-07-30T09:30:17Z",
    "updated_at": "2019-12-10T19:04:12Z",
    "permissions": {
        "checks": "write",
        "contents": "write",
        "issues": "write",
        "pull_requests": "write",
        "statuses": "write",
        "metadata": "read",
    },
    "events": ["check_run", "check_suite", "pull_request", "push"],
}


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0:{kind}{number}".encode()).decode()


def b64_lines(data: bytes) -> str:
    """Base64 in lines of 60 characters, as the contents and blobs APIs send it."""
    text = base64.b64encode(data).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def copy_json(data: JSON) -> JSON:
    """A deep copy, so a test cannot change the server's state by accident."""
    return dict(json.loads(json.dumps(data)))


def git_hash(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def public(data: JSON) -> JSON:
    """The data as the API shows it: without the fake's own keys ('_number', '_sha')."""
    return {k: v for k, v in data.items() if not k.startswith("_")}


def commit_text(
    tree: str, parents: list[str], author: JSON, committer: JSON, message: str
) -> bytes:
    def who(p: JSON) -> str:
        stamp = datetime.fromisoformat(str(p["date"]).replace("Z", "+00:00")).timestamp()
        return f"{p['name']} <{p['email']}> {int(stamp)} +0000"

    lines = [
        f"tree {tree}",
        *(f"parent {p}" for p in parents),
        f"author {who(author)}",
        f"committer {who(committer)}",
        "",
        message,
    ]
    return "\n".join(lines).encode("utf-8")


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User" | "Bot" | "Organization"


@dataclass
class Token:
    user: User
    read_only: bool


@dataclass
class Pull:
    number: int
    head_sha: str
    base_sha: str
    head_ref: str
    base_ref: str
    head_repo: str
    user: User
    created: str


class TreeEntry(NamedTuple):
    name: str
    mode: str
    type: str
    sha: str


@dataclass
class GitCommit:
    tree: str
    parents: list[str]
    data: JSON  # the git/commits answer


@dataclass
class GitStore:
    """Blobs, trees, commits and refs, hashed the way git hashes them."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, list[TreeEntry]] = field(default_factory=dict)
    commits: dict[str, GitCommit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def put_blob(self, data: bytes) -> str:
        sha = git_hash("blob", data)
        self.blobs[sha] = data
        return sha

    def put_tree(self, entries: list[TreeEntry]) -> str:
        entries = sorted(entries, key=lambda e: e.name + ("/" if e.type == "tree" else ""))
        data = b"".join(
            f"{e.mode.lstrip('0')} {e.name}".encode() + b"\0" + bytes.fromhex(e.sha)
            for e in entries
        )
        sha = git_hash("tree", data)
        self.trees[sha] = entries
        return sha

    def flatten(self, tree: str, prefix: str = "") -> dict[str, TreeEntry]:
        """Every non-tree entry under a tree, by full path."""
        flat: dict[str, TreeEntry] = {}
        for entry in self.trees[tree]:
            path = prefix + entry.name
            if entry.type == "tree":
                flat.update(self.flatten(entry.sha, path + "/"))
            else:
                flat[path] = entry._replace(name=path)
        return flat

    def build(self, flat: dict[str, TreeEntry]) -> str:
        """Write nested trees for paths like a/b/c and return the root tree's sha."""
        leaves: list[TreeEntry] = []
        subdirs: dict[str, dict[str, TreeEntry]] = {}
        for path, entry in flat.items():
            head, _, rest = path.partition("/")
            if rest:
                subdirs.setdefault(head, {})[rest] = entry
            else:
                leaves.append(entry._replace(name=head))
        leaves = [e for e in leaves if e.name not in subdirs]
        trees = [
            TreeEntry(name, "040000", "tree", self.build(sub)) for name, sub in subdirs.items()
        ]
        return self.put_tree(leaves + trees)

    def walk(self, tree: str, path: str) -> TreeEntry | None:
        """The entry at path under tree ('' is the tree itself)."""
        entry = TreeEntry("", "040000", "tree", tree)
        for part in [p for p in path.split("/") if p]:
            if entry.type != "tree":
                return None
            entry = next((e for e in self.trees[entry.sha] if e.name == part), None)  # type: ignore[assignment]
            if entry is None:
                return None
        return entry

    def resolve(self, ref: str) -> str | None:
        """A commit sha from a sha, a branch, a tag or a full ref name."""
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if name in self.refs:
                return self.refs[name]
        return ref if ref in self.commits else None

    def is_ancestor(self, old: str, new: str) -> bool:
        todo, seen = [new], set()
        while todo:
            sha = todo.pop()
            if sha == old:
                return True
            if sha not in seen and sha in self.commits:
                seen.add(sha)
                todo.extend(self.commits[sha].parents)
        return False


@dataclass
class Repo:
    full_name: str
    id: int
    owner: User
    private: bool
    default_branch: str
    created: str
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: dict[int, JSON] = field(default_factory=dict)
    check_runs: dict[int, JSON] = field(default_factory=dict)
    annotations: dict[int, list[JSON]] = field(default_factory=dict)
    statuses: list[JSON] = field(default_factory=list)
    git: GitStore = field(default_factory=GitStore)


class State:
    """The stored state, behind one lock; the endpoint groups are mixins over it."""

    def __init__(self, web_url: str, api_prefix: str) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1_000_001)
        self._users: dict[str, User] = {}
        self._tokens: dict[str, Token] = {}
        self._repos: dict[str, Repo] = {}
        self._prefix = api_prefix.rstrip("/")
        self.web_url = web_url
        self.url = self.web_url + self._prefix

    def _user(self, login: str, kind: str = "User") -> User:
        if login not in self._users:
            self._users[login] = User(login, next(self._ids), kind)
        return self._users[login]

    def _user_json(self, user: User) -> JSON:
        api = f"{self.url}/users/{urllib.parse.quote(user.login)}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id("User", user.id),
            "avatar_url": f"{self.web_url}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.web_url}/{user.login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user.type,
            "site_admin": False,
        }

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.url}/repos/{repo.full_name}"

    def _repo_json(self, repo: Repo, token: Token | None = None) -> JSON:
        api, html = self._repo_url(repo), f"{self.web_url}/{repo.full_name}"
        data: JSON = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.full_name.split("/")[1],
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user_json(repo.owner),
            "html_url": html,
            "description": None,
            "fork": False,
            "url": api,
            "visibility": "private" if repo.private else "public",
            "created_at": repo.created,
            "updated_at": repo.created,
            "pushed_at": repo.created,
            "git_url": f"git://127.0.0.1/{repo.full_name}.git",
            "clone_url": f"{html}.git",
            "default_branch": repo.default_branch,
            "archived": False,
            "disabled": False,
        }
        for name, suffix in (
            ("issues", "issues{/number}"),
            ("pulls", "pulls{/number}"),
            ("statuses", "statuses/{sha}"),
            ("commits", "commits{/sha}"),
            ("git_refs", "git/refs{/sha}"),
            ("trees", "git/trees{/sha}"),
            ("blobs", "git/blobs{/sha}"),
            ("contents", "contents/{+path}"),
            ("issue_comment", "issues/comments{/number}"),
        ):
            data[f"{name}_url"] = f"{api}/{suffix}"
        if token is not None:
            write = not token.read_only
            data["permissions"] = {
                "admin": False,
                "maintain": write,
                "push": write,
                "triage": write,
                "pull": True,
            }
        return data

    def _paginate(self, call: Call, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of items and GitHub's Link header (rel first/prev/next/last)."""
        try:
            per_page = min(max(int(call.query.get("per_page", 30)), 1), 100)
            page = max(int(call.query.get("page", 1)), 1)
        except ValueError:
            per_page, page = 30, 1
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
                query = urllib.parse.urlencode({**call.query, "per_page": per_page, "page": number})
                links.append(f'<{self.url}{call.path}?{query}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers

    def _pull(self, call: Call) -> Pull:
        number = call.args["number"]
        pull = call.repo.pulls.get(int(number)) if number.isdigit() else None
        if pull is None:
            raise ApiError(404, "Not Found")
        return pull
