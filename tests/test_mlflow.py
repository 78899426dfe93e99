"""MLflow as a source and a sink, against a real `mlflow server` with a SQLite store.

The training code is real: it resumes the run mlci created with `mlflow.start_run()`,
logs params, metrics (several values per key), a predictions.csv artifact and a
scikit-learn model. Push jobs register the model and move the alias only when blessed;
a pull request is judged against main's MLflow run, with no notes and no retraining.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import read_outputs
from tests.projects import RunCli, commit, error_lines, git

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from tests.fakegithub import FakeGitHub

REPOSITORY = "octo/iris"
NUMBER = 7
MLCI = Path(sys.executable).parent / "mlci"

TRAIN_PY = '''"""A logistic regression on iris, logged to the MLflow run mlci created."""
import os
import shutil
from pathlib import Path

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression

c = float(Path("c.txt").read_text())
x, y = load_iris(return_X_y=True)
x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0)
model = LogisticRegression(C=c, max_iter=1000).fit(x_tr, y_tr)
pred = model.predict(x_te)
accuracy = float((pred == y_te).mean())
with mlflow.start_run():
    mlflow.log_param("C", c)
    mlflow.log_metric("accuracy", 0.0, step=0)  # an early value: mlci takes the latest
    mlflow.log_metric("accuracy", accuracy, step=1)
    mlflow.log_metric("error", 1 - accuracy)
    rows = "".join(f"{i},{t},{p}\\n" for i, (t, p) in enumerate(zip(y_te, pred)))
    Path("predictions.csv").write_text("id,y_true,y_pred\\n" + rows)
    mlflow.log_artifact("predictions.csv")
    mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
with open(os.environ["COUNTER_FILE"], "a") as f:
    f.write(f"{c}\\n")
'''


def mlci_yaml(uri: str, experiment: str, extra: str = "") -> str:
    command = json.dumps([sys.executable, "train.py"])
    return (
        f"train:\n  command: {command}\n"
        f"  mlflow: {{experiment: {experiment}, tracking_uri: '{uri}'}}\n"
        "baseline:\n  ref: main\n  retrain: false\n"
        "gates:\n  - metric: accuracy\n    min: 0.8\n    max_drop: 0.05\n"
        "report:\n  plots: [metrics]\n"
        "mlflow:\n  register: {model: iris, alias: champion}\n" + extra
    )


# --- the tracking server: one per module ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 with a SQLite backend store and local artifacts."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = (root / "server.log").open("wb")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job workers
    proc = subprocess.Popen(  # its own group: stopping it stops every worker it started
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text()[-2000:])
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def client(uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def new_experiment(uri: str, name: str, artifacts: Path | None = None) -> str:
    """An experiment; a local store's artifacts go to `artifacts` (MLflow's default is
    ./mlruns in the working directory, here the checkout of mlci)."""
    where = artifacts.as_uri() if artifacts is not None else None
    return str(client(uri).create_experiment(name, artifact_location=where))


def run_of(workdir: Path, sha: str) -> dict[str, Any]:
    info = json.loads((workdir / ".mlci" / "runs" / sha / "record.json").read_text())
    assert isinstance(info["mlflow"], dict)
    return info["mlflow"]


# --- a project with an origin, its push jobs and a pull request ----------------------------


@dataclass(frozen=True)
class Project:
    tmp: Path
    origin: Path
    dev: Path
    counter: Path
    uri: str

    def clone(self, name: str) -> Path:
        dest = self.tmp / name
        git(self.tmp, "clone", "-q", str(self.origin), str(dest))
        return dest

    def trainings(self) -> list[float]:
        return [float(x) for x in self.counter.read_text().split()] if self.counter.exists() else []


@pytest.fixture
def project(tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    experiment = f"iris-{tmp_path.name}"
    new_experiment(server, experiment)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    dev = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(origin), str(dev))
    files = {
        "train.py": TRAIN_PY,
        "c.txt": "1.0\n",
        "mlci.yaml": mlci_yaml(server, experiment),
        ".gitignore": ".mlci/\npredictions.csv\nmlruns/\n",
    }
    commit(dev, "c1", files)
    git(dev, "push", "-q", "origin", "main")
    counter = tmp_path / "trainings.txt"
    monkeypatch.setenv("COUNTER_FILE", str(counter))
    return Project(tmp_path, origin, dev, counter, server)


def job_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp: Path,
    fake: FakeGitHub,
    event: str,
    payload: dict[str, Any],
) -> Path:
    path = tmp / f"event-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(payload))
    outputs = tmp / f"output-{time.monotonic_ns()}"
    outputs.touch()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": fake.web_url,
        "MLCI_GITHUB_THROTTLE": "off",
        "GITHUB_TOKEN": fake.token(),
        "GITHUB_OUTPUT": str(outputs),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return outputs


def push_job(
    project: Project, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, name: str
) -> tuple[Path, str, dict[str, Any], str]:
    """A push job on main in a fresh clone: (checkout, sha, result.json, stdout+stderr)."""
    work = project.clone(name)
    sha = git(work, "rev-parse", "HEAD")
    payload = {
        "ref": "refs/heads/main",
        "after": sha,
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }
    outputs = job_env(monkeypatch, project.tmp, fake, "push", payload)
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.setenv("GITHUB_SHA", sha)
    monkeypatch.chdir(work)
    code, out, err = run_cli("run")
    assert code in (0, 1), err
    result = json.loads((work / ".mlci" / "report" / "result.json").read_text())
    assert read_outputs(outputs)["verdict"] == result["verdict"]
    return work, sha, result, out + err


def push_commit(project: Project, message: str, files: dict[str, str]) -> str:
    sha = commit(project.dev, message, files)
    git(project.dev, "push", "-q", "origin", "main")
    return sha


def champion(uri: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client(uri).get_model_version_by_alias("iris", "champion").version)
    except MlflowException:
        return None


def test_push_jobs_move_the_alias_only_when_blessed_and_a_pr_is_judged_against_main_run(
    project: Project, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    uri = project.uri
    # c1: the first commit has no parent to compare with, so it is not blessed
    work, c1, result, said = push_job(project, fake_github, monkeypatch, run_cli, "job-1")
    assert (result["verdict"], result["blessed"]) == ("passed", False)
    run1 = client(uri).get_run(run_of(work, c1)["run_id"])
    assert run1.data.tags["mlci.sha"] == c1
    assert (run1.data.tags["mlci.verdict"], run1.data.tags["mlci.blessed"]) == ("passed", "false")
    assert "mlci.pr" not in run1.data.tags
    assert run1.info.status == "FINISHED"
    metrics = json.loads((work / ".mlci" / "runs" / c1 / "metrics.json").read_text())
    assert metrics["accuracy"] == run1.data.metrics["accuracy"] > 0.9  # the latest, not 0.0
    params = json.loads((work / ".mlci" / "runs" / c1 / "params.json").read_text())
    assert params == {"C": 1.0}
    assert (work / ".mlci" / "runs" / c1 / "predictions.csv").read_text().startswith("id,y_true")
    assert champion(uri) is None
    assert "alias champion of model iris not moved: the run is not blessed" in said
    assert result["mlflow"]["alias"]["moved"] is False

    # c2: as good as c1 and every rule passed: registered, the alias moves to it
    c2 = push_commit(project, "c2: less regularised", {"c.txt": "2.0\n"})
    work, _, result, said = push_job(project, fake_github, monkeypatch, run_cli, "job-2")
    assert (result["verdict"], result["blessed"]) == ("passed", True)
    run2 = run_of(work, c2)["run_id"]
    version = client(uri).get_model_version_by_alias("iris", "champion")
    assert (version.run_id, champion(uri)) == (run2, "1")
    assert "alias champion of model iris moved to version 1" in said
    report = (work / ".mlci" / "report" / "report.md").read_text()
    assert "alias champion of model iris moved to version 1" in report

    # c3: much stronger regularisation fails max_drop: tagged failed, the alias stays on c2's model
    git(project.dev, "branch", "pr-base", c2)
    c3 = push_commit(project, "c3: C=0.01", {"c.txt": "0.01\n"})
    work, _, result, said = push_job(project, fake_github, monkeypatch, run_cli, "job-3")
    assert (result["verdict"], result["blessed"]) == ("failed", False)
    assert client(uri).get_run(run_of(work, c3)["run_id"]).data.tags["mlci.verdict"] == "failed"
    assert champion(uri) == "1"
    assert "not moved: the run is not blessed (it stays on version 1)" in said

    # a PR from c2 in a team that records no notes: main's MLflow run is the baseline
    git(project.origin, "update-ref", "-d", "refs/notes/mlci")
    pr = project.clone("pr")
    git(pr, "checkout", "-q", "-b", "feature", c2)
    head = commit(pr, "pr: C=0.03", {"c.txt": "0.03\n"})
    git(pr, "push", "-q", "origin", "feature")
    fake_github.add_repo(REPOSITORY)
    fake_github.add_pull(REPOSITORY, NUMBER, head, c2)
    payload = {
        "action": "synchronize",
        "number": NUMBER,
        "pull_request": {
            "number": NUMBER,
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": REPOSITORY}},
            "base": {"sha": c3, "ref": "main", "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }
    job_env(monkeypatch, project.tmp, fake_github, "pull_request", payload)
    monkeypatch.setenv("GITHUB_SHA", head)
    monkeypatch.chdir(pr)
    before = len(project.trainings())
    code, _, err = run_cli("run")
    assert code == 1, err  # C=0.03 drops accuracy by 0.16 from c2's run
    assert project.trainings()[before:] == [0.03]  # the PR only: no retraining of c2
    result = json.loads((pr / ".mlci" / "report" / "result.json").read_text())
    baseline = result["baseline"]
    assert (baseline["strategy"], baseline["sha"]) == ("mlflow", c2)
    assert run2 in baseline["detail"]
    tags = client(uri).get_run(run_of(pr, head)["run_id"]).data.tags
    assert (tags["mlci.verdict"], tags["mlci.blessed"], tags["mlci.pr"]) == (
        "failed",
        "false",
        str(NUMBER),
    )
    assert tags["mlci.sha"] == head
    assert champion(uri) == "1"  # a PR never moves the alias
    (comment,) = fake_github.comments(REPOSITORY, NUMBER)
    assert f"MLflow run {run_of(pr, head)['run_id']} tagged mlci.verdict=failed" in comment["body"]


# --- bad inputs -------------------------------------------------------------------------------

OWN_RUN_PY = """import os
import mlflow
os.environ.pop("MLFLOW_RUN_ID")  # ignores the run mlci made
with mlflow.start_run():
    mlflow.log_metric("accuracy", 0.9)
