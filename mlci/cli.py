"""The command line: each command parses, calls one function, prints, and returns an exit code.

Heavy libraries are imported inside the commands, so ``mlci --help`` starts fast.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from mlci import __version__, output
from mlci.errors import Exit, MlciError

app = typer.Typer(
    name="mlci",
    help="Continuous integration for machine learning: train, compare with the base branch, "
    "report on the pull request, gate the merge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="mlci.yaml to use (default: mlci.yaml at the repo root)."),
]


def _version(value: bool) -> None:
    if value:
        output.result(f"mlci {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and results.")
    ] = False,
) -> None:
    """Continuous integration for machine learning."""
    output.set_level(output.QUIET if quiet else output.VERBOSE if verbose else output.NORMAL)


@app.command()
def train(config: ConfigOpt = None) -> int:
    """Train the model as the checkout is now and write its run record (.mlci/runs/<sha>/)."""
    from mlci import pipeline, workspace

    ws = workspace.open_workspace(config)
    rec = pipeline.train_head(ws)
    output.result(pipeline.metric_summary(rec, ws.config.precision))
    output.info(f"mlci: run record written to {_shown(rec.path)}")
    return 0


@app.command()
def diff(
    rev: Annotated[
        str | None,
        typer.Argument(
            help="Base revision to compare with (default: baseline.ref, the PR's base branch, "
            "or the remote's default branch)."
        ),
    ] = None,
    md: Annotated[bool, typer.Option("--md", help="Print a markdown table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOpt = None,
) -> int:
    """Compare HEAD's metrics (and params) with the baseline at the base revision."""
    from mlci import pipeline, workspace

    ws = workspace.open_workspace(config)
    result = pipeline.diff(ws, base=rev)
    output.result(
        pipeline.render_diff(
            result, ws.config.precision, fmt="json" if as_json else "md" if md else "text"
        )
    )
    return 0


@app.command()
def gate(config: ConfigOpt = None) -> int:
    """Evaluate the rules of mlci.yaml on the last comparison; the exit code is the verdict."""
    from mlci import gates, pipeline, workspace

    ws = workspace.open_workspace(config)
    verdict = pipeline.gate_last(ws)
    output.result(gates.format_rules(verdict, ws.config.precision))
    return 0 if verdict.passed else 1


def _shown(path: Path | None) -> str:
    from mlci.config import display_path

    return display_path(path) if path is not None else "-"


def main() -> None:
    """The console script: the one error boundary that maps failures to exit codes."""
    sys.exit(run(sys.argv[1:]))


def run(argv: list[str]) -> int:
    """Run the CLI in-process and return its exit code (tests call this)."""
    try:  # typer >= 0.29 vendors click
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import ClickException  # type: ignore[no-redef, unused-ignore]

    try:
        code = app(args=argv, prog_name="mlci", standalone_mode=False)
    except MlciError as e:
        output.error(e.line())
        if e.detail:
            output.error(e.detail.rstrip("\n"))
        return int(e.exit_code)
    except typer.Exit as e:
        return int(e.exit_code)
    except ClickException as e:
        e.show()
        return int(Exit.USAGE)
    except (KeyboardInterrupt, typer.Abort):
        output.error("mlci: interrupted")
        return int(Exit.INTERRUPTED)
    except Exception:
        traceback.print_exc()
        output.error(
            f"mlci: internal error (mlci {__version__}): this is a bug in mlci; "
            "please report it with the traceback above"
        )
        return int(Exit.BUG)
    finally:
        output.set_level(output.NORMAL)
    return int(code) if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
