"""Plot images on the assets branch, linked from the comment and the check run.

The branch only ever adds content-addressed files, one commit per run that uploads; images
older than github.assets_keep_days leave it in the same step.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mlci.publish.github.client import JSON, Session, StepFailed
from mlci.publish.github.files import IMAGE

REF_ATTEMPTS = 4  # tries to move the assets branch while concurrent runs move it too
UPDATE_REFS = """
mutation($repo: ID!, $updates: [RefUpdate!]!) {
  updateRefs(input: {repositoryId: $repo, refUpdates: $updates}) { clientMutationId }
}"""


def post(s: Session) -> str:
    """Commit the linked plots to the assets branch and link them from the body.

    Links are `{server}/{owner}/{repo}/raw/{branch}/{path}`: a branch URL is safe because
    the names are content-addressed (a name never changes content), and these links
    render in public and private repositories alike, for readers who have access.
    """
    named = {n: asset_path(data, n) for n, data in s.report.images.items()}
    files = {named[n]: s.report.images[n] for n in named}
    uploaded = _upload(s, files)
    pruned = f", {s.pruned} older than {s.github.assets_keep_days} days dropped" if s.pruned else ""
    branch = urllib.parse.quote(s.github.assets_branch, safe="/")
    base = f"{s.ctx.server_url}/{s.ctx.repository}/raw/{branch}/"
    s.body = IMAGE.sub(
        lambda m: f'src="{base}{named[m.group(1)]}"' if m.group(1) in named else m.group(0), s.body
    )
    return f"images ({len(files)}, {uploaded} uploaded{pruned})"


def asset_path(data: bytes, name: str = ".png") -> str:
    suffix = Path(name).suffix.lower() or ".png"
    return f"img/{hashlib.sha256(data).hexdigest()[:24]}{suffix}"


def _upload(s: Session, files: Mapping[str, bytes]) -> int:
    """One commit with the files the branch lacks; never forced, retried when it moved.

    A re-run whose images are all there already costs one request (the tree, read by the
    branch's name). When images are uploaded, those older than github.assets_keep_days
    leave the branch in the same step (_old_paths, _reroot).
    """
    have = _tree_of_branch(s)
    if have is not None and all(p in have for p in files):
        return 0
    blobs: dict[str, str] = {}
    for _ in range(REF_ATTEMPTS):
        head = _branch_head(s) if have is not None else None
        tree, have = _tree(s, head) if head else (None, set())
        new = [p for p in files if p not in have]
        if not new:
            return 0
        for p in new:
            if p not in blobs:  # content-addressed: safe to repeat after a lost answer
                body = {"content": base64.b64encode(files[p]).decode(), "encoding": "base64"}
                blobs[p] = s.client.call("POST", f"{s.repo}/git/blobs", body=body)[1]["sha"]
        old = _old_paths(s, head, set(files)) if head else set()
        if old:
            assert head is not None and tree is not None
            if _reroot(s, head, tree, {p: blobs[p] for p in new}, old):
                return len(new)
        else:
            commit = _commit(s, head, tree, {p: blobs[p] for p in new})
            if _move_branch(s, head, commit):
                return len(new)
        have = set()  # the branch moved: read it again
    raise StepFailed(
        f"images: the branch {s.github.assets_branch} kept moving under concurrent runs "
        f"({REF_ATTEMPTS} tries); re-run the job"
    )


def _tree_of_branch(s: Session) -> set[str] | None:
    """Every path on the assets branch, or None when there is no branch yet."""
    from github.GithubException import GithubException

    branch = urllib.parse.quote(s.github.assets_branch, safe="")
    try:
        _, data = s.client.call("GET", f"{s.repo}/git/trees/{branch}", params={"recursive": "1"})
    except GithubException as e:
        if e.status == 404 and s.visible():
            return None
        raise
    return {e["path"] for e in data.get("tree", []) if e.get("type") == "blob"}


def _old_paths(s: Session, head: str, current: set[str]) -> set[str]:
    """Images on the branch older than assets_keep_days, never the current run's.

    The branch only ever adds files, so everything in the tree of its newest commit older
    than the cutoff is at least that old: one listing and one tree read, and only in a run
    that uploads.
    """
    cutoff = datetime.now(timezone.utc) - timedelta(days=s.github.assets_keep_days)
    params = {"sha": head, "until": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"), "per_page": 1}
    _, found = s.client.call("GET", f"{s.repo}/commits", params=params)
    if not found:
        return set()
    _, old = _tree(s, str(found[0]["sha"]))
    return old - current


def _reroot(s: Session, head: str, tree: str, blobs: Mapping[str, str], old: set[str]) -> bool:
    """Replace the branch by one root commit without the old images (and with the new):
    the history that held the old ones is dropped, so a clone no longer downloads them.
    The one forced update mlci makes, with a lease: it lands only if the branch is still
    at `head`, the sha read (GraphQL updateRefs, beforeOid)."""
    entries: list[JSON] = [
        {"path": p, "mode": "100644", "type": "blob", "sha": sha} for p, sha in blobs.items()
    ]
    entries += [{"path": p, "mode": "100644", "type": "blob", "sha": None} for p in sorted(old)]
    _, new_tree = s.client.call(
        "POST", f"{s.repo}/git/trees", body={"base_tree": tree, "tree": entries}
    )
    message = (
        f"mlci: images of the last {s.github.assets_keep_days} days "
        f"({len(old)} older dropped, {len(blobs)} added for report {s.name})"
    )
    body = {"message": message, "tree": new_tree["sha"], "parents": []}
    commit = str(s.client.call("POST", f"{s.repo}/git/commits", body=body)[1]["sha"])
    repo_id = s.client.call("GET", s.repo)[1]["node_id"]
    update = {"name": f"refs/heads/{s.github.assets_branch}", "beforeOid": head}
    variables = {"repo": repo_id, "updates": [{**update, "afterOid": commit, "force": True}]}
    _, answer = s.client.call(
        "POST", s.client.graphql_url, body={"query": UPDATE_REFS, "variables": variables}
    )
    if answer.get("errors"):
        # the lease failed (another run moved the branch) or GraphQL refused: try again
        return _branch_head(s) == commit  # a lost answer may have landed all the same
    s.pruned = len(old)
    return True


def _branch_head(s: Session) -> str | None:
    from github.GithubException import GithubException

    try:
        _, data = s.client.call("GET", f"{s.repo}/git/ref/heads/{s.github.assets_branch}")
    except GithubException as e:
        if e.status == 404 and s.visible():
            return None  # no branch yet: the first commit will be a root commit
        raise
    return str(data["object"]["sha"])


def _tree(s: Session, commit: str) -> tuple[str, set[str]]:
    """The commit's tree and every path in it, read once, recursively."""
    _, data = s.client.call("GET", f"{s.repo}/git/trees/{commit}", params={"recursive": "1"})
    # a truncated tree (>100,000 entries) only makes us upload some blobs again: harmless
    return str(data["sha"]), {e["path"] for e in data.get("tree", []) if e.get("type") == "blob"}


def _commit(s: Session, head: str | None, tree: str | None, blobs: Mapping[str, str]) -> str:
    entries = [
        {"path": p, "mode": "100644", "type": "blob", "sha": sha} for p, sha in blobs.items()
    ]
    tree_body: JSON = {"tree": entries, **({"base_tree": tree} if tree else {})}
    _, new_tree = s.client.call("POST", f"{s.repo}/git/trees", body=tree_body)
    message = f"mlci: {len(blobs)} plot image{'s' if len(blobs) != 1 else ''} for report {s.name}"
    body = {"message": message, "tree": new_tree["sha"], "parents": [head] if head else []}
    return str(s.client.call("POST", f"{s.repo}/git/commits", body=body)[1]["sha"])


def _move_branch(s: Session, head: str | None, commit: str) -> bool:
    """Create the branch or fast-forward it; False when another run moved it first."""
    from github.GithubException import GithubException

    branch = s.github.assets_branch
    body: JSON
    try:
        if head is None:
            body = {"ref": f"refs/heads/{branch}", "sha": commit}
            s.client.call("POST", f"{s.repo}/git/refs", body=body)
        else:
            body = {"sha": commit, "force": False}
            s.client.call("PATCH", f"{s.repo}/git/refs/heads/{branch}", body=body)
    except GithubException as e:
        if e.status == 422:  # "Reference already exists" / "Update is not a fast forward"
            return False
        raise
    return True
