"""How mlci talks to GitHub: PyGithub's Requester with mlci's own retry policy, and the
Session one publish shares between its steps.

It talks through the Requester rather than PyGithub's object model: one request per step
(no GET of the repository or the pull request first, so a re-run costs about six
requests), plain dicts back, and a retry policy of its own, because PyGithub's default
retry re-sends a POST whose answer was lost and so posts a second comment. PyGithub and
requests are imported inside the functions that use them, so importing mlci.publish.github
loads neither.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlci.ci import CIContext
from mlci.config import GithubConfig
from mlci.publish.github.files import ReportFiles

if TYPE_CHECKING:
    from github.GithubException import GithubException

JSON = dict[str, Any]
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class Client:
    """PyGithub's requester with mlci's retry policy.

    Every request carries GitHub's media type and API version and has a timeout. A 5xx is
    retried with a bounded backoff; a secondary rate limit is waited out as Retry-After
    says, up to `max_wait` seconds in all (MLCI_GITHUB_MAX_WAIT), never longer. A write
    that must not happen twice passes `look`: when its answer is lost or late (a timeout,
    a dropped connection) the write may still land, so `look` is asked, again and again
    for up to `max_wait` seconds, whether it did; only then is it sent again. After a 5xx
    the request is sent again without a look first: a look between two tries would put
    every retry on the same failing beat of a fault that hits every other request; a
    comment that a 5xx duplicated is removed after posting, as a race's is.
    """

    def __init__(
        self,
        ctx: CIContext,
        *,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import github

        if not ctx.token:
            raise ValueError("a GitHub client needs a token")
        self._github = github.Github(
            base_url=ctx.api_url,
            auth=github.Auth.Token(ctx.token),
            retry=None,  # PyGithub's retry would re-send a POST whose answer was lost
            timeout=max(1, math.ceil(ctx.request_timeout)),  # PyGithub takes whole seconds
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )
        self._attempts, self._max_wait, self._sleep = attempts, ctx.max_wait, sleep
        self.last = ""  # "VERB path" of the latest request, for error lines

    def close(self) -> None:
        self._github.close()

    @property
    def graphql_url(self) -> str:
        return str(self._github.requester.graphql_url)

    def wait(self, seconds: float) -> None:
        self._sleep(seconds)

    def call(
        self,
        verb: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        look: Callable[[], Any] | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """Headers and data of one request, retried as the class docstring says."""
        import requests
        from github.GithubException import GithubException

        here = f"{verb} {path.split('?')[0]}"
        self.last, slept = here, 0.0
        for attempt in range(1, self._attempts + 1):
            failure: Exception
            try:
                return self._github.requester.requestJsonAndCheck(
                    verb,
                    path,
                    parameters=dict(params) if params else None,
                    headers=dict(HEADERS),
                    input=body,
                )
            except GithubException as e:
                delay = _retry_delay(e, attempt)
                if delay is None:
                    raise
                if slept + delay > self._max_wait and _rate_limited(e):
                    raise RateLimited(delay, self._max_wait) from e
                failure = e
            except requests.RequestException as e:  # no answer: the write may have been done
                failure, delay = e, _backoff(attempt)
                if look is not None:
                    found, slept = self._settle(look, failure, here, slept)
                    if found is not None:
                        return {}, found
                    delay = 0.0
            self.last = here  # a look makes requests of its own
            if attempt == self._attempts or slept + delay > self._max_wait:
                raise failure
            self._sleep(delay)
            slept += delay
        raise AssertionError("unreachable")

    def _settle(
        self, look: Callable[[], Any], failure: Exception, here: str, slept: float
    ) -> tuple[Any, float]:
        """Look for a write whose answer never came, until it shows or max_wait is spent:
        a request held in the network may still be delivered long after the timeout."""
        step = 1
        while True:
            found = self._look(look, failure, here)
            delay = _backoff(step)
            if found is not None or slept + delay > self._max_wait:
                return found, slept
            self._sleep(delay)
            slept, step = slept + delay, step + 1

    def _look(self, look: Callable[[], Any], failure: Exception, here: str) -> Any:
        """What the look finds; when it cannot tell, the write is not risked again."""
        import requests
        from github.GithubException import GithubException

        try:
            return look()
        except (GithubException, requests.RequestException):
            self.last = here
            raise failure from None


class RateLimited(Exception):
    """GitHub asked to wait longer than mlci's bound."""

    def __init__(self, wait: float, bound: float) -> None:
        super().__init__(
            f"GitHub's rate limit asks to wait {wait:g} s, more than mlci waits "
            f"({bound:g} s, MLCI_GITHUB_MAX_WAIT); re-run the job later"
        )


def _backoff(attempt: int) -> float:
    return float(min(2 ** (attempt - 1), 8))


def _rate_limited(e: GithubException) -> bool:
    return e.status == 429 or (
        e.status == 403 and "secondary rate limit" in error_message(e).lower()
    )


def _retry_delay(e: GithubException, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when trying again cannot help."""
    if e.status >= 500:
        return _backoff(attempt)
    if _rate_limited(e):
        after = (e.headers or {}).get("retry-after", "")
        return float(after) if after.strip().isdigit() else _backoff(attempt)
    return None


def error_message(e: GithubException) -> str:
    """GitHub's own message in an error answer."""
    data = e.data if isinstance(e.data, dict) else {}
    return str(data.get("message") or e.message or "")


class StepFailed(Exception):
    """A step's failure as one line; `final` when every step left would fail the same way."""

    def __init__(self, line: str, *, final: bool = False, skip: bool = False) -> None:
        super().__init__(line)
        self.line, self.final, self.skip = line, final, skip


@dataclass
class Session:
    """One publish: what its steps share and what they learn along the way."""

    client: Client
    ctx: CIContext
    name: str
    github: GithubConfig
    config_file: str
    report: ReportFiles
    body: str
    repo: str = ""
    comment_url: str | None = None
    pruned: int = 0  # old images dropped from the assets branch
    lost_race: bool = False  # another run posted this report's comment first, at the same moment
    fresh_since: str | None = None  # our comment was created by a run at the same moment
    server_date: str | None = None  # GitHub's clock, from the Date header of the comments
    _login: str | None = field(default=None, repr=False)
    _asked_login: bool = field(default=False, repr=False)
    _visible: bool | None = field(default=None, repr=False)

    def login(self) -> str | None:
        """Our own login, or None: GET /user fails for Actions tokens (they have no user)."""
        import requests
        from github.GithubException import GithubException

        if not self._asked_login:
            self._asked_login = True
            try:
                self._login = self.client.call("GET", "/user")[1].get("login")
            except (GithubException, requests.RequestException):
                self._login = None
        return self._login

    def visible(self) -> bool:
        """Does the token see the repository? Asked only after a 404, to name the cause."""
        import requests
        from github.GithubException import GithubException

        if self._visible is None:
            try:
                self.client.call("GET", self.repo)
                self._visible = True
            except GithubException as e:
                self._visible = e.status != 404
            except requests.RequestException:
                self._visible = True
        return self._visible
