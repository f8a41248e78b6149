"""The llamadoctor command line. Thin: parse, call the engine, render, choose the exit code."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import typer.core

from llamadoctor import __version__, cli_input, errors, output
from llamadoctor.cli_options import (
    BatchOpt,
    JsonOpt,
    ModelDirOpt,
    NoColorOpt,
    NprocOpt,
    PythonOpt,
    QuietOpt,
    RepoOpt,
    SeqOpt,
)
from llamadoctor.errors import HandledGroup, UsageError, path_option, readable_dir
from llamadoctor.i18n import _
from llamadoctor.redact import redacting_console
from llamadoctor.runner.cli import app as run_app
from llamadoctor.runner.conversion.cli import convert

app = typer.Typer(
    name="llamadoctor",
    cls=HandledGroup,
    help="Find and fix what stops Meta's Llama from running on this machine, then prove it runs.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"llamadoctor {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[bool, output.quiet_option()] = False,
    no_color: Annotated[bool, output.no_color_option()] = False,
) -> None:
    """llamadoctor: checks, fixes and a bundled runner for Meta's Llama."""
    output.configure(quiet=quiet, no_color=no_color, reset=True)
    ctx.call_on_close(lambda: output.configure(reset=True))  # a command line's settings end with it


def _ids(values: Optional[list[str]]) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


