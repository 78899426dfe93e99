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

from tests.fakegithub.server import FakeGitHub, fake_github

__all__ = ["FakeGitHub", "fake_github"]
