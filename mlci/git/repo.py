"""The one adapter for git: GitPython and the git binary in, plain str/Path/list/dict out.

Only the commands import this module (lazily), so GitPython is imported inside Repo on first
use. Every failure a user can fix becomes a GitError that says the fix. Nothing here touches
the user's branches, index or working tree; the notes refs are the only refs it writes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlci import lock, output
from mlci.errors import GitError, UsageError

if TYPE_CHECKING:
    import git

NOTES_REF = "refs/notes/mlci"


def shallow_hint(branch: str | None, remote: str = "origin") -> str:
    """The git command that gives a shallow clone the history a comparison needs."""
    spec = f" +refs/heads/{branch}:refs/remotes/{remote}/{branch}" if branch else ""
    return (
        f"this is a shallow clone: fetch the history with `git fetch --unshallow {remote}"
        f"{spec}` (in GitHub Actions mlci fetches it itself)"
    )


_NETWORK_ENV = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
_NO_LOCKS = {"GIT_OPTIONAL_LOCKS": "0"}  # `git status` must not rewrite the index
_FALLBACK_IDENT = {
    "GIT_AUTHOR_NAME": "mlci",
    "GIT_AUTHOR_EMAIL": "mlci@localhost",
    "GIT_COMMITTER_NAME": "mlci",
    "GIT_COMMITTER_EMAIL": "mlci@localhost",
}
# how git reports a push that lost a race: rejected as stale, or two updates at one moment
_RACE = re.compile(
    r"\[rejected\].*\((fetch first|non-fast-forward|stale info)\)"
    r"|cannot lock ref '[^']+': (reference already exists|is at [0-9a-f]+ but expected)"
)
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def _redact(text: str) -> str:
    """Drop credentials from URLs (a token in https://x:TOKEN@host) before showing text."""
    return _USERINFO.sub(r"\1***@", text)


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return _redact(lines[-1]) if lines else "no message from git"


def _full_notes_ref(ref: str) -> str:
    if ref.startswith("refs/"):
        return ref
    return "refs/" + ref if ref.startswith("notes/") else "refs/notes/" + ref


def _check(value: str, what: str) -> str:
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


class Repo:
    """One repository, found from a path inside it."""

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

    # -- running git -------------------------------------------------------------------

    def _run(self, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        """(status, stdout without its last newline, stderr); never raises for a status."""
        from git import exc

        try:
            return self._repo.git.execute(
                ["git", *args], with_extended_output=True, with_exceptions=False, env=env
            )
        except exc.GitCommandNotFound as e:
            raise GitError(
                "git is not installed or not on PATH",
                where="PATH",
                hint="install git and run mlci again",
            ) from e

    def _run_bytes(self, *args: str) -> tuple[int, bytes, str]:
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
            raise GitError(
                "git is not installed or not on PATH",
                where="PATH",
                hint="install git and run mlci again",
            ) from e

    def _git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """stdout of a git command that must succeed."""
        status, out, err = self._run(*args, env=env)
        if status:
            raise self._failed(args, err)
        return out

    def _ok(self, *args: str) -> bool:
        return self._run(*args)[0] == 0

    def _failed(self, args: Sequence[str], stderr: str) -> GitError:
        hint = "run the same git command in the repository to see the whole message"
        if "dubious ownership" in stderr:
            hint = f"trust the checkout: `git config --global --add safe.directory {self.root}`"
        elif ".lock" in stderr:
            hint = "another git process is running here: wait for it (or remove the stale .lock)"
        name = next((a for a in args if not a.startswith("-") and "=" not in a), "git")
        return GitError(f"git {name} failed: {_last_line(stderr)}", where=str(self.root), hint=hint)

    def _rev(self, name: str) -> str | None:
        status, out, _ = self._run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        return out if status == 0 and out else None

    def _ident_env(self) -> dict[str, str]:
        """An identity for notes commits when none is configured (CI runners), per command."""
        if self._ident is None:
            known = self._ok("var", "GIT_AUTHOR_IDENT") and self._ok("var", "GIT_COMMITTER_IDENT")
            self._ident = {} if known else dict(_FALLBACK_IDENT)
        return self._ident

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
        body = self._git("cat-file", "commit", rev)
        head, _, _ = body.partition("\n\n")
        return [line.split()[1] for line in head.splitlines() if line.startswith("parent ")]

    def current_branch(self) -> str | None:
        status, out, _ = self._run("symbolic-ref", "--quiet", "--short", "HEAD")
        return out if status == 0 and out else None

    def is_dirty(self) -> bool:
        """Tracked files changed, staged or not; untracked files do not count."""
        out = self._git("status", "--porcelain", "--untracked-files=no", env=_NO_LOCKS)
        return bool(out.strip())

    def code_fingerprint(self) -> str:
        """The tree of the tracked files as they are now, built in a throwaway index."""
        if not self.is_dirty():
            return self._git("rev-parse", f"{self.head_sha()}^{{tree}}")
        real = Path(self._git("rev-parse", "--git-path", "index"))
        real = real if real.is_absolute() else self.root / real
        with tempfile.TemporaryDirectory(prefix="mlci-index-") as tmp:
            index = Path(tmp) / "index"
            if real.exists():
                shutil.copyfile(real, index)
            env = {"GIT_INDEX_FILE": str(index), **_NO_LOCKS}
            self._git("add", "--update", env=env)
            return self._git("write-tree", env=env)

    def tree_of(self, rev: str) -> str:
        """The tree id of a commit: the code fingerprint of a clean checkout of it."""
        return self._git("rev-parse", f"{_check(rev, 'rev')}^{{tree}}")

    def is_shallow(self) -> bool:
        return self._git("rev-parse", "--is-shallow-repository") == "true"

    def remote_url(self, name: str = "origin") -> str | None:
        status, out, _ = self._run("remote", "get-url", _check(name, "remote"))
        return out if status == 0 and out else None

    # -- history -----------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """A branch, origin/<branch>, a branch known only on origin, a tag or a sha."""
        _check(ref, "ref")
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
        status, out, _ = self._run("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        if status == 0 and out:
            return out.removeprefix("origin/")
        candidates = [
            f"{kind}/{name}"
            for name in ("main", "master")
            for kind in ("refs/heads", "refs/remotes/origin")
        ]
        present = set(self._git("for-each-ref", "--format=%(refname)", *candidates).split())
        for name in ("main", "master"):
            if f"refs/heads/{name}" in present or f"refs/remotes/origin/{name}" in present:
                return name
        return None

    def merge_base(self, a: str, b: str) -> str:
        status, out, err = self._run("merge-base", self.resolve(a), self.resolve(b))
        if status == 0 and out:
            return out.split()[0]
        if status != 1:
            raise self._failed(["merge-base"], err)
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
        status, out, _ = self._run("merge-base", a, b)
        return out.split()[0] if status == 0 and out else None

    def count_commits(self, rev: str) -> int:
        """Commits reachable from rev that are present here (a shallow clone has few)."""
        return int(self._git("rev-list", "--count", _check(rev, "rev")))

    def fetch_branch(
        self, branch: str, *, depth: int | None = None, deepen: int | None = None
    ) -> str | None:
        """Fetch one branch of origin into origin/<branch>, shallow (depth) or deeper
        (deepen: from every shallow boundary); None when done, else what went wrong."""
        spec = f"+refs/heads/{_check(branch, 'branch')}:refs/remotes/origin/{branch}"
        how = [f"--depth={depth}"] if depth else [f"--deepen={deepen}"] if deepen else []
        status, _, err = self._run(
            "fetch", "--quiet", "--no-tags", *how, "origin", spec, env=_NETWORK_ENV
        )
        return None if status == 0 else _last_line(err)

    def commits_between(self, ancestor: str, descendant: str) -> int:
        """First-parent commits after ancestor up to and including descendant."""
        span = f"{self.resolve(ancestor)}..{self.resolve(descendant)}"
        return int(self._git("rev-list", "--count", "--first-parent", span))

    def first_parent_walk(self, start: str, limit: int) -> list[str]:
        """start and its first-parent ancestors, newest first."""
        if limit <= 0:
            return []
        out = self._git("rev-list", "--first-parent", f"--max-count={limit}", self.resolve(start))
        return out.split()

    def is_ancestor(self, a: str, b: str) -> bool:
        status, _, err = self._run("merge-base", "--is-ancestor", self.resolve(a), self.resolve(b))
        if status not in (0, 1):
            raise self._failed(["merge-base"], err)
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

    def show(self, rev: str, path: str) -> str | None:
        """The text of a file at rev (path from the repo root); None when not tracked there."""
        name = self._object(rev, path)
        status, data, _ = self._run_bytes("cat-file", "blob", name)
        if status:
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
        status, out, _ = self._run("cat-file", "-t", self._object(rev, path))
        return status == 0 and out == "blob"

    def last_change(self, rev: str, path: str) -> str | None:
        """The newest commit up to rev that changed path; None when none did."""
        status, out, _ = self._run(
            "log", "-1", "--format=%H", self.resolve(rev), "--", self._relative(path) or "."
        )
        return out.strip() or None if status == 0 else None

    def changes_between(self, since: str, rev: str, directory: str) -> list[tuple[str, list[str]]]:
        """(sha, repo-relative paths it changed) of each commit in since..rev touching
        directory, oldest first."""
        out = self._git(
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
        status, data, err = self._run_bytes("diff", "--binary", "HEAD")
        if status:
            raise self._failed(("diff", "--binary", "HEAD"), err)
        return hashlib.sha256(data).hexdigest()

    def list_files(self, rev: str, directory: str) -> list[str]:
        """Tracked files under directory at rev, recursively, as repo-relative posix paths."""
        top = self._relative(directory)
        spec = ["--", top + "/"] if top else []
        out = self._git(
            "ls-tree", "-r", "-z", "--name-only", "--full-tree", self.resolve(rev), *spec
        )
        return [name for name in out.split("\0") if name]

    # -- listings for the input fingerprint: git's own blob ids, no file read ----------

    def blobs_at(self, rev: str, directory: str) -> dict[str, str]:
        """Repo-relative path -> blob id of every tracked file under directory at rev."""
        top = self._relative(directory)
        spec = ["--", top + "/"] if top else []
        out = self._git("ls-tree", "-r", "-z", "--full-tree", self.resolve(rev), *spec)
        return _blob_entries(out, sha_field=2)

    def index_blobs(self, directory: str) -> dict[str, str]:
        """Repo-relative path -> blob id of every file in the index under directory."""
        top = self._relative(directory)
        out = self._git("ls-files", "-s", "-z", "--", (top + "/") if top else ".", env=_NO_LOCKS)
        return _blob_entries(out, sha_field=1)

    def changed_in_worktree(self, directory: str) -> list[str]:
        """Tracked files whose working copy may differ from the index (by git's stat data)."""
        top = self._relative(directory)
        spec = (top + "/") if top else "."
        out = self._git("diff-files", "--name-only", "-z", "--", spec, env=_NO_LOCKS)
        return [name for name in out.split("\0") if name]

    def untracked(self, directories: Sequence[str], *, ignored: bool) -> list[str]:
        """Untracked files under the directories (repo-relative); ignored ones too if asked."""
        specs = [(self._relative(d) + "/") if self._relative(d) else "." for d in directories]
        if not specs:
            return []
        standard = [] if ignored else ["--exclude-standard"]
        out = self._git("ls-files", "-o", "-z", *standard, "--", *specs, env=_NO_LOCKS)
        return [name for name in out.split("\0") if name]

    @contextmanager
    def worktree(self, rev: str) -> Iterator[Path]:
        """A detached checkout of rev in a temp dir, removed whatever happens inside."""
        commit = self.resolve(rev)
        parent = Path(tempfile.mkdtemp(prefix="mlci-worktree-"))
        path = parent / commit[:12]
        try:  # no user hooks: a post-checkout hook has no business in mlci's checkout
            self._git(
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
            self._run("worktree", "remove", "--force", str(path))
            shutil.rmtree(parent, ignore_errors=True)
            self._run("worktree", "prune")

    # -- notes -------------------------------------------------------------------------

    def note_read(self, sha: str, ref: str = NOTES_REF) -> str | None:
        status, data, err = self._run_bytes(
            "notes", "--ref", _full_notes_ref(ref), "show", _check(sha, "commit")
        )
        if status == 0:
            return data.decode("utf-8", errors="replace")
        if "no note found" in err:
            return None
        raise self._failed(["notes"], err)

    def notes_read_many(
        self, shas: Sequence[str] | None = None, ref: str = NOTES_REF
    ) -> dict[str, str]:
        """sha -> note text, from one `notes list` and one `cat-file --batch`."""
        listing = self._git("notes", "--ref", _full_notes_ref(ref), "list")
        wanted = None if shas is None else set(shas)
        pairs = [
            (blob, obj)
            for blob, obj in (line.split() for line in listing.splitlines())
            if wanted is None or obj in wanted
        ]
        texts = self._cat_blobs(sorted({blob for blob, _ in pairs}))
        return {obj: texts[blob] for blob, obj in pairs if blob in texts}

    def _cat_blobs(self, blobs: Sequence[str]) -> dict[str, str]:
        if not blobs:
            return {}
        try:
            done = subprocess.run(
                ["git", "cat-file", "--batch"],
                cwd=self.root,
                input="\n".join(blobs).encode() + b"\n",
                capture_output=True,
                check=False,
            )
        except OSError as e:
            raise GitError(
                "git is not installed or not on PATH",
                where="PATH",
                hint="install git and run mlci again",
            ) from e
        if done.returncode:
            raise self._failed(["cat-file"], done.stderr.decode(errors="replace"))
        return _parse_batch(done.stdout)

    def notes_containing(self, text: str, ref: str = NOTES_REF) -> list[str]:
        """The commits whose note contains text, found by `git grep` in the notes tree, so
        that no note is read into Python (a note with predictions can be a megabyte)."""
        full = _full_notes_ref(ref)
        if not self._ok("rev-parse", "--verify", "--quiet", full):
            return []
        status, out, err = self._run("grep", "-l", "-F", "-e", text, full, "--")
        if status not in (0, 1):
            raise self._failed(["grep"], err)
        names = [line.removeprefix(f"{full}:") for line in out.splitlines()]
        return [name.replace("/", "") for name in names if name]

    def note_write(self, sha: str, text: str, ref: str = NOTES_REF) -> None:
        """Add or replace the note on a commit, byte for byte (-C skips git's stripspace)."""
        with tempfile.TemporaryDirectory(prefix="mlci-note-") as tmp:
            file = Path(tmp) / "note"
            file.write_bytes(text.encode("utf-8"))
            blob = self._git("hash-object", "-w", "--no-filters", "--", str(file))
        self._git(
            "notes",
            "--ref",
            _full_notes_ref(ref),
            "add",
            "--force",
            "--allow-empty",
            "-C",
            blob,
            _check(sha, "commit"),
            env=self._ident_env(),
        )

    def notes_fetch(self, remote: str = "origin", ref: str = NOTES_REF) -> bool:
        """Fetch remote's notes and merge them in (the local note wins a conflict).

        False, with a warning, when there is nothing to fetch or the fetch fails (offline).
        Locked per clone: two runs fetching and merging at once would trip on git's ref locks.
        """
        full = _full_notes_ref(ref)
        with lock.held(Path(self._repo.common_dir) / "mlci-notes.lock", f"{full} of this clone"):
            problem = self._fetch_notes(remote, full)
            if not problem:
                self._merge_notes(full, _tracking_ref(remote, full))
        if problem:
            if problem.endswith(" yet"):  # normal before the first `mlci record --push`
                output.info(f"mlci: {problem}; going on with the local notes")
            else:
                output.warn(f"{problem}; going on with the local notes")
            return False
        return True

    def _fetch_notes(self, remote: str, full: str) -> str | None:
        """None when fetched into the tracking ref, else what went wrong."""
        if self.remote_url(remote) is None:
            return f"no git remote named {remote}"
        status, _, err = self._run(
            "fetch",
            "--quiet",
            "--no-tags",
            remote,
            f"+{full}:{_tracking_ref(remote, full)}",
            env=_NETWORK_ENV,
        )
        if status == 0:
            return None
        if "couldn't find remote ref" in err:
            return f"{remote} has no {full} yet"
        return f"could not fetch {full} from {remote}: {_last_line(err)}"

    def _merge_notes(self, full: str, tracking: str) -> None:
        if not self._ok("rev-parse", "--verify", "--quiet", tracking):
            return
        if not self._ok("rev-parse", "--verify", "--quiet", full):
            self._git("update-ref", full, tracking, "")  # "" = only if it does not exist yet
            return
        self._git(
            "notes",
            "--ref",
            full,
            "merge",
            "--quiet",
            "--strategy=ours",
            tracking,
            env=self._ident_env(),
        )

    def notes_push(self, remote: str = "origin", ref: str = NOTES_REF, attempts: int = 5) -> None:
        """Push the notes without force; when another job pushed first, merge theirs, retry."""
        full = _full_notes_ref(ref)
        url = self.remote_url(remote)
        if url is None:
            raise GitError(
                f"no git remote named {remote}",
                where=str(self.root),
                hint=f"add one with `git remote add {remote} URL`",
            )
        if not self._ok("rev-parse", "--verify", "--quiet", full):
            raise GitError(
                f"there are no notes to push: {full} does not exist",
                where=str(self.root),
                hint="record one first with `mlci record`",
            )
        for _ in range(max(attempts, 1)):
            status, _, err = self._run(
                "push", "--quiet", remote, f"{full}:{full}", env=_NETWORK_ENV
            )
            if status == 0:
                return
            if not _RACE.search(err):
                raise _push_error(remote, full, url, err)
            output.info(f"{remote} has notes this clone lacks: merging them and pushing again")
            problem = self._fetch_notes(remote, full)
            if problem:
                raise GitError(
                    problem,
                    where=_redact(url),
                    hint="check that the remote is reachable and run `mlci record --push` again",
                )
            self._merge_notes(full, _tracking_ref(remote, full))
        raise GitError(
            f"could not push {full} to {remote}: rejected {max(attempts, 1)} times",
            where=_redact(url),
            hint="other jobs kept pushing notes meanwhile; run `mlci record --push` again",
        )

    # -- demo repositories only ------------------------------------------------------

    def commit_all(self, message: str) -> str:
        """Stage everything and commit (only in a repository mlci made); the new sha."""
        self._git("add", "-A")
        self._git(
            "-c", "commit.gpgsign=false", "commit", "-q", "-m", message, env=self._ident_env()
        )
        return self.head_sha()

    def switch_new_branch(self, name: str) -> None:
        """Create and check out a branch (only in a repository mlci made)."""
        self._git("switch", "-q", "-c", _check(name, "branch"))


def _tracking_ref(remote: str, full: str) -> str:
    """Where a remote's notes land locally before the merge: refs/notes/mlci-remote/..."""
    return f"refs/notes/mlci-remote/{_check(remote, 'remote')}/{full.removeprefix('refs/notes/')}"


def _push_error(remote: str, full: str, url: str, stderr: str) -> GitError:
    lowered = stderr.lower()
    if any(word in lowered for word in ("denied", "403", "not allowed", "protected")):
        hint = (
            "give the job write access: `permissions: contents: write` in the workflow "
            "(a fork's pull request cannot push)"
        )
    else:
        hint = (
            "check that the remote is reachable and that the job may write to it "
            "(`permissions: contents: write` in the workflow)"
        )
    return GitError(
        f"could not push {full} to {remote}: {_last_line(stderr)}", where=_redact(url), hint=hint
    )


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


def _parse_batch(data: bytes) -> dict[str, str]:
    """Split `git cat-file --batch` output: '<sha> <type> <size>\\n<content>\\n' per object."""
    texts: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # '<name> missing'
            continue
        size = int(header[2])
        texts[header[0].decode()] = data[pos : pos + size].decode("utf-8", errors="replace")
        pos += size + 1
    return texts


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