@app.command()
def check(
    python: PythonOpt = None,
    repo: RepoOpt = None,
    model_dir: ModelDirOpt = None,
    nproc: NprocOpt = None,
    max_seq_len: SeqOpt = 512,
    max_batch_size: BatchOpt = 6,
    dtype: Annotated[Optional[str], typer.Option(help="bf16, fp16 or fp32 for the memory estimate.")] = None,
    url: Annotated[
        Optional[str],
        typer.Option(
            help="A signed download URL to diagnose (never printed); - reads it from stdin; "
            f"default: ${cli_input.URL_VARIABLE}."
        ),
    ] = None,
    only: Annotated[
        Optional[list[str]], typer.Option(help="Run only these check ids.", autocompletion=cli_input.complete_check_ids)
    ] = None,
    skip: Annotated[
        Optional[list[str]], typer.Option(help="Skip these check ids.", autocompletion=cli_input.complete_check_ids)
    ] = None,
    deep: Annotated[bool, typer.Option(help="Also import torch (in a subprocess) and test the device.")] = False,
    no_hash: Annotated[bool, typer.Option("--no-hash", help="Don't verify checksums of model files.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document (schema 1).")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown report for a bug report.")] = False,
    strict: Annotated[bool, typer.Option(help="Warnings fail too (exit 1).")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show what each check looked at or why it did not apply, and each probe's timing."
        ),
    ] = False,
    search_depth: Annotated[int, typer.Option(min=0, help="Folder levels under --repo searched for models.")] = 1,
    distributed: Annotated[
        bool, typer.Option("--distributed", help="Under torchrun: check every rank and node, one report on rank 0.")
    ] = False,
    hash_shards: Annotated[
        bool, typer.Option("--hash", help="With --distributed: compare each rank's shard by md5, once per node.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="With --distributed: seconds a rank may stay silent before it is reported.")
    ] = 60.0,
    nnodes: Annotated[
        Optional[int],
        typer.Option(min=1, help="With --distributed: the nodes the job should have (default: torchrun's --nnodes)."),
    ] = None,
    model_file: Annotated[
        Optional[list[Path]], path_option("--model-file", help="A GGUF or GGML model file (repeatable).")
    ] = None,
    hf_repo: Annotated[
        Optional[list[str]], typer.Option(help="A Hugging Face repository you will download, owner/name.")
    ] = None,
    online: Annotated[bool, typer.Option(help="Ask the Hugging Face hub whether --hf-repo is gated.")] = False,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
) -> None:
    """Diagnose this machine, the target Python and your Llama files."""
    from llamadoctor.doctor import Diagnosis, diagnose
    from llamadoctor.facts import Options
    from llamadoctor.fixing import keep_applicable
    from llamadoctor.probes.stacks import StackRequest
    from llamadoctor.report import render_human, render_json, render_markdown, render_quiet
    from llamadoctor.signed_url import unparsable

    output.configure(quiet=quiet, no_color=no_color)
    only_ids, skip_ids = _ids(only), _ids(skip)
    cli_input.check_options(json_out=json_out, markdown=markdown, only=only_ids, skip=skip_ids)
    url = cli_input.signed_url(url)

    if url is not None and unparsable(url):
        not_url = _("--url is not a URL ({reason})").format(reason=unparsable(url))
        raise UsageError(not_url, _("paste the whole link from Meta's email, in quotes"))
    options = Options(
        nproc=nproc,
        max_seq_len=max_seq_len,
        max_batch_size=max_batch_size,
        dtype=dtype,
        url=url,
        no_hash=no_hash,
        deep=deep,
    )
    diagnosis = Diagnosis(
        python,
        repo,
        tuple(model_dir or ()),
        options,
        only_ids,
        skip_ids,
        search_depth,
        StackRequest(tuple(model_file or ()), tuple(hf_repo or ()), online),
    )
    if not distributed and (hash_shards or timeout != 60.0 or nnodes is not None):
        raise UsageError(
            _("--hash, --timeout and --nnodes belong to --distributed"),
            _("add --distributed and run it under torchrun"),
        )
    if distributed:
        from llamadoctor.job_command import JobOutput, check_distributed

        argv = sys.argv[sys.argv.index("check") :] if "check" in sys.argv else ["check", "--distributed"]
        raise typer.Exit(
            check_distributed(
                diagnosis,
                JobOutput(json_out, markdown, strict),
                hash_shards=hash_shards,
                timeout=timeout,
                nodes=nnodes,
                argv=argv,
            )
        )
    # Offer only the fixes that plan something here (`fix` plans them itself, once).
    human = not (json_out or markdown)
    if deep and human and output.watching():
        importing = _("Importing torch in {python} to test the device...").format(python=python or sys.executable)
        output.stderr_console().print(importing)
    report = keep_applicable(diagnose(diagnosis, progress=human))
    if json_out:
        print(render_json(report, strict=strict))
    elif markdown:
        print(render_markdown(report), end="")
    elif output.SETTINGS.quiet:
        render_quiet(report, redacting_console(highlight=False))
    else:
        render_human(report, redacting_console(highlight=False), verbose=verbose, strict=strict)
    raise typer.Exit(report.exit_code(strict=strict))


@app.command("list")
def list_checks(
    check_id: Annotated[
        Optional[str],
        typer.Argument(
            metavar="[ID]",
            help="Print this check's, fix's or failure's documentation.",
            autocompletion=cli_input.complete_ids,
        ),
    ] = None,
    failures: Annotated[
        bool, typer.Option("--failures", help="List the known failures `explain` finds in logs instead.")
    ] = False,
    json_out: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="With --failures: the coverage table.")] = False,
    no_color: NoColorOpt = False,
) -> None:
    """List every check and fix (or every known failure), or explain one."""
    from llamadoctor import coverage
    from llamadoctor.catalogue import catalogue_data, explain, render_catalogue, render_failures
    from llamadoctor.jsonable import dumps

    output.configure(no_color=no_color)
    console = redacting_console(highlight=False)
    if json_out and check_id is not None:
        raise UsageError("--json lists the catalogue; `llamadoctor list ID` explains one id in words")
    if markdown and (not failures or check_id is not None or json_out):
        raise UsageError("--markdown goes with --failures alone: the coverage table")
    if json_out:
        print(
            coverage.to_json() if failures else dumps("catalogue", catalogue_data()), end="\n" if not failures else ""
        )
    elif markdown:
        print(coverage.to_markdown(), end="")
    elif check_id is not None:
        explain(check_id, console)
    elif failures:
        render_failures(console)
    else:
        render_catalogue(console)


