"""`mlci diff` and `mlci gate` end to end, on real repositories with a main and PR branches.

Two projects: one whose metrics are not committed (the baseline is retrained at the
merge-base, in a worktree) and one whose metrics are committed (read from git, no
training). Trainings are counted through the line the project's train.py appends to
$COUNTER_FILE, so a test can tell how many ran, where, and with which train section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import projects
from tests.conftest import commit_all, git
from tests.projects import FILE_METRICS, RunCli, Template


@pytest.fixture(scope="module")
def retrain_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("retrain") / "ridge"
    return Template(root, projects.build_retrain_project(root))


@pytest.fixture(scope="module")
def files_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("files") / "ridge"
    return Template(root, projects.build_files_project(root))


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trainings.jsonl"
    monkeypatch.setenv("COUNTER_FILE", str(path))
    return path


def on_branch(template: Template, tmp_path: Path, mp: pytest.MonkeyPatch, branch: str) -> Path:
    root = projects.checkout_copy(template, tmp_path / "repo", branch)
    mp.chdir(root)
    return root


def rows_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in doc["rows"]}


def text_rows(table: str) -> dict[str, list[str]]:
    """The cells of `mlci diff`'s plain table, by metric name."""
    lines = table.split("\n\n")[1].splitlines()
    assert lines[0].split() == ["metric", "base", "head", "delta", "rel.", "delta"]
    return {cells[0]: cells for cells in (line.split() for line in lines[1:])}


def flat(metrics: dict[str, Any]) -> dict[str, float]:
    """train.py's metrics as mlci flattens them."""
    return {
        "r2": metrics["r2"],
        "rmse": metrics["rmse"],
        "mae": metrics["mae"],
        "size.test": float(metrics["size"]["test"]),
    }


# -- a PR that keeps its promises, with a retrained baseline -------------------------------


@dataclass(frozen=True)
class Scenario:
    root: Path
    merge_base: str
    head: str
    train: tuple[int, str, str]
    diffs: list[tuple[int, str, str]]  # two plain `mlci diff` runs
    md: tuple[int, str, str]
    js: tuple[int, str, str]
    gate: tuple[int, str, str]
    runs_after: dict[str, list[dict[str, Any]]]  # trainings after each step
    before: dict[str, dict[str, str]]  # the checkout before the first diff
    after: dict[str, dict[str, str]]  # ... and after the last gate


@pytest.fixture(scope="module")
def pr_ok(tmp_path_factory: pytest.TempPathFactory, retrain_template: Template) -> Scenario:
    """On pr-ok: `mlci train`, `mlci diff` twice, `--md`, `--json`, `mlci gate`, once."""
    base = tmp_path_factory.mktemp("pr-ok")
    root = projects.checkout_copy(retrain_template, base / "repo", "pr-ok")
    count = base / "trainings.jsonl"
    runs: dict[str, list[dict[str, Any]]] = {}
    with projects.isolated(base / "home", root) as mp:
        mp.setenv("COUNTER_FILE", str(count))
        train = projects.run_captured("train")
        runs["train"] = projects.trainings(count)
        before = projects.snapshot(root)
        first = projects.run_captured("diff")
        runs["diff1"] = projects.trainings(count)
        second = projects.run_captured("diff")
        runs["diff2"] = projects.trainings(count)
        md = projects.run_captured("diff", "--md")
        js = projects.run_captured("diff", "--json")
        gate = projects.run_captured("gate")
        runs["end"] = projects.trainings(count)
        after = projects.snapshot(root)
    return Scenario(
        root=root,
        merge_base=projects.git(root, "merge-base", "HEAD", "main"),
        head=projects.git(root, "rev-parse", "HEAD"),
        train=train,
        diffs=[first, second],
        md=md,
        js=js,
        gate=gate,
        runs_after=runs,
        before=before,
        after=after,
    )


