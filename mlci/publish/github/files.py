"""The report directory as it is published: report.md, result.json and the plot images
that report.md links to."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci import redact
from mlci.errors import UsageError

IMAGE = re.compile(r'src="plots/([^"]+?\.(?:png|jpe?g|gif|svg))"', re.IGNORECASE)


@dataclass(frozen=True)
class ReportFiles:
    body: str
    result: dict[str, Any]
    images: Mapping[str, bytes]  # "X.png" of every plots/X.png that report.md links to
    missing: tuple[str, ...]


def load(report_dir: Path) -> ReportFiles:
    hint = "run `mlci report` (or `mlci run --dry-run`) first to write the report directory"
    try:
        body = redact.text((report_dir / "report.md").read_text(encoding="utf-8"))
        result = json.loads((report_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the report: {e}", where=str(report_dir), hint=hint) from e
    if not isinstance(result, dict) or result.get("verdict") not in ("passed", "failed"):
        raise UsageError("result.json has no verdict", where=str(report_dir), hint=hint)
    images, missing = {}, []
    for name in dict.fromkeys(IMAGE.findall(body)):
        path = report_dir / "plots" / name
        if path.is_file():
            images[name] = path.read_bytes()
        else:
            missing.append(f"plots/{name}")
    return ReportFiles(body, result, images, tuple(missing))
