"""mlci.git.repo against real repositories: clones, shallow clones, worktrees and notes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.errors import GitError, UsageError
from mlci.git import notes as git_notes
from mlci.git.notes import NOTES_REF
from mlci.git.repo import Repo
from tests.conftest import commit_all, git


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


@pytest.fixture
def history(repo: Path) -> dict[str, str]:
    """main: c1 (tag v1) -> c2 -> c3, with files in data/ and a look-alike dirx/."""
    write(repo / "a.txt", "one\n")
    write(repo / "data" / "x.json", '{"x": 1}')
    write(repo / "data" / "sub" / "y.txt", "y\r\nno newline at end")
    write(repo / "dirx" / "z.txt", "z\n")
    c1 = commit_all(repo, "c1")
    git(repo, "tag", "v1")
    write(repo / "a.txt", "two\n")
    c2 = commit_all(repo, "c2")
    write(repo / "b.txt", "b\n")
    c3 = commit_all(repo, "c3")
    return {"c1": c1, "c2": c2, "c3": c3}


@pytest.fixture
def origin(tmp_path: Path, repo: Path, history: dict[str, str]) -> Path:
    """A bare origin holding main and a branch `feature` that forks at c1."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "branch", "feature", history["c1"])
    git(repo, "push", "-q", "origin", "feature")
    git(repo, "branch", "-D", "feature")
    git(repo, "fetch", "-q", "origin")
    return bare


def clone(origin: Path, dest: Path, *args: str) -> Path:
    git(dest.parent, "clone", "-q", *args, f"file://{origin}", str(dest))
    return dest


def make_commits(repo: Path, count: int) -> list[str]:
    """count empty commits on main in one git process (fast-import), oldest first."""
    stream = []
    for i in range(count):
        stream.append(
            f"commit refs/heads/main\nmark :{i + 1}\n"
            f"committer T <t@example.com> {1700000000 + i} +0000\ndata 2\nc\n"
        )
        if i:
            stream.append(f"from :{i}\n")
        stream.append("\n")
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, input="".join(stream).encode(), check=True
    )
    return git(repo, "rev-list", "--reverse", "main").split()


def error_line(excinfo: pytest.ExceptionInfo[GitError]) -> str:
    return excinfo.value.line()


# -- finding the repository ---------------------------------------------------------------


def test_not_a_git_repo(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError) as excinfo:
        Repo(plain)
    assert "not inside a git repository" in error_line(excinfo)
    assert "git init" in error_line(excinfo)
    assert excinfo.value.exit_code == 3


def test_no_git_binary_is_a_git_error(repo: Path) -> None:
    script = (
        "from pathlib import Path\nfrom mlci.errors import GitError\n"
        "from mlci.git.repo import Repo\ntry:\n    Repo(Path('.'))\n"
        "except GitError as e:\n    print(e.line())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PATH": str(repo / "no-bin"),
            "PYTHONPATH": str(Path(__file__).parents[1]),
        },
    )
    assert "git is not installed" in done.stdout
    assert "Install git" in done.stdout


def test_found_from_a_subdirectory(repo: Path, history: dict[str, str]) -> None:
    found = Repo(repo / "data" / "sub")
    assert found.root.resolve() == repo.resolve()
    assert found.head_sha() == history["c3"]
    assert found.current_branch() == "main"


def test_no_commits_yet(repo: Path) -> None:
    with pytest.raises(GitError, match="no commits") as excinfo:
        Repo(repo).head_sha()
    assert "Commit your project first" in error_line(excinfo)


def test_detached_head_has_no_branch(repo: Path, history: dict[str, str]) -> None:
    git(repo, "checkout", "-q", "--detach", history["c2"])
    assert Repo(repo).current_branch() is None
    assert Repo(repo).head_sha() == history["c2"]


# -- refs ---------------------------------------------------------------------------------


def test_resolve_every_kind_of_ref(repo: Path, origin: Path, history: dict[str, str]) -> None:
    r = Repo(repo)
    assert r.resolve("main") == history["c3"]
    assert r.resolve("origin/main") == history["c3"]
    assert r.resolve("feature") == history["c1"]  # only origin/feature exists
    assert r.resolve("v1") == history["c1"]
    assert r.resolve(history["c2"][:8]) == history["c2"]
    assert r.resolve("HEAD~1") == history["c2"]