"""

FAILED_PY = """import mlflow
mlflow.start_run()
mlflow.log_metric("accuracy", 0.9)
mlflow.end_run(status="FAILED")
"""


def small_project(root: Path, script: str, uri: str, experiment: str) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    command = json.dumps([sys.executable, "train.py"])
    text = (
        f"train:\n  command: {command}\n"
        f"  mlflow: {{experiment: {experiment}, tracking_uri: '{uri}'}}\n"
        "gates:\n  - metric: accuracy\n    min: 0.5\n"
    )
    commit(root, "c1", {"train.py": script, "mlci.yaml": text, ".gitignore": ".mlci/\n"})
    return root


NO_METRICS_PY = """import mlflow
with mlflow.start_run():
    mlflow.log_param("alpha", 1)
"""

CRASH_PY = """import mlflow
mlflow.start_run()
mlflow.log_metric("accuracy", 0.9)
raise SystemExit(5)  # MLflow's exit handler ends the run FINISHED
"""


@pytest.mark.parametrize(
    ("script", "wanted"),
    [
        (OWN_RUN_PY, "started its own MLflow run"),
        (FAILED_PY, "marked its MLflow run"),
        (NO_METRICS_PY, "logged no metrics to MLflow run"),
        (CRASH_PY, "exited with 5"),
    ],
    ids=["own-run", "failed-run", "no-metrics", "crash"],
)
def test_a_command_that_does_not_finish_our_run_is_exit_3(
    tmp_path: Path,
    server: str,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    script: str,
    wanted: str,
) -> None:
    experiment = f"bad-{tmp_path.name}"
    exp_id = new_experiment(server, experiment)
    root = small_project(tmp_path / "p", script, server, experiment)
    monkeypatch.chdir(root)
    code, _, err = run_cli("train")
    assert code == 3, err
    (line,) = error_lines(err)
    assert wanted in line and "Traceback" not in err
    assert not (root / ".mlci" / "runs").exists() or not any((root / ".mlci" / "runs").iterdir())
    ours = [
        r for r in client(server).search_runs([exp_id]) if r.data.tags.get("mlci.sha")
    ]  # the run mlci made, marked FAILED, never left RUNNING
    assert [r.info.status for r in ours] == ["FAILED"]


def test_an_unreachable_server_and_a_missing_experiment_are_one_line_exit_3(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    root = small_project(tmp_path / "dead", "raise SystemExit(9)\n", dead, "x")
    monkeypatch.chdir(root)
    code, _, err = run_cli("train")
    assert code == 3, err
    (line,) = error_lines(err)
    assert f"the MLflow tracking server {dead} cannot be reached" in line
    assert "tracking_uri" in line

    root = small_project(tmp_path / "missing", "raise SystemExit(9)\n", server, "nowhere")
    monkeypatch.chdir(root)
    code, _, err = run_cli("train")
    assert code == 3, err
    (line,) = error_lines(err)
    assert "the MLflow experiment 'nowhere' does not exist" in line
    assert "mlflow experiments create -n nowhere" in line


def test_without_the_extra_train_mlflow_says_what_to_install(tmp_path: Path) -> None:
    """mlflow made unimportable for one process, as on a machine without the extra."""
    shadow = tmp_path / "shadow"
    (shadow / "mlflow").mkdir(parents=True)
    (shadow / "mlflow" / "__init__.py").write_text("raise ImportError('No module named mlflow')\n")
    root = small_project(tmp_path / "p", "raise SystemExit(9)\n", "http://127.0.0.1:9", "x")
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    done = subprocess.run(
        [str(MLCI), "train"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    (line,) = error_lines(done.stderr)
    assert "needs the mlflow package" in line and "pip install 'mlci[mlflow]'" in line


def test_an_unreachable_server_skips_the_mlflow_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    """The base's source is skipped with the reason; the PR is still judged (files here)."""
    dead = f"http://127.0.0.1:{free_port()}"
    root = small_project(tmp_path / "p", "raise SystemExit(9)\n", dead, "x")
    (root / "metrics.json").write_text('{"accuracy": 0.7}')
    text = (root / "mlci.yaml").read_text()
    text = text.replace("  mlflow:", "  metrics: metrics.json\n  mlflow:")
    text += "baseline:\n  retrain: false\n"
    commit(root, "c2: a committed metrics file", {"mlci.yaml": text})
    monkeypatch.chdir(root)
    code, out, err = run_cli("diff", "--json", "HEAD~1")
    assert code == 0, err
    baseline = json.loads(out)["baseline"]
    assert baseline["strategy"] == "none"
    assert any("cannot be reached" in reason for reason in baseline["tried"])


