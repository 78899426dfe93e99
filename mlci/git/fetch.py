"""A CI checkout made by the default actions/checkout is one commit deep: fetch the base
branch, and deepen both sides only as far as their merge-base, so `fetch-depth: 0` (which
downloads every branch, the assets branch and its images included) is never needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlci.errors import GitError
from mlci.git.run import NETWORK_ENV, last_line, valid_name

if TYPE_CHECKING:
    from mlci.git.repo import Repo

MAX_ROUNDS = 16  # deepening doubles each round: 2**16 commits is deeper than any PR needs


def shallow_hint(branch: str | None, remote: str = "origin") -> str:
    """The git command that gives a shallow clone the history a comparison needs."""
    spec = f" +refs/heads/{branch}:refs/remotes/{remote}/{branch}" if branch else ""
    return (
        f"this is a shallow clone: fetch the history with `git fetch --unshallow {remote}"
        f"{spec}` (in GitHub Actions mlci fetches it itself)"
    )


def fetch_base(repo: Repo, branch: str, head: str = "HEAD") -> str | None:
    """Make branch and head's merge-base present here; the one line that says what was
    fetched, or None when nothing had to be. Raises GitError when it cannot."""
    if not repo.is_shallow() and repo.find_merge_base(head, f"origin/{branch}"):
        return None
    if repo.remote_url() is None:
        raise _cannot(repo, branch, "there is no git remote named origin")
    before = _present(repo, branch)
    problem = fetch_branch(repo, branch, depth=1) if repo.is_shallow() or not before else None
    step, rounds = 1, 0
    while problem is None:
        found = repo.find_merge_base(head, f"origin/{branch}")
        if found:
            fetched = repo.count_commits(f"origin/{branch}") - before
            return (
                f"mlci: fetched {branch} from origin down to the merge-base {found[:7]} "
                f"({fetched} commit{'s' if fetched != 1 else ''} of {branch}; no other branch)"
            )
        if not repo.is_shallow() or rounds == MAX_ROUNDS:
            return None  # the whole history is here: merge_base() says they are unrelated
        problem = fetch_branch(repo, branch, deepen=step)
        step, rounds = step * 2, rounds + 1
    raise _cannot(repo, branch, f"fetching {branch} from origin failed: {problem}")


def fetch_branch(
    repo: Repo, branch: str, *, depth: int | None = None, deepen: int | None = None
) -> str | None:
    """Fetch one branch of origin into origin/<branch>, shallow (depth) or deeper
    (deepen: from every shallow boundary); None when done, else what went wrong."""
    spec = f"+refs/heads/{valid_name(branch, 'branch')}:refs/remotes/origin/{branch}"
    how = [f"--depth={depth}"] if depth else [f"--deepen={deepen}"] if deepen else []
    status, _, err = repo.run(
        "fetch", "--quiet", "--no-tags", *how, "origin", spec, env=NETWORK_ENV
    )
    return None if status == 0 else last_line(err)


def _present(repo: Repo, branch: str) -> int:
    try:
        return repo.count_commits(f"refs/remotes/origin/{branch}")
    except GitError:
        return 0


def _cannot(repo: Repo, branch: str, why: str) -> GitError:
    where = " in a shallow clone" if repo.is_shallow() else ""
    return GitError(
        f"cannot compare with {branch}{where}: {why}",
        where=str(repo.root),
        hint=shallow_hint(branch)
        if where
        else f"fetch it with `git fetch origin {branch}`, or check the base branch",
    )
