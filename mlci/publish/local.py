"""The dry-run destination: the report stays on disk; in an Actions job the step outputs
and the job summary are written too, since neither is a call to GitHub's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mlci import ci
from mlci.ci import CIContext


def step_outputs(
    *, verdict: str, blessed: bool, report: Path, failed: int, comment_url: str = ""
) -> dict[str, str]:
    """The step outputs the run action declares, as GITHUB_OUTPUT takes them."""
    return {
        "verdict": verdict,
        "blessed": "true" if blessed else "false",
        "report": str(report),
        "comment-url": comment_url,
        "failed-gates": str(failed),
    }


def publish(ctx: CIContext, outputs: Mapping[str, str], markdown: str | None) -> list[str]:
    """Write the outputs, and the job summary unless `markdown` is None (github.summary:
    false), when in Actions; return what was done."""
    done = []
    if ctx.output_file is not None:
        ci.write_outputs(ctx, outputs)
        done.append("step outputs")
    if markdown is not None and ci.append_summary(ctx, markdown):
        done.append("job summary")
    return done
