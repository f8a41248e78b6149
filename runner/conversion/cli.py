"""`llamadoctor convert`: the command line of `llamadoctor.runner.conversion.convert`.

Registered by the main CLI as `app.command("convert")(convert)`. Importing this module stays cheap (no torch,
no safetensors): the doctor starts in well under half a second. Bad input is one line and exit 2; a refusal
for lack of disk, a damaged input or a failed write is one line and exit 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from llamadoctor.errors import path_option
from llamadoctor.i18n import N_, _
from llamadoctor.output import SETTINGS, stderr_console

INSTALL_HINT = (N_("`llamadoctor convert` needs PyTorch"), "pip install 'llamadoctor[run]'")


def _progress(total_bytes: int, total_tensors: int) -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = stderr_console()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        # TRANSLATORS: {done} and {total} count tensors; the braces stay for rich to fill in.
        TextColumn(_("{done}/{total} tensors").format(done="{task.fields[tensors]}", total=total_tensors)),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal or SETTINGS.quiet,
    )


def _hash_progress() -> Any:
    from llamadoctor.progress import rich_progress

    return rich_progress(stderr_console())


def convert(
    model_dir: Annotated[Path, path_option("--model-dir", help="Meta folder: params.json + consolidated.*.pth.")],
    out: Annotated[Path, path_option("--out", help="Folder to create (written beside it, renamed at the end).")],
    to: Annotated[
        Optional[str], typer.Option("--to", help="hf (transformers, vLLM; the default) or meta (with --shards).")
    ] = None,
    shards: Annotated[
        Optional[int], typer.Option("--shards", help="Meta output with N model-parallel shards: 1 merges.")
    ] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="auto (keep the checkpoint's), bf16, fp16, fp32.")] = "auto",
    quantize: Annotated[
        Optional[str],
        typer.Option(
            "--quantize",
            help="int8 or int4: write llamadoctor's quantized folder, which `run` loads with no work "
            "(other tools refuse it).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace --out if an earlier convert wrote it; convert even if `check` finds the model damaged.",
        ),
    ] = False,
) -> None:
    """Convert a Meta checkpoint to Hugging Face format, or merge/split its shards, in constant memory."""
    if to is None:
        to = "hf" if shards is None else "meta"  # `convert --shards 2` alone means Meta shards
    from llamadoctor.runner.errors import RunError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise RunError(_(INSTALL_HINT[0]), INSTALL_HINT[1]) from None
    from llamadoctor.runner.conversion import convert as conv

    request = conv.Request(
        model_dir=model_dir, out=out, to=to, shards=shards, dtype=dtype, force=force, quantize=quantize
    )
    state: dict[str, Any] = {}
    hashing = contextlib.ExitStack()  # the md5 bar of the model checks, closed before the conversion's own

    def on_plan(plan: Any) -> None:
        hashing.close()
        writing = _("{summary}: writing {size} to {out}")
        typer.echo(writing.format(summary=plan.summary, size=conv._gb(plan.tensor_bytes), out=out), err=True)
        progress = _progress(plan.tensor_bytes, len(plan.items))
        progress.start()
        state["progress"] = progress
        state["task"] = progress.add_task(_("converting"), total=plan.tensor_bytes, tensors=0)
        state["n"] = 0

    def on_tensor(spec: Any) -> None:
        state["n"] += 1
        state["progress"].update(state["task"], advance=spec.nbytes, tensors=state["n"])

    try:
        hash_progress = hashing.enter_context(_hash_progress()) if sys.stderr.isatty() else None
        result = conv.convert(
            request, free_bytes=conv.disk_free, on_tensor=on_tensor, on_plan=on_plan, hash_progress=hash_progress
        )
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP):
            raise  # a path that can't be: bad input, worded by the common handler
        why = exc.strerror or str(exc)
        raise RunError(
            # TRANSLATORS: {reason} is the operating system's reason (e.g. no space left on device).
            _("writing {out} failed: {reason}").format(out=out, reason=why),
            _("free disk space, or choose an --out you can write to"),
        ) from None
    finally:
        hashing.close()
        if "progress" in state:
            state["progress"].stop()
    wrote = _("wrote {out} ({files} weight file(s), {tensors} tensors)")
    typer.echo(wrote.format(out=result.out, files=len(result.files), tensors=result.tensors))


def main() -> None:  # pragma: no cover - `python -m llamadoctor.runner.conversion.cli` until the lead registers it
    app = typer.Typer(add_completion=False)
    app.command()(convert)
    app(prog_name="llamadoctor convert")


if __name__ == "__main__":  # pragma: no cover
    main()