def test_every_command_of_the_scenario_succeeds(pr_ok: Scenario) -> None:
    for code, _, err in (pr_ok.train, *pr_ok.diffs, pr_ok.md, pr_ok.js, pr_ok.gate):
        assert code == 0, err


def test_the_first_diff_trains_the_baseline_once_and_the_second_reuses_it(
    pr_ok: Scenario,
) -> None:
    counts = {step: len(runs) for step, runs in pr_ok.runs_after.items()}
    assert counts == {"train": 1, "diff1": 2, "diff2": 2, "end": 2}
    mb = pr_ok.merge_base[:7]
    assert f"mlci: training baseline at {mb} (main)" in pr_ok.diffs[0][2]
    assert "training baseline" not in pr_ok.diffs[1][2]
    assert (
        f"mlci: baseline: trained earlier (its record reused) at {mb} (main)" in (pr_ok.diffs[1][2])
    )


def test_the_baseline_is_trained_with_the_merge_bases_own_train_section(
    pr_ok: Scenario,
) -> None:
    head_run, base_run = pr_ok.runs_after["end"]
    assert head_run["args"] == ["--tag", "pr"] and head_run["tag"] == "pr-section"
    assert base_run["args"] == ["--tag", "main"] and base_run["tag"] == "main-section"
    worktree = Path(base_run["cwd"])
    assert worktree.resolve() != pr_ok.root.resolve()
    assert not worktree.exists()  # the temporary worktree is gone


def test_diff_shows_the_values_each_training_wrote(pr_ok: Scenario) -> None:
    head_run, base_run = pr_ok.runs_after["end"]
    head, base = flat(head_run["metrics"]), flat(base_run["metrics"])
    assert head == json.loads((pr_ok.root / ".mlci/runs" / pr_ok.head / "metrics.json").read_text())
    assert head["r2"] > base["r2"]  # alpha 0.5 fits better than 1.0
    _, out, _ = pr_ok.diffs[1]
    assert out.splitlines()[0] == (
        f"baseline: trained earlier (its record reused) at {pr_ok.merge_base[:7]} (main)"
    )
    cells = text_rows(out)
    assert set(cells) == set(head)
    for name in head:
        assert cells[name][1:3] == [f"{base[name]:.4f}", f"{head[name]:.4f}"]
    assert cells["r2"][-1] == "better" and cells["rmse"][-1] == "better"
    assert cells["size.test"][-1] == "unchanged"
    assert "model.alpha" in out and "1.0" in out and "0.5" in out  # the changed param


def test_diff_md_is_a_markdown_table(pr_ok: Scenario) -> None:
    head_run, base_run = pr_ok.runs_after["end"]
    head, base = flat(head_run["metrics"]), flat(base_run["metrics"])
    _, out, _ = pr_ok.md
    lines = out.splitlines()
    assert lines[0].startswith("_baseline: ") and lines[0].endswith("_")
    assert lines[2] == "| metric | base | head | delta | rel. delta |  |"
    assert lines[3].startswith("|:--|")
    delta = head["r2"] - base["r2"]
    assert (
        f"| `r2` | {base['r2']:.4f} | {head['r2']:.4f} | +{delta:.4f} | "
        f"{delta / base['r2'] * 100:+.2f}% | 🟢 better |"
    ) in lines
    assert "| `model.alpha` | `1.0` | `0.5` |" in lines


def test_diff_json_has_the_rows_and_the_baseline_provenance(pr_ok: Scenario) -> None:
    head_run, base_run = pr_ok.runs_after["end"]
    head, base = flat(head_run["metrics"]), flat(base_run["metrics"])
    doc = json.loads(pr_ok.js[1])
    assert doc["head"] == {"sha": pr_ok.head, "dirty": False}
    provenance = doc["baseline"]
    assert provenance["strategy"] == "retrain" and provenance["ref"] == "main"
    assert provenance["sha"] == provenance["merge_base"] == pr_ok.merge_base
    assert provenance["merge_base"] == pr_ok.merge_base and provenance["behind"] == 0
    rows = rows_of(doc)
    assert {name: (r["base"], r["head"]) for name, r in rows.items()} == {
        name: (base[name], head[name]) for name in head
    }
    assert rows["r2"]["status"] == "better" and rows["rmse"]["higher_is_better"] is False
    params = {p["name"]: p for p in doc["params"]}
    assert params["model.alpha"] == {
        "name": "model.alpha",
        "base": 1.0,
        "head": 0.5,
        "status": "changed",
    }


