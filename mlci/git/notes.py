"""The notes ref `refs/notes/mlci`: one note per commit, read, written, fetched and pushed.

Notes are the only refs mlci writes. Several CI jobs may push notes at once: a push that
lost the race fetches the others' notes, merges them (the local note wins a conflict) and
pushes again. What a note says is mlci.git.note_schema.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlci import lock, output
from mlci.errors import GitError
from mlci.git.run import NETWORK_ENV, last_line, missing, redact_url, valid_name

if TYPE_CHECKING:
    from mlci.git.repo import Repo

NOTES_REF = "refs/notes/mlci"
# how git reports a push that lost a race: rejected as stale, or two updates at one moment
_RACE = re.compile(
    r"\[rejected\].*\((fetch first|non-fast-forward|stale info)\)"
    r"|cannot lock ref '[^']+': (reference already exists|is at [0-9a-f]+ but expected)"
)


def _full_ref(ref: str) -> str:
    """mlci, notes/mlci or refs/notes/mlci -> refs/notes/mlci."""
    if ref.startswith("refs/"):
        return ref
    return "refs/" + ref if ref.startswith("notes/") else "refs/notes/" + ref


def read(repo: Repo, sha: str, ref: str = NOTES_REF) -> str | None:
    """The note on a commit, or None when it has none."""
    status, data, err = repo.run_bytes(
        "notes", "--ref", _full_ref(ref), "show", valid_name(sha, "commit")
    )
    if status == 0:
        return data.decode("utf-8", errors="replace")
    if "no note found" in err:
        return None
    raise repo.failed(["notes"], err)


def read_many(
    repo: Repo, shas: Sequence[str] | None = None, ref: str = NOTES_REF
) -> dict[str, str]:
    """sha -> note text, from one `notes list` and one `cat-file --batch`."""
    listing = repo.git("notes", "--ref", _full_ref(ref), "list")
    wanted = None if shas is None else set(shas)
    pairs = [
        (blob, obj)
        for blob, obj in (line.split() for line in listing.splitlines())
        if wanted is None or obj in wanted
    ]
    texts = _cat_blobs(repo, sorted({blob for blob, _ in pairs}))
    return {obj: texts[blob] for blob, obj in pairs if blob in texts}


def _cat_blobs(repo: Repo, blobs: Sequence[str]) -> dict[str, str]:
    if not blobs:
        return {}
    try:
        done = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=repo.root,
            input="\n".join(blobs).encode() + b"\n",
            capture_output=True,
            check=False,
        )
    except OSError as e:
        raise missing() from e
    if done.returncode:
        raise repo.failed(["cat-file"], done.stderr.decode(errors="replace"))
    return _parse_batch(done.stdout)


def containing(repo: Repo, text: str, ref: str = NOTES_REF) -> list[str]:
    """The commits whose note contains text, found by `git grep` in the notes tree, so
    that no note is read into Python (a note with predictions can be a megabyte)."""
    full = _full_ref(ref)
    if not repo.ok("rev-parse", "--verify", "--quiet", full):
        return []
    status, out, err = repo.run("grep", "-l", "-F", "-e", text, full, "--")
    if status not in (0, 1):
        raise repo.failed(["grep"], err)
    names = [line.removeprefix(f"{full}:") for line in out.splitlines()]
    return [name.replace("/", "") for name in names if name]


def write(repo: Repo, sha: str, text: str, ref: str = NOTES_REF) -> None:
    """Add or replace the note on a commit, byte for byte (-C skips git's stripspace)."""
    with tempfile.TemporaryDirectory(prefix="mlci-note-") as tmp:
        file = Path(tmp) / "note"
        file.write_bytes(text.encode("utf-8"))
        blob = repo.git("hash-object", "-w", "--no-filters", "--", str(file))
    repo.git(
        "notes",
        "--ref",
        _full_ref(ref),
        "add",
        "--force",
        "--allow-empty",
        "-C",
        blob,
        valid_name(sha, "commit"),
        env=repo.ident_env(),
    )


def fetch(repo: Repo, remote: str = "origin", ref: str = NOTES_REF) -> bool:
    """Fetch remote's notes and merge them in (the local note wins a conflict).

    False, with a warning, when there is nothing to fetch or the fetch fails (offline).
    Locked per clone: two runs fetching and merging at once would trip on git's ref locks.
    """
    full = _full_ref(ref)
    with lock.held(repo.common_dir / "mlci-notes.lock", f"{full} of this clone"):
        problem = _fetch(repo, remote, full)
        if not problem:
            _merge(repo, full, _tracking_ref(remote, full))
    if problem:
        if problem.endswith(" yet"):  # normal before the first `mlci record --push`
            output.info(f"mlci: {problem}; going on with the local notes")
        else:
            output.warn(f"{problem}; going on with the local notes")
        return False
    return True


def _fetch(repo: Repo, remote: str, full: str) -> str | None:
    """None when fetched into the tracking ref, else what went wrong."""
    if repo.remote_url(remote) is None:
        return f"no git remote named {remote}"
    status, _, err = repo.run(
        "fetch",
        "--quiet",
        "--no-tags",
        remote,
        f"+{full}:{_tracking_ref(remote, full)}",
        env=NETWORK_ENV,
    )
    if status == 0:
        return None
    if "couldn't find remote ref" in err:
        return f"{remote} has no {full} yet"
    return f"could not fetch {full} from {remote}: {last_line(err)}"


def _merge(repo: Repo, full: str, tracking: str) -> None:
    """Merge the fetched notes into ours; ours win where both noted the same commit."""
    if not repo.ok("rev-parse", "--verify", "--quiet", tracking):
        return
    if not repo.ok("rev-parse", "--verify", "--quiet", full):
        repo.git("update-ref", full, tracking, "")  # "" = only if it does not exist yet
        return
    repo.git(
        "notes",
        "--ref",
        full,
        "merge",
        "--quiet",
        "--strategy=ours",
        tracking,
        env=repo.ident_env(),
    )


def push(repo: Repo, remote: str = "origin", ref: str = NOTES_REF, attempts: int = 5) -> None:
    """Push the notes without force; when another job pushed first, merge theirs, retry."""
    full = _full_ref(ref)
    url = _push_url(repo, remote, full)
    for _ in range(max(attempts, 1)):
        status, _, err = repo.run("push", "--quiet", remote, f"{full}:{full}", env=NETWORK_ENV)
        if status == 0:
            return
        if not _RACE.search(err):
            raise _push_error(remote, full, url, err)
        output.info(f"{remote} has notes this clone lacks: merging them and pushing again")
        problem = _fetch(repo, remote, full)
        if problem:
            raise GitError(
                problem,
                where=redact_url(url),
                hint="check that the remote is reachable and run `mlci record --push` again",
            )
        _merge(repo, full, _tracking_ref(remote, full))
    raise GitError(
        f"could not push {full} to {remote}: rejected {max(attempts, 1)} times",
        where=redact_url(url),
        hint="other jobs kept pushing notes meanwhile; run `mlci record --push` again",
    )


def _push_url(repo: Repo, remote: str, full: str) -> str:
    """The remote's URL, when there is a remote and notes to push to it."""
    url = repo.remote_url(remote)
    if url is None:
        raise GitError(
            f"no git remote named {remote}",
            where=str(repo.root),
            hint=f"add one with `git remote add {remote} URL`",
        )
    if not repo.ok("rev-parse", "--verify", "--quiet", full):
        raise GitError(
            f"there are no notes to push: {full} does not exist",
            where=str(repo.root),
            hint="record one first with `mlci record`",
        )
    return url


def _tracking_ref(remote: str, full: str) -> str:
    """Where a remote's notes land locally before the merge: refs/notes/mlci-remote/..."""
    return (
        f"refs/notes/mlci-remote/{valid_name(remote, 'remote')}/{full.removeprefix('refs/notes/')}"
    )


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
        f"could not push {full} to {remote}: {last_line(stderr)}", where=redact_url(url), hint=hint
    )


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
