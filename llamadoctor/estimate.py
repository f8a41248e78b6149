"""`llamadoctor estimate`: the memory a model folder needs to run here, and whether it fits.

The formula is `llamadoctor.llama.memory`'s, the one `check` and `run` use; this module reads the folder the
way `check` does (the file probe), picks the device and dtype the way `run` does, and renders the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadoctor.facts import GpuInfo, Memory
from llamadoctor.llama import Estimate, ParamsError, estimate, ways_out
from llamadoctor.llama.memory import DTYPE_BYTES, QUANTIZATIONS, GiB
from llamadoctor.llama.quantized import folder_quantization


class ModelDirError(ValueError):
    """A folder the estimator cannot read an architecture from; str() is one line for the user."""


def estimate_for_model_dir(
    path: Path | str,
    dtype: str | None = None,
    max_seq_len: int = 512,
    max_batch_size: int = 6,
    nproc: int | None = None,
    device: str = "cuda",
    capability: tuple[int, int] | None = None,
    quantize: str | None = None,
) -> Estimate:
    """The estimate for a model folder. Raises ModelDirError (a ValueError) with one readable line for a
    folder that is not a model. nproc None: one process per Meta shard (the model-parallel size)."""
    from llamadoctor.model_info import params_of
    from llamadoctor.probes.files import inspect_model_dir

    path = Path(path).expanduser()
    model = inspect_model_dir(path)
    if model.error:
        raise ModelDirError(f"{path} {model.error}")
    if model.params_error:
        raise ModelDirError(f"{path / str(model.params_file)} {model.params_error}")
    try:
        params = params_of(model)
    except ParamsError as exc:
        raise ModelDirError(str(exc)) from None
    if params is None:
        raise ModelDirError(f"{path} has neither params.json (Meta format) nor config.json (Hugging Face format)")
    if nproc is None:
        nproc = max(1, len(model.meta_shards)) if model.format == "meta" else 1
    stored = folder_quantization(model.params)
    if stored is not None and quantize not in (None, stored):
        raise ModelDirError(f"{path} holds {stored} weights (convert --quantize): --quantize {quantize} cannot apply")
    return estimate(
        params,
        dtype=dtype,
        device=device,
        max_seq_len=max_seq_len,
        max_batch_size=max_batch_size,
        nproc=nproc,
        capability=capability,
        quantize=stored or quantize,
    )


# ---- where it must fit -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Room:
    """The memory a run would draw on: each GPU's free memory, or the machine's available RAM."""

    device: str
    available: int  # bytes: per GPU (the least free of those used) or RAM for all processes
    where: str


def probe_machine(device: str) -> tuple[GpuInfo, Memory]:
    """The GPUs (only when the device may be one) and the RAM, from the doctor's probes."""
    from llamadoctor.probes import gpu as gpu_probe
    from llamadoctor.probes import system

    gpus = GpuInfo()
    if device != "cpu":
        platform = system.probe_platform()
        gpus = gpu_probe.probe_gpus(os_name=platform.os, hardware_arm64=platform.hardware_arm64, root=Path("/"))
    return gpus, system.probe_memory()


def pick_device(gpus: GpuInfo) -> str:
    """`run --device auto` on this machine: an NVIDIA GPU, else Apple's GPU, else the CPU."""
    if gpus.gpus:
        return "cuda"
    return "mps" if gpus.apple_silicon else "cpu"


def room_on(device: str, nproc: int, gpus: GpuInfo, memory: Memory) -> Room:
    if device == "cuda" and gpus.gpus:
        used = gpus.gpus[:nproc]
        least = min(used, key=lambda g: g.memory_free)
        return Room(device, least.memory_free, f"GPU {least.index} ({least.name}) free")
    if device == "cuda":
        return Room(device, 0, "GPU memory (no NVIDIA GPU found)")
    where = "unified memory available (Apple Silicon)" if device == "mps" else "RAM available"
    return Room(device, memory.ram_available, where)


def verdict(est: Estimate, room: Room) -> str:
    """One line: fits or does not fit, in GiB, with the ways out when it does not."""
    per = " per GPU" if not est.shares_one_memory else ""
    need = f"needs {gib(est.needed_bytes)}{per} ({est.device}, {est.precision}) of {gib(room.available)} {room.where}"
    if est.needed_bytes <= room.available:
        return f"Fits: {need}."
    exits = ways_out(est, room.available)
    return f"Does not fit: {need}." + (f" Ways out: {'; '.join(exits)}." if exits else "")