def test_an_untracked_metrics_file_at_the_base_falls_back_to_retraining(
    pr_ok: Scenario,
) -> None:
    provenance = json.loads(pr_ok.js[1])["baseline"]
    assert provenance["strategy"] == "retrain"
    assert provenance["tried"] == [
        NO_NOTES,
        f"committed files: metrics.json is not tracked at {pr_ok.merge_base[:7]}",
    ]


def test_gate_passes_and_lists_every_rule(pr_ok: Scenario) -> None:
    code, out, _ = pr_ok.gate
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("PASS r2 ") and ">= 0.1" in lines[0] and "drop <= 0.05" in lines[0]
    assert lines[1].startswith("PASS mae ") and "rise <= 50%" in lines[1]
    assert lines[2] == "2 passed, 0 failed, 0 skipped"


def test_the_checkout_and_branches_are_left_as_they_were(pr_ok: Scenario) -> None:
    assert pr_ok.after == pr_ok.before
    assert pr_ok.after["git"]["head"] == "ref: refs/heads/pr-ok\n"
    worktrees = projects.git(pr_ok.root, "worktree", "list").splitlines()
    assert len(worktrees) == 1 and worktrees[0].startswith(str(pr_ok.root))


# -- a PR that breaks a rule ------------------------------------------------------------------


def test_gate_fails_exactly_when_a_rule_is_broken(
    retrain_template: Template,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    counter: Path,
) -> None:
    root = on_branch(retrain_template, tmp_path, monkeypatch, "pr-bad")
    assert run_cli("train")[0] == 0
    code, out, err = run_cli("diff", "--json")
    assert code == 0, err
    rows = rows_of(json.loads(out))
    assert rows["r2"]["status"] == "worse"
    drop = rows["r2"]["base"] - rows["r2"]["head"]
    assert drop > 0.05
    code, out, err = run_cli("gate")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"FAIL r2: drop {drop:.4f} > 0.05"
    assert lines[1].startswith("PASS mae ")  # the mae rule still holds and says so
    assert lines[2] == "1 passed, 1 failed, 0 skipped"
    assert len(projects.trainings(counter)) == 2
    assert git(root, "worktree", "list").count("\n") == 0


def test_diff_without_a_record_or_metric_files_says_train_first(
    retrain_template: Template,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    counter: Path,
) -> None:
    root = on_branch(retrain_template, tmp_path, monkeypatch, "pr-ok")
    code, out, err = run_cli("diff")
    assert code == 2 and out == ""
    [line] = projects.error_lines(err)
    head = git(root, "rev-parse", "HEAD")
    assert f"no run record for HEAD ({head[:7]})" in line and "Run `mlci train` first" in line
    assert projects.trainings(counter) == []  # not even the baseline was trained
    assert not (root / ".mlci" / "last.json").exists()


def test_without_a_baseline_rules_are_skipped_never_passed(
    retrain_template: Template,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    counter: Path,
) -> None:
    root = on_branch(retrain_template, tmp_path, monkeypatch, "pr-ok")
    no_retrain = projects.GATES + "baseline:\n  retrain: false\n"
    (root / "mlci.yaml").write_text(projects.mlci_yaml("pr", "pr-section", gates=no_retrain))
    (root / "metrics.json").write_text(projects.metrics_json(0.4, 55.0, 44.0))
    code, out, err = run_cli("diff", "--json")
    assert code == 0, err
    provenance = json.loads(out)["baseline"]
    assert provenance["strategy"] == "none"
    assert any("not allowed (baseline.retrain is false)" in t for t in provenance["tried"])
    code, out, _ = run_cli("gate")
    assert code == 0
    assert out.splitlines() == [
        "SKIP r2 max_drop: no baseline to compare with",
        "SKIP mae max_rise: no baseline to compare with",
        "0 passed, 0 failed, 2 skipped",
    ]
    code, _, err = run_cli("report")
    assert code == 0, err
    report = (root / ".mlci" / "report" / "report.md").read_text(encoding="utf-8")
    (line,) = [li for li in report.splitlines() if li.startswith("**Baseline:**")]
    assert line.count("baseline.retrain is false") == 1, line  # each reason said once
    assert projects.trainings(counter) == []


