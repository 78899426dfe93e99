"""What an endpoint sees (a routed Call) and answers (a Reply, or an ApiError shaped like
GitHub's), and the request log's entries."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from tests.fakegithub.state import Repo, Token, User

JSON = dict[str, Any]
DOCS = "https://docs.github.com/rest"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
NOT_ACCESSIBLE = "Resource not accessible by integration"
SHA = re.compile(r"^[0-9a-f]{40}$")


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


def check_sha(sha: Any) -> str:
    if not isinstance(sha, str) or not SHA.match(sha):
        raise ApiError(422, f"No commit found for SHA: {sha}")
    return sha


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
