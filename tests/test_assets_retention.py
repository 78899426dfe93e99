"""github.assets_keep_days: images older than that leave the assets branch, which is
re-rooted (the one ref mlci force-updates, with a lease on the sha it read); the current
report's images never leave, and its links resolve."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from mlci.config import GithubConfig
from mlci.publish.github.assets import asset_path
from tests.fakegithub import FakeGitHub
from tests.test_publish_github import (
    HEAD,
    REPO,
    context,
    image_urls,
    png,
    run,
    write_report,
)

BRANCH = "mlci-assets"


@pytest.fixture
def gh(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO)
    fake_github.add_pull(REPO, 7, HEAD, "b" * 40)
    return fake_github


def days_ago(days: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(gh: FakeGitHub) -> dict[str, list[str]]:
    """Images 200 days old (one of them the current report's roc plot), then 10 days old."""
    old = {asset_path(png(100 + i)): png(100 + i) for i in range(3)}
    reused = {asset_path(png(2)): png(2)}  # write_report's roc plot: old, but current
    recent = {asset_path(png(200 + i)): png(200 + i) for i in range(2)}
    gh.add_commit(REPO, BRANCH, {**old, **reused}, days_ago(200))
    gh.add_commit(REPO, BRANCH, recent, days_ago(10))
    return {"old": sorted(old), "reused": sorted(reused), "recent": sorted(recent)}


def test_images_older_than_keep_days_leave_and_the_current_ones_resolve(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    files = seed(gh)
    result = run(context(gh, gh.token()), write_report(tmp_path, plots={"metrics": 7, "roc": 2}))
    assert result.errors == ()
    assert result.done[0] == "images (2, 1 uploaded, 3 older than 90 days dropped)"
    current = [asset_path(png(7)), *files["reused"]]
    assert gh.files_on_branch(REPO, BRANCH) == sorted(files["recent"] + current)
    tip = requests.get(
        f"{gh.url}/repos/{REPO}/git/commits/{gh.branch_sha(REPO, BRANCH)}", timeout=10
    ).json()
    assert tip["parents"] == []  # re-rooted: the old images are in no history a clone fetches
    assert gh.count("POST", "/graphql") == 1  # the forced update, with its lease
    assert [requests.get(u, timeout=10).content for u in image_urls(result.body)] == [
        png(7),
        png(2),
    ]


def test_keep_days_is_read_from_mlci_yaml(gh: FakeGitHub, tmp_path: Path) -> None:
    files = seed(gh)
    config = GithubConfig(assets_keep_days=365)
    result = run(context(gh, gh.token()), write_report(tmp_path, plots={"m": 8}), config=config)
    assert result.errors == () and result.done[0] == "images (1, 1 uploaded)"
    kept = files["old"] + files["reused"] + files["recent"] + [asset_path(png(8))]
    assert gh.files_on_branch(REPO, BRANCH) == sorted(kept)
    assert gh.count("POST", "/graphql") == 0


def test_the_lease_keeps_an_image_another_run_added_meanwhile(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    """Another run moves the branch between our read and our forced update: the lease
    refuses ours, the branch is read again, and the other run's image survives."""
    files = seed(gh)
    theirs = {asset_path(png(77)): png(77)}
    gh.before_next("POST", "/graphql", lambda: gh.add_commit(REPO, BRANCH, theirs, days_ago(0)))
    result = run(context(gh, gh.token()), write_report(tmp_path, plots={"metrics": 9}))
    assert result.errors == ()
    assert gh.count("POST", "/graphql") == 2  # the first was refused: the branch had moved
    on_branch = gh.files_on_branch(REPO, BRANCH)
    assert set(theirs) <= set(on_branch) and asset_path(png(9)) in on_branch
    assert not set(files["old"]) & set(on_branch)
    assert gh.check_runs(REPO, HEAD)