# -- baselines read from committed files ------------------------------------------------------


@pytest.fixture
def files_pr(
    files_template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counter: Path
) -> Path:
    return on_branch(files_template, tmp_path, monkeypatch, "pr")


def expected_rows(base: str, head: str) -> dict[str, tuple[float, float]]:
    names = ("r2", "rmse", "mae")
    pairs = zip(names, FILE_METRICS[base], FILE_METRICS[head], strict=True)
    return {n: (b, h) for n, b, h in pairs}


def test_committed_metric_files_are_used_without_training(
    files_pr: Path, files_template: Template, run_cli: RunCli, counter: Path
) -> None:
    before = projects.snapshot(files_pr)
    code, out, err = run_cli("diff", "--json")
    assert code == 0, err
    doc = json.loads(out)
    c2 = files_template.shas["c2"]
    assert doc["baseline"]["strategy"] == "file"
    assert doc["baseline"]["sha"] == doc["baseline"]["merge_base"] == c2
    assert doc["baseline"]["tried"] == [NO_NOTES]
    rows = rows_of(doc)
    assert {n: (r["base"], r["head"]) for n, r in rows.items()} == expected_rows("c2", "pr")
    assert f"metric files committed at {c2[:7]} (main)" in err
    assert projects.trainings(counter) == []  # nothing was trained, not even the head
    assert projects.snapshot(files_pr) == before


def test_diff_against_an_explicit_sha(
    files_pr: Path, files_template: Template, run_cli: RunCli, counter: Path
) -> None:
    c1 = files_template.shas["c1"]
    code, out, err = run_cli("diff", c1)
    assert code == 0, err
    assert out.splitlines()[0] == f"baseline: metric files committed at {c1[:7]} ({c1})"
    cells = text_rows(out)
    assert cells["r2"][1:3] == ["0.3000", "0.3800"]
    code, out, _ = run_cli("diff", c1, "--json")
    provenance = json.loads(out)["baseline"]
    assert provenance["ref"] == c1 and provenance["sha"] == provenance["merge_base"] == c1
    assert {n: (r["base"], r["head"]) for n, r in rows_of(json.loads(out)).items()} == (
        expected_rows("c1", "pr")
    )
    code, out, _ = run_cli("gate")  # gates the last comparison: against c1
    assert code == 0 and "0 failed" in out
    assert projects.trainings(counter) == []