# --- a local store, no server -----------------------------------------------------------------

LOCAL_PY = """import json
from pathlib import Path
import mlflow
with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    mlflow.log_param("kind", "ridge")
    for step, loss in enumerate([0.9, 0.5, 0.25]):
        mlflow.log_metric("loss", loss, step=step)
    Path("predictions.csv").write_text("y_true,y_pred\\n1,1\\n0,1\\n")
    mlflow.log_artifact("predictions.csv")
Path("extra.json").write_text(json.dumps({"latency": 12.5}))
"""


def test_a_local_sqlite_store_merges_the_run_with_the_metric_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    uri = "sqlite:///store/mlflow.db"  # relative to mlci.yaml's folder
    (root / "store").mkdir()
    new_experiment(f"sqlite:///{root / 'store' / 'mlflow.db'}", "local", root / "store" / "art")
    command = json.dumps([sys.executable, "train.py"])
    text = (
        f"train:\n  command: {command}\n  metrics: extra.json\n"
        f"  mlflow: {{experiment: local, tracking_uri: '{uri}'}}\n"
    )
    sha = commit(
        root,
        "c1",
        {"train.py": LOCAL_PY, "mlci.yaml": text, ".gitignore": ".mlci/\nstore/\n*.csv\n*.json\n"},
    )
    monkeypatch.chdir(root)
    code, _, err = run_cli("train")
    assert code == 0, err
    run = root / ".mlci" / "runs" / sha
    assert json.loads((run / "metrics.json").read_text()) == {"loss": 0.25, "latency": 12.5}
    assert json.loads((run / "params.json").read_text()) == {"alpha": 0.5, "kind": "ridge"}
    assert (run / "predictions.csv").read_text() == "y_true,y_pred\n1,1\n0,1\n"
    info = run_of(root, sha)
    assert info["tracking_uri"] == f"sqlite:///{(root / 'store' / 'mlflow.db').resolve()}"
    got = client(info["tracking_uri"]).get_run(info["run_id"])
    assert (got.info.status, got.data.tags["mlci.sha"]) == ("FINISHED", sha)


