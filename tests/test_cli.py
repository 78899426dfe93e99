"""The command line as a user meets it: start-up cost, help, version, the error boundary."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlci import __version__

HEAVY = ("pandas", "matplotlib", "sklearn", "github", "git", "jinja2", "numpy", "scipy", "mlflow")


def loaded_after(argv: list[str]) -> list[str]:
    """Run the CLI in a fresh interpreter and list which heavy modules it imported."""
    code = (
        "import sys, json\n"
        "from mlci import cli\n"
        f"rc = cli.run({argv!r})\n"
        "print(json.dumps([rc, [m for m in " + repr(HEAVY) + " if m in sys.modules]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rc, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert rc == 0, done.stdout + done.stderr
    return list(modules)


def test_help_imports_nothing_heavy() -> None:
    assert loaded_after(["--help"]) == []


@pytest.mark.parametrize(
    "command",
    [
        "train",
        "diff",
        "gate",
        "report",
        "run",
        "publish",
        "record",
        "history",
        "merge",
        "init",
        "demo",
    ],
)
def test_every_command_has_help_and_stays_light(command: str) -> None:
    assert loaded_after([command, "--help"]) == []


def test_version(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"mlci {__version__}"


def test_unknown_command_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("trian")
    assert code == 2 and "No such command" in err


ERROR_LINE = r"mlci: error: .+ \([^()]+\)\. [A-Z`].*"


@pytest.mark.parametrize(
    "argv",
    [
        ["gate"],  # no mlci.yaml
        ["history", "--limit", "0"],
        ["diff", "main", "--base", "other"],
        ["demo", "."],  # not an empty directory
        ["publish", "--dry-run", "--config", "mlci.yaml"],  # nothing rendered yet
    ],
)
def test_every_error_line_says_what_where_and_what_next(
    argv: list[str], repo: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    """`mlci: error: WHAT (WHERE). HINT`: the WHERE is never left out."""
    if argv[0] != "gate":
        (repo / "mlci.yaml").write_text("train: {command: 'true', metrics: m.json}\n")
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-qm", "c"], cwd=repo, check=True)
    code, _, err = run_cli(*argv)
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert re.fullmatch(ERROR_LINE, line), line


def test_an_option_without_its_value_names_the_command(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("-q", "run", "--out")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line == (
        "mlci: error: Option '--out' requires an argument (mlci run). "
        "Run `mlci run --help` to see what it takes."
    )


def test_console_script_runs() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlci"), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Usage: mlci" in done.stdout
