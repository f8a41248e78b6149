"""The llamadoctor command line. Thin: parse, call the engine, render, choose the exit code."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import typer.core

from llamadoctor import __version__, errors
from llamadoctor.errors import HandledGroup, UsageError, path_option, readable_dir
from llamadoctor.redact import redacting_console
from llamadoctor.runner.cli import app as run_app
from llamadoctor.runner.conversion.cli import convert

app = typer.Typer(
    name="llamadoctor",
    cls=HandledGroup,
    help="Find and fix what stops Meta's Llama from running on this machine, then prove it runs.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PythonOpt = Annotated[Optional[str], typer.Option("--python", help="Diagnose this interpreter's environment.")]
RepoOpt = Annotated[Optional[Path], path_option(help="Folder with Meta's download.sh and example scripts.")]
ModelDirOpt = Annotated[Optional[list[Path]], path_option("--model-dir", help="A model folder (repeatable).")]
NprocOpt = Annotated[
    Optional[int], typer.Option(**errors.NPROC, help="Processes you will give torchrun --nproc_per_node.")
]
SeqOpt = Annotated[int, typer.Option(**errors.SEQ_LEN, help="The --max_seq_len you will run with.")]
BatchOpt = Annotated[int, typer.Option(**errors.BATCH_SIZE, help="The --max_batch_size you will run with.")]


def _version(value: bool) -> None:
    if value:
        print(f"llamadoctor {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """llamadoctor: checks, fixes and a bundled runner for Meta's Llama."""


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
    url: Annotated[Optional[str], typer.Option(help="A signed download URL to diagnose (never printed).")] = None,
    only: Annotated[Optional[list[str]], typer.Option(help="Run only these check ids.")] = None,
    skip: Annotated[Optional[list[str]], typer.Option(help="Skip these check ids.")] = None,
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
    model_file: Annotated[
        Optional[list[Path]], path_option("--model-file", help="A GGUF or GGML model file (repeatable).")
    ] = None,
    hf_repo: Annotated[
        Optional[list[str]], typer.Option(help="A Hugging Face repository you will download, owner/name.")
    ] = None,
    online: Annotated[bool, typer.Option(help="Ask the Hugging Face hub whether --hf-repo is gated.")] = False,
) -> None:
    """Diagnose this machine, the target Python and your Llama files."""
    from llamadoctor.doctor import Diagnosis, diagnose
    from llamadoctor.facts import Options
    from llamadoctor.fixing import keep_applicable
    from llamadoctor.probes.stacks import StackRequest
    from llamadoctor.report import render_human, render_json, render_markdown
    from llamadoctor.signed_url import unparsable

    if url is not None and unparsable(url):
        raise UsageError(f"--url is not a URL ({unparsable(url)})", "paste the whole link from Meta's email, in quotes")
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
        _ids(only),
        _ids(skip),
        search_depth,
        StackRequest(tuple(model_file or ()), tuple(hf_repo or ()), online),
    )
    if not distributed and (hash_shards or timeout != 60.0):
        raise UsageError("--hash and --timeout belong to --distributed", "add --distributed and run it under torchrun")
    if distributed:
        from llamadoctor.job_command import check_distributed

        argv = sys.argv[sys.argv.index("check") :] if "check" in sys.argv else ["check", "--distributed"]
        raise typer.Exit(
            check_distributed(
                diagnosis, hash_shards=hash_shards, timeout=timeout, json_out=json_out, strict=strict, argv=argv
            )
        )
    # Offer only the fixes that plan something here (`fix` plans them itself, once).
    report = keep_applicable(diagnose(diagnosis, progress=not (json_out or markdown)))
    if json_out:
        print(render_json(report, strict=strict))
    elif markdown:
        print(render_markdown(report), end="")
    else:
        render_human(report, redacting_console(highlight=False), verbose=verbose, strict=strict)
    raise typer.Exit(report.exit_code(strict=strict))


@app.command("list")
def list_checks(
    check_id: Annotated[
        Optional[str], typer.Argument(metavar="[ID]", help="Print this check's or failure's documentation.")
    ] = None,
    failures: Annotated[
        bool, typer.Option("--failures", help="List the known failures `explain` finds in logs instead.")
    ] = False,
) -> None:
    """List every check (or every known failure), or explain one."""
    from llamadoctor.catalogue import explain, render_catalogue, render_failures

    console = redacting_console(highlight=False)
    if check_id is not None:
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

    output = Output(json=json_out, checks=not no_checks)
    command = ctx.meta.get("explain.command")
    words = list(words or ())
    if command is not None:
        if len(words) != len(command):
            raise UsageError("give a log or a command after --, not both")
        if not command:
            raise UsageError("no command after --", "llamadoctor explain -- torchrun --nproc_per_node 1 script.py")
        raise typer.Exit(explain_command(command, output, timeout))
    if len(words) > 1:
        raise UsageError(f"one log at a time, not {len(words)}", "to run a command, put -- before it")
    raise typer.Exit(explain_log(words[0] if words else None, output))


