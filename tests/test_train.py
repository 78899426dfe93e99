"""The training runners: a real subprocess with real signals, real scikit-learn fits."""

from __future__ import annotations

import json
import os
import pickle
import pty
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlci import output
from mlci.config import SklearnSpec
from mlci.errors import ConfigError, Exit, TrainingError
from mlci.train import command
from mlci.train.command import format_elapsed, log_tail, run_command
from mlci.train.sklearn import SklearnRun, infer_task, load_estimator_class, run_sklearn

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def run(argv: list[str], tmp_path: Path, **kwargs: object) -> float:
    options: dict[str, object] = {
        "cwd": tmp_path,
        "env": {},
        "timeout": 60.0,
        "log_path": tmp_path / "out" / "train.log",
    }
    options.update(kwargs)
    return run_command(argv, **options)  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """True while pid is a running process (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def wait_for_file(path: Path, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


# A command that starts a grandchild `sleep 60`, writes its pid, and waits.
SPAWNS_SLEEPER = """
    import subprocess, sys, time
    child = subprocess.Popen(["sleep", "60"])
    open(sys.argv[1], "w").write(str(child.pid))
    print("started", flush=True)
    time.sleep(60)
"""


# -- run_command ------------------------------------------------------------------------------


def test_success_writes_the_log_and_returns_the_duration(tmp_path: Path) -> None:
    argv = py("import sys; print('hello'); print('to stderr', file=sys.stderr)")
    duration = run(argv, tmp_path)
    log = (tmp_path / "out" / "train.log").read_text()
    assert "hello\n" in log
    assert "to stderr\n" in log
    assert duration > 0


def test_output_is_streamed_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(py("print('line one'); print('line two')"), tmp_path)
    captured = capsys.readouterr()
    assert "line one\nline two\n" in captured.err
    assert captured.out == ""


def test_quiet_hides_the_stream_but_the_log_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output.set_level(output.QUIET)
    try:
        run(py("print('secret progress')"), tmp_path)
    finally:
        output.set_level(output.NORMAL)
    assert "secret progress" not in capsys.readouterr().err
    assert "secret progress" in (tmp_path / "out" / "train.log").read_text()


def test_env_is_passed_through_with_unbuffered_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROM_PARENT", "inherited")
    code = """
        import os
        print(os.environ["EXTRA"], os.environ["FROM_PARENT"], os.environ["PYTHONUNBUFFERED"])
    """
    run(py(code), tmp_path, env={"EXTRA": "given"})
    assert "given inherited 1" in (tmp_path / "out" / "train.log").read_text()


def test_cwd_is_respected(tmp_path: Path) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    run(py("import os; print('cwd=' + os.getcwd())"), tmp_path, cwd=workdir)
    log = (tmp_path / "out" / "train.log").read_text()
    assert f"cwd={workdir.resolve()}" in log


def test_nonzero_exit_raises_with_the_log_tail(tmp_path: Path) -> None:
    argv = py("import sys\nfor i in range(30): print(f'line {i}')\nsys.exit(3)")
    with pytest.raises(TrainingError) as info:
        run(argv, tmp_path, label="baseline training")
    err = info.value
    assert err.exit_code == Exit.RUN_FAILED
    assert err.what.startswith("baseline training failed: `")
    assert err.what.endswith("exited with 3")
    assert err.where == str(tmp_path / "out" / "train.log")
    assert err.detail.startswith("last lines of train.log:\n")
    assert "line 29" in err.detail and "line 10" in err.detail
    assert "line 9\n" not in err.detail  # only the last 20 lines


def test_killed_by_a_signal_names_the_signal(tmp_path: Path) -> None:
    argv = py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(TrainingError, match="killed by signal SIGKILL"):
        run(argv, tmp_path)


def test_a_silent_failure_says_the_log_is_empty(tmp_path: Path) -> None:
    with pytest.raises(TrainingError) as info:
        run(py("raise SystemExit(1)"), tmp_path)
    assert "printed nothing" in info.value.detail


def test_command_not_found(tmp_path: Path) -> None:
    with pytest.raises(TrainingError) as info:
        run(["no-such-training-command-xyz", "--fast"], tmp_path)
    assert info.value.what == "training command not found: no-such-training-command-xyz"
    assert info.value.where == "train.command"
    assert "without a shell" in (info.value.hint or "")


def test_a_file_that_is_not_executable_is_not_found(tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(TrainingError, match="command not found"):
        run([str(script)], tmp_path)


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    with pytest.raises(TrainingError) as info:
        run([*py(SPAWNS_SLEEPER), str(pid_file)], tmp_path, timeout=3)
    err = info.value
    assert err.what == "training timed out after 3s"
    assert "train.timeout" in (err.hint or "")
    assert "started" in err.detail
    assert wait_gone(int(pid_file.read_text()))


def test_timeout_kills_a_command_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "KILL_GRACE", 1.0)  # 5 s in real use
    pid_file = tmp_path / "leader.pid"
    code = """
        import os, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(sys.argv[1], "w").write(str(os.getpid()))
        print("ignoring SIGTERM", flush=True)
        time.sleep(60)
    """
    with pytest.raises(TrainingError, match="timed out"):
        run([*py(code), str(pid_file)], tmp_path, timeout=2)
    assert wait_gone(int(pid_file.read_text()))


def test_ctrl_c_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    driver = f"""
        import sys
        from pathlib import Path
        from mlci.train.command import run_command
        argv = [sys.executable, "-c", {textwrap.dedent(SPAWNS_SLEEPER)!r}, {str(pid_file)!r}]
        try:
            run_command(argv, cwd=Path.cwd(), env={{}}, timeout=60,
                        log_path=Path({str(tmp_path / "train.log")!r}))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """
    proc = subprocess.Popen(
        py(driver), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        child = int(wait_for_file(pid_file))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in out
    assert wait_gone(child)


def test_silence_in_ci_prints_still_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(command, "CI_TICK", 0.3)  # 60 s in real use
    run(py("import time; print('partial', end='', flush=True); time.sleep(1.2)"), tmp_path)
    err = capsys.readouterr().err
    assert re.search(r"partial\nmlci: training still running \(\d+s\)\n", err)
    assert "still running" not in (tmp_path / "out" / "train.log").read_text()


def test_on_a_terminal_the_status_line_is_cleared_before_output(tmp_path: Path) -> None:
    driver = f"""
        import sys
        from pathlib import Path
        from mlci.train import command
        command.TTY_TICK = 0.3
        code = "import time; print('before', flush=True); time.sleep(1.2); print('after')"
        command.run_command([sys.executable, "-c", code], cwd=Path.cwd(), env={{}}, timeout=60,
                            log_path=Path({str(tmp_path / "train.log")!r}))
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen(py(driver), cwd=tmp_path, stderr=slave, stdout=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=30) == 0
    text = b"".join(chunks).decode()
    assert re.search(r"\r\x1b\[K\[mlci\] training \d+s", text)
    assert "\r\x1b[Kafter" in text  # the status line was wiped before the output went on


