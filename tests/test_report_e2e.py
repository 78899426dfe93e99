"""The report a reviewer reads, end to end: `mlci demo` builds a real repo, trains both
models and writes report.md, report.html, result.json and plots; a real browser opens
the HTML. Then the bad inputs of `mlci run --dry-run` and `mlci report`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV, chromium, chromium_flags, commit_all, git, read_probe

MLCI = str(Path(sys.executable).parent / "mlci")


def clean_environ(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "MLCI_", "RUNNER_")) and k != "CI"
    }
    env.update(GIT_ENV, HOME=str(home), MPLBACKEND="Agg")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`mlci demo DIR` run once, as a user runs it, in a fresh process."""
    base = tmp_path_factory.mktemp("demo")
    target = base / "repo"
    done = subprocess.run(
        [MLCI, "demo", str(target)],
        capture_output=True,
        text=True,
        env=clean_environ(base),
        cwd=base,
        timeout=300,
    )
    return target, done


def test_demo_prints_the_verdict_and_the_report_paths(demo) -> None:  # type: ignore[no-untyped-def]
    target, done = demo
    assert done.returncode == 0, done.stderr
    assert re.search(r"^verdict: (passed|failed)", done.stdout, re.M)
    report = target / ".mlci" / "report"
    assert "report.md" in done.stdout and "report.html" in done.stdout
    for name in ("report.md", "report.html", "result.json"):
        assert (report / name).is_file()
    # the demo recorded main's two commits as notes, as the push job would, and trained
    # the PR once: three records, and no retraining of main for the PR
    assert len(list((target / ".mlci" / "runs").iterdir())) == 3
    assert len(git(target, "notes", "--ref", "mlci", "list").splitlines()) == 2
    assert git(target, "branch", "--show-current") == "pr/random-forest"
    assert git(target, "status", "--porcelain") == ""


