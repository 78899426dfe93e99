"""`make bench`: mlci side by side with DVC on this machine, as ratios from one run.

Measures `mlci --help` against `dvc --help` (start-up) and `mlci diff` against
`dvc metrics diff` on the same two-commit git repo with 10 to 10,000 nested metrics, then
runs every benchmarks/bench_*.py that defines main(). Prints one table per measurement
and writes every figure to .mlci-bench/results.json (ignored by git). Benchmarks, not
tests: a missed goal is reported, not failed; the exit code is 1 only when a command
broke or the two tools disagree on what changed. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # the path above makes `common` importable
    COMMENT_LIMIT,
    ROOT,
    BenchError,
    Command,
    Timing,
    git,
    load,
    ratio,
    run,
    sandbox_env,
    seconds,
    table,
    time_interleaved,
    tool_version,
    venv_script,
)

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT / ".mlci-bench" / "results.json"
SIZES = (10, 1_000, 10_000)
PER_GROUP = 100  # metrics per nested group: {"group_i": {"metric_j": value}}
MLCI_YAML = "train: {command: [python, train.py], metrics: metrics.json}\n"
DVC_YAML = "metrics:\n  - metrics.json\n"
TRAIN_PY = "raise SystemExit('benchmark repo: metrics.json is committed, nothing to train')\n"
HELP_REPEAT = 10

GOALS = {
    "startup_s": 0.12,  # mlci --help at most this long
    "startup_vs_dvc": 0.6,  # and at most this fraction of dvc --help
    "diff_10000_s": 0.5,  # mlci diff with 10,000 metrics at most this long
    "diff_10000_speedup": 4.0,  # and at least this many times faster than dvc metrics diff
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    began = time.perf_counter()
    results: dict[str, Any] = {"schema": 1, "created": _now(), "machine": _machine()}
    errors: list[str] = []
    _print_machine(results["machine"])
    with tempfile.TemporaryDirectory(prefix="mlci-bench-") as tmp:
        scratch = Path(tmp)
        env = sandbox_env(scratch / "home")
        tools = _tools(env, results)
        if tools.get("mlci") is None:
            errors.append("mlci is not installed in this venv: run `make` first")
        else:
            _step(errors, results, "startup", lambda: startup(tools, env, scratch))
            _step(
                errors,
                results,
                "diff",
                lambda: diff(tools, env, scratch, args.sizes, args.repeat, args.profile),
            )
    if not args.skip_modules:
        results["modules"] = run_modules(HERE, errors)
    results["goals"] = goals(results)
    results["errors"] = errors
    results["machine"]["load_after"] = load()
    results["seconds"] = round(time.perf_counter() - began, 1)
    _write(args.out, results)
    for error in errors:
        print(f"bench: error: {error}", file=sys.stderr)
    print(f"\nwhole run: {results['seconds']} s; figures in {_shown(args.out)}")
    return 1 if errors else 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--repeat", type=int, default=5, help="timed runs per diff (default 5)")
    p.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=SIZES,
        help="metric counts, comma-separated (default 10,1000,10000)",
    )
    p.add_argument("--skip-modules", action="store_true", help="do not run bench_*.py")
    p.add_argument("--profile", action="store_true", help="cProfile the largest mlci diff")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results.json goes")
    args = p.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.sizes):
        p.error("--repeat and --sizes must be positive")
    return args


def _step(errors: list[str], results: dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    """One measurement; a broken command loses that measurement, not the whole run."""
    try:
        results[name] = fn()
    except BenchError as e:
        errors.append(f"{name}: {e}")
        print(f"\n{name}: not measured: {e}")


# --- where we run -------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_before": load(),
    }


def _print_machine(machine: dict[str, Any]) -> None:
    print(f"machine: {machine['cpus']} CPUs, {machine['platform']}, Python {machine['python']}")
    avg = machine["load_before"]
    if avg is not None and machine["cpus"] and avg[0] > 0.5 * machine["cpus"]:
        print(
            f"note: load average {avg[0]:.1f} on {machine['cpus']} CPUs: something else is "
            "running; the seconds are noisy, the ratios (runs taken in turns) less so"
        )


def _tools(env: dict[str, str], results: dict[str, Any]) -> dict[str, Path | None]:
    tools = {"mlci": venv_script("mlci"), "dvc": venv_script("dvc")}
    versions = {"git": tool_version(["git", "--version"], env)}
    for name, path in tools.items():
        versions[name] = tool_version([str(path), "--version"], env) if path else "not installed"
    versions = {k: v.removeprefix(f"{k} ").removeprefix("version ") for k, v in versions.items()}
    results["versions"] = versions
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if tools["dvc"] is None:
        print(
            "note: dvc is not installed in this venv (`make bench` installs it): "
            "mlci's figures are shown alone"
        )
    return tools


# --- 1. start-up --------------------------------------------------------------------------


def startup(tools: dict[str, Path | None], env: dict[str, str], scratch: Path) -> dict[str, Any]:
    """`mlci --help` against `dvc --help`: the price of every command before it does anything."""
    here = scratch / "empty"
    here.mkdir()
    commands = {
        name: Command((str(path), "--help"), here, env)
        for name, path in tools.items()
        if path is not None
    }
    timings = time_interleaved(commands, repeat=HELP_REPEAT)
    dvc = timings.get("dvc")
    rows = [
        [
            f"{name} --help",
            seconds(t.median),
            seconds(t.low),
            seconds(t.high),
            seconds(t.cpu_median),
            ratio(t.median / dvc.median) if dvc else "—",
        ]
        for name, t in timings.items()
    ]
    print()
    print(
        table(
            f"1. start-up: median of {HELP_REPEAT} runs each",
            ["command", "median", "min", "max", "cpu", "vs dvc"],
            rows,
        )
    )
    mlci = timings["mlci"]
    return {
        "repeat": HELP_REPEAT,
        **{name: t.as_dict() for name, t in timings.items()},
        "mlci_vs_dvc": round(mlci.median / dvc.median, 3) if dvc else None,
        "mlci_vs_dvc_cpu": _ratio(mlci.cpu_median, dvc.cpu_median if dvc else None),
    }


# --- 2. diff ------------------------------------------------------------------------------


def metric_docs(n: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Base and head metrics, nested two deep; every other metric moves by 2% (up or down)."""
    rng = random.Random(seed)
    base: dict[str, dict[str, float]] = {}
    head: dict[str, dict[str, float]] = {}
    changed = 0
    for k in range(n):
        group, name = f"group_{k // PER_GROUP}", f"metric_{k % PER_GROUP}"
        value = round(rng.uniform(0.1, 1.0), 6)
        moved = value if k % 2 else round(value * (1.02 if k % 4 == 0 else 0.98), 6)
        changed += moved != value
        base.setdefault(group, {})[name] = value
        head.setdefault(group, {})[name] = moved
    return base, head, changed