def test_resolve_missing_ref_says_how_to_fetch(repo: Path, history: dict[str, str]) -> None:
    with pytest.raises(GitError) as excinfo:
        Repo(repo).resolve("origin/nope")
    line = error_line(excinfo)
    assert "base ref origin/nope not found" in line
    assert "`git fetch origin nope`" in line
    assert "shallow" not in line


def test_resolve_rejects_option_like_refs(repo: Path, history: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="invalid ref"):
        Repo(repo).resolve("--all")


def test_shallow_clone_is_detected_and_hinted(
    tmp_path: Path, repo: Path, origin: Path, history: dict[str, str]
) -> None:
    shallow = Repo(clone(origin, tmp_path / "shallow", "--depth", "1"))
    assert shallow.is_shallow()
    assert not Repo(repo).is_shallow()
    assert shallow.resolve("main") == history["c3"]
    with pytest.raises(GitError) as excinfo:
        shallow.resolve(history["c1"])
    line = error_line(excinfo)
    assert "shallow clone" in line
    assert "`git fetch --unshallow origin" in line
    assert f"git fetch origin {history['c1']}" in line


def test_merge_base_in_a_shallow_clone_says_fetch_depth(
    tmp_path: Path, origin: Path, history: dict[str, str]
) -> None:
    shallow = Repo(clone(origin, tmp_path / "shallow", "--depth", "1", "--no-single-branch"))
    with pytest.raises(GitError) as excinfo:
        shallow.merge_base("origin/feature", "main")
    assert "no merge-base between origin/feature and main" in error_line(excinfo)
    assert "`git fetch --unshallow origin" in error_line(excinfo)


def test_default_branch(tmp_path: Path, repo: Path, origin: Path) -> None:
    cloned = Repo(clone(origin, tmp_path / "c"))
    assert cloned.default_branch() == "main"  # from origin/HEAD
    assert Repo(repo).default_branch() == "main"  # no origin/HEAD: the local main
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", "-b", "master", str(other))
    write(other / "f", "f")
    commit_all(other, "first")
    assert Repo(other).default_branch() == "master"
    git(other, "branch", "-m", "master", "trunk")
    assert Repo(other).default_branch() is None


def test_remote_url(repo: Path, origin: Path) -> None:
    r = Repo(repo)
    assert r.remote_url() == str(origin)
    assert r.remote_url("upstream") is None


# -- history ------------------------------------------------------------------------------


def test_merge_base_and_ancestry(repo: Path, history: dict[str, str]) -> None:
    git(repo, "checkout", "-q", "-b", "pr", history["c2"])
    write(repo / "pr.txt", "pr\n")
    pr = commit_all(repo, "pr")
    r = Repo(repo)
    assert r.merge_base("pr", "main") == history["c2"]
    assert r.is_ancestor(history["c1"], "pr")
    assert not r.is_ancestor("pr", "main")
    assert r.commits_between(history["c1"], pr) == 2


def test_unrelated_histories_have_no_merge_base(repo: Path, history: dict[str, str]) -> None:
    git(repo, "checkout", "-q", "--orphan", "island")
    write(repo / "island.txt", "alone\n")
    commit_all(repo, "island")
    with pytest.raises(GitError) as excinfo:
        Repo(repo).merge_base("island", "main")
    line = error_line(excinfo)
    assert "no merge-base between island and main: the histories are unrelated" in line
    assert "shallow" not in line


def test_first_parent_walk_skips_merged_branches(repo: Path, history: dict[str, str]) -> None:
    git(repo, "checkout", "-q", "-b", "side", history["c1"])
    write(repo / "side.txt", "side\n")
    side = commit_all(repo, "side")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = git(repo, "rev-parse", "HEAD")
    r = Repo(repo)
    walk = r.first_parent_walk("main", 10)
    assert walk == [merge, history["c3"], history["c2"], history["c1"]]
    assert side not in walk
    assert r.first_parent_walk("main", 2) == [merge, history["c3"]]
    assert r.first_parent_walk("main", 0) == []
    assert r.commits_between(history["c1"], "main") == 3