class _Explain(typer.core.TyperCommand):
    """Keeps what follows `--`: the command to run, which click alone would mix with the log argument."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["explain.command"] = args[args.index("--") + 1 :] if "--" in args else None
        return super().parse_args(ctx, args)


@app.command(cls=_Explain)
def explain(
    ctx: typer.Context,
    words: Annotated[
        Optional[list[str]], typer.Argument(metavar="[LOG | - | -- COMMAND...]", help="A log file, - for stdin.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document (schema 1).")] = False,
    no_checks: Annotated[
        bool, typer.Option("--no-checks", help="Don't run the checks that confirm each cause on this machine.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="With -- COMMAND: seconds after which the command is stopped.")
    ] = 24 * 3600.0,
    quiet: QuietOpt = False,
) -> None:
    """Paste the error, get the cause and the fix for this machine.

    [bold]explain error.log[/bold]: a saved log. [bold]some-command 2>&1 | llamadoctor explain[/bold]: its output
    (or [bold]explain -[/bold]; a paste into a terminal ends with Ctrl-D, on Windows Ctrl-Z then Enter).
    [bold]explain -- torchrun ...[/bold]: check what the command line makes relevant, run it with its output
    live, and explain its failure.

    Exit codes: for a log, 1 when it shows a known failure and 0 when it shows none; with -- COMMAND, the
    command's own exit code (124 when --timeout stopped it); 2 for bad input.
    """
    from llamadoctor.explaining.session import Output, explain_command, explain_log

    output.configure(quiet=quiet)
    shown = Output(json=json_out, checks=not no_checks, quiet=output.SETTINGS.quiet)
    command = ctx.meta.get("explain.command")
    words = list(words or ())
    if command is not None:
        if len(words) != len(command):
            raise UsageError(_("give a log or a command after --, not both"))
        if not command:
            raise UsageError(_("no command after --"), "llamadoctor explain -- torchrun --nproc_per_node 1 script.py")
        raise typer.Exit(explain_command(command, shown, timeout))
    if len(words) > 1:
        one = _("one log at a time, not {count}").format(count=len(words))
        raise UsageError(one, _("to run a command, put -- before it"))
    raise typer.Exit(explain_log(words[0] if words else None, shown))


@app.command()
def fix(
    ids: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="[ID]...",
            help="Check ids (or fix ids) to repair; default: all.",
            autocompletion=cli_input.complete_ids,
        ),
    ] = None,
    python: PythonOpt = None,
    repo: RepoOpt = None,
    model_dir: ModelDirOpt = None,
    nproc: NprocOpt = None,
    max_seq_len: SeqOpt = 512,
    max_batch_size: BatchOpt = 6,
    no_hash: Annotated[bool, typer.Option("--no-hash", help="Don't verify checksums of model files.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply the safe fixes without asking.")] = False,
    unsafe: Annotated[bool, typer.Option(help="Also apply fixes that edit your code (diff shown).")] = False,
    write_read_only: Annotated[
        bool, typer.Option("--write-read-only", help="Also rewrite files that are read-only (their mode is kept).")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="With --dry-run: print the plan as JSON (schema 1).")
    ] = False,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
) -> None:
    """Repair what the checks found: plan, show, back up, apply atomically, re-check."""
    from llamadoctor import apply, fixing, journal
    from llamadoctor.doctor import Diagnosis, diagnose, facts_for
    from llamadoctor.facts import Options
    from llamadoctor.jsonable import dumps
    from llamadoctor.plan_json import plan_data
    from llamadoctor.redact import redact

    output.configure(quiet=quiet, no_color=no_color)
    if json_out and not dry_run:
        raise UsageError(_("--json shows a plan: use it with --dry-run"), "llamadoctor fix --dry-run --json")
    # Quiet hides the plan only when nobody is asked to agree to it.
    console = redacting_console(highlight=False, quiet=json_out or (output.SETTINGS.quiet and (yes or dry_run)))
    for line in apply.recover():
        console.print(line, soft_wrap=True, markup=False)
    journal.prune()
    diagnosis = Diagnosis(
        python,
        repo,
        tuple(model_dir or ()),
        Options(nproc=nproc, max_seq_len=max_seq_len, max_batch_size=max_batch_size, no_hash=no_hash),
    )
    report = diagnose(diagnosis, progress=not json_out)
    planned = fixing.plan(report, ids or ())
    if json_out:
        note = "" if planned else fixing.nothing_to_fix(report, ids or ())
        print(dumps("fix-plan", plan_data(planned, unsafe=unsafe, note=note)))
        raise typer.Exit(0 if planned else fixing.exit_code(fixing.untouched(report, ids or ())))
    if not planned:
        console.print(fixing.nothing_to_fix(report, ids or ()))
        raise typer.Exit(fixing.exit_code(fixing.untouched(report, ids or ())))
    fixing.render_plan(planned, console, report.facts.platform.shell)
    if dry_run:
        raise typer.Exit(0)
    if any(fixing.would_apply(item, unsafe) for item in planned):
        try:
            apply.check_writable()
        except apply.ApplyError as exc:
            print(f"llamadoctor: error: {redact(str(exc))}", file=sys.stderr)
            raise typer.Exit(1) from None
        if not yes and (not sys.stdin.isatty() or not fixing.ask("\n" + _("Apply the fixes above?"))):
            console.print(_("Nothing changed. Re-run with --yes to apply."))
            raise typer.Exit(1)
        console.print()
    summary = fixing.apply(
        report,
        planned,
        unsafe=unsafe,
        recheck=lambda: facts_for(diagnosis, progress=True),
        wanted=ids or (),
        write_read_only=write_read_only,
    )
    fixing.render_outcomes(summary.outcomes, redacting_console(highlight=False))
    again = [
        *(["--python", python] if python else []),
        *(["--repo", str(repo)] if repo else []),
        *[arg for folder in model_dir or () for arg in ("--model-dir", str(folder))],
    ]
    fixing.render_left(summary, redacting_console(highlight=False), again=again, shell=report.facts.platform.shell)
    raise typer.Exit(fixing.exit_code(summary))


@app.command()
def undo(
    entry_id: Annotated[
        Optional[str], typer.Argument(metavar="[ENTRY]", help="Journal entry, or the start of one (default: last).")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List what fixes changed, newest first.")] = False,
    force: Annotated[bool, typer.Option(help="Undo even if the files changed after the fix.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="With --list: print the journal as JSON (schema 1).")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Put back exactly what a fix changed (bytes and file modes)."""
    from llamadoctor import apply, undo_command

    output.configure(quiet=quiet)
    if json_out and not list_:
        raise UsageError(_("--json lists the journal: use it with --list"), "llamadoctor undo --list --json")
    for line in apply.recover():
        print(line, file=sys.stderr if json_out else sys.stdout)
    journal = apply.read_all()
    if list_:
        undo_command.show_list(journal, json_out)
        raise typer.Exit(0)
    raise typer.Exit(undo_command.undo(undo_command.pick(journal, entry_id), force))