def test_gate_before_any_diff_says_run_diff_first(files_pr: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("gate")
    assert code == 2 and out == ""
    [line] = projects.error_lines(err)
    assert line.startswith("mlci: error: no comparison to use yet (")
    assert ".mlci/last.json" in line and "Run `mlci diff`" in line


def test_a_rule_on_a_metric_that_does_not_exist_fails_the_gate(
    files_pr: Path, run_cli: RunCli
) -> None:
    gates = "gates:\n  - metric: rsme\n    max: 60\n  - metric: r2\n    min: 0.1\n"
    (files_pr / "mlci.yaml").write_text(projects.mlci_yaml("main", "main-section", gates=gates))
    assert run_cli("diff")[0] == 0
    code, out, _ = run_cli("gate")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == ("FAIL rsme: metric 'rsme' not found in metrics.json; did you mean 'rmse'?")
    assert lines[1].startswith("PASS r2 ")
    assert lines[2] == "1 passed, 1 failed, 0 skipped"


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        pytest.param(
            'max_drop: "2 %"',
            "gates[0].max_drop must be a number or a percentage",
            id="spaced-percent",
        ),
        pytest.param(
            "max_drop: abc", "gates[0].max_drop must be a number or a percentage", id="not-a-number"
        ),
        pytest.param("max_drop: -0.01", "gates[0].max_drop must not be negative", id="negative"),
        pytest.param(
            "min: 0.5\n    max: 0.2",
            "gates[0].min (0.5) is greater than max (0.2)",
            id="min-above-max",
        ),
    ],
)
@pytest.mark.parametrize("command", ["diff", "gate"])
def test_a_bad_bound_is_a_configuration_error(
    files_pr: Path, run_cli: RunCli, command: str, bound: str, expected: str
) -> None:
    gates = f"gates:\n  - metric: r2\n    {bound}\n"
    (files_pr / "mlci.yaml").write_text(projects.mlci_yaml("main", "main-section", gates=gates))
    code, out, err = run_cli(command)
    assert code == 2 and out == ""
    assert err.splitlines() == projects.error_lines(err)
    [line] = projects.error_lines(err)
    assert expected in line and "(mlci.yaml:9)" in line
    assert not (files_pr / ".mlci" / "last.json").exists()


# -- bad input: git ---------------------------------------------------------------------------


def test_a_missing_base_ref_says_how_to_fetch_it(files_pr: Path, run_cli: RunCli) -> None:
    before = projects.snapshot(files_pr)
    code, _, err = run_cli("diff", "release-2")
    assert code == 3
    [line] = projects.error_lines(err)
    assert line.startswith("mlci: error: base ref release-2 not found (")
    assert "`git fetch origin release-2`" in line
    assert projects.snapshot(files_pr) == before


@pytest.mark.parametrize("branches", ["--single-branch", "--no-single-branch"])
def test_a_shallow_clone_says_fetch_depth_0(
    files_template: Template,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    branches: str,
) -> None:
    shallow = tmp_path / "shallow"
    git(
        tmp_path,
        "clone",
        "-q",
        "--depth",
        "1",
        branches,
        "--branch",
        "pr",
        f"file://{files_template.path}",
        str(shallow),
    )
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    monkeypatch.chdir(shallow)
    before = projects.snapshot(shallow)
    code, _, err = run_cli("diff", "main")
    assert code == 3
    [line] = projects.error_lines(err)
    assert "shallow clone" in line and "`git fetch --unshallow origin" in line
    assert projects.snapshot(shallow) == before


def test_unrelated_histories_are_exit_3(files_pr: Path, run_cli: RunCli) -> None:
    unrelated_branch(files_pr)
    before = projects.snapshot(files_pr)
    code, _, err = run_cli("diff", "elsewhere")
    assert code == 3
    [line] = projects.error_lines(err)
    assert "no merge-base" in line and "histories are unrelated" in line
    assert projects.snapshot(files_pr) == before


def no_default_branch(root: Path) -> str:
    git(root, "branch", "-m", "main", "trunk")  # neither main nor master, and no origin
    return ""


def unrelated_branch(root: Path) -> str:
    git(root, "checkout", "-q", "--orphan", "elsewhere")
    git(root, "rm", "-q", "-rf", ".")
    (root / "other.txt").write_text("another project\n")
    commit_all(root, "unrelated")
    git(root, "checkout", "-q", "pr")
    return "elsewhere"


@pytest.mark.parametrize("situation", [no_default_branch, unrelated_branch])
def test_a_hint_about_the_base_names_what_diff_accepts(
    files_pr: Path, run_cli: RunCli, situation: Any
) -> None:
    """Following the hint must work: `mlci diff REV` (and --base, as on `mlci run`)."""
    rev = situation(files_pr)
    code, _, err = run_cli("diff", *([rev] if rev else []))
    assert code in (2, 3)
    [line] = projects.error_lines(err)
    assert "baseline.ref" in line and "`mlci diff REV`" in line, line


