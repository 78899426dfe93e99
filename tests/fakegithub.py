"""A stateful fake of the GitHub REST API on 127.0.0.1, for the real PyGithub to talk to.

Tests of the GitHub publisher run PyGithub over real HTTP against this server instead of
mocking the client, so URL building, pagination, retries and error mapping are exercised
for real. Answers are shaped after GitHub's own (PyGithub's recorded exchanges in
tests/ReplayData and the REST docs), including its limits (comment body, check run output,
annotations per request), its auth answers (401, and 403 for a read-only fork token) and
its failures (5xx, secondary rate limits, an answer lost after the write was done).

Point PyGithub at ``server.url``: ``Github(base_url=server.url, auth=Auth.Token(tok))``.
The same server also answers the web side (``server.web_url``): ``/{o}/{r}/raw/{ref}/{path}``
and ``/raw/{o}/{r}/{ref}/{path}`` return a file's bytes, so a test can check that an image
link in a report resolves.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import mimetypes
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest

JSON = dict[str, Any]
COMMENT_LIMIT = 65536  # characters
CHECK_OUTPUT_LIMIT = 65535  # bytes, for output.summary and output.text
ANNOTATIONS_PER_REQUEST = 50
STATUS_DESCRIPTION_LIMIT = 140
DOCS = "https://docs.github.com/rest"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
NOT_ACCESSIBLE = "Resource not accessible by integration"
SHA = re.compile(r"^[0-9a-f]{40}$")
TREE_MODES = {
    "100644": "blob",
    "100755": "blob",
    "120000": "blob",
    "040000": "tree",
    "160000": "commit",
}
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


class LoggedRequest(NamedTuple):
    """One request as the server saw it; status 0 means the answer was dropped."""

    method: str
    path: str  # without the query string and the API prefix
    status: int
    accept: str = ""  # the Accept header
    api_version: str = ""  # the X-GitHub-Api-Version header


class Reply(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]


class ApiError(Exception):
    """An error answer, shaped like GitHub's: message, errors, documentation_url, status."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[JSON] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers

    def reply(self) -> Reply:
        body: JSON = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(documentation_url=DOCS, status=str(self.status))
        return json_reply(self.status, body, self.headers)


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    body = b"" if status == 204 else json.dumps(data).encode()
    content_type = {"Content-Type": "application/json; charset=utf-8"}
    return Reply(status, body, {**content_type, **(headers or {})})


def invalid(resource: str, field_name: str, message: str, code: str = "custom") -> ApiError:
    error = {"resource": resource, "code": code, "field": field_name}
    if code == "custom":
        error["message"] = message
    return ApiError(422, "Validation Failed", [error])


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0:{kind}{number}".encode()).decode()


def b64_lines(data: bytes) -> str:
    """Base64 in lines of 60 characters, as the contents and blobs APIs send it."""
    text = base64.b64encode(data).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def _copy(data: JSON) -> JSON:
    """A deep copy, so a test cannot change the server's state by accident."""
    return dict(json.loads(json.dumps(data)))


def git_hash(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


# --- state -------------------------------------------------------------------------------


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


@dataclass
class Call:
    """One routed request, as the endpoint functions see it."""

    method: str
    path: str
    args: dict[str, str]
    query: dict[str, str]
    body: Any
    user: User | None
    token: Token | None
    repo: Repo


Endpoint = Callable[[Call], Reply]


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    endpoint: Endpoint
    permission: str  # what a read-only token lacks, for X-Accepted-GitHub-Permissions


def route(method: str, template: str, endpoint: Endpoint, permission: str = "") -> Route:
    """A route from a template like /repos/{owner}/{name}/pulls/{number}; {path+} eats slashes."""
    regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.*)", template)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
    return Route(method, re.compile(f"^{regex}$"), endpoint, permission)


# --- the server ----------------------------------------------------------------------------