def make_repo(path: Path, n: int, env: dict[str, str], dvc: Path | None) -> int:
    """main holds one metrics.json, branch pr (HEAD) another; returns how many changed."""
    base, head, changed = metric_docs(n)
    path.mkdir(parents=True)
    git(path, env, "init", "-q", "-b", "main")
    (path / "mlci.yaml").write_text(MLCI_YAML)
    (path / "train.py").write_text(TRAIN_PY)
    (path / ".gitignore").write_text(".mlci/\n")
    (path / "metrics.json").write_text(json.dumps(base, indent=2) + "\n")
    if dvc is not None:
        (path / "dvc.yaml").write_text(DVC_YAML)
        run(Command((str(dvc), "init", "-q"), path, env))
    git(path, env, "add", "-A")
    git(path, env, "commit", "-q", "-m", "base metrics")
    git(path, env, "switch", "-q", "-c", "pr")
    (path / "metrics.json").write_text(json.dumps(head, indent=2) + "\n")
    git(path, env, "commit", "-q", "-a", "-m", "changed metrics")
    return changed


def _mlci_changed(out: str) -> int:
    doc = json.loads(out)
    strategy = doc["baseline"]["strategy"]
    if strategy != "file":
        raise BenchError(f"mlci used baseline strategy {strategy!r}, not the committed file")
    return sum(1 for row in doc["rows"] if row["status"] != "unchanged")


