"""The one adapter for git: GitPython and the git binary in, plain str/Path/list/dict out.

Only the commands import this module (lazily). Every failure a user can fix becomes a
GitError that says the fix. Nothing here touches the user's branches, index or working
tree; the notes refs (mlci.git.notes) are the only refs mlci writes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mlci.errors import GitError
from mlci.git.fetch import shallow_hint
from mlci.git.run import NO_LOCKS, Git, valid_name


class Repo(Git):
    """One repository, found from a path inside it: what mlci asks git about it."""

    def _rev(self, name: str) -> str | None:
        status, out, _ = self.run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        return out if status == 0 and out else None

    # -- where we are ------------------------------------------------------------------

    def head_sha(self) -> str:
        sha = self._rev("HEAD")
        if sha is None:
            raise GitError(
                "the repository has no commits yet",
                where=str(self.root),
                hint="commit your project first",
            )
        return sha

    def parents(self, rev: str) -> list[str]:
        """The parents a commit names, read from the commit itself: a depth-1 checkout
        hides them from rev-parse (the clone is grafted) but the object still lists them."""
        body = self.git("cat-file", "commit", rev)
        head, _, _ = body.partition("\n\n")
        return [line.split()[1] for line in head.splitlines() if line.startswith("parent ")]

    def current_branch(self) -> str | None:
        status, out, _ = self.run("symbolic-ref", "--quiet", "--short", "HEAD")
        return out if status == 0 and out else None

    def is_dirty(self) -> bool:
        """Tracked files changed, staged or not; untracked files do not count."""
        out = self.git("status", "--porcelain", "--untracked-files=no", env=NO_LOCKS)
        return bool(out.strip())

    def code_fingerprint(self) -> str:
        """The tree of the tracked files as they are now, built in a throwaway index."""
        if not self.is_dirty():
            return self.git("rev-parse", f"{self.head_sha()}^{{tree}}")
        real = Path(self.git("rev-parse", "--git-path", "index"))
        real = real if real.is_absolute() else self.root / real
        with tempfile.TemporaryDirectory(prefix="mlci-index-") as tmp:
            index = Path(tmp) / "index"
            if real.exists():
                shutil.copyfile(real, index)
            env = {"GIT_INDEX_FILE": str(index), **NO_LOCKS}
            self.git("add", "--update", env=env)
            return self.git("write-tree", env=env)

    def tree_of(self, rev: str) -> str:
        """The tree id of a commit: the code fingerprint of a clean checkout of it."""
        return self.git("rev-parse", f"{valid_name(rev, 'rev')}^{{tree}}")

    def is_shallow(self) -> bool:
        return self.git("rev-parse", "--is-shallow-repository") == "true"

    def remote_url(self, name: str = "origin") -> str | None:
        status, out, _ = self.run("remote", "get-url", valid_name(name, "remote"))
        return out if status == 0 and out else None

    # -- history -----------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """A branch, origin/<branch>, a branch known only on origin, a tag or a sha."""
        valid_name(ref, "ref")
        sha = self._rev(ref)
        if sha is None and not ref.startswith(("refs/", "origin/")):
            sha = self._rev(f"refs/remotes/origin/{ref}")
        if sha is None:
            name = ref.removeprefix("origin/")
            hint = f"fetch it with `git fetch origin {name}`, or check the name"
            if self.is_shallow():
                hint = f"{shallow_hint(None)}, or run `git fetch origin {name}`"
            raise GitError(f"base ref {ref} not found", where=str(self.root), hint=hint)
        return sha

    def default_branch(self) -> str | None:
        status, out, _ = self.run("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        if status == 0 and out:
            return out.removeprefix("origin/")
        candidates = [
            f"{kind}/{name}"
            for name in ("main", "master")
            for kind in ("refs/heads", "refs/remotes/origin")
        ]
        present = set(self.git("for-each-ref", "--format=%(refname)", *candidates).split())
        for name in ("main", "master"):
            if f"refs/heads/{name}" in present or f"refs/remotes/origin/{name}" in present:
                return name
        return None

    def merge_base(self, a: str, b: str) -> str:
        status, out, err = self.run("merge-base", self.resolve(a), self.resolve(b))
        if status == 0 and out:
            return out.split()[0]
        if status != 1:
            raise self.failed(["merge-base"], err)
        if self.is_shallow():
            raise GitError(
                f"no merge-base between {a} and {b}: the shallow clone does not "
                "reach their common ancestor",
                where=str(self.root),
                hint=shallow_hint(b.removeprefix("origin/")),
            )
        raise GitError(
            f"no merge-base between {a} and {b}: the histories are unrelated",
            where=str(self.root),
            hint="compare against the branch this one was made "
            "from (`mlci diff REV`, `mlci run --base REF`, or baseline.ref in "
            "mlci.yaml)",
        )

    def find_merge_base(self, a: str, b: str) -> str | None:
        """The merge-base of two revisions, or None when the history here does not reach it."""
        status, out, _ = self.run("merge-base", a, b)
        return out.split()[0] if status == 0 and out else None

    def count_commits(self, rev: str) -> int:
        """Commits reachable from rev that are present here (a shallow clone has few)."""
        return int(self.git("rev-list", "--count", valid_name(rev, "rev")))

    def commits_between(self, ancestor: str, descendant: str) -> int:
        """First-parent commits after ancestor up to and including descendant."""
        span = f"{self.resolve(ancestor)}..{self.resolve(descendant)}"
        return int(self.git("rev-list", "--count", "--first-parent", span))

    def first_parent_walk(self, start: str, limit: int) -> list[str]:
        """start and its first-parent ancestors, newest first."""
        if limit <= 0:
            return []
        out = self.git("rev-list", "--first-parent", f"--max-count={limit}", self.resolve(start))
        return out.split()

    def is_ancestor(self, a: str, b: str) -> bool:
        status, _, err = self.run("merge-base", "--is-ancestor", self.resolve(a), self.resolve(b))
        if status not in (0, 1):
            raise self.failed(["merge-base"], err)
        return status == 0

    # -- files at a revision, without a checkout ---------------------------------------

    def _relative(self, path: str) -> str:
        """A repo-relative posix path: what `REV:path` and ls-tree expect."""
        rel = Path(path)
        if rel.is_absolute():
            try:
                rel = rel.resolve().relative_to(self.root.resolve())
            except ValueError as e:
                raise GitError(
                    f"{path} is outside the repository",
                    where=str(self.root),
                    hint="give a path inside the repository",
                ) from e
        posix = rel.as_posix()
        return "" if posix == "." else posix.removeprefix("./").strip("/")

    def _object(self, rev: str, path: str) -> str:
        return f"{self.resolve(rev)}:{self._relative(path)}"

    def blob(self, rev: str, path: str) -> bytes | None:
        """The bytes of a file at rev (path from the repo root); None when not tracked there."""
        status, data, _ = self.run_bytes("cat-file", "blob", self._object(rev, path))
        return None if status else data

    def show(self, rev: str, path: str) -> str | None:
        """The text of a file at rev (path from the repo root); None when not tracked there."""
        data = self.blob(rev, path)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GitError(
                f"{path} at {rev} is not UTF-8 text",
                where=str(self.root),
                hint="save the file as UTF-8 and commit it",
            ) from e

    def tracked_at(self, rev: str, path: str) -> bool:
        status, out, _ = self.run("cat-file", "-t", self._object(rev, path))
        return status == 0 and out == "blob"

    def last_change(self, rev: str, path: str) -> str | None:
        """The newest commit up to rev that changed path; None when none did."""
        status, out, _ = self.run(
            "log", "-1", "--format=%H", self.resolve(rev), "--", self._relative(path) or "."
        )
        return out.strip() or None if status == 0 else None

    def changes_between(self, since: str, rev: str, directory: str) -> list[tuple[str, list[str]]]:
        """(sha, repo-relative paths it changed) of each commit in since..rev touching
        directory, oldest first."""
        out = self.git(
            "log",
            "--reverse",
            "--format=%x00%H",
            "--name-only",
            f"{since}..{self.resolve(rev)}",
            "--",
            self._relative(directory) or ".",
        )
        commits = []
        for block in out.split("\0")[1:]:
            sha, *names = [line for line in block.splitlines() if line.strip()]
            commits.append((sha, names))
        return commits

    def diff_digest(self) -> str:
        """A hash of the uncommitted changes to tracked files (the diff against HEAD)."""
        status, data, err = self.run_bytes("diff", "--binary", "HEAD")
        if status:
            raise self.failed(("diff", "--binary", "HEAD"), err)
        return hashlib.sha256(data).hexdigest()

    def list_files(self, rev: str, directory: str) -> list[str]:
        """Tracked files under directory at rev, recursively, as repo-relative posix paths."""
        top = self._relative(directory)
        spec = ["--", top + "/"] if top else []
        out = self.git(
            "ls-tree", "-r", "-z", "--name-only", "--full-tree", self.resolve(rev), *spec
        )
        return [name for name in out.split("\0") if name]

    # -- listings for the input fingerprint: git's own blob ids, no file read ----------

    def blobs_at(self, rev: str, directory: str) -> dict[str, str]:
        """Repo-relative path -> blob id of every tracked file under directory at rev."""
        top = self._relative(directory)
        spec = ["--", top + "/"] if top else []
        out = self.git("ls-tree", "-r", "-z", "--full-tree", self.resolve(rev), *spec)
        return _blob_entries(out, sha_field=2)

    def index_blobs(self, directory: str) -> dict[str, str]:
        """Repo-relative path -> blob id of every file in the index under directory."""
        top = self._relative(directory)
        out = self.git("ls-files", "-s", "-z", "--", (top + "/") if top else ".", env=NO_LOCKS)
        return _blob_entries(out, sha_field=1)

    def changed_in_worktree(self, directory: str) -> list[str]:
        """Tracked files whose working copy may differ from the index (by git's stat data)."""
        top = self._relative(directory)
        spec = (top + "/") if top else "."
        out = self.git("diff-files", "--name-only", "-z", "--", spec, env=NO_LOCKS)
        return [name for name in out.split("\0") if name]

    def untracked(self, directories: Sequence[str], *, ignored: bool) -> list[str]:
        """Untracked files under the directories (repo-relative); ignored ones too if asked."""
        specs = [(self._relative(d) + "/") if self._relative(d) else "." for d in directories]
        if not specs:
            return []
        standard = [] if ignored else ["--exclude-standard"]
        out = self.git("ls-files", "-o", "-z", *standard, "--", *specs, env=NO_LOCKS)
        return [name for name in out.split("\0") if name]

    @contextmanager
    def worktree(self, rev: str) -> Iterator[Path]:
        """A detached checkout of rev in a temp dir, removed whatever happens inside."""
        commit = self.resolve(rev)
        parent = Path(tempfile.mkdtemp(prefix="mlci-worktree-"))
        path = parent / commit[:12]
        try:  # no user hooks: a post-checkout hook has no business in mlci's checkout
            self.git(
                "-c",
                f"core.hooksPath={os.devnull}",
                "worktree",
                "add",
                "--detach",
                "--quiet",
                str(path),
                commit,
            )
            yield path
        finally:
            self.run("worktree", "remove", "--force", str(path))
            shutil.rmtree(parent, ignore_errors=True)
            self.run("worktree", "prune")

    # -- demo repositories only ------------------------------------------------------

    def commit_all(self, message: str) -> str:
        """Stage everything and commit (only in a repository mlci made); the new sha."""
        self.git("add", "-A")
        self.git("-c", "commit.gpgsign=false", "commit", "-q", "-m", message, env=self.ident_env())
        return self.head_sha()

    def switch_new_branch(self, name: str) -> None:
        """Create and check out a branch (only in a repository mlci made)."""
        self.git("switch", "-q", "-c", valid_name(name, "branch"))


def _blob_entries(out: str, *, sha_field: int) -> dict[str, str]:
    """`<mode> [<type>] <sha> [<stage>]\\t<path>` NUL-separated -> {path: sha} of blobs
    (gitlinks, i.e. submodules, are left out: their content is not in this repository)."""
    entries: dict[str, str] = {}
    for item in out.split("\0"):
        meta, tab, path = item.partition("\t")
        if not tab:
            continue
        fields = meta.split()
        if fields[0] == "160000":
            continue
        entries[path] = fields[sha_field]
    return entries


def init(path: Path, branch: str = "main") -> Repo:
    """A new repository at path (for `mlci demo`): its own, so it may commit and branch."""
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["git", "init", "-q", "-b", branch, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
    except FileNotFoundError as e:
        raise GitError(
            "git is not installed or not on PATH", where="PATH", hint="install git"
        ) from e
    except subprocess.CalledProcessError as e:
        raise GitError(
            f"git init failed: {e.stderr.strip()}",
            where=str(path),
            hint="check that the directory is writable",
        ) from e
    return Repo(path)
