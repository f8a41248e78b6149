"""The GPUs a CUDA process would see: those found, narrowed by CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

from llamadoctor.facts import Facts, Gpu
from llamadoctor.i18n import _


def _match(entry: str, gpus: tuple[Gpu, ...]) -> Gpu | None:
    if entry.isdigit():
        return next((g for g in gpus if g.index == int(entry)), None)
    if entry.startswith(("GPU-", "MIG-")):
        found = [g for g in gpus if g.uuid and g.uuid.startswith(entry)]
        return found[0] if len(found) == 1 else None
    return None


def visible_gpus(facts: Facts) -> tuple[Gpu, ...]:
    """All GPUs found, unless CUDA_VISIBLE_DEVICES lists some (by index or UUID). As CUDA does, the list ends
    at the first entry that names no GPU (or one already listed): "" and "-1" hide every GPU."""
    raw = facts.env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return facts.gpu.gpus
    seen: list[Gpu] = []
    for entry in raw.split(","):
        gpu = _match(entry.strip(), facts.gpu.gpus)
        if gpu is None or gpu in seen:
            break
        seen.append(gpu)
    return tuple(seen)


def hidden_note(facts: Facts) -> str:
    """' (CUDA_VISIBLE_DEVICES=0 shows 1 of 2)' when the variable hides some GPUs, else ''."""
    raw = facts.env.get("CUDA_VISIBLE_DEVICES")
    shown, found = len(visible_gpus(facts)), len(facts.gpu.gpus)
    if raw is None or shown == found:
        return ""
    return _(" (CUDA_VISIBLE_DEVICES={value} shows {shown} of the {found} found)").format(
        value=repr(raw), shown=shown, found=found
    )