def _dvc_changed(out: str) -> int:
    doc = json.loads(out or "{}")
    return sum(len(per_file) for per_file in doc.values())


def diff_one(
    n: int, tools: dict[str, Path | None], env: dict[str, str], scratch: Path, repeat: int
) -> dict[str, Any]:
    """One repo size: sanity (same changed count), markdown sizes, then the timed runs."""
    mlci, dvc = tools["mlci"], tools["dvc"]
    assert mlci is not None
    repo = scratch / f"diff-{n}"
    expected = make_repo(repo, n, env, dvc)
    md = {"mlci": Command((str(mlci), "diff", "main", "--md"), repo, env)}
    changed = {"expected": expected}
    changed["mlci"] = _mlci_changed(
        run(Command((str(mlci), "diff", "main", "--json"), repo, env)).stdout
    )
    if dvc is not None:
        md["dvc"] = Command((str(dvc), "metrics", "diff", "main", "--md"), repo, env)
        out = run(Command((str(dvc), "metrics", "diff", "main", "--json"), repo, env)).stdout
        changed["dvc"] = _dvc_changed(out)
    if len(set(changed.values())) != 1:
        raise BenchError(f"{n} metrics: the changed counts disagree: {changed}")
    chars = {name: len(run(cmd).stdout) for name, cmd in md.items()}  # also the warm-up
    timings = time_interleaved(md, repeat=repeat, warmup=0)
    return {
        "metrics": n,
        "changed": changed,
        "markdown_chars": chars,
        "fits_comment": {name: size <= COMMENT_LIMIT for name, size in chars.items()},
        **{name: t.as_dict() for name, t in timings.items()},
        "dvc_vs_mlci": _speedup(timings, "median"),
        "dvc_vs_mlci_cpu": _speedup(timings, "cpu_median"),
        "repo": repo,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _speedup(timings: dict[str, Timing], attr: str) -> float | None:
    """How many times longer dvc took than mlci."""
    if "dvc" not in timings:
        return None
    return _ratio(getattr(timings["dvc"], attr), getattr(timings["mlci"], attr))


def diff(
    tools: dict[str, Path | None],
    env: dict[str, str],
    scratch: Path,
    sizes: Sequence[int],
    repeat: int,
    profile: bool,
) -> list[dict[str, Any]]:
    """`mlci diff main --md` against `dvc metrics diff main --md`, same repo, same files."""
    rows = [diff_one(n, tools, env, scratch, repeat) for n in sizes]
    _print_diff(rows, repeat)
    if profile and rows:
        _profile(tools, env, rows[-1]["repo"])
    for row in rows:
        row.pop("repo")
    return rows


def _print_diff(rows: list[dict[str, Any]], repeat: int) -> None:
    speed = [
        [
            f"{r['metrics']:,}",
            f"{r['changed']['mlci']:,}",
            _median_min(r, "mlci"),
            _median_min(r, "dvc"),
            ratio(r["dvc_vs_mlci"]),
            ratio(r["dvc_vs_mlci_cpu"]),
        ]
        for r in rows
    ]
    print()
    print(
        table(
            f"2a. diff against main: median wall time (and CPU time) of {repeat} runs each",
            ["metrics", "changed", "mlci diff", "dvc metrics diff", "dvc / mlci", "(cpu)"],
            speed,
        )
    )
    sizes = [[f"{r['metrics']:,}", *(_chars(r, name) for name in ("mlci", "dvc"))] for r in rows]
    print()
    print(
        table(
            f"2b. --md output in characters (a GitHub comment holds {COMMENT_LIMIT:,})",
            ["metrics", "mlci diff --md", "dvc metrics diff --md"],
            sizes,
        )
    )


def _median_min(row: dict[str, Any], name: str) -> str:
    if name not in row:
        return "—"
    return f"{seconds(row[name]['median_s'])} (cpu {row[name]['cpu_median_s']:.3f})"


def _chars(row: dict[str, Any], name: str) -> str:
    size = row["markdown_chars"].get(name)
    if size is None:
        return "—"
    return f"{size:,} ({'fits' if size <= COMMENT_LIMIT else 'too long'})"


def _profile(tools: dict[str, Path | None], env: dict[str, str], repo: Path) -> None:
    """Where `mlci diff` spends its time on the largest repo, by cumulative time."""
    import pstats

    python = Path(str(tools["mlci"])).parent / "python"
    stats = repo.parent / "mlci-diff.prof"
    argv = (str(python), "-m", "cProfile", "-o", str(stats), "-m", "mlci.cli", "diff", "main")
    run(Command((*argv, "--md"), repo, env))
    print(f"\nprofile of `mlci diff main --md` in {repo.name} (cumulative, top 30):")
    pstats.Stats(str(stats), stream=sys.stdout).sort_stats("cumulative").print_stats(30)


# --- other modules ------------------------------------------------------------------------


def run_modules(folder: Path, errors: list[str]) -> dict[str, Any]:
    """Every bench_*.py that defines main(), in name order; what main() returns is kept."""
    found: dict[str, Any] = {}
    for path in sorted(folder.glob("bench_*.py")):
        print(f"\n--- {path.name} ---")
        found[path.stem] = _run_module(path, errors)
    return found


def _run_module(path: Path, errors: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    saved_argv = sys.argv
    sys.argv = [str(path)]  # a module that parses sys.argv must not see our options
    try:
        entry = getattr(_import(path), "main", None)
        if not callable(entry):
            print(f"{path.name}: no main(): skipped (define main() to run it under make bench)")
            return {"skipped": "no main()"}
        value = entry()
    except SystemExit as e:
        value = e.code
    except Exception as e:
        traceback.print_exc()
        errors.append(f"{path.name}: {type(e).__name__}: {e}")
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        sys.argv = saved_argv
    if isinstance(value, int) and not isinstance(value, bool) and value != 0:
        errors.append(f"{path.name}: main() returned {value}")
    return {"seconds": round(time.perf_counter() - start, 2), "result": _jsonable(value)}


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses and pickling look the module up
    spec.loader.exec_module(module)
    return module


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return repr(value)


# --- goals and results --------------------------------------------------------------------


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets mlci set itself, each with the measured figure and whether it is met."""
    up: dict[str, Any] = results.get("startup", {})
    big: dict[str, Any] = next((r for r in results.get("diff", []) if r["metrics"] == 10_000), {})
    found = []
    if up:
        mlci = up["mlci"]
        found += [
            _goal("mlci --help", "<=", "startup_s", mlci["median_s"], mlci["cpu_median_s"]),
            _goal(
                "mlci --help / dvc --help",
                "<=",
                "startup_vs_dvc",
                up["mlci_vs_dvc"],
                up["mlci_vs_dvc_cpu"],
                "x",
            ),
        ]
    if big:
        mlci = big["mlci"]
        found += [
            _goal(
                "mlci diff, 10,000 metrics",
                "<=",
                "diff_10000_s",
                mlci["median_s"],
                mlci["cpu_median_s"],
            ),
            _goal(
                "dvc / mlci, 10,000 metrics",
                ">=",
                "diff_10000_speedup",
                big["dvc_vs_mlci"],
                big["dvc_vs_mlci_cpu"],
                "x",
            ),
        ]
    if found:
        rows = [
            [
                g["goal"],
                f"{g['op']} {g['target']}{g['unit']}",
                _measured(g["value"], g["unit"]),
                _measured(g["cpu_value"], g["unit"]),
                _met(g["met"]),
            ]
            for g in found
        ]
        print()
        print(table("goals (met: on wall time)", ["goal", "target", "wall", "cpu", "met"], rows))
    return found


def _met(met: bool | None) -> str:
    return "—" if met is None else "yes" if met else "NO"


def _goal(
    name: str, op: str, key: str, value: float | None, cpu: float | None, unit: str = "s"
) -> dict[str, Any]:
    target = GOALS[key]
    met = None if value is None else (value <= target if op == "<=" else value >= target)
    return {
        "goal": name,
        "op": op,
        "target": target,
        "value": value,
        "cpu_value": cpu,
        "unit": unit,
        "met": met,
    }


def _measured(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.3f}{unit}"


def _write(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    ignore = out.parent / ".gitignore"
    if out.parent.name == ".mlci-bench" and not ignore.exists():
        ignore.write_text("*\n")  # the folder ignores itself: results are never committed
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
