"""Shared fixtures: real git repos in tmp dirs, a clean environment, no network but loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlci import cli

pytest_plugins = ["tests.fakegithub"]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No CI variables leak in, plots render headless, git has an identity and no gpg."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "MLCI_", "RUNNER_")) or name in ("CI", "GIT_DIR"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
        "[tag]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n"
    )
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any network address but 127.0.0.1, so no test reaches outside."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in (
            "127.0.0.1",
            "::1",
            "localhost",
        ):
            raise OSError(f"test tried to reach {address}: only 127.0.0.1 is allowed")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def git(cwd: Path, *args: str) -> str:
    """Run git in cwd and return its stdout; fails the test on a git error."""
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit_all(cwd: Path, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty git repo on branch main, as the working directory."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    monkeypatch.chdir(path)
    yield path


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `mlci ARGS` in-process; returns (exit code, stdout, stderr)."""

    def runner(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.run(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return runner


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)


def read_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner parses it: `name=value` lines and `name<<DELIM` heredocs."""
    values: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        name, heredoc, delimiter = line.partition("<<")
        if heredoc and "=" not in name:
            body = []
            for part in lines:
                if part == delimiter:
                    break
                body.append(part)
            else:
                raise AssertionError(f"output {name}: no closing {delimiter}")
            values[name] = "\n".join(body)
        elif line:
            name, sep, value = line.partition("=")
            assert sep, f"not an output line: {line!r}"
            values[name] = value
    return values


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: .ci/run installs Debian's chromium package"
    return found


def chromium_flags(profile: Path) -> list[str]:
    """Headless Chromium that reaches nothing, for the tests that open report.html."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
    ]


def read_probe(page: Path, profile: Path) -> dict[str, Any]:
    """Open page in Chromium and return the JSON its script wrote into <pre id="probe">."""
    dom = subprocess.run(
        [chromium(), *chromium_flags(profile), "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout)
    assert found, dom.stderr[-2000:]
    seen: dict[str, Any] = json.loads(found.group(1).replace("&quot;", '"'))
    return seen
