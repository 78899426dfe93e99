"""Helpers the benchmarks share: timed subprocess runs, a sandboxed environment, tables.

Benchmarks time whole commands as a user runs them (a new process each time), so start-up
and imports count. Stdlib only: importing this must not change what is measured.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMENT_LIMIT = 65_536  # characters in one GitHub comment body
TIMEOUT = 300.0  # seconds for one command; a hang is a failure, not a figure

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Author",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench Author",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class BenchError(Exception):
    """A command the benchmark needs failed: its figures would mean nothing."""


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of one command, and the CPU seconds they used.

    CPU time (user + system, the command and every process it waited for, such as git)
    hardly changes when other work shares the machine; wall time does.
    """

    runs: tuple[float, ...]
    cpu: tuple[float, ...] = ()

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    @property
    def low(self) -> float:
        return min(self.runs)

    @property
    def high(self) -> float:
        return max(self.runs)

    def as_dict(self) -> dict[str, object]:
        return {
            "median_s": round(self.median, 4),
            "min_s": round(self.low, 4),
            "max_s": round(self.high, 4),
            "runs_s": [round(r, 4) for r in self.runs],
            "cpu_median_s": None if self.cpu_median is None else round(self.cpu_median, 4),
            "cpu_s": [round(c, 4) for c in self.cpu],
        }


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)

    def shown(self) -> str:
        return " ".join(Path(self.argv[0]).name if i == 0 else a for i, a in enumerate(self.argv))


def venv_script(name: str) -> Path | None:
    """A console script of the venv running this benchmark (the repo's .venv under make)."""
    for folder in (ROOT / ".venv" / "bin", Path(sys.executable).parent):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def sandbox_env(home: Path) -> dict[str, str]:
    """A clean environment: a throwaway HOME, a git identity, no CI variables, DVC offline."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TERM")
    env = {k: v for k, v in os.environ.items() if k in keep}
    dvc = home / "dvc"
    for sub in ("global", "system", "site-cache"):
        (dvc / sub).mkdir(parents=True, exist_ok=True)
    # No update check in the background and no usage report: neither is what we measure.
    (dvc / "global" / "config").write_text(
        "[core]\n    check_update = false\n    analytics = false\n"
    )
    env.update(GIT_IDENTITY)
    env.update(
        HOME=str(home),
        DVC_NO_ANALYTICS="1",
        DVC_STUDIO_OFFLINE="1",
        DVC_GLOBAL_CONFIG_DIR=str(dvc / "global"),
        DVC_SYSTEM_CONFIG_DIR=str(dvc / "system"),
        DVC_SITE_CACHE_DIR=str(dvc / "site-cache"),
        MPLBACKEND="Agg",
    )
    return env


def run(cmd: Command) -> subprocess.CompletedProcess[str]:
    """Run once, capture output; a non-zero exit is a BenchError with the end of stderr."""
    try:
        done = subprocess.run(
            cmd.argv,
            cwd=cmd.cwd,
            env=dict(cmd.env) or None,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BenchError(f"`{cmd.shown()}` could not run: {e}") from e
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BenchError(f"`{cmd.shown()}` exited {done.returncode} in {cmd.cwd}:\n{tail}")
    return done


def time_interleaved(
    commands: Mapping[str, Command], *, repeat: int, warmup: int = 1
) -> dict[str, Timing]:
    """Time each command `repeat` times, taking turns, so load from elsewhere hits all alike.

    The warm-up runs (not counted) fill the OS file cache and the __pycache__ dirs.
    """
    for _ in range(warmup):
        for cmd in commands.values():
            run(cmd)
    runs: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            before = _children_cpu()
            start = time.perf_counter()
            run(cmd)
            runs[name].append(time.perf_counter() - start)
            cpu[name].append(_children_cpu() - before)
    return {name: Timing(tuple(runs[name]), tuple(cpu[name])) for name in commands}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def git(cwd: Path, env: Mapping[str, str], *args: str) -> str:
    return run(Command(("git", *args), cwd, env)).stdout.strip()


def tool_version(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The first line of `tool --version`, or why there is none."""
    try:
        out = run(Command(tuple(argv), ROOT, env)).stdout.strip()
    except BenchError as e:
        return f"unknown ({e})"
    return out.splitlines()[0] if out else "unknown"


def load() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def ratio(value: float | None, suffix: str = "x") -> str:
    return "—" if value is None else f"{value:.2f}{suffix}"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned plain-text table: first column left, the others right."""
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, "=" * len(title), line(cells[0]), rule, *map(line, cells[1:])])