class FakeGitHub:
    """The fake: state, routes, fault injection and helpers for tests to seed and inspect."""

    def __init__(self, api_prefix: str = "") -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1_000_001)
        self._users: dict[str, User] = {}
        self._tokens: dict[str, Token] = {}
        self._repos: dict[str, Repo] = {}
        self._log: list[LoggedRequest] = []
        self._prefix = api_prefix.rstrip("/")
        self._every = (0, 502, 0)  # (n, status, requests seen since set)
        self._one_shots: list[tuple[str, str, int, str]] = []
        self._secondary = (0, "1")  # (writes left, Retry-After or "")
        self._lose: list[tuple[str, str]] = []
        self._holds: list[tuple[str, str, float]] = []
        self._before: list[tuple[str, str, Callable[[], object]]] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.fake = self  # type: ignore[attr-defined]
        self.web_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.url = self.web_url + self._prefix
        self._routes = self._api_routes()
        self._web_routes = [
            route("GET", "/raw/{owner}/{name}/{ref}/{path+}", self._raw),
            route("GET", "/{owner}/{name}/raw/{ref}/{path+}", self._raw),
        ]
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _api_routes(self) -> list[Route]:
        r = "/repos/{owner}/{name}"
        issues, checks, statuses, contents = (
            "issues=write; pull_requests=write",
            "checks=write",
            "statuses=write",
            "contents=write",
        )
        return [
            route("GET", r, self._get_repo),
            route("GET", r + "/pulls", self._list_pulls),
            route("GET", r + "/pulls/{number}", self._get_pull),
            route("GET", r + "/issues/{number}", self._get_issue),
            route("GET", r + "/issues/{number}/comments", self._list_comments),
            route("POST", r + "/issues/{number}/comments", self._create_comment, issues),
            route("GET", r + "/issues/comments/{id}", self._get_comment),
            route("PATCH", r + "/issues/comments/{id}", self._edit_comment, issues),
            route("DELETE", r + "/issues/comments/{id}", self._delete_comment, issues),
            route("POST", r + "/check-runs", self._create_check_run, checks),
            route("GET", r + "/check-runs/{id}", self._get_check_run),
            route("PATCH", r + "/check-runs/{id}", self._edit_check_run, checks),
            route("GET", r + "/check-runs/{id}/annotations", self._list_annotations),
            route("GET", r + "/commits/{ref}/check-runs", self._list_check_runs),
            route("POST", r + "/statuses/{sha}", self._create_status, statuses),
            route("GET", r + "/statuses/{ref}", self._list_statuses),
            route("GET", r + "/commits/{ref}/statuses", self._list_statuses),
            route("GET", r + "/commits/{ref}/status", self._combined_status),
            route("GET", r + "/commits", self._list_commits),
            route("GET", r + "/commits/{ref}", self._get_commit),
            route("GET", r + "/git/ref/{ref+}", self._get_ref),
            route("GET", r + "/git/refs/{ref+}", self._get_ref),
            route("POST", r + "/git/refs", self._create_ref, contents),
            route("PATCH", r + "/git/refs/{ref+}", self._update_ref, contents),
            route("DELETE", r + "/git/refs/{ref+}", self._delete_ref, contents),
            route("POST", r + "/git/blobs", self._create_blob, contents),
            route("GET", r + "/git/blobs/{sha}", self._get_blob),
            route("POST", r + "/git/trees", self._create_tree, contents),
            route("GET", r + "/git/trees/{sha}", self._get_tree),
            route("POST", r + "/git/commits", self._create_git_commit, contents),
            route("GET", r + "/git/commits/{sha}", self._get_git_commit),
            route("GET", r + "/contents", self._get_contents),
            route("GET", r + "/contents/{path+}", self._get_contents),
        ]

    # --- helpers for tests ------------------------------------------------------------------

    def add_repo(
        self,
        full_name: str,
        private: bool = False,
        default_branch: str = "main",
        owner_type: str = "User",
    ) -> None:
        with self._lock:
            owner = self._user(full_name.split("/")[0], owner_type)
            self._repos[full_name] = Repo(
                full_name, next(self._ids), owner, private, default_branch, now()
            )

    def add_pull(
        self,
        repo: str,
        number: int,
        head_sha: str,
        base_sha: str,
        head_ref: str = "feature",
        base_ref: str = "main",
        head_repo: str | None = None,
        author: str = "octocat",
    ) -> None:
        """Register an open pull request; head_repo names a fork when it differs from repo."""
        with self._lock:
            self._repos[repo].pulls[number] = Pull(
                number,
                head_sha,
                base_sha,
                head_ref,
                base_ref,
                head_repo or repo,
                self._user(author),
                now(),
            )

    def token(self, login: str = "github-actions[bot]", read_only: bool = False) -> str:
        """A new token acting as login (a '[bot]' login is a Bot, like GITHUB_TOKEN's)."""
        with self._lock:
            user = self._user(login, "Bot" if login.endswith("[bot]") else "User")
            value = "ghs_" + secrets.token_hex(18)
            self._tokens[value] = Token(user, read_only)
            return value

    def add_comment(self, repo: str, number: int, body: str, login: str = "octocat") -> JSON:
        """Seed a comment written by someone else."""
        with self._lock:
            return self._new_comment(self._repos[repo], number, body, self._user(login))

    def comments(self, repo: str, number: int) -> list[JSON]:
        """The comments on a pull request, oldest first, as the API shows them."""
        with self._lock:
            found = self._repos[repo].comments.values()
            return [_copy(self._public(c)) for c in found if c["_number"] == number]

    def check_runs(self, repo: str, sha: str) -> list[JSON]:
        """Every check run on sha, oldest first, with all its annotations under 'annotations'."""
        with self._lock:
            state = self._repos[repo]
            return [
                {**_copy(run), "annotations": _copy({"a": state.annotations[run["id"]]})["a"]}
                for run in state.check_runs.values()
                if run["head_sha"] == sha
            ]

    def statuses(self, repo: str, sha: str) -> list[JSON]:
        """Every commit status on sha, oldest first."""
        with self._lock:
            found = self._repos[repo].statuses
            return [_copy(self._public(s)) for s in found if s["_sha"] == sha]

    def branch_sha(self, repo: str, branch: str) -> str | None:
        with self._lock:
            return self._repos[repo].git.refs.get(f"refs/heads/{branch}")

    def file_on_branch(self, repo: str, branch: str, path: str) -> bytes | None:
        with self._lock:
            git = self._repos[repo].git
            sha = git.refs.get(f"refs/heads/{branch}")
            entry = git.walk(git.commits[sha].tree, path) if sha else None
            return git.blobs.get(entry.sha) if entry and entry.type == "blob" else None

    def add_commit(
        self, repo: str, branch: str, files: dict[str, bytes], date: str, message: str = "seed"
    ) -> str:
        """A commit on top of branch (a root commit when it does not exist) adding files,
        dated `date` (ISO 8601, UTC): an assets branch with a history of its own."""
        with self._lock:
            git = self._repos[repo].git
            parent = git.refs.get(f"refs/heads/{branch}")
            flat = git.flatten(git.commits[parent].tree) if parent else {}
            for path, data in files.items():
                flat[path] = TreeEntry(path, "100644", "blob", git.put_blob(data))
            tree = git.build(flat)
            who = {"name": "seed", "email": "seed@example.com", "date": date}
            parents = [parent] if parent else []
            sha = git_hash("commit", self._commit_text(tree, parents, who, who, message))
            git.commits[sha] = GitCommit(
                tree,
                parents,
                {
                    "sha": sha,
                    "author": who,
                    "committer": who,
                    "message": message,
                    "tree": {"sha": tree},
                    "parents": [{"sha": p} for p in parents],
                },
            )
            git.refs[f"refs/heads/{branch}"] = sha
            return sha

    def files_on_branch(self, repo: str, branch: str) -> list[str]:
        """Every file path at the tip of branch."""
        with self._lock:
            git = self._repos[repo].git
            sha = git.refs.get(f"refs/heads/{branch}")
            return sorted(git.flatten(git.commits[sha].tree)) if sha else []

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """How many requests matched method (any when None) and path prefix."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and r.path.startswith(path_prefix)
        )

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # --- fault injection ----------------------------------------------------------------------

    def fail_every(self, n: int, status: int = 502) -> None:
        """Answer status to every n-th request from now on (0 turns it off)."""
        with self._lock:
            self._every = (n, status, 0)

    def fail_next(
        self, method: str, path_prefix: str, status: int = 500, message: str = "Server Error"
    ) -> None:
        """Answer status, without doing anything, to the next matching request."""
        with self._lock:
            self._one_shots.append((method, path_prefix, status, message))

    def secondary_rate_limit(self, times: int, retry_after: int | None = 1) -> None:
        """Refuse the next `times` writes with GitHub's secondary rate limit answer."""
        with self._lock:
            self._secondary = (times, "" if retry_after is None else str(retry_after))

    def lose_response_of_next(self, method: str, path_prefix: str) -> None:
        """Do the next matching request, then drop the connection instead of answering."""
        with self._lock:
            self._lose.append((method, path_prefix))

    def hold_next(self, method: str, path_prefix: str, seconds: float) -> None:
        """Hold the next matching request for `seconds` (a slow network), then do it and
        answer, whether or not the client is still waiting for the answer."""
        with self._lock:
            self._holds.append((method, path_prefix, seconds))

    def before_next(self, method: str, path_prefix: str, action: Callable[[], object]) -> None:
        """Run action (another client's doing) just before the next matching request."""
        with self._lock:
            self._before.append((method, path_prefix, action))

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    # --- dispatch -----------------------------------------------------------------------------

    def dispatch(
        self,
        method: str,
        target: str,
        authorization: str | None,
        raw: bytes,
        headers: dict[str, str] | None = None,
    ) -> Reply | None:
        """Answer one request; None means: drop the connection without an answer."""
        split = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(split.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        api_path = path[len(self._prefix) :] if path.startswith(self._prefix + "/") else None
        logged = api_path if api_path is not None else path
        with self._lock:
            hold = next(
                (h for h in self._holds if h[0] == method and logged.startswith(h[1])), None
            )
            if hold is not None:
                self._holds.remove(hold)
        if hold is not None:
            time.sleep(hold[2])
        seen = {k.lower(): v for k, v in (headers or {}).items()}
        with self._lock:
            for before in [b for b in self._before if b[0] == method and logged.startswith(b[1])]:
                self._before.remove(before)
                before[2]()
            reply = self._fault(method, logged)
            if reply is None:
                reply = self._answer(method, api_path, path, query, authorization, raw)
            lost = self._take(self._lose, method, logged)
            status = 0 if lost else reply.status
            self._log.append(
                LoggedRequest(
                    method,
                    logged,
                    status,
                    seen.get("accept", ""),
                    seen.get("x-github-api-version", ""),
                )
            )
        return None if lost else reply

    def _fault(self, method: str, path: str) -> Reply | None:
        n, status, seen = self._every
        if n > 0:
            self._every = (n, status, seen + 1)
            if (seen + 1) % n == 0:
                return ApiError(status, "Server Error").reply()
        for shot in self._one_shots:
            if shot[0] == method and path.startswith(shot[1]):
                self._one_shots.remove(shot)
                return ApiError(shot[2], shot[3]).reply()
        return None

    @staticmethod
    def _take(pending: list[tuple[str, str]], method: str, path: str) -> bool:
        for item in pending:
            if item[0] == method and path.startswith(item[1]):
                pending.remove(item)
                return True
        return False

    def _answer(
        self,
        method: str,
        api_path: str | None,
        path: str,
        query: dict[str, str],
        authorization: str | None,
        raw: bytes,
    ) -> Reply:
        try:
            token = self._authenticate(authorization)
            user = token.user if token else None
            if api_path == "/user" and method == "GET":
                return self._get_user(token)
            if api_path == "/graphql" and method == "POST":
                return self._graphql(token, raw)
            routes = [(self._routes, api_path), (self._web_routes, path)]
            for table, candidate in routes:
                for r in table if candidate is not None else []:
                    match = r.pattern.match(candidate or "")
                    if match and r.method == method:
                        return self._call(
                            r, match.groupdict(), candidate or "", query, token, user, raw
                        )
            raise ApiError(404, "Not Found")
        except ApiError as e:
            return e.reply()

    def _call(
        self,
        r: Route,
        args: dict[str, str],
        path: str,
        query: dict[str, str],
        token: Token | None,
        user: User | None,
        raw: bytes,
    ) -> Reply:
        if r.method in WRITES and self._secondary[0] > 0:
            times, retry_after = self._secondary
            self._secondary = (times - 1, retry_after)
            raise ApiError(
                403,
                SECONDARY_RATE_LIMIT,
                headers={"Retry-After": retry_after} if retry_after else None,
            )
        repo = self._repos.get(f"{args['owner']}/{args['name']}")
        if repo is None or (repo.private and user is None):
            raise ApiError(404, "Not Found")
        if r.method in WRITES:
            if token is None:
                raise ApiError(401, "Requires authentication")
            if token.read_only:
                raise ApiError(
                    403, NOT_ACCESSIBLE, headers={"X-Accepted-GitHub-Permissions": r.permission}
                )
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as e:
            raise ApiError(400, "Problems parsing JSON") from e
        return r.endpoint(Call(r.method, path, args, query, body, user, token, repo))

    def _authenticate(self, authorization: str | None) -> Token | None:
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        token = self._tokens.get(value.strip())
        if scheme.lower() not in ("token", "bearer") or token is None:
            raise ApiError(401, "Bad credentials")
        return token

    def _user(self, login: str, kind: str = "User") -> User:
        if login not in self._users:
            self._users[login] = User(login, next(self._ids), kind)
        return self._users[login]

    # --- rendering ----------------------------------------------------------------------------

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

    # --- endpoints: repository, pulls, comments -----------------------------------------------

    def _get_user(self, token: Token | None) -> Reply:
        if token is None:
            raise ApiError(401, "Requires authentication")
        if token.user.type == "Bot":  # an installation token has no user
            raise ApiError(403, NOT_ACCESSIBLE)
        return json_reply(200, self._user_json(token.user))

    def _get_repo(self, call: Call) -> Reply:
        return json_reply(200, self._repo_json(call.repo, call.token))

    def _pull(self, call: Call) -> Pull:
        number = call.args["number"]
        pull = call.repo.pulls.get(int(number)) if number.isdigit() else None
        if pull is None:
            raise ApiError(404, "Not Found")
        return pull

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

    def _list_comments(self, call: Call) -> Reply:
        number = self._pull(call).number
        found = [self._public(c) for c in call.repo.comments.values() if c["_number"] == number]
        page, headers = self._paginate(call, found)
        return json_reply(200, page, headers)

    @staticmethod
    def _public(data: JSON) -> JSON:
        return {k: v for k, v in data.items() if not k.startswith("_")}

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
        return json_reply(201, self._public(data), {"Location": data["url"]})

    def _comment(self, call: Call) -> JSON:
        found = call.repo.comments.get(int(call.args["id"])) if call.args["id"].isdigit() else None
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def _get_comment(self, call: Call) -> Reply:
        return json_reply(200, self._public(self._comment(call)))

    def _edit_comment(self, call: Call) -> Reply:
        data = self._comment(call)
        data.update(body=self._comment_body(call), updated_at=now())
        return json_reply(200, self._public(data))

    def _delete_comment(self, call: Call) -> Reply:
        del call.repo.comments[self._comment(call)["id"]]
        return json_reply(204, None)

    # --- endpoints: check runs and statuses ---------------------------------------------------

    @staticmethod
    def _check_sha(sha: Any) -> str:
        if not isinstance(sha, str) or not SHA.match(sha):
            raise ApiError(422, f"No commit found for SHA: {sha}")
        return sha

    @staticmethod
    def _check_output(output: Any) -> list[JSON]:
        """Validate output like GitHub does and return its annotations."""
        if not isinstance(output, dict):
            raise ApiError(422, "Invalid request.\n\nFor 'properties/output', it is not an object.")
        for key in ("title", "summary"):
            if not isinstance(output.get(key), str):
                raise ApiError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
        for key in ("summary", "text"):
            value = output.get(key)
            if isinstance(value, str) and len(value.encode("utf-8")) > CHECK_OUTPUT_LIMIT:
                raise invalid(
                    "CheckRun", key, f"{key} exceeds a maximum bytesize of {CHECK_OUTPUT_LIMIT}"
                )
        annotations = output.get("annotations") or []
        if len(annotations) > ANNOTATIONS_PER_REQUEST:
            raise ApiError(
                422,
                f"Invalid request.\n\nOnly {ANNOTATIONS_PER_REQUEST} annotations "
                f"are allowed per request; {len(annotations)} were supplied.",
            )
        for a in annotations:
            if a.get("annotation_level") not in ("notice", "warning", "failure"):
                raise ApiError(
                    422,
                    "Invalid request.\n\nannotation_level is not one of notice, warning, failure.",
                )
        return list(annotations)

    def _apply_check_run(self, run: JSON, body: JSON) -> None:
        for key in ("name", "details_url", "external_id", "started_at", "completed_at"):
            if key in body:
                run[key] = body[key]
        if "status" in body:
            if body["status"] not in (
                "queued",
                "in_progress",
                "completed",
                "waiting",
                "requested",
                "pending",
            ):
                raise ApiError(422, f"Invalid request.\n\nstatus {body['status']!r} is not valid.")
            run["status"] = body["status"]
        if body.get("conclusion") is not None:
            if body["conclusion"] not in (
                "action_required",
                "cancelled",
                "failure",
                "neutral",
                "success",
                "skipped",
                "stale",
                "timed_out",
            ):
                raise ApiError(
                    422, f"Invalid request.\n\nconclusion {body['conclusion']!r} is not valid."
                )
            run.update(conclusion=body["conclusion"], status="completed")
        if run["status"] == "completed":
            if run["conclusion"] is None:
                raise ApiError(
                    422, "Invalid request.\n\nNo conclusion was supplied for a completed check run."
                )
            run["completed_at"] = run["completed_at"] or now()

    def _create_check_run(self, call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise ApiError(422, 'Invalid request.\n\n"name" wasn\'t supplied.')
        sha = self._check_sha(body.get("head_sha"))
        annotations = self._check_output(body["output"]) if "output" in body else []
        cid = next(self._ids)
        api = self._repo_url(call.repo)
        run: JSON = {
            "id": cid,
            "node_id": node_id("CheckRun", cid),
            "head_sha": sha,
            "external_id": "",
            "url": f"{api}/check-runs/{cid}",
            "html_url": f"{self.web_url}/{call.repo.full_name}/runs/{cid}",
            "details_url": None,
            "status": "queued",
            "conclusion": None,
            "started_at": now(),
            "completed_at": None,
            "output": {
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/check-runs/{cid}/annotations",
            },
            "name": body["name"],
            "check_suite": {"id": cid + 1},
            "app": ACTIONS_APP,
            "pull_requests": [],
        }
        self._apply_check_run(run, body)
        call.repo.annotations[cid] = []
        self._set_output(call.repo, run, body.get("output"), annotations)
        call.repo.check_runs[cid] = run
        return json_reply(201, run, {"Location": run["url"]})

    @staticmethod
    def _set_output(repo: Repo, run: JSON, output: JSON | None, annotations: list[JSON]) -> None:
        """Replace title, summary and text; annotations add up over updates, as on GitHub."""
        if output is None:
            return
        for key in ("title", "summary", "text"):
            run["output"][key] = output.get(key, run["output"][key])
        repo.annotations[run["id"]].extend(annotations)
        run["output"]["annotations_count"] = len(repo.annotations[run["id"]])

    def _check_run(self, call: Call) -> JSON:
        cid = call.args["id"]
        found = call.repo.check_runs.get(int(cid)) if cid.isdigit() else None
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def _get_check_run(self, call: Call) -> Reply:
        return json_reply(200, self._check_run(call))

    def _edit_check_run(self, call: Call) -> Reply:
        run = self._check_run(call)
        body = call.body if isinstance(call.body, dict) else {}
        annotations = self._check_output(body["output"]) if "output" in body else []
        updated = _copy(run)
        self._apply_check_run(updated, body)  # validate everything before changing anything
        run.update(updated)
        self._set_output(call.repo, run, body.get("output"), annotations)
        return json_reply(200, run)

    def _list_annotations(self, call: Call) -> Reply:
        page, headers = self._paginate(call, call.repo.annotations[self._check_run(call)["id"]])
        return json_reply(200, page, headers)

    def _list_check_runs(self, call: Call) -> Reply:
        sha = call.repo.git.resolve(call.args["ref"]) or call.args["ref"]
        runs = sorted(
            (r for r in call.repo.check_runs.values() if r["head_sha"] == sha),
            key=lambda r: -int(r["id"]),
        )
        for key in ("check_name", "status"):
            if key in call.query:
                runs = [r for r in runs if r[key.removeprefix("check_")] == call.query[key]]
        if call.query.get("filter", "latest") == "latest":
            names: set[str] = set()
            runs = [r for r in runs if not (r["name"] in names or names.add(r["name"]))]  # type: ignore[func-returns-value]
        page, headers = self._paginate(call, runs)
        return json_reply(200, {"total_count": len(runs), "check_runs": page}, headers)

    def _create_status(self, call: Call) -> Reply:
        sha = self._check_sha(call.args["sha"])
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
        return json_reply(201, self._public(data))

    def _statuses_of(self, call: Call) -> list[JSON]:
        sha = call.repo.git.resolve(call.args["ref"]) or call.args["ref"]
        return [self._public(s) for s in reversed(call.repo.statuses) if s["_sha"] == sha]

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

    def _get_commit(self, call: Call) -> Reply:
        """A commit by sha; shas the fake never saw (the user's own git) are answered too."""
        sha = call.repo.git.resolve(call.args["ref"]) or self._check_sha(call.args["ref"])
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

    # --- endpoints: git data and contents -----------------------------------------------------

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
        sha = git_hash("commit", self._commit_text(str(tree), parents, author, committer, message))
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

    @staticmethod
    def _commit_text(
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

    def _get_git_commit(self, call: Call) -> Reply:
        found = call.repo.git.commits.get(call.args["sha"])
        if found is None:
            raise ApiError(404, "Not Found")
        return json_reply(200, found.data)

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


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, hands it to the fake, writes (or drops) the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every keep-alive answer waits ~40 ms for an ACK

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        reply = fake.dispatch(
            self.command, self.path, self.headers.get("Authorization"), raw, dict(self.headers)
        )
        if reply is None:  # the write happened; the client never hears about it
            self.close_connection = True
            return
        try:
            self._answer(reply)
        except OSError:  # the client gave up waiting (a held request): nobody to answer
            self.close_connection = True

    def _answer(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = {
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
            "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
            **reply.headers,
            "Content-Length": str(len(reply.body)),
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is on the fake."""


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fresh fake GitHub on a free port of 127.0.0.1, stopped after the test."""
    server = FakeGitHub()
    try:
        yield server
    finally:
        server.stop()
