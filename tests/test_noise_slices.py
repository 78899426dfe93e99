"""Noise and slice gates on real models, through `mlci run --dry-run --base main`.

A random forest on scikit-learn's digits, trained by a real train.py that writes
metrics.json and predictions.csv (id, y_true, y_pred, score_<class>, and the slice
columns `digit` and `ink`). One template repository per module: main holds the base model
(its baseline already trained), and each PR branch changes params.yaml only; a test
copies the template, checks a branch out and, when it needs other rules, commits them.

The seeds of the base and the head forest are searched in setup, by running the very
train.py code in-process: the pair whose accuracy differs by just more than the plain
bound, so that the noise rule has something to forgive.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.projects import RunCli, commit, git, isolated, run_captured

BOUND = 0.01  # max_drop of the accuracy rules
BASE = {"trees": 10, "depth": 6}  # the base forest: noisy enough that seeds matter
SEEDS = range(16)

TRAIN_PY = '''"""A random forest on digits: metrics.json, predictions.csv with two slice columns."""
import json
from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split


def fit(p):
    """(ids, y_true, y_pred, scores, classes, ink) on the held-out examples."""
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te, _, ids = train_test_split(
        x, y, np.arange(len(y)), test_size=p.get("test_size", 0.3), random_state=0, stratify=y
    )
    if p.get("corrupt_frac"):  # a labelling bug: some training labels of one class are 1
        rows = np.flatnonzero(y_tr == p["corrupt_class"])
        hit = np.random.default_rng(0).permutation(rows)[: int(p["corrupt_frac"] * len(rows))]
        y_tr = y_tr.copy()
        y_tr[hit] = 1
    model = RandomForestClassifier(
        n_estimators=p["trees"], max_depth=p.get("depth"), random_state=p["seed"]
    ).fit(x_tr, y_tr)
    ink = np.where(x_te.sum(axis=1) >= 313, "dark", "light")
    return ids, y_te, model.predict(x_te), model.predict_proba(x_te), model.classes_, ink


def main():
    p = yaml.safe_load(Path("params.yaml").read_text())
    ids, y, pred, scores, classes, ink = fit(p)
    Path("metrics.json").write_text(json.dumps({"accuracy": float((pred == y).mean())}))
    head = ["y_true", "y_pred", *[f"score_{c}" for c in classes], "digit", "ink"]
    rows = [
        [str(t), str(q), *[f"{s:.6f}" for s in row], str(t), k]
        for t, q, row, k in zip(y, pred, scores, ink)
    ]
    if p.get("write_id", True):
        head = ["id", *head]
        rows = [[str(i), *r] for i, r in zip(ids, rows)]
    lines = [",".join(head)] + [",".join(r) for r in rows]
    Path("predictions.csv").write_text("\\n".join(lines) + "\\n")


if __name__ == "__main__":
    main()
'''

NOISE_GATES = f"""gates:
  - metric: accuracy
    max_drop: {BOUND}
    noise: true
  - metric: accuracy
    max_drop: {BOUND}
"""
SLICE_GATES = f"""gates:
  - metric: accuracy
    max_drop: {BOUND}
    slices: [digit]
