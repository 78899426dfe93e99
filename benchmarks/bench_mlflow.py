"""What train.mlflow adds to `mlci run`: importing mlflow, creating the run before the
command, reading it back after (metrics, params, predictions.csv) and tagging it after
the verdict, against a local SQLite store and a real `mlflow server` (SQLite backend).

The training's own logging is the user's cost, not mlci's: here a stand-in logs 20
metrics, 10 params and a 1,000-row predictions.csv into the run between the two steps,
untimed. Run alone (`python benchmarks/bench_mlflow.py`) or through `make bench`.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import BenchError, table

REPEAT = 5


def import_time() -> float:
    """Seconds to import the MLflow client in a fresh interpreter (median of 3)."""
    code = (
        "import time; t = time.perf_counter(); from mlflow.tracking import MlflowClient; "
        "print(time.perf_counter() - t)"
    )
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    return statistics.median(times)


def _log_like_a_training(uri: str, run_id: str, scratch: Path) -> None:
    """What a user's training would log (untimed): not mlci's cost."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    for i in range(20):
        client.log_metric(run_id, f"metric_{i}", i / 20)
    for i in range(10):
        client.log_param(run_id, f"param_{i}", i)
    pred = scratch / "predictions.csv"
    pred.write_text("y_true,y_pred\n" + "".join(f"{i % 2},{i % 3 % 2}\n" for i in range(1000)))
    client.log_artifact(run_id, str(pred))


def steps(uri: str, scratch: Path) -> dict[str, float]:
    """Median seconds of each step mlci adds, over REPEAT runs in one process."""
    from mlflow.tracking import MlflowClient

    from mlci.config import MlflowTrain
    from mlci.judge.gates import Verdict
    from mlci.publish import mlflow as publish
    from mlci.record import RunRecord
    from mlci.train import mlflow_run
    from mlci.train.runner import Where

    local = (scratch / "art").as_uri() if uri.startswith("sqlite") else None  # not ./mlruns
    MlflowClient(tracking_uri=uri).create_experiment("bench", local)
    cfg = MlflowTrain(experiment="bench", tracking_uri=uri)
    timings: dict[str, list[float]] = {"create": [], "read back": [], "tags": []}
    for i in range(REPEAT):
        t0 = time.perf_counter()
        where = Where(sha=f"{i:040x}", workdir=scratch, code="", label="bench")
        session = mlflow_run.start(cfg, where)
        t1 = time.perf_counter()
        _log_like_a_training(uri, session.run_id, scratch)
        t2 = time.perf_counter()
        got = mlflow_run.finish(session, scratch / f"read-{i}", files=False)
        t3 = time.perf_counter()
        if len(got.values.values) != 20 or got.predictions is None:
            raise BenchError(f"read back {len(got.values.values)} metrics from {session.run_id}")
        head = RunRecord(sha=f"{i:040x}", metrics={}, info={"mlflow": session.info()})
        publish.after_verdict(head, Verdict(()), scratch, pr=None, register=None)
        t4 = time.perf_counter()
        timings["create"].append(t1 - t0)
        timings["read back"].append(t3 - t2)
        timings["tags"].append(t4 - t3)
    return {name: statistics.median(values) for name, values in timings.items()}


@contextmanager
def server(root: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "art"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("mlflow server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and every worker it started
        proc.wait(timeout=30)


def main() -> dict[str, Any]:
    from mlci import output

    output.set_level(output.QUIET)
    results: dict[str, Any] = {"import_s": import_time()}
    with tempfile.TemporaryDirectory(prefix="mlci-bench-mlflow-") as tmp:
        root = Path(tmp)
        (root / "local").mkdir()
        results["sqlite"] = steps(f"sqlite:///{root / 'local' / 'mlflow.db'}", root / "local")
        (root / "server").mkdir()
        with server(root / "server") as url:
            results["server"] = steps(url, root / "server")
    rows = []
    for store in ("sqlite", "server"):
        s = results[store]
        total = results["import_s"] + sum(s.values())
        results[store]["total_s"] = total
        rows.append(
            [
                "local SQLite store" if store == "sqlite" else "mlflow server (SQLite)",
                f"{results['import_s']:.2f} s",
                f"{s['create']:.3f} s",
                f"{s['read back']:.3f} s",
                f"{s['tags']:.3f} s",
                f"{total:.2f} s",
            ]
        )
    print(
        table(
            "what train.mlflow adds to mlci run (medians)",
            ["store", "import", "create run", "read back", "tags", "total"],
            rows,
        )
    )
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
