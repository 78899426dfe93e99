"""How many HTTP requests does one publish to GitHub cost? Counted from the request log of
the fake GitHub (tests/fakegithub/) that the real PyGithub talks to over HTTP.

Run: python benchmarks/bench_requests.py  (about a second; not a test)

Every request counts against the token's rate limit (1,000 an hour for GITHUB_TOKEN per
repository) and, for writes, against GitHub's secondary limits; PyGithub also waits 0.25 s
between requests and 1 s between writes by default. Goal: a re-run on a PR with unchanged
plots costs at most 6 requests. The peer is the obvious PyGithub object-model version of
the same re-run (get_repo, get_pull, list, edit, create_check_run, get_commit +
create_status, get_contents per image), counted on the same fake.
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlci.ci import CIContext  # noqa: E402  (the path above makes mlci and tests importable)
from mlci.config import Bound, GateRule, GithubConfig  # noqa: E402
from mlci.judge import gates  # noqa: E402
from mlci.publish.github import publish  # noqa: E402
from mlci.publish.github.client import Client  # noqa: E402
from mlci.report.markdown import marker  # noqa: E402
from tests.fakegithub import FakeGitHub  # noqa: E402

REPO = "acme/model"
HEAD, BASE = "a" * 40, "b" * 40
GOAL = 6


def png(seed: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = b"\x00" + bytes([seed % 256, 0, 200])
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        (chunk(b"IHDR", header), chunk(b"IDAT", zlib.compress(pixel)), chunk(b"IEND", b""))
    )


def report(where: Path, plots: dict[str, int], failed_rules: int = 1, text: str = "") -> Path:
    """A report directory like `mlci report` writes: report.md, plots/*.png, result.json."""
    (where / "plots").mkdir(parents=True, exist_ok=True)
    lines = [marker("default"), "## Model report", text]
    for name, seed in plots.items():
        (where / "plots" / f"{name}.png").write_bytes(png(seed))
        lines.append(f'<img src="plots/{name}.png" alt="{name}" width="800">')
    (where / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rules = [GateRule("accuracy", max_drop=Bound(0.01), line=10 + i) for i in range(failed_rules)]
    v = gates.evaluate(rules, {"accuracy": 0.9}, {"accuracy": 0.95})
    result = {"verdict": "passed" if v.passed else "failed", "gates": v.to_dict()}
    (where / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return where


def context(fake: FakeGitHub, token: str, source: str = "GITHUB_TOKEN", pr: int = 7) -> CIContext:
    return CIContext(
        provider="github",
        event="pull_request",
        repository=REPO,
        pr_number=pr,
        head_sha=HEAD,
        api_url=fake.url,
        server_url=fake.web_url,
        token=token,
        token_source=source,
    )


def counted(fake: FakeGitHub, action: Callable[[], object]) -> dict[str, int]:
    fake.reset_log()
    action()
    log = fake.requests
    return {"requests": len(log), "writes": sum(r.method != "GET" for r in log)}


def mlci_publish(ctx: CIContext, directory: Path) -> Callable[[], object]:
    def action() -> object:
        client = Client(ctx, seconds_between_requests=None, seconds_between_writes=None)
        try:
            result = publish(
                ctx,
                directory,
                name="default",
                github=GithubConfig(),
                config_file="mlci.yaml",
                client=client,
            )
        finally:
            client.close()
        if result.errors:
            raise RuntimeError("; ".join(result.errors))
        return result

    return action


def fork_publish(fake: FakeGitHub, directory: Path) -> Callable[[], object]:
    """`mlci publish --from DIR` in a workflow_run job for a fork's PR #9 (the event names no
    pull request, so it is looked up by the fork's branch)."""
    from mlci.commands import publish as publishing

    fake.add_pull(REPO, 9, HEAD, BASE, head_ref="patch-1", head_repo="someone/model")
    pull = {"repository": REPO, "pr": 9, "head_sha": HEAD}
    (directory / "pull.json").write_text(json.dumps(pull), encoding="utf-8")
    ctx = replace(
        context(fake, fake.token()),
        event="workflow_run",
        pr_number=None,
        trigger="pull_request",
        head_repo="someone/model",
        head_ref="patch-1",
        throttle=False,
    )
    return lambda: publishing.publish_from(ctx, directory, strict=True)


def pygithub_rerun(fake: FakeGitHub, token: str, body: str, images: list[str]) -> None:
    """The same re-run written the obvious way with PyGithub's objects (the peer)."""
    from github import Auth, Github

    g = Github(
        base_url=fake.url,
        auth=Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    repo = g.get_repo(REPO)
    for path in images:  # is the image there already?
        repo.get_contents(path, ref="mlci-assets")
    pr = repo.get_pull(7)
    mine = next(c for c in pr.get_issue_comments() if c.body.startswith(marker("default")))
    mine.edit(body)
    repo.create_check_run("mlci / default", HEAD, conclusion="failure")
    repo.get_commit(HEAD).create_status("failure", context="mlci/default")
    g.close()


def scenarios(fake: FakeGitHub, tmp: Path) -> dict[str, dict[str, int]]:
    ctx = context(fake, fake.token())
    plots = {"metrics": 1, "confusion_matrix": 2, "roc": 3}
    rows = {"first run": counted(fake, mlci_publish(ctx, report(tmp / "a", plots)))}
    rerun = report(tmp / "b", plots, text="re-run")
    rows["re-run, plots unchanged"] = counted(fake, mlci_publish(ctx, rerun))
    changed = report(tmp / "c", {**plots, "roc": 4})
    rows["re-run, one plot changed"] = counted(fake, mlci_publish(ctx, changed))
    rows["re-run, 120 failed rules"] = counted(
        fake, mlci_publish(ctx, report(tmp / "d", plots, failed_rules=120))
    )
    # a personal token comments as a User: telling our comment from others' costs GET /user
    personal = context(fake, fake.token("alice"), source="MLCI_TOKEN", pr=8)
    rows["first run, personal token"] = counted(
        fake, mlci_publish(personal, report(tmp / "e", plots, text="e"))
    )
    rows["re-run, personal token"] = counted(
        fake, mlci_publish(personal, report(tmp / "f", plots, text="f"))
    )
    fork = context(fake, fake.token("github-actions[bot]", read_only=True))
    rows["fork PR (read-only token)"] = counted(
        fake, mlci_publish(fork, report(tmp / "g", {"new": 9}))
    )
    rows["fork PR, publish --from (workflow_run)"] = counted(
        fake, fork_publish(fake, report(tmp / "h", plots, text="fork"))
    )
    body = (rerun / "report.md").read_text(encoding="utf-8")
    images = [f"img/{i}.png" for i in range(len(plots))]
    _seed_images(fake, images)
    rows["peer: PyGithub objects, re-run"] = counted(
        fake, lambda: pygithub_rerun(fake, fake.token(), body, images)
    )
    return rows


def _seed_images(fake: FakeGitHub, paths: list[str]) -> None:
    """Files at the peer's paths on the assets branch, so that its look-ups find them."""
    ctx = context(fake, fake.token())
    client = Client(ctx, seconds_between_requests=None, seconds_between_writes=None)
    try:
        _, ref = client.call("GET", f"/repos/{REPO}/git/ref/heads/mlci-assets")
        tip = ref["object"]["sha"]
        entries = []
        for path in paths:
            _, blob = client.call(
                "POST", f"/repos/{REPO}/git/blobs", body={"content": "eA==", "encoding": "base64"}
            )
            entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob["sha"]})
        _, base = client.call("GET", f"/repos/{REPO}/git/trees/{tip}")
        _, tree = client.call(
            "POST", f"/repos/{REPO}/git/trees", body={"base_tree": base["sha"], "tree": entries}
        )
        body: dict[str, Any] = {"message": "peer", "tree": tree["sha"], "parents": [tip]}
        _, commit = client.call("POST", f"/repos/{REPO}/git/commits", body=body)
        client.call(
            "PATCH", f"/repos/{REPO}/git/refs/heads/mlci-assets", body={"sha": commit["sha"]}
        )
    finally:
        client.close()


def main() -> dict[str, Any]:
    fake = FakeGitHub()
    try:
        fake.add_repo(REPO)
        fake.add_pull(REPO, 7, HEAD, BASE)
        fake.add_pull(REPO, 8, HEAD, BASE)
        with tempfile.TemporaryDirectory() as tmp:
            rows = scenarios(fake, Path(tmp))
    finally:
        fake.stop()
    print(f"{'one publish on a PR (3 plots)':40} {'requests':>8} {'writes':>7}")
    for what, n in rows.items():
        print(f"{what:40} {n['requests']:>8} {n['writes']:>7}")
    rerun = rows["re-run, plots unchanged"]["requests"]
    peer = rows["peer: PyGithub objects, re-run"]["requests"]
    met = rerun <= GOAL
    print(
        f"\nre-run with unchanged plots: {rerun} requests (goal <= {GOAL}: "
        f"{'met' if met else 'MISSED'}); the PyGithub peer makes {peer}, "
        f"{peer / rerun:.1f}x as many"
    )
    return {"rows": rows, "goal": GOAL, "goal_met": met, "peer_ratio": round(peer / rerun, 2)}


if __name__ == "__main__":
    main()
