"""The cost of the loop beyond training: `mlci run --dry-run` on the bundled example minus
its two trainings (goal <= 1 s), and rendering a report with 10,000 metric rows.

Run alone (`python benchmarks/bench_report.py`) or through `make bench`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BenchError, sandbox_env, table, venv_script

GOAL_OVERHEAD_S = 1.0


def overhead(scratch: Path) -> dict[str, float]:
    """Wall time of one dry run, and what the two trainings took of it (record.json)."""
    from mlci.commands import demo

    env = sandbox_env(scratch / "home")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    repo = demo.make_repo(scratch / "repo")
    mlci = str(venv_script("mlci") or "mlci")
    started = time.perf_counter()
    done = subprocess.run(
        [mlci, "-q", "run", "--dry-run", "--base", "main"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # 1 is the demo's failed gate: a verdict, not an error
        raise BenchError(f"mlci run --dry-run exited {done.returncode}: {done.stderr[-500:]}")
    total = time.perf_counter() - started
    trainings = sum(
        json.loads((d / "record.json").read_text())["duration"]
        for d in (repo / ".mlci" / "runs").iterdir()
        if (d / "record.json").is_file()
    )
    return {"total_s": total, "trainings_s": trainings, "overhead_s": total - trainings}


def render_10k() -> dict[str, float]:
    """report.render over 10,000 rows: the time, and that the text fits a comment."""
    from mlci import compare
    from mlci.baseline import Baseline
    from mlci.config import GateRule
    from mlci.judge import gates
    from mlci.record import RunRecord
    from mlci.report import markdown as report
    from mlci.report.value import Report

    head = {f"group{i // 100}.metric{i % 100}": 0.5 + i * 1e-6 for i in range(10_000)}
    base = {k: v - 1e-4 * ((hash(k) % 3) - 1) for k, v in head.items()}
    comparison = compare.compare(head, base, higher_is_better=lambda _: True)
    rules = (GateRule(metric="group0.metric0", max_drop=None, min=0.1),)
    verdict = gates.evaluate(rules, head, base)
    rep = Report(
        name="default",
        title="10,000 metrics",
        head=RunRecord(sha="a" * 40, metrics=head),
        baseline=Baseline(
            strategy="file",
            ref="main",
            merge_base="b" * 40,
            sha="b" * 40,
            record=RunRecord("b" * 40, base),
        ),
        comparison=comparison,
        verdict=verdict,
    )
    started = time.perf_counter()
    text = report.render(rep)
    return {"render_s": time.perf_counter() - started, "chars": float(len(text))}


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlci-bench-report-") as tmp:
        loop = overhead(Path(tmp))
    big = render_10k()
    print(
        table(
            "mlci run --dry-run on the example, beyond its two trainings",
            ["total", "trainings", "overhead", f"goal <= {GOAL_OVERHEAD_S:g} s"],
            [
                [
                    f"{loop['total_s']:.2f} s",
                    f"{loop['trainings_s']:.2f} s",
                    f"{loop['overhead_s']:.2f} s",
                    "yes" if loop["overhead_s"] <= GOAL_OVERHEAD_S else "NO",
                ]
            ],
        )
    )
    print(
        table(
            "report.render with 10,000 metric rows",
            ["time", "characters", "fits a comment (65,536)"],
            [
                [
                    f"{big['render_s']:.3f} s",
                    f"{big['chars']:,.0f}",
                    "yes" if big["chars"] <= 65_536 else "NO",
                ]
            ],
        )
    )
    return {"overhead": loop, "render_10k": big}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
