"""The command line: each command parses, calls one function, prints, and returns an exit code.

Heavy libraries are imported inside the commands, so ``mlci --help`` starts fast.
"""

from __future__ import annotations

import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlci import __version__, output
from mlci.errors import Exit, MlciError, UsageError, one_line

if TYPE_CHECKING:
    from mlci.ci import CIContext

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
    typer.Option(
        "--config",
        "-c",
        help="mlci.yaml to use (default: the nearest mlci.yaml up to the repo root).",
    ),
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


NoCacheOpt = Annotated[
    bool,
    typer.Option("--no-cache", help="Train even when an earlier training had identical inputs."),
]


@app.command()
def train(config: ConfigOpt = None, no_cache: NoCacheOpt = False) -> int:
    """Train the model as the checkout is now.

    Writes the run record .mlci/runs/<HEAD sha>/ and prints the metrics. When a run
    record or a note has identical inputs, its training is reused (--no-cache: train)."""
    from mlci import pipeline, workspace

    ws = workspace.open_workspace(config, cache=not no_cache)
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
    base: Annotated[
        str | None, typer.Option("--base", help="The same as REV (as on `mlci run`).")
    ] = None,
    md: Annotated[bool, typer.Option("--md", help="Print a markdown table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOpt = None,
) -> int:
    """Compare HEAD's metrics and params with the base branch.

    HEAD's run record (or the metric files in the working tree) against the baseline at
    REV: a git note, the committed metric files, or a retraining at the merge-base."""
    from mlci import pipeline, workspace

    ws = workspace.open_workspace(config)
    if rev and base and rev != base:
        raise UsageError(
            f"two base revisions given: {rev} and --base {base}",
            where="mlci diff",
            hint="give the base once",
        )
    result = pipeline.diff(ws, base=rev or base)
    output.result(
        pipeline.render_diff(
            result, ws.config.precision, fmt="json" if as_json else "md" if md else "text"
        )
    )
    return 0


@app.command()
def gate(config: ConfigOpt = None) -> int:
    """Apply the rules to the last comparison; exit 1 if one fails.

    Uses what `mlci diff` or `mlci run` compared last, with the rules of mlci.yaml now."""
    from mlci import pipeline, workspace
    from mlci.report import rules

    ws = workspace.open_workspace(config)
    verdict = pipeline.gate_last(ws)
    output.result(rules.format_rules(verdict, ws.config.precision))
    return 0 if verdict.passed else 1


NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        envvar="MLCI_REPORT_NAME",
        help="Report name: the comment marker and check name (overrides report.name).",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Report directory (default: .mlci/report/)."),
]
BaseOpt = Annotated[
    str | None,
    typer.Option("--base", help="Base ref to compare with (default: the PR's base branch)."),
]


DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="No GitHub API call and no push; write the report.")
]
StrictOpt = Annotated[
    bool, typer.Option("--strict-publish", help="Exit 3 when publishing to GitHub fails.")
]


@app.command("run")
def run_command(
    dry_run: DryRunOpt = False,
    base: BaseOpt = None,
    config: ConfigOpt = None,
    out: OutOpt = None,
    strict_publish: StrictOpt = False,
    name: NameOpt = None,
    no_cache: NoCacheOpt = False,
) -> int:
    """Train, compare, gate, report: the whole loop for where it runs.

    On a pull_request job: publish the comment, check run and status. On a push to the
    base branch: record the metrics as a git note and push it. Anywhere else, or with
    --dry-run: everything but the network, written to the report directory."""
    from mlci import jobs, workspace

    ctx = _context()
    ws = workspace.open_workspace(config, report_name=name, cache=not no_cache)
    outcome = jobs.run(ws, ctx, dry_run=dry_run, base=base, out=out, strict_publish=strict_publish)
    output.result(outcome.text)
    return outcome.exit_code


@app.command()
def publish(
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    out: OutOpt = None,
    strict_publish: StrictOpt = False,
    name: NameOpt = None,
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Post the report directory another job uploaded (a fork's pull request), "
            "in a workflow_run job: no checkout needed.",
        ),
    ] = None,
) -> int:
    """Post the last rendered report on the pull request.

    The sticky comment, the check run and the status; the exit code is the verdict."""
    from mlci import jobs, workspace

    ctx = _context()
    if from_dir is not None:
        return jobs.publish_from(ctx, from_dir, strict=strict_publish)
    ws = workspace.open_workspace(config, report_name=name)
    return jobs.publish_last(ws, ctx, out, dry_run=dry_run, strict=strict_publish)


@app.command()
def merge(
    dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="DIR...",
            help="The report directories of the jobs (`mlci run --dry-run --name JOB --out DIR`).",
        ),
    ],
    name: NameOpt = None,
    dry_run: DryRunOpt = False,
    out: OutOpt = None,
    strict_publish: StrictOpt = False,
    config: ConfigOpt = None,
) -> int:
    """Combine the reports of a matrix of jobs into one report and one verdict.

    A leaderboard of the jobs, each job's rules, one plot across jobs; on a pull_request
    job, one comment, one check run and one status. Exit 1 when any job failed or its
    directory is missing, half-written or of another commit."""
    from mlci import matrix as merging
    from mlci import workspace

    ctx = _context()
    ws = workspace.open_workspace(config, report_name=name, optional=True)
    done = merging.run(ws, ctx, dirs, out=out, dry_run=dry_run, strict=strict_publish)
    output.result(done.text)
    return done.exit_code


