"""How mlci runs git: GitPython's handle on the binary, the environment every git process
gets, and the failures a user can fix turned into GitErrors that say the fix.

GitPython is imported inside Git on first use, so `mlci --help` and `mlci gate` never load it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import GitError, UsageError

if TYPE_CHECKING:
    import git

# the environment of git processes: here and nowhere else
NETWORK_ENV = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
NO_LOCKS = {"GIT_OPTIONAL_LOCKS": "0"}  # `git status` must not rewrite the index
_FALLBACK_IDENT = {
    "GIT_AUTHOR_NAME": "mlci",
    "GIT_AUTHOR_EMAIL": "mlci@localhost",
    "GIT_COMMITTER_NAME": "mlci",
    "GIT_COMMITTER_EMAIL": "mlci@localhost",
}
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact_url(text: str) -> str:
    """Drop credentials from URLs (a token in https://x:TOKEN@host) before showing text."""
    return _USERINFO.sub(r"\1***@", text)


def last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return redact_url(lines[-1]) if lines else "no message from git"


def valid_name(value: str, what: str) -> str:
    """Refuse names git would read as options, or empty ones."""
    if not value or value.startswith("-"):
        raise UsageError(
            f"invalid {what} {value!r}",
            where="git",
            hint=f"give a {what} that does not start with '-'",
        )
    return value


def _open(path: Path) -> git.Repo:
    try:
        import git
    except ModuleNotFoundError as e:
        raise GitError(
            "GitPython is not installed",
            where=sys.executable,
            hint="reinstall mlci: `pip install --force-reinstall mlci`",
        ) from e
    except ImportError as e:  # GitPython refuses to import without a git binary
        raise GitError(
            "git is not installed or not on PATH",
            where="PATH",
            hint="install git (e.g. `apt-get install git`) and run mlci again",
        ) from e
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as e:
        raise GitError(
            "not inside a git repository",
            where=str(path),
            hint="run mlci from inside your project's git checkout, or `git init` first",
        ) from e


def missing() -> GitError:
    """git is not on PATH (or left it between two commands)."""
    return GitError(
        "git is not installed or not on PATH", where="PATH", hint="install git and run mlci again"
    )


class Git:
    """The git binary in one repository's working tree, found from a path inside it."""

    def __init__(self, path: Path) -> None:
        self._repo = _open(path)
        if self._repo.working_tree_dir is None:
            raise GitError(
                "this is a bare repository",
                where=str(path),
                hint="run mlci in a checkout with a working tree",
            )
        self.root = Path(self._repo.working_tree_dir)
        self._ident: dict[str, str] | None = None

    @property
    def common_dir(self) -> Path:
        """The .git directory shared by every worktree of this clone."""
        return Path(self._repo.common_dir)

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        """(status, stdout without its last newline, stderr); never raises for a status."""
        from git import exc

        try:
            return self._repo.git.execute(
                ["git", *args], with_extended_output=True, with_exceptions=False, env=env
            )
        except exc.GitCommandNotFound as e:
            raise missing() from e

    def run_bytes(self, *args: str) -> tuple[int, bytes, str]:
        from git import exc

        try:
            return self._repo.git.execute(
                ["git", *args],
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
            )
        except exc.GitCommandNotFound as e:
            raise missing() from e

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """stdout of a git command that must succeed."""
        status, out, err = self.run(*args, env=env)
        if status:
            raise self.failed(args, err)
        return out

    def ok(self, *args: str) -> bool:
        return self.run(*args)[0] == 0

    def failed(self, args: Sequence[str], stderr: str) -> GitError:
        hint = "run the same git command in the repository to see the whole message"
        if "dubious ownership" in stderr:
            hint = f"trust the checkout: `git config --global --add safe.directory {self.root}`"
        elif ".lock" in stderr:
            hint = "another git process is running here: wait for it (or remove the stale .lock)"
        name = next((a for a in args if not a.startswith("-") and "=" not in a), "git")
        return GitError(f"git {name} failed: {last_line(stderr)}", where=str(self.root), hint=hint)

    def ident_env(self) -> dict[str, str]:
        """An identity for mlci's own commits when none is configured (CI runners)."""
        if self._ident is None:
            known = self.ok("var", "GIT_AUTHOR_IDENT") and self.ok("var", "GIT_COMMITTER_IDENT")
            self._ident = {} if known else dict(_FALLBACK_IDENT)
        return self._ident