def test_the_mlflow_example_trains_into_a_run_and_mlci_reads_it_back(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    """examples/breast-cancer-mlflow as its README says: MLFLOW_TRACKING_URI, no metrics file."""
    root = tmp_path / "example"
    shutil.copytree(Path(__file__).parents[1] / "examples" / "breast-cancer-mlflow", root)
    command, experiment = json.dumps([sys.executable, "train.py"]), f"bc-{tmp_path.name}"
    text = (
        (root / "mlci.yaml").read_text().replace("command: python train.py", f"command: {command}")
    )
    text = text.replace("experiment: breast-cancer ", f"experiment: {experiment} ")
    (root / "mlci.yaml").write_text(text)
    git(root, "init", "-q", "-b", "main")
    new_experiment(server, experiment)
    sha = commit(root, "the example", {})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.chdir(root)
    code, _, err = run_cli("train")
    assert code == 0, err
    run = root / ".mlci" / "runs" / sha
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "f1", "roc_auc", "log_loss"}
    assert metrics["accuracy"] > 0.9
    assert json.loads((run / "params.json").read_text())["C"] == 1.0
    assert (run / "predictions.csv").read_text().startswith("id,y_true,y_pred,y_score,size\n")
    assert "Downloading artifacts" not in err  # MLflow's progress bar stays out of mlci's lines
    assert git(root, "status", "--porcelain") == ""  # predictions.csv is ignored
    assert run_of(root, sha)["tracking_uri"] == server


def test_the_built_in_pipeline_logs_its_results_into_the_run(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    uri, experiment = server, f"builtin-{tmp_path.name}"
    new_experiment(uri, experiment)
    text = (
        "train:\n  sklearn: {dataset: iris, model: sklearn.linear_model.LogisticRegression,"
        " params: {max_iter: 500}}\n"
        f"  mlflow: {{experiment: {experiment}, tracking_uri: '{uri}'}}\n"
    )
    sha = commit(root, "c1", {"mlci.yaml": text, ".gitignore": ".mlci/\n"})
    monkeypatch.chdir(root)
    code, _, err = run_cli("train")
    assert code == 0, err
    metrics = json.loads((root / ".mlci" / "runs" / sha / "metrics.json").read_text())
    got = client(uri).get_run(run_of(root, sha)["run_id"])
    assert got.info.status == "FINISHED" and metrics["accuracy"] > 0.9
    assert got.data.metrics == pytest.approx(metrics)
    assert got.data.params["estimator.max_iter"] == "500"
    names = {f.path for f in client(uri).list_artifacts(got.info.run_id)}
    assert {"predictions.csv", "model.pkl"} <= names