NO_NOTES = (
    "notes: no note on the merge-base or its 200 nearest first-parent ancestors "
    "(only local notes were read; `git fetch origin refs/notes/mlci:refs/notes/mlci` "
    "brings the ones CI recorded)"
)

BOOM = """import sys
for step in range(1, 26):
    print(f"step {step}")
raise RuntimeError("main's training is broken")
"""


def test_a_failing_baseline_training_is_reported_not_raised(
    retrain_template: Template,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    counter: Path,
) -> None:
    """The base branch cannot train (an adopter's first PR): the PR is still trained and
    reported, rules needing a baseline are skipped with the baseline's log, exit = verdict."""
    root = on_branch(retrain_template, tmp_path, monkeypatch, "main")
    broken = projects.mlci_yaml("main", "main-section", script="boom.py")
    (root / "boom.py").write_text(BOOM)
    (root / "mlci.yaml").write_text(broken)
    broken_sha = commit_all(root, "main trains with boom.py")
    git(root, "checkout", "-q", "-b", "fix")
    (root / "mlci.yaml").write_text(projects.mlci_yaml("pr", "pr-section"))
    commit_all(root, "train with train.py again")
    (root / "metrics.json").write_text(projects.metrics_json(0.4, 55.0, 44.0))  # head's files
    code, out, err = run_cli("diff")
    assert code == 0, err
    assert projects.error_lines(err) == []
    assert f"training baseline at {broken_sha[:7]} (main) failed" in err
    assert "boom.py --tag main` exited with 1" in err
    assert f"retraining at {broken_sha[:7]} failed: training baseline at" in out
    assert projects.trainings(counter) == []  # train.py never ran: boom.py did
    assert projects.run_entries(root) == []
    assert git(root, "worktree", "list").count("\n") == 0

    code, _, err = run_cli("run", "--dry-run")
    assert code == 0, err  # the verdict: min holds, max_drop/max_rise are skipped
    result = json.loads((root / ".mlci" / "report" / "result.json").read_text())
    assert result["verdict"] == "passed" and result["blessed"] is False
    assert result["skipped_gates"] == 2
    report = (root / ".mlci" / "report" / "report.md").read_text()
    assert "no baseline to compare with" in report
    tail = report.split("Baseline training log:", 1)[1]
    assert "step 25" in tail and "RuntimeError: main's training is broken" in tail


def test_an_invalid_mlci_yaml_at_the_merge_base_is_no_baseline_not_an_error(
    retrain_template: Template,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    counter: Path,
) -> None:
    """The PR that fixes main's mlci.yaml is still trained, gated and reported."""
    root = on_branch(retrain_template, tmp_path, monkeypatch, "main")
    valid = projects.mlci_yaml("main", "main-section")
    (root / "mlci.yaml").write_text(valid.replace("  metrics:", "  metrix:", 1))
    broken_sha = commit_all(root, "a typo in mlci.yaml")
    git(root, "checkout", "-q", "-b", "fix")
    (root / "mlci.yaml").write_text(projects.mlci_yaml("pr", "pr-section"))
    commit_all(root, "fix the typo")
    (root / "metrics.json").write_text(projects.metrics_json(0.4, 55.0, 44.0))
    code, _, err = run_cli("run", "--dry-run")
    assert code == 0, err  # the verdict: the rules needing a baseline are skipped
    assert projects.error_lines(err) == []
    result = json.loads((root / ".mlci" / "report" / "result.json").read_text())
    assert result["blessed"] is False and result["skipped_gates"] == 2
    why = f"mlci.yaml at {broken_sha[:7]} is invalid: train.metrix is not a known key"
    assert [t for t in result["baseline"]["tried"] if why in t] == [
        f"committed files: {why}",
        f"retraining: {why}",
    ]
    assert [t["args"] for t in projects.trainings(counter)] == [["--tag", "pr"]]  # the head only