def test_report_markdown_has_what_a_reviewer_needs(demo) -> None:  # type: ignore[no-untyped-def]
    target, _ = demo
    report = target / ".mlci" / "report"
    md = (report / "report.md").read_text()
    result = json.loads((report / "result.json").read_text())
    assert md.startswith("<!-- mlci-report:default -->\n")
    assert len(md) <= 65_536
    verdict = result["verdict"]
    assert ("❌" in md.splitlines()[1]) == (verdict == "failed")
    assert "### Gates" in md and "### Metrics" in md and "**Baseline:**" in md
    main_sha = git(target, "rev-parse", "main")
    assert f"recorded in git notes at {main_sha[:7]} (main)" in md
    assert "Slices of accuracy by size" in md
    for rule in ("accuracy", "roc_auc", "log_loss"):
        assert f"`{rule}`" in md
    assert "| `model` | `logistic` | `forest` |" in md  # the changed params
    images = re.findall(r'<img src="([^"]+)"', md)
    assert {Path(i).name for i in images} >= {
        "metrics.png",
        "confusion_matrix.png",
        "roc.png",
        "history.png",
        "slices-accuracy.png",
    }
    for image in images:
        assert (report / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<details><summary>Details</summary>" in md and "Training log" in md


def test_result_json_is_machine_readable(demo) -> None:  # type: ignore[no-untyped-def]
    target, _ = demo
    result = json.loads((target / ".mlci" / "report" / "result.json").read_text())
    assert result["verdict"] in ("passed", "failed")
    assert result["failed_gates"] == sum(
        1 for r in result["gates"]["results"] if r["outcome"] == "failed"
    )
    assert result["baseline"]["strategy"] == "note"
    assert result["baseline"]["sha"] == git(target, "rev-parse", "main")
    names = {row["name"] for row in result["comparison"]["rows"]}
    assert names == {"accuracy", "f1", "roc_auc", "log_loss"}
    head = json.loads((target / "metrics.json").read_text())
    row = next(r for r in result["comparison"]["rows"] if r["name"] == "accuracy")
    assert row["head"] == pytest.approx(head["accuracy"])


def test_html_is_self_contained_and_renders_in_a_browser(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target, _ = demo
    html = (target / ".mlci" / "report" / "report.html").read_text()
    assert 'src="plots/' not in html and html.count('src="data:image/png;base64,') >= 3
    assert "<table>" in html
    probe = tmp_path / "probe.html"
    assert "Content-Security-Policy" in html  # it would block the probe: drop it for the probe
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe.write_text(
        html.replace(
            "</body>",
            """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    tables: document.querySelectorAll('table').length,
    rows: document.querySelectorAll('table tr').length});
  document.body.appendChild(out);
});
</script></body>""",
        )
    )
    seen = read_probe(probe, tmp_path / "profile")
    assert seen["images"] >= 3 and seen["loaded"] == seen["images"]
    assert seen["tables"] >= 2 and seen["rows"] >= 8
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium(),
            *chromium_flags(tmp_path / "profile"),
            "--window-size=1000,2400",
            f"--screenshot={shot}",
            probe.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG"


def test_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run_cli("demo", str(tmp_path))
    assert code == 2 and "is not an empty directory" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


# --- bad inputs of the dry run, on a small project of our own ---------------------------

TRAIN = """\
import json, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
c = float(open("c.txt").read())
x, y = load_iris(return_X_y=True)
xa, xb, ya, yb = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
m = LogisticRegression(C=c, max_iter=500).fit(xa, ya)
p = m.predict(xb)
json.dump({"accuracy": float((p == yb).mean())}, open("metrics.json", "w"))
cols = sys.argv[1] if len(sys.argv) > 1 else "y_true,y_pred"
with open("predictions.csv", "w") as f:
    f.write(cols + "\\n")
    for t, q in zip(yb, p):
        f.write(f"{t},{q}\\n")
"""


def project(repo: Path, *, extra: str = "", columns: str = "y_true,y_pred") -> None:
    (repo / "train.py").write_text(TRAIN)
    (repo / "c.txt").write_text("1.0")
    (repo / ".gitignore").write_text(".mlci/\nmetrics.json\npredictions.csv\n")
    (repo / "mlci.yaml").write_text(
        f"train:\n  command: [{json.dumps(sys.executable)}, train.py, {json.dumps(columns)}]\n"
        "  metrics: metrics.json\n  predictions: predictions.csv\n"
        "gates:\n  - metric: accuracy\n    max_drop: 0.05\n" + extra
    )
    commit_all(repo, "main")
    git(repo, "switch", "-q", "-c", "pr")
    (repo / "c.txt").write_text("0.05")
    commit_all(repo, "pr")


def test_dry_run_on_a_project_writes_everything(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    code, out, err = run_cli("run", "--dry-run", "--base", "main", "--out", "rep")
    assert code in (0, 1), err
    for name in ("report.md", "report.html", "result.json"):
        assert (repo / "rep" / name).is_file()
    assert (repo / "rep" / "plots" / "confusion_matrix.png").is_file()
    assert "rep/report.md" in out
    verdict = json.loads((repo / "rep" / "result.json").read_text())["verdict"]
    assert code == (0 if verdict == "passed" else 1)
    # `mlci report` renders the same from the last comparison
    code2, _, _ = run_cli("report", "--out", "again")
    assert code2 == code and (repo / "again" / "report.md").read_text() == (
        repo / "rep" / "report.md"
    ).read_text().replace("rep/", "again/")


def test_run_outside_ci_is_a_dry_run_and_says_so(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    code, _, err = run_cli("run", "--base", "main")
    assert code in (0, 1)
    assert "running as a dry run" in err
    assert (repo / ".mlci" / "report" / "report.md").is_file()


def test_out_pointing_at_a_file(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    (repo / "taken").write_text("mine")
    code, _, err = run_cli("run", "--dry-run", "--base", "main", "--out", "taken")
    assert code == 2 and "is a file, not a directory" in err
    assert (repo / "taken").read_text() == "mine"
    assert not (repo / ".mlci" / "runs").exists()  # refused before any training


def test_unwritable_out_dir(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    (repo / "afile").write_text("x")
    code, _, err = run_cli("run", "--dry-run", "--base", "main", "--out", "afile/sub")
    assert code == 2 and "cannot write the report to afile/sub" in err


def test_report_name_that_would_break_the_marker(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    code, _, err = run_cli("run", "--dry-run", "--name", "x -->")
    assert code == 2 and "may hold only letters, digits" in err


def test_user_plot_glob_that_matches_nothing_warns(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo)
    text = (
        (repo / "mlci.yaml")
        .read_text()
        .replace("  predictions:", "  plots: ['figures/*.png']\n  predictions:")
    )
    (repo / "mlci.yaml").write_text(text)
    code, _, err = run_cli("run", "--dry-run", "--base", "main")
    assert code in (0, 1)
    assert "'figures/*.png' matched no file" in err
    assert "figures/*.png" in (repo / ".mlci" / "report" / "report.md").read_text()


def test_predictions_that_do_not_fit(repo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    project(repo, columns="label,guess")
    code, _, err = run_cli("run", "--dry-run", "--base", "main")
    assert code == 3
    assert "lack the columns y_true, y_pred (columns: label, guess)" in err
    assert "Expected y_true, y_pred" in err


@pytest.mark.parametrize("noise", [False, True])
def test_gate_after_a_run_imports_nothing_heavy(repo: Path, run_cli, noise: bool) -> None:  # type: ignore[no-untyped-def]
    """`mlci gate` starts fast: none of pandas, matplotlib, sklearn, github, also
    with a noise rule, whose paired test the run keeps with the last comparison."""
    project(repo)
    if noise:
        with (repo / "mlci.yaml").open("a") as f:
            f.write("    noise: true\n")
    code, _, _ = run_cli("run", "--dry-run", "--base", "main")
    probe = (
        "import sys, json\n"
        "from mlci import cli\n"
        "rc = cli.run(['-q', 'gate'])\n"
        "heavy = ('pandas', 'matplotlib', 'sklearn', 'github', 'scipy')\n"
        "print(json.dumps([rc, [m for m in heavy if m in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=repo,
        capture_output=True,
        text=True,
        env=clean_environ(repo.parent),
        check=True,
    )
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert rc == code and heavy == []
    if noise:
        assert "within noise" in done.stdout or "significant" in done.stdout
