"""A report directory from another job's artifact (a fork's pull request), read as the
untrusted input it is.

`mlci publish --from DIR` runs with a write token on a report that the fork's own code
produced, so nothing in it is executed or used as a path: only report.md, result.json,
pull.json and plots/NAME.png with plain names are read, each under a size cap and never
through a symlink, and an image must be a real PNG. What passes is copied into a fresh
directory, which the GitHub publisher then reads as it reads any report directory.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci.errors import UsageError
from mlci.report.markdown import marker

PULL_FILE = "pull.json"  # the pull request and head sha the report was made for
MAX_TEXT = 1024 * 1024  # bytes of report.md, result.json, pull.json
MAX_IMAGE = 5 * 1024 * 1024  # bytes of one image
MAX_IMAGES = 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.png$")
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
IMG_TAG = re.compile(r'<img\b[^>]*?\bsrc="plots/([^"]*)"[^>]*>', re.IGNORECASE)
ANY_SRC = re.compile(r'src="plots/([^"]*)"', re.IGNORECASE)  # in any other tag
HINT = "publish only the artifact that `mlci run` uploaded in the pull request's own job"


@dataclass(frozen=True)
class Checked:
    name: str  # the report name, from result.json, checked against report.md's marker
    verdict: str  # "passed" | "failed"
    ignored: tuple[str, ...]  # one line per file left out, and why


def check(src: Path, dest: Path, *, pr: int, head_sha: str) -> Checked:
    """Copy what may be published from src into dest; refuse (UsageError) an artifact that
    is not the report of pull request `pr` at `head_sha`, which come from the event."""
    if src.is_symlink() or not src.is_dir():
        raise UsageError(f"{src} is not a directory", where="--from", hint=HINT)
    result = _json(src, "result.json")
    name = result.get("name", "default")
    if not isinstance(name, str) or not REPORT_NAME.match(name):
        raise _refused(src, "result.json has no plain report name")
    if result.get("verdict") not in ("passed", "failed"):
        raise _refused(src, "result.json has no verdict")
    _same_pull(src, _json(src, PULL_FILE), pr, head_sha)
    body = _text(src, "report.md").decode("utf-8", errors="replace")
    if not body.startswith(marker(name)):
        raise _refused(src, f"report.md does not start with the marker {marker(name)}")
    body, images, ignored = _images(src, body)
    (dest / "plots").mkdir(parents=True, exist_ok=True)
    (dest / "report.md").write_text(body, encoding="utf-8")
    (dest / "result.json").write_text(json.dumps(result), encoding="utf-8")
    for image, data in images.items():
        (dest / "plots" / image).write_bytes(data)
    return Checked(name, str(result["verdict"]), tuple(ignored))


def _same_pull(src: Path, pull: dict[str, Any], pr: int, head_sha: str) -> None:
    """The artifact says which PR and sha it was made for; the event says which to post on."""
    theirs = (pull.get("pr"), pull.get("head_sha"))
    if theirs != (pr, head_sha):
        said = f"#{theirs[0]} at {str(theirs[1])[:12]}"
        raise _refused(
            src, f"it is the report of {said}, but the event is of #{pr} at {head_sha[:12]}"
        )


def _images(src: Path, body: str) -> tuple[str, dict[str, bytes], list[str]]:
    """The linked images that are real PNGs with plain names; the others' tags leave."""
    images: dict[str, bytes] = {}
    ignored: list[str] = []

    def keep(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in images:
            return match.group(0)
        why = _bad_image(src, name) or (
            f"more than {MAX_IMAGES} images" if len(images) >= MAX_IMAGES else None
        )
        if why is None:
            images[name] = _read(src / "plots" / name, MAX_IMAGE)
            return match.group(0)
        ignored.append(f"left out plots/{name[:100]!r}: {why}")
        return ""

    body = IMG_TAG.sub(keep, body)
    body = ANY_SRC.sub(lambda m: m.group(0) if m.group(1) in images else 'src=""', body)
    return body, images, ignored


def _bad_image(src: Path, name: str) -> str | None:
    """Why this image may not be published, or None."""
    if not PLAIN_NAME.match(name):
        return "not a plain file name (letters, digits, . _ - and .png)"
    path = src / "plots" / name
    if path.is_symlink() or not path.is_file():
        return "not a file in the artifact"
    size = path.stat().st_size
    if size > MAX_IMAGE:
        return f"{size / 1e6:.0f} MB, over the cap of {MAX_IMAGE // (1024 * 1024)} MiB"
    data = _read(path, MAX_IMAGE)
    if not (data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and data.endswith(PNG_END)):
        return "not a PNG image"
    return None


def _json(src: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads(_text(src, name))
    except (ValueError, RecursionError) as e:
        raise _refused(src, f"{name} is not JSON") from e
    if not isinstance(data, dict):
        raise _refused(src, f"{name} is not a JSON object")
    return data


def _text(src: Path, name: str) -> bytes:
    path = src / name
    if path.is_symlink() or not path.is_file():
        raise _refused(src, f"it has no {name}")
    size = path.stat().st_size
    if size > MAX_TEXT:
        raise _refused(src, f"{name} is {size / 1e6:.0f} MB, over the cap of 1 MiB")
    return _read(path, MAX_TEXT)


def _read(path: Path, cap: int) -> bytes:
    """At most cap bytes, never through a symlink (one could replace the file meanwhile)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read(cap)


def _refused(src: Path, why: str) -> UsageError:
    return UsageError(f"the report artifact in {src} is refused: {why}", where="--from", hint=HINT)
