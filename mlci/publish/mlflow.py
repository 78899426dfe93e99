"""After the verdict: tag the head's MLflow run, and on the base branch move the alias.

The tags (`mlci.sha`, `mlci.verdict`, `mlci.blessed`, `mlci.pr`) let anyone find in
MLflow which runs passed review. With `mlflow.register`, a push to the base branch
whose run is blessed registers the run's logged model (or finds the version already
made from it) and moves the alias to it, as TFX's Pusher does with a BLESSED model;
an unblessed run never moves it. Like a GitHub failure, an MLflow failure here is one
warning line and the verdict stands. What happened is added to report.md (so the job
summary and the PR comment say it) and to result.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import output
from mlci.errors import MlciError

if TYPE_CHECKING:
    from mlci.config import RegisterConfig
    from mlci.judge.gates import Verdict
    from mlci.record import RunRecord
    from mlci.tracking import Tracking


def after_verdict(
    head: RunRecord,
    verdict: Verdict,
    report_dir: Path,
    *,
    pr: int | None,
    register: RegisterConfig | None,
) -> list[str]:
    """Tag the run; with `register` (a push to the base branch only), move the alias.

    Returns the lines said (also in report.md and result.json); none without an MLflow run.
    """
    run = head.info.get("mlflow")
    if not isinstance(run, dict) or "run_id" not in run:
        return []
    if run.get("sha", head.sha) != head.sha:  # a record reused from another commit
        output.debug(f"mlci: MLflow run {run['run_id']} is of {run['sha'][:7]}: not tagged")
        return []
    from mlci.tracking import Tracking

    run_id = str(run["run_id"])
    done: dict[str, Any] = {"run_id": run_id}
    lines: list[str] = []
    try:
        tracking = Tracking(str(run["tracking_uri"]), where="train.mlflow")
        tags = {
            "mlci.sha": head.sha,
            "mlci.verdict": "passed" if verdict.passed else "failed",
            "mlci.blessed": "true" if verdict.blessed else "false",
            **({"mlci.pr": str(pr)} if pr is not None else {}),
        }
        tracking.set_tags(run_id, tags)
        done["tags"] = tags
        lines.append(
            f"MLflow run {run_id} tagged mlci.verdict={tags['mlci.verdict']}, "
            f"mlci.blessed={tags['mlci.blessed']}"
        )
        output.info(f"mlci: {lines[-1]}")
        if register is not None:
            alias = _move_alias(tracking, run, register, blessed=verdict.blessed)
            done["alias"] = alias
            lines.append(alias["said"])
            output.info(f"mlci: {lines[-1]}")
    except MlciError as e:
        output.warn(f"MLflow: {e.sentence()}")
        done["error"] = e.sentence()
        lines.append(f"MLflow: {e.sentence()}")
    _add_to_report(report_dir, lines, done)
    return lines


def _move_alias(
    tracking: Tracking, run: dict[str, Any], register: RegisterConfig, *, blessed: bool
) -> dict[str, Any]:
    """Register the run's model and move the alias to it, only when blessed."""
    model, alias, run_id = register.model, register.alias, str(run["run_id"])
    before = tracking.alias_version(model, alias)
    where = f"alias {alias} of model {model}"
    if not blessed:
        stays = f"it stays on version {before}" if before else "it is not set"
        return {
            "moved": False,
            "version": before,
            "said": f"{where} not moved: the run is not blessed ({stays})",
        }
    logged = tracking.logged_model(run_id, str(run["experiment_id"]))
    if logged is None:
        return {
            "moved": False,
            "version": before,
            "said": f"{where} not moved: MLflow run {run_id} logged no model "
            "(log one with mlflow.<flavor>.log_model)",
        }
    source, model_id = logged
    version = tracking.version_of_run(model, run_id) or tracking.register(
        model, source, run_id, model_id
    )
    if before == version:
        return {"moved": False, "version": version, "said": f"{where} already on version {version}"}
    tracking.set_alias(model, alias, version)
    was = f"from version {before} " if before else ""
    return {
        "moved": True,
        "version": version,
        "previous": before,
        "said": f"{where} moved {was}to version {version} (run {run_id})",
    }


def _add_to_report(report_dir: Path, lines: list[str], done: dict[str, Any]) -> None:
    md, result = report_dir / "report.md", report_dir / "result.json"
    if md.is_file() and lines:
        text = md.read_text(encoding="utf-8").rstrip("\n")
        md.write_text(text + "\n\n" + "  \n".join(lines) + "\n", encoding="utf-8")
    if result.is_file():
        doc = json.loads(result.read_text(encoding="utf-8"))
        doc["mlflow"] = done
        result.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