"""


def mlci_yaml(gates: str = NOISE_GATES, *, predictions: bool = True) -> str:
    command = json.dumps([sys.executable, "train.py"])
    return (
        f"train:\n  command: {command}\n  metrics: metrics.json\n  params: params.yaml\n"
        + ("  predictions: predictions.csv\n" if predictions else "")
        + gates
        + "report:\n  title: Digits\n  plots: [metrics, slices]\n"
    )


def params_yaml(**values: Any) -> str:
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())


@dataclass(frozen=True)
class Seeds:
    base: int
    head: int
    base_accuracy: float
    head_accuracy: float


def search_seeds(fit: Any) -> Seeds:
    """The two seeds of the base forest whose accuracy drops by the least more than BOUND."""
    accuracy = {}
    for seed in SEEDS:
        _, y, pred, *_ = fit({**BASE, "seed": seed})
        accuracy[seed] = float((pred == y).mean())
    pairs = [
        (accuracy[b] - accuracy[h], b, h)
        for b in SEEDS
        for h in SEEDS
        if accuracy[b] - accuracy[h] > BOUND + 1e-9
    ]
    assert pairs, f"no two seeds differ by more than {BOUND}: {accuracy}"
    _, b, h = min(pairs)
    return Seeds(b, h, accuracy[b], accuracy[h])


@dataclass(frozen=True)
class Template:
    path: Path
    main: str
    seeds: Seeds
    counts: dict[str, int]  # test examples per digit


SLICED = {"trees": 100, "depth": None, "corrupt_class": 8, "corrupt_frac": 0.4}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """main and the PR branches, with the baseline of main trained once."""
    namespace: dict[str, Any] = {"__name__": "search"}
    exec(TRAIN_PY, namespace)  # the very code train.py runs, to pick seeds that fit
    seeds = search_seeds(namespace["fit"])
    _, y, pred, *_ = namespace["fit"]({**SLICED, "seed": 0})
    assert (pred == y).mean() > seeds.base_accuracy + BOUND, "the sliced head must be better"
    counts = {str(d): int((y == d).sum()) for d in range(10)}

    root = tmp_path_factory.mktemp("noise") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    main = commit(
        root,
        "a forest on digits",
        {
            "train.py": TRAIN_PY,
            "mlci.yaml": mlci_yaml(),
            "params.yaml": params_yaml(**BASE, seed=seeds.base),
            ".gitignore": ".mlci/\nmetrics.json\npredictions.csv\n",
        },
    )
    branches = {
        "reseed": params_yaml(**BASE, seed=seeds.head),
        "weak": params_yaml(trees=10, depth=2, seed=seeds.base),
        "sliced": params_yaml(**SLICED, seed=0),
        "resplit": params_yaml(**BASE, seed=seeds.base, test_size=0.25, write_id=False),
    }
    for branch, params in branches.items():
        git(root, "checkout", "-q", "-b", branch, "main")
        commit(root, f"pr: {branch}", {"params.yaml": params})
    git(root, "checkout", "-q", "main")
    with isolated(root.parent / "home", root):
        code, _, err = run_captured("train")
    assert code == 0, err
    return Template(root, main, seeds, counts)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    root: Path
    head: str

    @property
    def result(self) -> dict[str, Any]:
        data = json.loads((self.root / ".mlci" / "report" / "result.json").read_text())
        assert isinstance(data, dict)
        return data

    @property
    def report(self) -> str:
        return (self.root / ".mlci" / "report" / "report.md").read_text()

    def rule(self, index: int) -> dict[str, Any]:
        rule = self.result["gates"]["results"][index]
        assert isinstance(rule, dict)
        return rule


@pytest.fixture
def pr(template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> Any:
    """pr(branch, mlci.yaml text or None) -> the Run of `mlci run --dry-run --base main`."""

    def run(branch: str, config: str | None = None) -> Run:
        root = tmp_path / "repo"
        shutil.copytree(template.path, root)
        git(root, "checkout", "-q", branch)
        if config is not None:
            commit(root, "pr: other rules", {"mlci.yaml": config})
        monkeypatch.chdir(root)
        code, out, err = run_cli("run", "--dry-run", "--base", "main")
        return Run(code, out, err, root, git(root, "rev-parse", "HEAD"))

    return run


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mlci: error: ")]


def baseline_was_reused(run: Run, template: Template) -> None:
    assert run.result["baseline"]["sha"] == template.main
    assert run.result["baseline"]["strategy"] == "retrain"


# --- noise ----------------------------------------------------------------------------------


def test_a_reseeded_forest_is_within_noise_where_the_plain_bound_fails(
    pr: Any, template: Template
) -> None:
    run = pr("reseed")
    assert run.code == 1, run.err  # the plain rule fails the verdict
    baseline_was_reused(run, template)
    noisy, plain = run.rule(0), run.rule(1)
    seeds = template.seeds
    assert noisy["base"] == pytest.approx(seeds.base_accuracy)
    assert noisy["head"] == pytest.approx(seeds.head_accuracy)
    assert noisy["base"] - noisy["head"] > BOUND  # the same numbers for both rules
    assert (noisy["outcome"], plain["outcome"]) == ("passed", "failed")
    assert "within noise" in noisy["reason"] and "score, one-sided 95%" in noisy["reason"]
    assert "within noise" not in plain["reason"]
    assert "within noise" in run.report
    assert "FAIL accuracy" in run.out and "PASS accuracy" in run.out


def test_a_much_weaker_model_is_a_significant_drop(pr: Any) -> None:
    run = pr("weak")
    assert run.code == 1, run.err
    noisy = run.rule(0)
    assert noisy["outcome"] == "failed"
    assert "significant" in noisy["reason"] and "worse" in noisy["reason"]
    assert noisy["base"] - noisy["head"] > 0.1
    assert "significant" in run.report
    line = next(x for x in run.out.splitlines() if x.startswith("FAIL accuracy"))
    assert "; significant: " in line and "one-sided 95%" in line, line  # the console says so too


def test_a_noise_rule_without_predictions_falls_back_to_the_plain_bound(pr: Any) -> None:
    run = pr("reseed", mlci_yaml(predictions=False))
    assert run.code == 1, run.err
    noisy = run.rule(0)
    assert noisy["outcome"] == "failed"  # the same drop the noise rule forgave above
    assert "plain bound" in noisy["reason"]
    assert "no predictions for the head" in noisy["reason"]
    assert "train.predictions" in noisy["reason"]  # where to turn them on
    line = next(x for x in run.out.splitlines() if x.startswith("FAIL accuracy"))
    assert "(plain bound: no predictions for the head" in line, line


def test_predictions_that_do_not_line_up_name_both_files(pr: Any, template: Template) -> None:
    run = pr("resplit")
    assert run.code == 3, run.err
    (line,) = error_lines(run.err)
    assert "differ in length" in line
    assert f"runs/{template.main}/predictions.csv" in line
    assert f"runs/{run.head}/predictions.csv" in line
    assert "`id` column" in line  # the fix: an id per example, or the same test set
    assert "Traceback" not in run.err


# --- slices ---------------------------------------------------------------------------------


def slice_rows(run: Run) -> dict[str, dict[str, Any]]:
    (table,) = run.result["slices"]
    return {row["label"]: row for row in table["rows"]}


def test_better_overall_but_worse_on_one_slice_fails_that_slice(pr: Any) -> None:
    run = pr("sliced", mlci_yaml(SLICE_GATES))
    assert run.code == 1, run.err
    rule = run.rule(0)
    assert rule["head"] > rule["base"]  # the model improved overall
    assert rule["outcome"] == "failed"
    checks = {c["bound"]: c for c in rule["checks"]}
    assert checks["max_drop"]["outcome"] == "passed"
    assert checks["slices"]["outcome"] == "failed"
    assert "digit=8" in checks["slices"]["reason"]

    rows = slice_rows(run)
    assert set(rows) == {f"digit={d}" for d in range(10)}
    eight = rows["digit=8"]
    assert eight["failed"] and eight["gated"] and eight["n"] >= 30
    assert eight["base"] - eight["head"] > BOUND
    assert not rows["digit=0"]["failed"]

    report = run.report
    match = re.search(r"<summary><b>Slices of accuracy by digit</b>: (\d+) failing", report)
    assert match and int(match.group(1)) >= 1, report
    assert re.search(r"^\| digit=8 \| \d+ \|.*❌", report, re.M), report
    assert "plots/slices-accuracy.png" in run.result["plots"]
    assert (run.root / ".mlci" / "report" / "plots" / "slices-accuracy.png").is_file()


def test_slices_below_min_slice_size_are_shown_but_not_gated(pr: Any, template: Template) -> None:
    """min_slice_size just above the 8s' count: that slice is shown, the others gated."""
    size = template.counts["8"] + 1
    others = [d for d in template.counts if d != "8"]
    assert all(template.counts[d] >= size for d in others), template.counts
    run = pr("sliced", mlci_yaml(SLICE_GATES + f"    min_slice_size: {size}\n"))
    assert run.code == 0, run.err
    rule = run.rule(0)
    assert rule["outcome"] == "passed"
    slices = next(c for c in rule["checks"] if c["bound"] == "slices")
    assert slices["outcome"] == "passed"
    assert slices["reason"] == f"all 9 slices pass, 1 too small to gate (n < {size})"
    rows = slice_rows(run)
    eight = rows["digit=8"]
    assert (eight["gated"], eight["failed"]) == (False, False)
    assert eight["base"] - eight["head"] > BOUND  # worse, shown, but not gated
    assert all(rows[f"digit={d}"]["gated"] for d in others)
    line = next(x for x in run.report.splitlines() if x.startswith("| digit=8 |"))
    assert f"too small to gate (n &lt; {size})" in line or f"too small to gate (n < {size})" in line