# -- files at a revision ------------------------------------------------------------------


def test_show_files_at_revisions(repo: Path, history: dict[str, str]) -> None:
    r = Repo(repo)
    assert r.show("main", "a.txt") == "two\n"
    assert r.show(history["c1"], "a.txt") == "one\n"
    assert r.show("v1", "data/sub/y.txt") == "y\r\nno newline at end"
    assert r.show("main", "./data/x.json") == '{"x": 1}'
    assert r.show(history["c1"], "b.txt") is None  # added later
    write(repo / "untracked.txt", "u\n")
    assert r.show("main", "untracked.txt") is None
    assert r.show("main", "data") is None  # a directory is not a file
    with pytest.raises(GitError, match="base ref nope not found"):
        r.show("nope", "a.txt")


def test_tracked_at_and_list_files(repo: Path, history: dict[str, str]) -> None:
    r = Repo(repo)
    assert r.tracked_at("main", "b.txt")
    assert not r.tracked_at(history["c1"], "b.txt")
    assert not r.tracked_at("main", "data")
    assert r.list_files("main", "data") == ["data/sub/y.txt", "data/x.json"]
    assert r.list_files("main", "data/") == r.list_files("main", "data")
    assert r.list_files("main", "dir") == []  # dirx/ is not under dir/
    assert r.list_files("main", "nothing/here") == []
    assert "b.txt" in r.list_files("main", "")
    assert "b.txt" not in r.list_files(history["c1"], ".")
    assert r.list_files("main", str(repo / "data" / "sub")) == ["data/sub/y.txt"]
    with pytest.raises(GitError, match="outside the repository"):
        r.show("main", str(repo.parent / "elsewhere.txt"))


def test_checkout_never_changes(repo: Path, history: dict[str, str]) -> None:
    """show/list/tracked_at read objects only: the working tree keeps a local edit."""
    write(repo / "a.txt", "local edit\n")
    r = Repo(repo)
    assert r.show(history["c1"], "a.txt") == "one\n"
    assert (repo / "a.txt").read_text() == "local edit\n"


# -- worktrees ----------------------------------------------------------------------------


