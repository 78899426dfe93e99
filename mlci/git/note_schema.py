"""What a note says: one JSON document per commit under refs/notes/mlci.

The metrics, params and fingerprints of a run record, plus its predictions gzip-compressed
and base64-encoded, so that a pull request's noise and slice gates work without training
the base branch again. Written by `mlci record`, read back by the notes baseline source,
`mlci history` and the run cache. Stdlib only.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from mlci import __version__, bounded, output, redact
from mlci import record as records
from mlci.errors import MlciError
from mlci.git.notes import NOTES_REF
from mlci.record import RunRecord

SCHEMA = 1
MAX_NOTE_BYTES = 1_000_000  # notes are fetched by every PR job: predictions beyond are left out
MAX_PREDICTIONS = 64 * 1024 * 1024  # the inflated predictions of a note read back


def document(rec: RunRecord) -> str:
    """The note for a run record; its predictions are left out (with a warning) past the cap."""
    return compose(rec)[0]


def compose(rec: RunRecord) -> tuple[str, bool]:
    """(the note, whether the predictions are in it). Notes are pushed: no known token
    goes into one, not even as a param value (mlci.redact)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "sha": rec.sha,
        "metrics": rec.metrics,
        "params": json.loads(redact.text(json.dumps(rec.params))),
        "fingerprints": rec.info.get("fingerprints") or {},
        "mlci": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = rec.predictions_path
    if path is None:
        return records.dump_json(doc), False
    raw = path.read_bytes()
    packed = base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")
    text = records.dump_json({**doc, "predictions": packed})
    size = len(text.encode("utf-8"))
    if size <= MAX_NOTE_BYTES:
        return text, True
    output.warn(
        f"the note on {rec.sha[:7]} would be {size:,} bytes with its predictions "
        f"({len(raw):,} bytes of {records.PREDICTIONS}, compressed), over the cap of "
        f"{MAX_NOTE_BYTES:,} bytes: it is stored without them, so noise and slice gates "
        "against this commit will fall back to retraining or to the plain bound"
    )
    return records.dump_json(doc), False


@dataclass(frozen=True)
class Note:
    """A parsed note: the run record it describes and its predictions.csv bytes, if any."""

    record: RunRecord
    predictions: bytes | None
    size: int


def parse(sha: str, text: str) -> RunRecord | str:
    """The run record in a note (path=None), or why it cannot be read."""
    note = parse_note(sha, text)
    return note if isinstance(note, str) else note.record


def parse_note(sha: str, text: str) -> Note | str:
    """Like parse, with the predictions; a newer schema is an error, not a skip."""
    problem = f"note on {sha[:7]} cannot be read"
    doc = _load(sha, text)
    if isinstance(doc, str):
        return f"{problem}: {doc}"
    fields = _fields(doc)
    if isinstance(fields, str):
        return f"{problem}: {fields}"
    metrics, params, fingerprints = fields
    size = len(text.encode("utf-8"))
    predictions = _unpack(sha, doc.get("predictions"))
    info: dict[str, Any] = {
        "trained_by": "note",
        "dirty": False,
        "fingerprints": fingerprints,
        "mlci": str(doc.get("mlci", "")),
        "created": str(doc.get("created", "")),
        "note_bytes": size,
        "predictions_in_note": predictions is not None,
    }
    rec = RunRecord(sha=sha, metrics=metrics, params=params, info=info)
    return Note(record=rec, predictions=predictions, size=size)


def _load(sha: str, text: str) -> dict[str, Any] | str:
    """The note's JSON object, of a schema this mlci reads and about sha, or what is wrong."""
    if len(text) > 4 * MAX_NOTE_BYTES:
        return f"{len(text):,} characters, more than mlci writes"
    try:
        doc = bounded.load_json(text)
    except ValueError as e:
        return f"not JSON ({e})"
    if not isinstance(doc, dict):
        return "not a JSON object"
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        return "no schema number"
    if schema > SCHEMA:
        raise MlciError(
            f"the note on {sha[:7]} has schema {schema}, newer than this mlci reads ({SCHEMA})",
            where=NOTES_REF,
            hint="upgrade mlci: pip install -U mlci",
        )
    if doc.get("sha") != sha:
        return f"it names another commit ({str(doc.get('sha'))[:12]})"
    return doc


def _fields(doc: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]] | str:
    metrics, params = doc.get("metrics"), doc.get("params", {})
    fingerprints = doc.get("fingerprints", {})
    if not isinstance(metrics, dict):
        return "no metrics mapping"
    if not isinstance(params, dict) or not isinstance(fingerprints, dict):
        return "params and fingerprints must be mappings"
    values: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return f"metric {name} is not a number"
        try:
            values[str(name)] = float(value)  # "nan", "inf" as record.dump_json writes them
        except ValueError:
            return f"metric {name} is not a number ({value!r})"
    return values, params, fingerprints


def _unpack(sha: str, packed: Any) -> bytes | None:
    """predictions.csv from the note; a damaged copy is dropped, the metrics still count."""
    if packed is None:
        return None
    try:
        if not isinstance(packed, str):
            raise ValueError("not a string")
        return bounded.gunzip(base64.b64decode(packed, validate=True), MAX_PREDICTIONS)
    except (ValueError, binascii.Error, OSError, EOFError) as e:
        output.warn(
            f"the predictions in the note on {sha[:7]} cannot be read ({e}): using "
            "its metrics without them"
        )
        return None