def test_a_slice_column_that_does_not_exist_names_the_ones_that_do(pr: Any) -> None:
    """Like a missing metric : a failed rule, exit 1, and the report still written."""
    gates = SLICE_GATES.replace("[digit]", "[digits]")
    run = pr("sliced", mlci_yaml(gates))
    assert run.code == 1, run.err
    (check,) = [c for c in run.rule(0)["checks"] if c["bound"] == "slices"]
    assert check["outcome"] == "failed"
    text = check["reason"]
    assert "'digits'" in text
    assert "digit, ink" in text  # the columns there are
    assert "did you mean 'digit'" in text.lower()
    assert "predictions.csv" in text  # the file it looked in
    assert "'digits'" in run.report and "Traceback" not in run.err


def test_a_min_rule_on_slices_needs_only_the_heads_predictions(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    """An absolute bound per slice is checked even when the baseline has no predictions."""
    root = tmp_path / "repo"
    shutil.copytree(template.path, root)
    git(root, "checkout", "-q", "sliced")
    gates = "gates:\n  - metric: accuracy\n    min: 0.8\n    slices: [digit]\n"
    commit(root, "pr: a floor per digit", {"mlci.yaml": mlci_yaml(gates)})
    (root / ".mlci" / "runs" / template.main / "predictions.csv").unlink()
    monkeypatch.chdir(root)
    code, _, err = run_cli("run", "--dry-run", "--base", "main")
    assert code == 1, err
    data = json.loads((root / ".mlci" / "report" / "result.json").read_text())
    (check,) = [c for c in data["gates"]["results"][0]["checks"] if c["bound"] == "slices"]
    assert check["outcome"] == "failed" and "digit=8" in check["reason"]
    (table,) = data["slices"]
    eight = next(r for r in table["rows"] if r["label"] == "digit=8")
    assert eight["base"] is None and eight["head"] < 0.8  # no baseline value, none needed
    report = (root / ".mlci" / "report" / "report.md").read_text(encoding="utf-8")
    (row,) = [line for line in report.splitlines() if line.startswith("| digit=8 |")]
    assert row.split("|")[3].strip() == "—", row  # no baseline value, not a NaN


def test_precision_applies_to_reasons_and_slice_tables(pr: Any) -> None:
    gates = SLICE_GATES.replace("slices: [digit]", "noise: true\n    slices: [digit]")
    run = pr("sliced", mlci_yaml(gates) + "precision: 2\n")
    rule = run.rule(0)
    shown = [rule["reason"], *(c["reason"] for c in rule["checks"])]
    shown += [line for line in run.report.splitlines() if line.startswith("| digit=")]
    shown += run.out.splitlines()
    long_numbers = [t for t in shown if re.search(r"\d\.\d{3,}", t)]
    assert not long_numbers, long_numbers
    (table,) = run.result["slices"]
    full = [r["head"] for r in table["rows"]]
    assert any(len(repr(x)) > 6 for x in full)  # result.json keeps every digit


def test_report_exits_zero_and_a_closed_pipe_is_quiet(pr: Any) -> None:
    run = pr("reseed")
    assert run.code == 1, run.err  # the verdict: the plain rule fails
    mlci = str(Path(sys.executable).with_name("mlci"))
    rendered = subprocess.run([mlci, "report"], capture_output=True, text=True, cwd=run.root)
    assert rendered.returncode == 0, rendered.stderr  # rendered; the verdict is gate's
    assert (run.root / ".mlci" / "report" / "report.md").is_file()
    for command, code in ((["gate"], 1), (["diff", "main"], 0)):
        proc = subprocess.Popen(
            [mlci, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=run.root
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # like `| head -0`: the reader is gone before mlci writes
        err = proc.stderr.read().decode()
        assert proc.wait() == code, (command, err)  # its own exit code, not 1 or 4
        assert "Traceback" not in err and "Exception ignored" not in err, err