def worktrees(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def test_worktree_at_an_old_revision_is_removed(repo: Path, history: dict[str, str]) -> None:
    status = git(repo, "status", "--porcelain")
    r = Repo(repo)
    with r.worktree(history["c1"]) as path:
        assert (path / "a.txt").read_text() == "one\n"
        assert not (path / "b.txt").exists()
        assert repo.resolve() not in path.resolve().parents
        assert len(worktrees(repo)) == 2
        (path / "scratch.txt").write_text("training output")
    assert not path.exists()
    assert [Path(line.split(" ", 1)[1]).resolve() for line in worktrees(repo)] == [repo.resolve()]
    assert git(repo, "status", "--porcelain") == status
    assert r.current_branch() == "main"
    assert r.head_sha() == history["c3"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_worktree_removed_when_the_body_fails(
    repo: Path, history: dict[str, str], error: type[BaseException]
) -> None:
    r = Repo(repo)
    with pytest.raises(error), r.worktree("v1") as path:
        (path / "a.txt").write_text("modified inside")
        raise error("boom")
    assert not path.exists()
    assert not path.parent.exists()
    assert len(worktrees(repo)) == 1
    assert git(repo, "branch", "--list") == "* main"


def test_worktree_of_a_missing_ref(repo: Path, history: dict[str, str]) -> None:
    with pytest.raises(GitError, match="not found"), Repo(repo).worktree("nope"):
        pass
    assert len(worktrees(repo)) == 1


# -- dirty state and fingerprints ---------------------------------------------------------


def snapshot(repo: Path) -> tuple[str, str, bytes, str]:
    return (
        git(repo, "status", "--porcelain"),
        git(repo, "stash", "list"),
        (repo / ".git" / "index").read_bytes(),
        git(repo, "for-each-ref"),
    )


def test_clean_fingerprint_is_the_head_tree(repo: Path, history: dict[str, str]) -> None:
    r = Repo(repo)
    assert not r.is_dirty()
    assert r.code_fingerprint() == git(repo, "rev-parse", "HEAD^{tree}")


def test_untracked_files_do_not_count(repo: Path, history: dict[str, str]) -> None:
    write(repo / "new.txt", "untracked\n")
    r = Repo(repo)
    assert not r.is_dirty()
    assert r.code_fingerprint() == git(repo, "rev-parse", "HEAD^{tree}")


def test_dirty_fingerprint_includes_edits_and_touches_nothing(
    repo: Path, history: dict[str, str]
) -> None:
    write(repo / "a.txt", "edited\n")
    write(repo / "data" / "x.json", '{"x": 2}')
    git(repo, "add", "data/x.json")  # one staged, one not
    (repo / "dirx" / "z.txt").unlink()
    write(repo / "untracked.txt", "not part of the code\n")
    before = snapshot(repo)
    r = Repo(repo)
    assert r.is_dirty()
    fingerprint = r.code_fingerprint()
    assert fingerprint != git(repo, "rev-parse", "HEAD^{tree}")
    assert r.code_fingerprint() == fingerprint  # deterministic
    assert snapshot(repo) == before
    assert (repo / "a.txt").read_text() == "edited\n"
    git(repo, "commit", "-q", "-a", "-m", "the same edits, committed")
    assert git(repo, "rev-parse", "HEAD^{tree}") == fingerprint


def test_staged_only_change_is_dirty(repo: Path, history: dict[str, str]) -> None:
    write(repo / "staged.txt", "new and staged\n")
    git(repo, "add", "staged.txt")
    r = Repo(repo)
    assert r.is_dirty()
    assert r.code_fingerprint() != git(repo, "rev-parse", "HEAD^{tree}")


# -- notes --------------------------------------------------------------------------------


def test_note_write_and_read(repo: Path, history: dict[str, str]) -> None:
    r = Repo(repo)
    assert git_notes.read(r, history["c1"]) is None
    text = '{"schema": 1,\n\n\n  "metrics": {"accuracy": 0.9}}   \n\n'
    git_notes.write(r, history["c1"], text)
    assert git_notes.read(r, history["c1"]) == text  # byte for byte, no stripspace
    git_notes.write(r, history["c1"], '{"schema": 1}')
    assert git_notes.read(r, history["c1"]) == '{"schema": 1}'
    assert git_notes.read_many(r) == {history["c1"]: '{"schema": 1}'}
    assert git_notes.read(r, history["c1"], ref="refs/notes/other") is None
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "notes", "--ref", NOTES_REF, "list").count("\n") == 0


def test_note_on_a_missing_commit(repo: Path, history: dict[str, str]) -> None:
    with pytest.raises(GitError, match="git notes failed"):
        git_notes.write(Repo(repo), "nope", "{}")


def test_note_write_without_a_configured_identity(
    repo: Path, history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name)
    monkeypatch.delenv("EMAIL", raising=False)
    git(repo, "config", "user.useConfigOnly", "true")  # no guessing from the host name
    assert subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], cwd=repo).returncode != 0
    r = Repo(repo)
    git_notes.write(r, history["c2"], "note")
    assert git_notes.read(r, history["c2"]) == "note"


def test_read_many_notes_in_one_batch(repo: Path) -> None:
    shas = make_commits(repo, 200)
    r = Repo(repo)
    for i, sha in enumerate(shas):
        git_notes.write(r, sha, f'{{"i": {i}}}\n')
    notes = git_notes.read_many(r)
    assert len(notes) == 200
    assert all(notes[sha] == f'{{"i": {i}}}\n' for i, sha in enumerate(shas))
    some = git_notes.read_many(r, [shas[0], shas[199], "0" * 40])
    assert some == {shas[0]: '{"i": 0}\n', shas[199]: '{"i": 199}\n'}
    assert git_notes.read_many(r, []) == {}
    assert git_notes.read_many(r, ref="refs/notes/empty") == {}


def origin_notes(origin: Path) -> dict[str, str]:
    listing = git(origin, "notes", "--ref", NOTES_REF, "list")
    pairs = [line.split() for line in listing.splitlines()]
    return {obj: git(origin, "cat-file", "blob", blob) for blob, obj in pairs}