def test_log_tail_shows_the_last_lines_as_a_terminal_would(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(30)) + b"10%\r50%\r100%\n")
    tail = log_tail(log, lines=3)
    assert tail == "line 28\nline 29\n100%"
    assert log_tail(tmp_path / "missing.log") == ""


def test_log_tail_drops_ansi_codes_and_progress_redraws_but_the_log_keeps_them(
    tmp_path: Path,
) -> None:
    keras = (
        b"\x1b[1m1/3\x1b[0m \x1b[32m\xe2\x94\x81\x1b[0m loss: 0.9\r"
        b"\x1b[1m3/3\x1b[0m \x1b[32m\xe2\x94\x81\xe2\x94\x81\x1b[0m loss: 0.5\n"
        b"\x1b]0;title\x07Epoch 2/2 12%\x08\x08\x08100%\n"
    )
    log = tmp_path / "train.log"
    log.write_bytes(keras)
    assert log_tail(log) == "3/3 \u2501\u2501 loss: 0.5\nEpoch 2/2 100%"
    assert log.read_bytes() == keras


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (42.9, "42s"), (65, "1m05s"), (300, "5m00s"), (7385, "2h03m05s")],
)
def test_format_elapsed(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


# -- run_sklearn ------------------------------------------------------------------------------

CLASSIFICATION = {
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "log_loss",
}


def train(
    tmp_path: Path, dataset: str, model: str, name: str = "run", **kw: object
) -> tuple[SklearnRun, Path]:
    spec = SklearnSpec(dataset=dataset, model=model, **kw)  # type: ignore[arg-type]
    out = tmp_path / name
    return run_sklearn(spec, out_dir=out, log_path=out / "train.log"), out


def read_csv(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()]


def test_iris_multiclass_writes_scores_per_class(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris

    result, out = train(
        tmp_path, "iris", "sklearn.linear_model.LogisticRegression", params={"max_iter": 500}
    )
    assert result.task == "classification"
    assert set(result.metrics) == CLASSIFICATION
    assert json.loads((out / "metrics.json").read_text()) == result.metrics
    rows = read_csv(out / "predictions.csv")
    assert rows[0] == ["id", "y_true", "y_pred", "score_0", "score_1", "score_2"]
    ids = [int(r[0]) for r in rows[1:]]
    assert len(ids) == 38 and ids == sorted(set(ids))
    target = load_iris().target
    assert all(int(r[1]) == target[int(r[0])] for r in rows[1:])  # id is the dataset row
    assert all(abs(sum(float(x) for x in r[3:]) - 1) < 1e-9 for r in rows[1:])
    model = pickle.loads((out / "model.pkl").read_bytes())
    assert list(model.predict(load_iris().data[ids])) == [int(r[2]) for r in rows[1:]]
    assert result.params["model_params.max_iter"] == 500
    assert result.params["estimator.random_state"] == 0  # the seed reached the estimator
    assert result.params["dataset"] == "iris" and result.params["test_size"] == 0.25
    assert "dataset iris: 150 rows x 4 features, classification" in (out / "train.log").read_text()


def test_breast_cancer_binary_has_y_score_and_roc_auc(tmp_path: Path) -> None:
    result, out = train(
        tmp_path,
        "breast_cancer",
        "sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 10},
    )
    assert 0.5 < result.metrics["roc_auc"] <= 1
    assert set(result.metrics) == CLASSIFICATION
    header = read_csv(out / "predictions.csv")[0]
    assert header == ["id", "y_true", "y_pred", "y_score"]


def test_a_classifier_without_probabilities_has_roc_auc_but_no_log_loss(tmp_path: Path) -> None:
    result, out = train(tmp_path, "breast_cancer", "sklearn.linear_model.RidgeClassifier")
    assert "roc_auc" in result.metrics
    assert "log_loss" not in result.metrics
    assert read_csv(out / "predictions.csv")[0] == ["id", "y_true", "y_pred"]


def test_diabetes_regression_metrics(tmp_path: Path) -> None:
    result, out = train(tmp_path, "diabetes", "sklearn.linear_model.Ridge", seed=3)
    assert result.task == "regression"
    assert set(result.metrics) == {"rmse", "mae", "r2"}
    assert result.metrics["rmse"] >= result.metrics["mae"] > 0
    assert read_csv(out / "predictions.csv")[0] == ["id", "y_true", "y_pred"]
    assert result.params["seed"] == 3


def test_same_seed_same_bytes_other_seed_other_split(tmp_path: Path) -> None:
    model = "sklearn.ensemble.RandomForestClassifier"
    _, a = train(tmp_path, "wine", model, "a", params={"n_estimators": 10})
    _, b = train(tmp_path, "wine", model, "b", params={"n_estimators": 10})
    _, c = train(tmp_path, "wine", model, "c", params={"n_estimators": 10}, seed=1)
    for name in ("metrics.json", "predictions.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "predictions.csv").read_bytes() != (c / "predictions.csv").read_bytes()


def test_an_explicit_random_state_wins_over_the_seed(tmp_path: Path) -> None:
    result, _ = train(
        tmp_path, "iris", "sklearn.tree.DecisionTreeClassifier", params={"random_state": 7}
    )
    assert result.params["estimator.random_state"] == 7


def test_fit_warnings_go_to_the_log(tmp_path: Path) -> None:
    _, out = train(
        tmp_path, "iris", "sklearn.linear_model.LogisticRegression", params={"max_iter": 1}
    )
    assert "ConvergenceWarning" in (out / "train.log").read_text()


def test_unknown_class_suggests_a_close_match() -> None:
    with pytest.raises(ConfigError) as info:
        load_estimator_class("sklearn.ensemble.RandomForestClasifier")
    assert info.value.exit_code == Exit.USAGE
    assert info.value.where == "train.sklearn.model"
    assert "sklearn.ensemble.RandomForestClassifier" in (info.value.hint or "")


def test_unknown_module_suggests_a_close_module() -> None:
    with pytest.raises(ConfigError) as info:
        load_estimator_class("sklearn.linear_modle.NoSuchModel")
    assert info.value.what == "unknown module sklearn.linear_modle"
    assert "sklearn.linear_model" in (info.value.hint or "")


def test_a_class_in_the_wrong_module_is_found_elsewhere() -> None:
    with pytest.raises(ConfigError) as info:
        load_estimator_class("sklearn.linear_model.RandomForestClassifier")
    assert "sklearn.ensemble.RandomForestClassifier" in (info.value.hint or "")


@pytest.mark.parametrize("path", ["sklearn.datasets.load_iris", "sklearn.base.BaseEstimator"])
def test_something_that_cannot_fit_is_not_an_estimator(path: str) -> None:
    with pytest.raises(ConfigError, match="not an estimator"):
        load_estimator_class(path)


@pytest.mark.parametrize(
    ("params", "named"), [({"n_estimators": "abc"}, "n_estimators"), ({"n_trees": 5}, "n_trees")]
)
def test_bad_params_are_a_config_error(
    tmp_path: Path, params: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError) as info:
        train(tmp_path, "iris", "sklearn.ensemble.RandomForestClassifier", params=params)
    assert info.value.where == "train.sklearn.params"
    assert named in info.value.what


def test_a_regressor_on_a_classification_dataset_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a classifier"):
        train(tmp_path, "iris", "sklearn.linear_model.Ridge")


@pytest.mark.parametrize(
    ("target", "task"),
    [
        ([0, 1, 2, 1], "classification"),
        (["cat", "dog", "cat"], "classification"),
        ([1.0, 2.0, 1.0], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_infer_task_from_the_target(target: list[object], task: str) -> None:
    assert infer_task(target) == task
