"""The baseline a pull request is judged against, with its provenance, and what every
source of one needs to know."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlci.record import RunRecord
from mlci.workspace import Workspace

NOTE_WALK_LIMIT = 200


@dataclass(frozen=True)
class Baseline:
    """The baseline and its provenance, as the report shows it."""

    strategy: str  # "note" | "mlflow" | "file" | "retrain" | "none"
    ref: str  # the base ref as given: main, origin/main, a sha
    merge_base: str | None
    sha: str | None = None  # the commit whose metrics are used
    behind: int = 0  # how many first-parent commits sha is behind the merge-base
    record: RunRecord | None = None
    detail: str = ""  # how it was found, in words
    tried: tuple[str, ...] = ()  # why the earlier strategies did not answer
    log_tail: str = ""  # the end of a failed baseline training's log

    @property
    def found(self) -> bool:
        return self.record is not None

    def describe(self) -> str:
        if self.record is None or self.sha is None:
            return f"no baseline: {self.detail}"
        where = f"{self.sha[:7]} ({self.ref})"
        behind = (
            ""
            if self.behind == 0
            else (f", {self.behind} commit{'s' if self.behind != 1 else ''} behind the merge-base")
        )
        return f"{self.detail} at {where}{behind}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "ref": self.ref,
            "merge_base": self.merge_base,
            "sha": self.sha,
            "behind": self.behind,
            "detail": self.detail,
            "tried": list(self.tried),
            "description": self.describe(),
            "run_dir": str(self.record.path) if self.record and self.record.path else None,
            "log_tail": self.log_tail,
        }


@dataclass(frozen=True)
class Context:
    """What every strategy needs to know."""

    ws: Workspace
    ref: str
    merge_base: str
    head_sha: str
    allow_retrain: bool
    fetched_notes: bool = False  # refs/notes/mlci came from origin just now