def test_push_then_fetch_into_a_clone(
    tmp_path: Path, repo: Path, origin: Path, history: dict[str, str]
) -> None:
    r = Repo(repo)
    git_notes.write(r, history["c3"], "from main")
    git_notes.push(r)
    assert origin_notes(origin) == {history["c3"]: "from main"}
    cloned = Repo(clone(origin, tmp_path / "c"))
    assert git_notes.read(cloned, history["c3"]) is None
    assert git_notes.fetch(cloned)
    assert git_notes.read(cloned, history["c3"]) == "from main"
    assert git_notes.fetch(cloned)  # nothing new: still fine


def test_fetch_notes_into_a_shallow_clone(
    tmp_path: Path, repo: Path, origin: Path, history: dict[str, str]
) -> None:
    r = Repo(repo)
    git_notes.write(r, history["c1"], "old commit")
    git_notes.write(r, history["c3"], "tip")
    git_notes.push(r)
    shallow = Repo(clone(origin, tmp_path / "shallow", "--depth", "1"))
    assert git_notes.fetch(shallow)
    assert git_notes.read_many(shallow) == {history["c1"]: "old commit", history["c3"]: "tip"}
    git_notes.write(shallow, history["c3"], "tip, again")
    git_notes.push(shallow)
    assert origin_notes(origin)[history["c3"]] == "tip, again"


def test_two_clones_push_notes_and_both_survive(
    tmp_path: Path, origin: Path, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = Repo(clone(origin, tmp_path / "first"))
    second = Repo(clone(origin, tmp_path / "second"))
    git_notes.write(first, history["c1"], "first on c1")
    git_notes.write(first, history["c3"], "first on c3")
    git_notes.write(second, history["c2"], "second on c2")
    git_notes.write(second, history["c3"], "second on c3")  # a conflict: the local note wins
    git_notes.push(first)
    capsys.readouterr()
    git_notes.push(second)  # rejected (fetch first), merged, pushed again
    assert "merging them and pushing again" in capsys.readouterr().err
    assert origin_notes(origin) == {
        history["c1"]: "first on c1",
        history["c2"]: "second on c2",
        history["c3"]: "second on c3",
    }
    assert git_notes.fetch(first)
    assert git_notes.read(first, history["c2"]) == "second on c2"
    # origin's notes already merged first's: the fetch fast-forwards to that decision
    assert git_notes.read(first, history["c3"]) == "second on c3"
    assert git_notes.read(first, history["c1"]) == "first on c1"


def test_fetch_when_origin_has_no_notes(
    repo: Path, origin: Path, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    r = Repo(repo)
    git_notes.write(r, history["c1"], "local")
    assert git_notes.fetch(r) is False
    assert "origin has no refs/notes/mlci yet" in capsys.readouterr().err
    assert git_notes.read(r, history["c1"]) == "local"


def test_fetch_without_a_remote_or_offline(
    repo: Path, history: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    r = Repo(repo)
    assert git_notes.fetch(r) is False
    assert "no git remote named origin" in capsys.readouterr().err
    git(repo, "remote", "add", "origin", str(repo.parent / "gone.git"))
    assert git_notes.fetch(r) is False
    assert "could not fetch refs/notes/mlci from origin" in capsys.readouterr().err


def test_push_without_a_remote(repo: Path, history: dict[str, str]) -> None:
    r = Repo(repo)
    git_notes.write(r, history["c1"], "n")
    with pytest.raises(GitError) as excinfo:
        git_notes.push(r)
    assert "no git remote named origin" in error_line(excinfo)
    assert "`git remote add origin URL`" in error_line(excinfo)


def test_push_with_no_notes(repo: Path, origin: Path) -> None:
    with pytest.raises(GitError, match="no notes to push"):
        git_notes.push(Repo(repo))


def test_push_to_an_unreachable_remote_hides_credentials(
    repo: Path, history: dict[str, str]
) -> None:
    git(repo, "remote", "add", "origin", "http://user:s3cret@127.0.0.1:9/repo.git")
    r = Repo(repo)
    git_notes.write(r, history["c1"], "n")
    with pytest.raises(GitError) as excinfo:
        git_notes.push(r)
    line = error_line(excinfo)
    assert "could not push refs/notes/mlci to origin" in line
    assert "contents: write" in line
    assert "s3cret" not in line
