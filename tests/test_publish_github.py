"""The GitHub publisher against the fake GitHub over real HTTP: the sticky comment, the
images on the assets branch, the check run and the status, with faults and bad tokens."""

from __future__ import annotations

import dataclasses
import json
import struct
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from mlci.ci import CIContext
from mlci.config import Bound, GateRule, GithubConfig
from mlci.errors import UsageError
from mlci.judge import gates
from mlci.publish.github import PublishResult, publish
from mlci.publish.github.client import Client
from mlci.report.markdown import marker

if TYPE_CHECKING:
    from tests.fakegithub import FakeGitHub

REPO = "acme/model"
HEAD, BASE = "a" * 40, "b" * 40
COMMENTS = f"/repos/{REPO}/issues/7/comments"
RULES = (
    GateRule("accuracy", max_drop=Bound(0.01), line=12),
    GateRule("f1_macro", min=0.5, line=15),
    GateRule("log_loss", max=1.0, line=17),
)
BASE_METRICS = {"accuracy": 0.95, "f1_macro": 0.9, "log_loss": 0.3}
WORSE = {**BASE_METRICS, "accuracy": 0.919}


def png(seed: int) -> bytes:
    """A real 1x1 PNG whose colour (and so whose bytes) depends on seed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    pixel = b"\x00" + bytes([seed % 256, (seed * 7) % 256, 200])
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixel))
        + chunk(b"IEND", b"")
    )


def write_report(
    where: Path,
    *,
    name: str = "default",
    plots: Mapping[str, int] | None = None,
    head: Mapping[str, float] = WORSE,
    rules: Sequence[GateRule] = RULES,
    text: str = "",
) -> Path:
    """A report directory as `mlci report` writes it: report.md, plots/*.png, result.json."""
    plots = {"metrics": 1, "roc": 2} if plots is None else plots
    (where / "plots").mkdir(parents=True, exist_ok=True)
    lines = [marker(name), "## Model report", "", text]
    for plot, seed in plots.items():
        (where / "plots" / f"{plot}.png").write_bytes(png(seed))
        lines.append(f'<img src="plots/{plot}.png" alt="{plot}" width="800">')
    (where / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    v = gates.evaluate(rules, head, BASE_METRICS)
    result = {
        "schema": 1,
        "name": name,
        "verdict": "passed" if v.passed else "failed",
        "blessed": v.blessed,
        "failed_gates": v.failed,
        "skipped_gates": v.skipped,
        "gates": v.to_dict(),
        "plots": [f"{p}.png" for p in plots],
    }
    (where / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return where


@pytest.fixture
def gh(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO)
    fake_github.add_pull(REPO, 7, HEAD, BASE)
    return fake_github


def context(
    gh: FakeGitHub,
    token: str | None,
    *,
    source: str = "GITHUB_TOKEN",
    repository: str = REPO,
    is_fork: bool = False,
) -> CIContext:
    return CIContext(
        provider="github",
        event="pull_request",
        repository=repository,
        pr_number=7,
        head_sha=HEAD,
        base_sha=BASE,
        is_fork=is_fork,
        api_url=gh.url,
        server_url=gh.web_url,
        token=token,
        token_source=source if token else None,
        run_url=f"{gh.web_url}/{REPO}/actions/runs/1",
    )


def run(
    ctx: CIContext,
    report_dir: Path,
    *,
    name: str = "default",
    config: GithubConfig | None = None,
    sleeps: list[float] | None = None,
) -> PublishResult:
    """One publish with throttling off and a sleep that only records."""
    waits = [] if sleeps is None else sleeps
    client = (
        Client(ctx, seconds_between_requests=None, seconds_between_writes=None, sleep=waits.append)
        if ctx.token
        else None
    )
    try:
        return publish(
            ctx,
            report_dir,
            name=name,
            github=config or GithubConfig(),
            config_file="mlci.yaml",
            client=client,
        )
    finally:
        if client is not None:
            client.close()


def image_urls(body: str) -> list[str]:
    return [part.split('"')[0] for part in body.split('src="')[1:]]


def assert_one_sticky_comment(gh: FakeGitHub, result: PublishResult) -> None:
    [comment] = gh.comments(REPO, 7)
    assert comment["body"] == result.body
    assert comment["html_url"] == result.comment_url
    urls = image_urls(comment["body"])
    assert len(urls) == 2
    for url in urls:
        assert url.startswith(f"{gh.web_url}/{REPO}/raw/mlci-assets/img/")
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200 and answer.content.startswith(b"\x89PNG")
        path = url.split("/raw/mlci-assets/")[1]
        assert gh.file_on_branch(REPO, "mlci-assets", path) == answer.content


def test_two_publishes_leave_one_comment_check_runs_and_statuses(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    ctx = context(gh, gh.token())
    first = run(ctx, write_report(tmp_path / "one", text="first run"))
    second = run(ctx, write_report(tmp_path / "two", text="second run"))
    assert first.errors == second.errors == () and first.skipped == second.skipped == ()
    assert first.done == (
        "images (2, 2 uploaded)",
        "comment (posted)",
        "check run (1 annotations)",
        "status",
    )
    assert second.done[:2] == ("images (2, 0 uploaded)", "comment (edited)")
    assert_one_sticky_comment(gh, second)
    assert "second run" in second.body and 'src="plots/' not in second.body
    checks = gh.check_runs(REPO, HEAD)
    assert [(c["name"], c["conclusion"]) for c in checks] == [("mlci / default", "failure")] * 2
    assert checks[-1]["output"]["title"] == "failed: 1 of 3 rules"
    assert checks[-1]["output"]["summary"] == second.body
    [note] = checks[-1]["annotations"]
    assert (note["path"], note["start_line"], note["end_line"]) == ("mlci.yaml", 12, 12)
    assert (note["annotation_level"], note["message"]) == ("failure", "drop 0.031 > 0.01")
    statuses = gh.statuses(REPO, HEAD)
    assert [(s["context"], s["state"]) for s in statuses] == [("mlci/default", "failure")] * 2
    assert statuses[-1]["description"] == "failed: accuracy drop 0.031 > 0.01"
    assert statuses[-1]["target_url"] == second.comment_url
    assert gh.check_runs(REPO, BASE) == [] and gh.statuses(REPO, BASE) == []


def test_passing_report_is_a_success(gh: FakeGitHub, tmp_path: Path) -> None:
    result = run(context(gh, gh.token()), write_report(tmp_path, head=BASE_METRICS))
    [check] = gh.check_runs(REPO, HEAD)
    assert (check["conclusion"], check["output"]["title"]) == ("success", "passed: 3 of 3 rules")
    assert check["annotations"] == []
    [status] = gh.statuses(REPO, HEAD)
    assert (status["state"], status["description"]) == ("success", "passed: 3 of 3 rules")
    assert result.done[-2:] == ("check run", "status")


def test_rerun_with_unchanged_plots_uploads_nothing_in_five_requests(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    ctx = context(gh, gh.token())
    run(ctx, write_report(tmp_path / "one", text="first"))
    branch = gh.branch_sha(REPO, "mlci-assets")
    gh.reset_log()
    run(ctx, write_report(tmp_path / "two", text="second"))
    assert gh.count(path_prefix=f"/repos/{REPO}/git/blobs") == 0
    assert gh.count("POST", f"/repos/{REPO}/git") + gh.count("PATCH", f"/repos/{REPO}/git") == 0
    assert gh.branch_sha(REPO, "mlci-assets") == branch
    assert [(r.method, r.status) for r in gh.requests] == [
        ("GET", 200),  # the assets branch's tree, by the branch's name
        ("GET", 200),  # the comments
        ("PATCH", 200),  # our comment
        ("POST", 201),  # the check run
        ("POST", 201),  # the status
    ]


def test_new_plots_are_added_on_top_of_the_branch(gh: FakeGitHub, tmp_path: Path) -> None:
    ctx = context(gh, gh.token())
    first = run(ctx, write_report(tmp_path / "one", plots={"metrics": 1}))
    old_tip = gh.branch_sha(REPO, "mlci-assets")
    second = run(ctx, write_report(tmp_path / "two", plots={"metrics": 3, "roc": 4}))
    assert second.done[0] == "images (2, 2 uploaded)"
    [old_url] = image_urls(first.body)
    assert requests.get(old_url, timeout=10).content == png(1)  # the old comment still renders
    assert [requests.get(u, timeout=10).content for u in image_urls(second.body)] == [
        png(3),
        png(4),
    ]
    parent = requests.get(
        f"{gh.url}/repos/{REPO}/git/commits/{gh.branch_sha(REPO, 'mlci-assets')}", timeout=10
    ).json()["parents"]
    assert [p["sha"] for p in parent] == [old_tip]


def test_faults_and_secondary_rate_limits_end_in_the_same_state(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    ctx = context(gh, gh.token())
    sleeps: list[float] = []
    gh.fail_every(3, 502)
    gh.secondary_rate_limit(2, retry_after=1)
    first = run(ctx, write_report(tmp_path / "one", text="first"), sleeps=sleeps)
    gh.secondary_rate_limit(1, retry_after=None)
    second = run(ctx, write_report(tmp_path / "two", text="second"), sleeps=sleeps)
    gh.fail_every(0)
    assert first.errors == second.errors == ()
    assert_one_sticky_comment(gh, second)
    assert len(gh.check_runs(REPO, HEAD)) == 2
    assert len(gh.statuses(REPO, HEAD)) == 2
    assert sum(r.status == 502 for r in gh.requests) >= 5
    assert all(0 < s <= 8 for s in sleeps)


@pytest.mark.parametrize(("retry_after", "waits"), [(7, [7.0]), (None, [1.0, 2.0])])
def test_secondary_rate_limit_waits_as_github_says(
    gh: FakeGitHub, tmp_path: Path, retry_after: int | None, waits: list[float]
) -> None:
    ctx = context(gh, gh.token())
    sleeps: list[float] = []
    gh.secondary_rate_limit(len(waits), retry_after=retry_after)
    result = run(ctx, write_report(tmp_path), sleeps=sleeps)
    assert sleeps == waits  # Retry-After when given, else 1, 2, 4... seconds
    assert result.errors == () and len(gh.check_runs(REPO, HEAD)) == 1


def test_server_errors_that_do_not_stop_end_in_one_line_each(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    sleeps: list[float] = []
    gh.fail_every(1, 500)
    result = run(context(gh, gh.token()), write_report(tmp_path), sleeps=sleeps)
    gh.fail_every(0)
    assert result.done == ()
    assert [e.split(":")[0] for e in result.errors] == ["images", "comment", "check run", "status"]
    assert result.errors[2] == (
        "check run: GitHub kept answering 500 Server Error to POST /repos/acme/model/check-runs;"
        " re-run the job later"
    )
    assert all("GitHub kept answering 500" in e for e in result.errors)
    assert len(sleeps) == 4 * 4 and sum(sleeps) == 4 * 15  # 5 tries each: 1 + 2 + 4 + 8 s
    assert gh.comments(REPO, 7) == [] and gh.check_runs(REPO, HEAD) == []


def test_lost_answers_do_not_post_twice(gh: FakeGitHub, tmp_path: Path) -> None:
    ctx = context(gh, gh.token())
    rules = [GateRule("accuracy", min=0.99, line=20 + i) for i in range(60)]
    gh.lose_response_of_next("POST", COMMENTS)
    gh.lose_response_of_next("POST", f"/repos/{REPO}/check-runs")
    gh.lose_response_of_next("PATCH", f"/repos/{REPO}/check-runs/")
    gh.lose_response_of_next("POST", f"/repos/{REPO}/statuses/")
    gh.lose_response_of_next("PATCH", f"/repos/{REPO}/git/refs/")
    gh.lose_response_of_next("POST", f"/repos/{REPO}/git/refs")
    result = run(ctx, write_report(tmp_path, rules=rules))
    assert result.errors == ()
    assert [r.status for r in gh.requests].count(0) == 5  # every write above but the PATCH ref
    assert len(gh.comments(REPO, 7)) == 1
    [check] = gh.check_runs(REPO, HEAD)
    assert [a["start_line"] for a in check["annotations"]] == list(range(20, 80))
    assert len(gh.statuses(REPO, HEAD)) == 1
    assert gh.file_on_branch(
        REPO, "mlci-assets", image_urls(result.body)[0].split("mlci-assets/")[1]
    )
    again = run(ctx, write_report(tmp_path / "b", rules=rules, plots={"metrics": 5}))
    assert [r.status for r in gh.requests].count(0) == 6  # the PATCH of the ref, this time
    assert again.errors == () and again.done[0] == "images (1, 1 uploaded)"
    assert len(gh.comments(REPO, 7)) == 1 and len(gh.statuses(REPO, HEAD)) == 2
    assert requests.get(image_urls(again.body)[0], timeout=10).content == png(5)


def test_more_than_50_annotations_go_in_several_requests(gh: FakeGitHub, tmp_path: Path) -> None:
    rules = [GateRule("accuracy", min=0.99, line=10 + i) for i in range(120)]
    result = run(context(gh, gh.token()), write_report(tmp_path, rules=rules))
    [check] = gh.check_runs(REPO, HEAD)
    assert len(check["annotations"]) == 120
    assert check["annotations"][-1]["start_line"] == 129
    assert gh.count("PATCH", f"/repos/{REPO}/check-runs/") == 2  # 50 + 50 + 20
    assert check["output"]["title"] == "failed: 120 of 120 rules"
    [status] = gh.statuses(REPO, HEAD)
    assert status["description"].startswith("failed: accuracy 0.919 < 0.99 (+119 more)")
    assert "check run (120 annotations)" in result.done


def test_fork_pull_request_skips_the_writes_in_one_line(gh: FakeGitHub, tmp_path: Path) -> None:
    token = gh.token("github-actions[bot]", read_only=True)
    directory = write_report(tmp_path)
    original = (directory / "report.md").read_text(encoding="utf-8")
    result = run(context(gh, token, is_fork=True), directory)
    assert result.errors == () and result.done == ()
    [line] = result.skipped
    assert line.startswith("images, comment, check run, status: the token in GITHUB_TOKEN may not")
    assert "fork" in line and "read-only" in line
    assert "mlci-publish.yml" in line and "workflow_run" in line  # not "give MLCI_TOKEN ..."
    assert token not in line
    assert result.body == original and result.comment_url is None
    assert gh.comments(REPO, 7) == [] and gh.check_runs(REPO, HEAD) == []
    assert gh.count("POST") == 1  # the first refused write stops the rest


def test_read_only_token_without_images_names_the_permissions(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    token = gh.token("github-actions[bot]", read_only=True)
    result = run(context(gh, token), write_report(tmp_path, plots={}))
    [line] = result.skipped
    assert line.startswith("comment, check run, status: the token in GITHUB_TOKEN may not write")
    assert "pull_requests=write" in line
    assert "permissions: {pull-requests: write, checks: write, statuses: write}" in line


def test_a_personal_token_refused_a_check_run_says_which_tokens_can_and_the_status_gates(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    gh.fail_next(
        "POST", f"/repos/{REPO}/check-runs", 403, "You must authenticate via a GitHub App."
    )
    result = run(context(gh, gh.token("alice"), source="MLCI_TOKEN"), write_report(tmp_path))
    [line] = result.skipped
    assert line.startswith("check run: GitHub refused it for the token in MLCI_TOKEN (403 You")
    assert "GitHub App" in line and "GITHUB_TOKEN" in line
    assert "a personal access token cannot" in line
    assert "the commit status mlci/default still gates the merge" in line
    assert result.errors == () and result.done[-1] == "status"
    assert [s["context"] for s in gh.statuses(REPO, HEAD)] == ["mlci/default"]
    assert gh.check_runs(REPO, HEAD) == []


def test_no_token_makes_no_request(gh: FakeGitHub, tmp_path: Path) -> None:
    gh.reset_log()
    result = run(context(gh, None), write_report(tmp_path))
    assert result.skipped == (
        "images, comment, check run, status: no token: set GITHUB_TOKEN "
        "(env: GITHUB_TOKEN: ${{ github.token }}) or MLCI_TOKEN",
    )
    assert result.errors == () and gh.requests == []


def test_bad_token_names_the_variable_not_the_value(gh: FakeGitHub, tmp_path: Path) -> None:
    secret = "ghp_" + "x" * 36
    result = run(context(gh, secret, source="MLCI_TOKEN"), write_report(tmp_path))
    [line] = result.errors
    assert line.startswith("GitHub rejected the token in MLCI_TOKEN (401 Bad credentials)")
    assert secret not in line and result.done == () and result.skipped == ()
    assert len(gh.requests) == 1  # nothing else is tried with a rejected token


def test_unknown_repository_is_one_line(gh: FakeGitHub, tmp_path: Path) -> None:
    result = run(context(gh, gh.token(), repository="acme/missing"), write_report(tmp_path))
    assert result.errors == (
        "repository acme/missing not found or not visible to the token in GITHUB_TOKEN: "
        "check the repository name and the token's access",
    )
    without_images = run(
        context(gh, gh.token(), repository="acme/missing"), write_report(tmp_path / "b", plots={})
    )
    assert without_images.errors == result.errors


def test_private_repository_is_published_with_raw_links(gh: FakeGitHub, tmp_path: Path) -> None:
    gh.add_repo("acme/secret", private=True)
    gh.add_pull("acme/secret", 7, HEAD, BASE)
    ctx = context(gh, gh.token(), repository="acme/secret")
    result = run(ctx, write_report(tmp_path))
    assert result.errors == ()
    assert image_urls(result.body)[0].startswith(f"{gh.web_url}/acme/secret/raw/mlci-assets/img/")


def test_report_over_the_limits_is_cut_with_a_note(gh: FakeGitHub, tmp_path: Path) -> None:
    rows = "\n".join(f"| métrique {i} | 😀 {'é' * 40} |" for i in range(500))  # 2-4 bytes each
    fenced = "```text\n" + "\n".join(f"log line {i} ✓" for i in range(3000)) + "\n```"
    text = f"<details><summary>all</summary>\n\n{rows}\n\n{fenced}\n</details>"
    result = run(context(gh, gh.token()), write_report(tmp_path, text=text))
    assert result.errors == ()
    [comment] = gh.comments(REPO, 7)
    assert len(comment["body"]) <= 65_536 and comment["body"] == result.body
    assert (
        comment["body"]
        .rstrip()
        .endswith("the full report is in the workflow run's artifacts and in result.json.")
    )
    body = comment["body"]
    assert "log line 2000" in body and "log line 2999" not in body  # cut in the code block
    assert body.count("```") == 2 and body.count("</details>") == 1  # which is closed
    assert body.index("</details>") < body.index("[!WARNING]")  # so the note shows
    assert "comment (posted, cut to fit)" in result.done
    [check] = gh.check_runs(REPO, HEAD)
    summary = check["output"]["summary"]
    assert len(summary.encode("utf-8")) <= 65_535 < len(result.body.encode("utf-8"))
    assert "65,535 bytes" in summary and "log line 100" in summary
    assert summary.count("```") == 2 and summary.count("</details>") == 1
    assert summary.startswith(result.body[:1000])


def test_a_branch_that_keeps_moving_is_given_up_without_force(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    for _ in range(4):
        gh.fail_next("POST", f"/repos/{REPO}/git/refs", 422, "Reference already exists")
    result = run(context(gh, gh.token()), write_report(tmp_path))
    assert result.errors == (
        "images: the branch mlci-assets kept moving under concurrent runs (4 tries); "
        "re-run the job",
    )
    assert gh.branch_sha(REPO, "mlci-assets") is None
    assert result.done[0] == "comment (posted)"  # the report still goes up, plots unlinked
    assert 'src="plots/metrics.png"' in gh.comments(REPO, 7)[0]["body"]


def test_someone_elses_comment_with_our_marker_is_never_edited(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    quote = f"> {marker('default')}\n> the bot said this"
    gh.add_comment(REPO, 7, quote, login="reviewer")
    fake = f"{marker('default')}\nI wrote this by hand"
    gh.add_comment(REPO, 7, fake, login="mallory")
    ctx = context(gh, gh.token())
    run(ctx, write_report(tmp_path / "one"))
    second = run(ctx, write_report(tmp_path / "two", text="again"))
    bodies = [c["body"] for c in gh.comments(REPO, 7)]
    assert bodies == [quote, fake, second.body]
    assert "comment (edited)" in second.done


def test_a_personal_token_edits_its_own_comment_only(gh: FakeGitHub, tmp_path: Path) -> None:
    fake = f"{marker('default')}\nnot alice"
    gh.add_comment(REPO, 7, fake, login="mallory")
    ctx = context(gh, gh.token("alice"), source="MLCI_TOKEN")
    run(ctx, write_report(tmp_path / "one"))
    second = run(ctx, write_report(tmp_path / "two", text="again"))
    comments = gh.comments(REPO, 7)
    assert [(c["user"]["login"], c["body"]) for c in comments] == [
        ("mallory", fake),
        ("alice", second.body),
    ]


def test_two_report_names_keep_two_comments(gh: FakeGitHub, tmp_path: Path) -> None:
    ctx = context(gh, gh.token())
    for round_ in ("one", "two"):
        for name in ("default", "latency"):
            run(ctx, write_report(tmp_path / round_ / name, name=name, text=round_), name=name)
    comments = gh.comments(REPO, 7)
    assert [c["body"].splitlines()[0] for c in comments] == [
        marker("default"),
        marker("latency"),
    ]
    assert all("two" in c["body"] for c in comments)
    assert {c["name"] for c in gh.check_runs(REPO, HEAD)} == {"mlci / default", "mlci / latency"}
    assert {s["context"] for s in gh.statuses(REPO, HEAD)} == {"mlci/default", "mlci/latency"}


def test_a_duplicate_left_by_a_race_is_removed(gh: FakeGitHub, tmp_path: Path) -> None:
    ctx = context(gh, gh.token("github-actions[bot]"))
    older = gh.add_comment(REPO, 7, f"{marker('default')}\nolder", login="github-actions[bot]")
    gh.add_comment(REPO, 7, f"{marker('default')}\nnewer", login="github-actions[bot]")
    result = run(ctx, write_report(tmp_path))
    [kept] = gh.comments(REPO, 7)
    assert (kept["id"], kept["body"]) == (older["id"], result.body)


def publish_at_once(ctx: CIContext, dirs: Sequence[Path]) -> list[PublishResult]:
    """Several publishes of one report name on one PR at the same time, as racing jobs do."""
    results: list[PublishResult] = []
    threads = [threading.Thread(target=lambda d=d: results.append(run(ctx, d))) for d in dirs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.errors for r in results] == [()] * len(dirs)
    return results


def test_concurrent_runs_leave_one_comment_and_one_check_run(
    gh: FakeGitHub, tmp_path: Path
) -> None:
    ctx = dataclasses.replace(context(gh, gh.token()), started=time.time())
    # no images: nothing serialises the runs before they list and post their comments
    results = publish_at_once(
        ctx, [write_report(tmp_path / str(i), plots={}, text="same") for i in range(4)]
    )
    [comment] = gh.comments(REPO, 7)
    assert comment["body"] in [r.body for r in results]
    # the run whose comment stayed posts the one check run; the others say so in one line
    assert len(gh.check_runs(REPO, HEAD)) == 1 and len(gh.statuses(REPO, HEAD)) == 4
    lost = [line for r in results for line in r.skipped]
    assert all("at the same moment" in x for x in lost)
    told = [d for r in results for d in r.done if d.startswith("check run")]
    assert len(lost) + len(told) == 4


def test_concurrent_runs_move_the_branch_without_force(gh: FakeGitHub, tmp_path: Path) -> None:
    ctx = context(gh, gh.token())
    results = publish_at_once(
        ctx, [write_report(tmp_path / str(i), plots={"metrics": i}) for i in range(3)]
    )
    assert len(gh.comments(REPO, 7)) == 1
    urls = [u for r in results for u in image_urls(r.body)]
    # every run's image is on the branch: no update was forced over another's
    assert sorted(requests.get(u, timeout=10).content for u in urls) == sorted(
        png(i) for i in range(3)
    )


def test_switches_turn_parts_off(gh: FakeGitHub, tmp_path: Path) -> None:
    ctx = context(gh, gh.token())
    off = GithubConfig(comment=False, check=False)
    result = run(ctx, write_report(tmp_path), config=off)
    assert result.done == ("status",)
    assert result.skipped == (
        "comment: turned off (github.comment: false)",
        "check run: turned off (github.check: false)",
    )
    assert gh.comments(REPO, 7) == [] and gh.count(path_prefix=f"/repos/{REPO}/git") == 0
    [status] = gh.statuses(REPO, HEAD)
    assert status["target_url"] == ctx.run_url
    nothing = run(ctx, write_report(tmp_path), config=GithubConfig(False, False, False))
    assert nothing.done == () and len(nothing.skipped) == 3


def test_custom_assets_branch(gh: FakeGitHub, tmp_path: Path) -> None:
    result = run(
        context(gh, gh.token()), write_report(tmp_path), config=GithubConfig(assets_branch="plots")
    )
    assert all("/raw/plots/img/" in u for u in image_urls(result.body))
    assert gh.branch_sha(REPO, "plots") and gh.branch_sha(REPO, "mlci-assets") is None


def test_missing_report_is_a_usage_error(gh: FakeGitHub, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the report"):
        run(context(gh, gh.token()), tmp_path / "nowhere")
    directory = write_report(tmp_path / "bad")
    (directory / "result.json").write_text('{"schema": 1}', encoding="utf-8")
    with pytest.raises(UsageError, match="has no verdict"):
        run(context(gh, gh.token()), directory)


def test_a_linked_plot_that_is_missing_is_reported(gh: FakeGitHub, tmp_path: Path) -> None:
    directory = write_report(tmp_path)
    (directory / "plots" / "roc.png").unlink()
    result = run(context(gh, gh.token()), directory)
    assert result.errors == (
        f"images: plots/roc.png is linked from report.md but not in {directory}",
    )
    assert result.done[0] == "images (1, 1 uploaded)"
    assert 'src="plots/roc.png"' in result.body


def test_client_needs_a_token(gh: FakeGitHub) -> None:
    with pytest.raises(ValueError, match="needs a token"):
        Client(context(gh, None))