def _context() -> CIContext:
    """Where we run. The token is never printed, not even as an ::add-mask:: line: the
    runner masks its secrets already, and a log captured with tee would keep it."""
    from mlci import ci

    return ci.from_env()


@app.command()
def report(config: ConfigOpt = None, out: OutOpt = None, name: NameOpt = None) -> int:
    """Render the report of the last comparison.

    report.md (the PR comment), report.html, result.json and plots."""
    from mlci import pipeline, workspace

    ws = workspace.open_workspace(config, report_name=name)
    outcome = pipeline.report_last(ws, out)
    output.result(pipeline.summary_lines(outcome, ws.config.precision))
    return 0  # rendered: the verdict is the exit code of `mlci gate` and `mlci run`


@app.command()
def record(
    push: Annotated[
        bool, typer.Option("--push", help="Push refs/notes/mlci to the remote.")
    ] = False,
    remote: Annotated[str, typer.Option("--remote", help="The remote to push to.")] = "origin",
    config: ConfigOpt = None,
) -> int:
    """Store this commit's metrics as a git note (on the base branch).

    Trains first when HEAD has no run record; pull requests then compare against the
    note without retraining the base branch."""
    from mlci import notes, workspace

    ws = workspace.open_workspace(config)
    output.result(notes.record(ws, push=push, remote=remote).summary())
    return 0


@app.command()
def history(
    ref: Annotated[
        str | None, typer.Option("--ref", help="Branch to walk (default: the base branch).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Newest noted commits.")] = 50,
    metric: Annotated[str | None, typer.Option("--metric", "-m", help="Only this metric.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw the trend into this directory.")
    ] = None,
    config: ConfigOpt = None,
) -> int:
    """Show the metrics along the base branch, from the notes.

    Oldest first, as a table or JSON; --plot draws the trend of one metric."""
    from mlci import pipeline, workspace

    ws = workspace.open_workspace(config)
    text, drawn = pipeline.history(
        ws, ref=ref, limit=limit, metric=metric, as_json=as_json, plot=plot
    )
    output.result(text)
    if drawn is not None:
        output.info(f"mlci: trend plot written to {_shown(drawn)}")
    return 0


@app.command()
def demo(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Where to make the demo repository (default: a new temp dir)."),
    ] = None,
) -> int:
    """Run the whole loop on a throwaway example repository.

    Copies the bundled example, commits it on main, makes a PR branch that changes the
    model, and runs `mlci run --dry-run` on it."""
    from mlci.commands import demo as demos

    result = demos.run(directory)
    output.result(result.text)
    return 0


@app.command()
def init(
    no_try: Annotated[
        bool, typer.Option("--no-try", help="Do not train once to see which metrics come out.")
    ] = False,
) -> int:
    """Write mlci.yaml and a GitHub workflow from what the repository already has.

    Reads dvc.yaml, CML/Actions workflows, params.yaml, dvclive and metric files; writes
    mlci.yaml here, a workflow and the fork publish workflow (never overwriting), trains
    once unless --no-try and gates the metrics that came out; adds .mlci/ to .gitignore."""
    from mlci.git import repo as gitrepo
    from mlci.resources import templates_dir
    from mlci.scaffold import files as scaffold

    repo = gitrepo.Repo(Path.cwd())
    workflows = templates_dir() / "workflows"
    branch = repo.default_branch() or repo.current_branch() or "main"
    result = scaffold.init(
        Path.cwd(),
        repo,
        workflow=(workflows / "mlci.yml").read_text(encoding="utf-8"),
        publish=(workflows / "mlci-publish.yml").read_text(encoding="utf-8"),
        base_branch=branch,
        try_training=not no_try,
    )
    output.result(result.summary(_shown))
    if result.failure is not None:
        raise result.failure
    return 0


def _shown(path: Path | None) -> str:
    from mlci.config import display_path

    return display_path(path) if path is not None else "-"


def main() -> None:
    """The console script: the one error boundary that maps failures to exit codes."""
    signal.signal(signal.SIGTERM, _terminated)  # CI cancelling a job: clean up like Ctrl-C
    code = run(sys.argv[1:])
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # `mlci history | head -1`: the reader has all it wanted
        output.discard_stdout()
    sys.exit(code)


def _usage_line(e: Exception, argv: list[str]) -> str:
    """A command-line mistake as the one line every error is: what, where, what to do."""
    ctx = getattr(e, "ctx", None)
    where = ctx.command_path if ctx is not None else _command_path(argv)
    what = e.format_message().rstrip(".") if hasattr(e, "format_message") else str(e)
    return one_line(f"mlci: error: {what} ({where}). Run `{where} --help` to see what it takes.")


def _command_path(argv: list[str]) -> str:
    """`mlci CMD` for an error click raised before it knew the command (`run --out` with
    no value): the first word after the global options, when it is a command."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    word = next((a for a in argv if not a.startswith("-")), None)
    return f"mlci {word}" if word in commands else "mlci"


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(argv: list[str]) -> int:
    """Run the CLI in-process and return its exit code (tests call this)."""
    try:  # typer >= 0.29 vendors click
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import ClickException  # type: ignore[no-redef, assignment, unused-ignore]

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
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `mlci`: the help is the answer
            e.show()
        else:
            output.error(_usage_line(e, argv))
        return int(Exit.USAGE)
    except BrokenPipeError:  # printed outside output.result (help, usage): nothing went wrong
        output.discard_stdout()
        return 0
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
    if code == Exit.INTERRUPTED:  # typer turns Ctrl-C (and our SIGTERM) into a 130 return
        output.error("mlci: interrupted")
    return int(code) if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
