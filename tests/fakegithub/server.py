"""The fake on 127.0.0.1: the HTTP server, routing, authentication, the request log,
fault injection (5xx, secondary rate limits, lost and held answers) and the pytest fixture."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakegithub.api import (
    NOT_ACCESSIBLE,
    SECONDARY_RATE_LIMIT,
    WRITES,
    ApiError,
    Call,
    LoggedRequest,
    Reply,
    Route,
    route,
)
from tests.fakegithub.checks import Checks
from tests.fakegithub.git_data import GitData
from tests.fakegithub.pulls import Pulls
from tests.fakegithub.repos import Repos
from tests.fakegithub.seed import Seed
from tests.fakegithub.state import Token, User
from tests.fakegithub.statuses import Statuses


class FakeGitHub(Seed, Repos, Pulls, Checks, Statuses, GitData):
    """The fake: the endpoint groups over one state, served on 127.0.0.1, with routes,
    authentication, the request log and fault injection."""

    def __init__(self, api_prefix: str = "") -> None:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.fake = self  # type: ignore[attr-defined]
        super().__init__(f"http://127.0.0.1:{self._http.server_address[1]}", api_prefix)
        self._log: list[LoggedRequest] = []
        self._every = (0, 502, 0)  # (n, status, requests seen since set)
        self._one_shots: list[tuple[str, str, int, str]] = []
        self._secondary = (0, "1")  # (writes left, Retry-After or "")
        self._lose: list[tuple[str, str]] = []
        self._holds: list[tuple[str, str, float]] = []
        self._before: list[tuple[str, str, Callable[[], object]]] = []
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
