"""Check runs and their annotations, validated like GitHub validates them."""

from __future__ import annotations

from typing import Any

from tests.fakegithub.api import JSON, ApiError, Call, Reply, check_sha, invalid, json_reply
from tests.fakegithub.state import ACTIONS_APP, Repo, State, copy_json, node_id, now

CHECK_OUTPUT_LIMIT = 65535  # bytes, for output.summary and output.text
ANNOTATIONS_PER_REQUEST = 50


class Checks(State):
    """Create, read, update and list check runs; annotations add up over updates."""

    @staticmethod
    def _check_output(output: Any) -> list[JSON]:
        """Validate output like GitHub does and return its annotations."""
        if not isinstance(output, dict):
            raise ApiError(422, "Invalid request.\n\nFor 'properties/output', it is not an object.")
        for key in ("title", "summary"):
            if not isinstance(output.get(key), str):
                raise ApiError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
        for key in ("summary", "text"):
            value = output.get(key)
            if isinstance(value, str) and len(value.encode("utf-8")) > CHECK_OUTPUT_LIMIT:
                raise invalid(
                    "CheckRun", key, f"{key} exceeds a maximum bytesize of {CHECK_OUTPUT_LIMIT}"
                )
        annotations = output.get("annotations") or []
        if len(annotations) > ANNOTATIONS_PER_REQUEST:
            raise ApiError(
                422,
                f"Invalid request.\n\nOnly {ANNOTATIONS_PER_REQUEST} annotations "
                f"are allowed per request; {len(annotations)} were supplied.",
            )
        for a in annotations:
            if a.get("annotation_level") not in ("notice", "warning", "failure"):
                raise ApiError(
                    422,
                    "Invalid request.\n\nannotation_level is not one of notice, warning, failure.",
                )
        return list(annotations)

    def _apply_check_run(self, run: JSON, body: JSON) -> None:
        for key in ("name", "details_url", "external_id", "started_at", "completed_at"):
            if key in body:
                run[key] = body[key]
        if "status" in body:
            if body["status"] not in (
                "queued",
                "in_progress",
                "completed",
                "waiting",
                "requested",
                "pending",
            ):
                raise ApiError(422, f"Invalid request.\n\nstatus {body['status']!r} is not valid.")
            run["status"] = body["status"]
        if body.get("conclusion") is not None:
            if body["conclusion"] not in (
                "action_required",
                "cancelled",
                "failure",
                "neutral",
                "success",
                "skipped",
                "stale",
                "timed_out",
            ):
                raise ApiError(
                    422, f"Invalid request.\n\nconclusion {body['conclusion']!r} is not valid."
                )
            run.update(conclusion=body["conclusion"], status="completed")
        if run["status"] == "completed":
            if run["conclusion"] is None:
                raise ApiError(
                    422, "Invalid request.\n\nNo conclusion was supplied for a completed check run."
                )
            run["completed_at"] = run["completed_at"] or now()

    def _create_check_run(self, call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise ApiError(422, 'Invalid request.\n\n"name" wasn\'t supplied.')
        sha = check_sha(body.get("head_sha"))
        annotations = self._check_output(body["output"]) if "output" in body else []
        cid = next(self._ids)
        api = self._repo_url(call.repo)
        run: JSON = {
            "id": cid,
            "node_id": node_id("CheckRun", cid),
            "head_sha": sha,
            "external_id": "",
            "url": f"{api}/check-runs/{cid}",
            "html_url": f"{self.web_url}/{call.repo.full_name}/runs/{cid}",
            "details_url": None,
            "status": "queued",
            "conclusion": None,
            "started_at": now(),
            "completed_at": None,
            "output": {
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/check-runs/{cid}/annotations",
            },
            "name": body["name"],
            "check_suite": {"id": cid + 1},
            "app": ACTIONS_APP,
            "pull_requests": [],
        }
        self._apply_check_run(run, body)
        call.repo.annotations[cid] = []
        self._set_output(call.repo, run, body.get("output"), annotations)
        call.repo.check_runs[cid] = run
        return json_reply(201, run, {"Location": run["url"]})

    @staticmethod
    def _set_output(repo: Repo, run: JSON, output: JSON | None, annotations: list[JSON]) -> None:
        """Replace title, summary and text; annotations add up over updates, as on GitHub."""
        if output is None:
            return
        for key in ("title", "summary", "text"):
            run["output"][key] = output.get(key, run["output"][key])
        repo.annotations[run["id"]].extend(annotations)
        run["output"]["annotations_count"] = len(repo.annotations[run["id"]])

    def _check_run(self, call: Call) -> JSON:
        cid = call.args["id"]
        found = call.repo.check_runs.get(int(cid)) if cid.isdigit() else None
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def _get_check_run(self, call: Call) -> Reply:
        return json_reply(200, self._check_run(call))

    def _edit_check_run(self, call: Call) -> Reply:
        run = self._check_run(call)
        body = call.body if isinstance(call.body, dict) else {}
        annotations = self._check_output(body["output"]) if "output" in body else []
        updated = copy_json(run)
        self._apply_check_run(updated, body)  # validate everything before changing anything
        run.update(updated)
        self._set_output(call.repo, run, body.get("output"), annotations)
        return json_reply(200, run)

    def _list_annotations(self, call: Call) -> Reply:
        page, headers = self._paginate(call, call.repo.annotations[self._check_run(call)["id"]])
        return json_reply(200, page, headers)

    def _list_check_runs(self, call: Call) -> Reply:
        sha = call.repo.git.resolve(call.args["ref"]) or call.args["ref"]
        runs = sorted(
            (r for r in call.repo.check_runs.values() if r["head_sha"] == sha),
            key=lambda r: -int(r["id"]),
        )
        for key in ("check_name", "status"):
            if key in call.query:
                runs = [r for r in runs if r[key.removeprefix("check_")] == call.query[key]]
        if call.query.get("filter", "latest") == "latest":
            names: set[str] = set()
            runs = [r for r in runs if not (r["name"] in names or names.add(r["name"]))]  # type: ignore[func-returns-value]
        page, headers = self._paginate(call, runs)
        return json_reply(200, {"total_count": len(runs), "check_runs": page}, headers)