@app.command()
def estimate(
    model_dir: Annotated[Path, path_option("--model-dir", help="A Meta or Hugging Face model folder.")],
    dtype: Annotated[str, typer.Option(help="auto (as `run` picks for the device), bf16, fp16 or fp32.")] = "auto",
    max_seq_len: SeqOpt = 512,
    max_batch_size: BatchOpt = 6,
    nproc: Annotated[
        Optional[int], typer.Option(**errors.NPROC, help="Processes (default: one per Meta shard).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto (as `run` picks), cuda, mps or cpu.")] = "auto",
    quantize: Annotated[
        Optional[str], typer.Option(help="int8 or int4: the weights as `run --quantize` stores them.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """How much memory a model needs (weights, KV cache, overhead, per device) and whether it fits here."""
    from llamadoctor.estimate_command import estimate_here

    output.configure(quiet=quiet)
    estimate_here(
        model_dir,
        dtype,
        max_seq_len,
        max_batch_size,
        nproc,
        device,
        json_out,
        quantize=quantize,
        quiet=output.SETTINGS.quiet,
    )


# ---- reports to share, and comparing two ---------------------------------------------------------------------


@app.command("report")
def bug_report(
    python: PythonOpt = None,
    repo: RepoOpt = None,
    model_dir: ModelDirOpt = None,
    no_hash: Annotated[bool, typer.Option("--no-hash", help="Don't verify checksums of model files.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (check's schema 1, and more).")
    ] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown for an issue (the default).")] = False,
    output: Annotated[
        Optional[Path], path_option("--output", "-o", help="Write the report to this file instead.")
    ] = None,
) -> None:
    """Everything a maintainer asks for in a bug report, with home folder, user, host and addresses masked.

    The verdict and findings, OS, CPU and its vector extensions, RAM, GPU, driver, CUDA, cuDNN, the target
    Python, torch, the libraries of this field installed there, Ollama, and the model folders. Tokens and
    signed URLs never appear; the report ends by saying what was masked.
    """
    import json

    from llamadoctor import bugreport
    from llamadoctor.doctor import Diagnosis, diagnose
    from llamadoctor.facts import Options
    from llamadoctor.fixing import keep_applicable

    cli_input.check_options(json_out=json_out, markdown=markdown, only=(), skip=())
    target = bugreport.output_target(output) if output is not None else None
    diagnosis = Diagnosis(python, repo, tuple(model_dir or ()), Options(no_hash=no_hash))
    report = keep_applicable(diagnose(diagnosis, progress=True))
    data = bugreport.build(report, bugreport.this_machine(report.facts))
    text = json.dumps(data, indent=2) + "\n" if json_out else bugreport.render_markdown(data)
    if target is None:
        print(text, end="")
    else:
        bugreport.write_report(target, text)
        print(_("wrote the report to {path}").format(path=target), file=sys.stderr)


@app.command("diff")
def diff_reports(
    a: Annotated[Path, typer.Argument(metavar="A.json", help="A report --json or check --json output.")],
    b: Annotated[Path, typer.Argument(metavar="B.json", help="Another, from a second machine or day.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    everything: Annotated[
        bool, typer.Option("--all", help="Also compare facts that change on every run (free memory, timings).")
    ] = False,
) -> None:
    """Show what differs between two reports, the checks whose result changed first.

    Then the facts those checks read, then every other fact.

    Exit codes: 0 the two agree, 1 they differ, 2 bad input (a file that is not a llamadoctor report).
    """
    import json

    from llamadoctor import compare

    result = compare.compare(compare.load(a), compare.load(b), everything=everything)
    if json_out:
        print(json.dumps(compare.to_data(result), indent=2))
    else:
        compare.render(result, redacting_console(highlight=False))
    raise typer.Exit(0 if result.same else 1)


# The runner and the converter ship in the same wheel; their modules import torch only inside the commands.
app.add_typer(run_app, name="run")


@functools.wraps(convert)
def _convert(**options: Any) -> None:
    readable_dir(options["model_dir"], "--model-dir")  # worded as every other command says it
    convert(**options)


app.command("convert")(_convert)


def main() -> None:
    """The console script: every command runs inside HandledGroup's one error handler and output filter.

    One name however it is started (`python -m llamadoctor` too), so shell completion finds its variable."""
    app(prog_name="llamadoctor")


__all__ = ["UsageError", "app", "main"]