@app.command()
def fix(
    ids: Annotated[
        Optional[list[str]], typer.Argument(metavar="[ID]...", help="Check ids (or fix ids) to repair; default: all.")
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
) -> None:
    """Repair what the checks found: plan, show, back up, apply atomically, re-check."""
    from llamadoctor import apply, fixing
    from llamadoctor.doctor import Diagnosis, diagnose, facts_for
    from llamadoctor.facts import Options
    from llamadoctor.redact import redact

    console = redacting_console(highlight=False)
    for line in apply.recover():
        console.print(line, soft_wrap=True, markup=False)
    diagnosis = Diagnosis(
        python,
        repo,
        tuple(model_dir or ()),
        Options(nproc=nproc, max_seq_len=max_seq_len, max_batch_size=max_batch_size, no_hash=no_hash),
    )
    report = diagnose(diagnosis)
    planned = fixing.plan(report, ids or ())
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
        if not yes and (not sys.stdin.isatty() or not fixing.ask("\nApply the fixes above?")):
            console.print("Nothing changed. Re-run with --yes to apply.")
            raise typer.Exit(1)
        console.print()
    summary = fixing.apply(
        report,
        planned,
        unsafe=unsafe,
        recheck=lambda: facts_for(diagnosis),
        wanted=ids or (),
        write_read_only=write_read_only,
    )
    fixing.render_outcomes(summary.outcomes, console)
    again = [
        *(["--python", python] if python else []),
        *(["--repo", str(repo)] if repo else []),
        *[arg for folder in model_dir or () for arg in ("--model-dir", str(folder))],
    ]
    fixing.render_left(summary, console, again=again, shell=report.facts.platform.shell)
    raise typer.Exit(fixing.exit_code(summary))


@app.command()
def undo(
    entry_id: Annotated[Optional[str], typer.Argument(metavar="[ENTRY]", help="Journal entry (default: last).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List what fixes changed, newest first.")] = False,
    force: Annotated[bool, typer.Option(help="Undo even if the files changed after the fix.")] = False,
) -> None:
    """Put back exactly what a fix changed (bytes and file modes)."""
    from llamadoctor import apply
    from llamadoctor.redact import redact

    for line in apply.recover():
        print(line)
    journal = apply.read_all()
    if list_:
        for item in journal:
            print(item.describe())
        if not journal:
            print("No fixes have been applied.")
        raise typer.Exit(0)
    if entry_id is None:
        # The newest fix still in place; a damaged newer record is refused rather than skipped.
        candidates = [e for e in journal if isinstance(e, apply.Damaged) or e.state == "applied"]
        if not candidates:
            raise UsageError("there is no applied fix to undo (see `llamadoctor undo --list`)")
        entry = candidates[0]
    else:
        matches = [e for e in journal if e.id == entry_id]
        if not matches:
            raise UsageError(f"no journal entry {entry_id!r} (see `llamadoctor undo --list`)")
        entry = matches[0]
    try:
        if isinstance(entry, apply.Damaged):
            raise apply.ApplyError(
                f"journal entry {entry.id} is damaged ({entry.reason}); its backups stay in "
                f"{entry.folder} (see `llamadoctor undo --list`)"
            )
        restored = apply.undo(entry, force=force)
    except apply.ApplyError as exc:
        print(f"llamadoctor: error: {redact(str(exc))}", file=sys.stderr)
        raise typer.Exit(1) from None
    for path in restored:
        print(f"restored {path}")
    for step in entry.steps:
        if step.kind == "run":
            print(f"not undone: the command `{' '.join(step.argv)}` (remove what it made yourself if needed)")
    print(f"undid {entry.id} ({entry.fix})")


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
) -> None:
    """How much memory a model needs (weights, KV cache, overhead, per device) and whether it fits here."""
    import json

    from llamadoctor.doctor import DTYPES
    from llamadoctor.estimate import (
        ModelDirError,
        estimate_for_model_dir,
        estimate_json,
        pick_device,
        probe_machine,
        render_estimate,
        render_precisions,
        room_on,
        verdict,
    )
    from llamadoctor.llama import QUANTIZATIONS

    if dtype not in (*DTYPES, "auto"):
        raise UsageError(f"--dtype must be auto or one of {', '.join(DTYPES)}, not {dtype!r}")
    if device not in ("auto", "cuda", "mps", "cpu"):
        raise UsageError(f"--device must be auto, cuda, mps or cpu, not {device!r}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize must be {' or '.join(QUANTIZATIONS)}, not {quantize!r}")
    readable_dir(model_dir, "--model-dir")
    gpus, memory = probe_machine(device)
    device = pick_device(gpus) if device == "auto" else device
    capability = gpus.gpus[0].compute_capability if gpus.gpus else None
    try:
        est = estimate_for_model_dir(
            model_dir,
            dtype=dtype,
            max_seq_len=max_seq_len,
            max_batch_size=max_batch_size,
            nproc=nproc,
            device=device,
            capability=capability,
            quantize=quantize,
        )
    except ModelDirError as exc:
        raise UsageError(str(exc)) from None
    room = room_on(device, est.nproc, gpus, memory)
    if json_out:
        print(json.dumps(estimate_json(est, room), indent=2))
    else:
        console = redacting_console(highlight=False)
        console.print(render_estimate(est))
        print()
        console.print(render_precisions(est, room))
        print(verdict(est, room))


# The runner and the converter ship in the same wheel; their modules import torch only inside the commands.
app.add_typer(run_app, name="run")


@functools.wraps(convert)
def _convert(**options: Any) -> None:
    readable_dir(options["model_dir"], "--model-dir")  # worded as every other command says it
    convert(**options)


app.command("convert")(_convert)


def main() -> None:
    """The console script: every command runs inside HandledGroup's one error handler and output filter."""
    app()


__all__ = ["UsageError", "app", "main"]
