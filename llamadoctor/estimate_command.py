"""`llamadoctor estimate`: validate what was asked, probe this machine's memory, print the estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llamadoctor.errors import UsageError, readable_dir
from llamadoctor.i18n import _
from llamadoctor.redact import redacting_console


def estimate_here(
    model_dir: Path,
    dtype: str,
    max_seq_len: int,
    max_batch_size: int,
    nproc: Optional[int],
    device: str,
    json_out: bool,
    *,
    quantize: Optional[str] = None,
    quiet: bool = False,
) -> None:
    """`quiet`: only the verdict line (what fits), as `check -q` prints only its verdict."""
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
    from llamadoctor.jsonable import dumps
    from llamadoctor.llama import QUANTIZATIONS

    if dtype not in (*DTYPES, "auto"):
        choices = ", ".join(DTYPES)
        raise UsageError(
            _("--dtype must be auto or one of {choices}, not {value}").format(choices=choices, value=repr(dtype))
        )
    if device not in ("auto", "cuda", "mps", "cpu"):
        raise UsageError(_("--device must be auto, cuda, mps or cpu, not {value}").format(value=repr(device)))
    if quantize is not None and quantize not in QUANTIZATIONS:
        # TRANSLATORS: {choices} is "int8 or int4", joined with the " or " translated just below.
        raise UsageError(
            _("--quantize must be {choices}, not {value}").format(
                choices=_(" or ").join(QUANTIZATIONS), value=repr(quantize)
            )
        )
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
        print(dumps("estimate", estimate_json(est, room)))
    elif quiet:
        print(verdict(est, room))
    else:
        console = redacting_console(highlight=False)
        console.print(render_estimate(est))
        print()
        console.print(render_precisions(est, room))
        print(verdict(est, room))
