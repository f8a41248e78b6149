"""`llamadoctor estimate`: the memory a model folder needs to run here, and whether it fits.

The formula is `llamadoctor.llama.memory`'s, the one `check` and `run` use; this module reads the folder the
way `check` does (the file probe), picks the device and dtype the way `run` does, and renders the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamadoctor.facts import GpuInfo, Memory
from llamadoctor.i18n import N_, _
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
        raise ModelDirError(
            _("{path} has neither params.json (Meta format) nor config.json (Hugging Face format)").format(path=path)
        )
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
        stored=stored is not None,
    )


# ---- where it must fit -------------------------------------------------------------------------------------


# The memory a run draws on, as `estimate` names it (in English in --json, translated for people).
GPU_FREE = N_("GPU {index} ({name}) free")
NO_GPU = N_("GPU memory (no NVIDIA GPU found)")
UNIFIED = N_("unified memory available (Apple Silicon)")
RAM = N_("RAM available")


@dataclass(frozen=True)
class Room:
    """The memory a run would draw on: each GPU's free memory, or the machine's available RAM."""

    device: str
    available: int  # bytes: per GPU (the least free of those used) or RAM for all processes
    place: str  # GPU_FREE, NO_GPU, UNIFIED or RAM
    gpu_index: int = 0
    gpu_name: str = ""

    @property
    def where(self) -> str:
        """Which memory, in English (as `--json` says it)."""
        return self.place.format(index=self.gpu_index, name=self.gpu_name)

    def where_shown(self) -> str:
        """Which memory, in the language of the person reading."""
        return _(self.place).format(index=self.gpu_index, name=self.gpu_name)


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
        return Room(device, least.memory_free, GPU_FREE, least.index, least.name)
    if device == "cuda":
        return Room(device, 0, NO_GPU)
    return Room(device, memory.ram_available, UNIFIED if device == "mps" else RAM)


def verdict(est: Estimate, room: Room) -> str:
    """One line: fits or does not fit, in GiB, with the ways out when it does not."""
    if est.shares_one_memory:
        need = _("needs {needed} ({device}, {precision}) of {available} {where}")
    else:
        need = _("needs {needed} per GPU ({device}, {precision}) of {available} {where}")
    need = need.format(
        needed=gib(est.needed_bytes),
        device=est.device,
        precision=est.precision,
        available=gib(room.available),
        where=room.where_shown(),
    )
    if est.needed_bytes <= room.available:
        return _("Fits: {need}.").format(need=need)
    exits = ways_out(est, room.available)
    if not exits:
        return _("Does not fit: {need}.").format(need=need)
    # TRANSLATORS: {ways} lists other settings that would fit, separated by the "; " translated just below.
    return _("Does not fit: {need}. Ways out: {ways}.").format(need=need, ways=_("; ").join(exits))


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
    """The same run at every dtype, then quantized (int8, int4) at its dtype: what `estimate` sets side by side.
    A quantized folder runs at its own quantization only: that, at every dtype (of the norms and activations)."""
    if est.stored:
        return [est.with_(dtype=d) for d in DTYPE_BYTES]
    out = [est.with_(dtype=d, quantize=None) for d in DTYPE_BYTES]
    return out + [est.with_(quantize=q) for q in QUANTIZATIONS]


def render_precisions(est: Estimate, room: Room) -> Any:
    """A rich Table: each precision's weights and total need, and whether it fits in `room`."""
    from rich.table import Table

    title = _("Every precision against {available} {where}").format(
        available=gib(room.available), where=room.where_shown()
    )
    table = Table(title=title, box=None, pad_edge=False)
    for name, justify in ((_("precision"), "left"), (_("weights"), "right"), (_("needed"), "right"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for e in precisions(est):
        fits = _("fits") if e.needed_bytes <= room.available else _("does not fit")
        flag = "" if e.quantize is None else f"  (--quantize {e.quantize})"
        table.add_row(e.precision + flag, gib(e.weights_bytes // e.nproc), gib(e.needed_bytes), fits)
    return table


def render_estimate(est: Estimate, title: str = "") -> Any:
    """A rich Table of the estimate: print it with `console.print(render_estimate(est))`."""
    from rich.table import Table

    table = Table(title=title or None, show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("")
    table.add_column(_("bytes"), justify="right")
    table.add_column("", style="dim")
    a = est.arch
    table.add_row(
        _("parameters"),
        f"{est.params:,}",
        _("dim {dim}, {layers} layers, {heads} heads ({kv_heads} KV), vocab {vocab}").format(
            dim=a.dim, layers=a.n_layers, heads=a.n_heads, kv_heads=a.kv_heads, vocab=a.vocab_size
        ),
    )
    shared = est.nproc > 1
    per = _("per device x {count}").format(count=est.nproc) if shared else ""
    table.add_row(_("weights ({precision})").format(precision=est.precision), gib(est.weights_bytes // est.nproc), per)
    batch = _("batch {batch} x {seq} tokens per device x {count}") if shared else _("batch {batch} x {seq} tokens")
    table.add_row(
        _("KV cache"),
        gib(est.kv_cache_bytes // est.nproc),
        batch.format(batch=est.max_batch_size, seq=est.max_seq_len, count=est.nproc),
    )
    table.add_row(_("activations"), gib(est.activation_bytes), _("one forward pass"))
    table.add_row(_("runtime overhead"), gib(est.overhead_bytes), est.device)
    table.add_row(
        _("[bold]needed[/bold]"),
        f"[bold]{gib(est.per_device_bytes)}[/bold]",
        _("per device, {count} devices: {total}").format(count=est.nproc, total=gib(est.total_bytes)) if shared else "",
    )
    return table
