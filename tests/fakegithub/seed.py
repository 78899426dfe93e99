"""What tests call to seed the fake's state and to inspect it afterwards."""

from __future__ import annotations

import secrets

from tests.fakegithub.api import JSON
from tests.fakegithub.issues_comments import IssueComments
from tests.fakegithub.state import (
    GitCommit,
    Pull,
    Repo,
    Token,
    TreeEntry,
    commit_text,
    copy_json,
    git_hash,
    now,
    public,
)


class Seed(IssueComments):
    """Repositories, pull requests, tokens, comments and commits in; what mlci posted out."""

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
            return [copy_json(public(c)) for c in found if c["_number"] == number]

    def check_runs(self, repo: str, sha: str) -> list[JSON]:
        """Every check run on sha, oldest first, with all its annotations under 'annotations'."""
        with self._lock:
            state = self._repos[repo]
            return [
                {
                    **copy_json(run),
                    "annotations": copy_json({"a": state.annotations[run["id"]]})["a"],
                }
                for run in state.check_runs.values()
                if run["head_sha"] == sha
            ]

    def statuses(self, repo: str, sha: str) -> list[JSON]:
        """Every commit status on sha, oldest first."""
        with self._lock:
            found = self._repos[repo].statuses
            return [copy_json(public(s)) for s in found if s["_sha"] == sha]

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
            sha = git_hash("commit", commit_text(tree, parents, who, who, message))
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