# ---- output ------------------------------------------------------------------------------------------------


def gib(n: int) -> str:
    return f"{n / GiB:.2f} GiB"


def estimate_json(est: Estimate, room: Room | None = None) -> dict[str, Any]:
    """The estimate as plain data for `--json` (bytes as integers)."""
    a = est.arch
    data: dict[str, Any] = {
        "architecture": {
            "dim": a.dim,
            "n_layers": a.n_layers,
            "n_heads": a.n_heads,
            "n_kv_heads": a.kv_heads,
            "vocab_size": a.vocab_size,
            "ffn_dim": a.hidden_dim,
            "head_dim": a.head_dim,
        },
        "parameters": est.params,
        "dtype": est.dtype,
        "quantize": est.quantize,
        "device": est.device,
        "max_seq_len": est.max_seq_len,
        "max_batch_size": est.max_batch_size,
        "nproc": est.nproc,
        "bytes": {
            "weights": est.weights_bytes,
            "kv_cache": est.kv_cache_bytes,
            "activations_per_device": est.activation_bytes,
            "overhead_per_device": est.overhead_bytes,
            "per_device": est.per_device_bytes,
            "total": est.total_bytes,
            "needed": est.needed_bytes,
        },
    }
    if room is not None:
        data["fits"] = {"available": room.available, "where": room.where, "fits": est.needed_bytes <= room.available}
        data["precisions"] = [
            {
                "dtype": e.dtype,
                "quantize": e.quantize,
                "weights": e.weights_bytes,
                "needed": e.needed_bytes,
                "fits": e.needed_bytes <= room.available,
            }
            for e in precisions(est)
        ]
    return data


def precisions(est: Estimate) -> list[Estimate]:
    """The same run at every dtype, then quantized (int8, int4) at its dtype: what `estimate` sets side by side."""
    out = [est.with_(dtype=d, quantize=None) for d in DTYPE_BYTES]
    return out + [est.with_(quantize=q) for q in QUANTIZATIONS]


def render_precisions(est: Estimate, room: Room) -> Any:
    """A rich Table: each precision's weights and total need, and whether it fits in `room`."""
    from rich.table import Table

    table = Table(title=f"Every precision against {gib(room.available)} {room.where}", box=None, pad_edge=False)
    for name, justify in (("precision", "left"), ("weights", "right"), ("needed", "right"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in precisions(est):
        fits = "fits" if e.needed_bytes <= room.available else "does not fit"
        flag = "" if e.quantize is None else f"  (--quantize {e.quantize})"
        table.add_row(e.precision + flag, gib(e.weights_bytes // e.nproc), gib(e.needed_bytes), fits)
    return table


def render_estimate(est: Estimate, title: str = "") -> Any:
    """A rich Table of the estimate: print it with `console.print(render_estimate(est))`."""
    from rich.table import Table

    per = f" per device x {est.nproc}" if est.nproc > 1 else ""
    table = Table(title=title or None, show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("")
    table.add_column("bytes", justify="right")
    table.add_column("", style="dim")
    a = est.arch
    table.add_row(
        "parameters",
        f"{est.params:,}",
        f"dim {a.dim}, {a.n_layers} layers, {a.n_heads} heads ({a.kv_heads} KV), vocab {a.vocab_size}",
    )
    table.add_row(f"weights ({est.precision})", gib(est.weights_bytes // est.nproc), per.strip())
    table.add_row(
        "KV cache",
        gib(est.kv_cache_bytes // est.nproc),
        f"batch {est.max_batch_size} x {est.max_seq_len} tokens{per}",
    )
    table.add_row("activations", gib(est.activation_bytes), "one forward pass")
    table.add_row("runtime overhead", gib(est.overhead_bytes), est.device)
    table.add_row(
        "[bold]needed[/bold]",
        f"[bold]{gib(est.per_device_bytes)}[/bold]",
        f"per device, {est.nproc} devices: {gib(est.total_bytes)}" if est.nproc > 1 else "",
    )
    return table
