"""General memory and disk headroom (the model-specific fit is the memory-insufficient check's job)."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import DISK, MEMORY
from llamadoctor.facts import Disk, Facts, Memory
from llamadoctor.i18n import _
from llamadoctor.llama import weight_bytes
from llamadoctor.llama.releases import release
from llamadoctor.model import Broken, Finding, Group, Healthy, Severity
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu, mac_arm, windows_conda

GiB = 1024**3
RAM_LOW = 8 * GiB
DISK_LOW = 20 * GiB
# bf16 weights of the releases a user might fall back to, smallest first.
MODELS = tuple(
    (name, weight_bytes(release(name), "bf16"))
    for name in ("Llama 3.2 1B", "Llama 3.2 3B", "Llama 2 7B", "Llama 3 8B", "Llama 2 13B")
)
SEVEN_B = weight_bytes(release("Llama 2 7B"), "bf16")


def gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB"


def largest_fitting(available: int) -> str:
    fits = [(name, size) for name, size in MODELS if size < available]
    if not fits:
        return _("not even Llama 3.2 1B (2.3 GiB in bf16) fits")
    name, size = fits[-1]
    return _("the largest Llama that fits is {name} ({size} in bf16)").format(name=name, size=gib(size))


@check(
    id="ram-low",
    summary="Little RAM is available for loading a model",
    severity=Severity.WARNING,
    group=Group.SYSTEM,
    requires=(MEMORY,),
    checked=lambda facts: _("{ram} RAM available (8.0 GiB wanted)").format(ram=gib(facts.memory.ram_available)),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda(memory=Memory(16 * GiB, 9 * GiB))),
        Broken(linux_gpu(memory=Memory(16 * GiB, 5 * GiB, 2 * GiB)), expect="Only 5.0 GiB of 16.0 GiB RAM"),
        Broken(mac_arm(memory=Memory(8 * GiB, 3 * GiB)), expect="also the GPU's memory"),
    ],
)
def ram_low(facts: Facts) -> Iterator[Finding]:
    """Available RAM is too small to load a 7B Llama.

    What it checks: the RAM available now (not just installed) against 8 GiB.
    Why it matters: Meta's loader reads a whole shard into RAM before it moves to the GPU, so a 7B model needs
    about 12.6 GiB (13.5 GB) of RAM in bf16 even on a GPU machine; when it is not there the process is killed
    without a Python error (`failed (exitcode: -9)`). On Apple Silicon the same memory is the GPU's.
    How to fix: close other programs, add swap (or raise WSL's memory limit), or use a smaller model (Llama
    3.2 1B/3B) or a quantized GGUF with llama.cpp/Ollama. The model checks give the exact fit for a model.
    """
    memory = facts.memory
    if memory.ram_available >= RAM_LOW:
        return
    swap = _(" (plus {swap} swap)").format(swap=gib(memory.swap_total)) if memory.swap_total else ""
    unified = _(" On Apple Silicon this is also the GPU's memory.") if facts.platform.hardware_arm64 else ""
    yield ram_low.finding(
        # TRANSLATORS: {swap} is empty or " (plus 2.0 GiB swap)"; {fits} names the largest Llama that fits;
        # {unified} is empty or a sentence about Apple Silicon.
        _(
            "Only {available} of {total} RAM is available{swap}: loading a 7B Llama takes about {seven_b} in bf16; "
            "{fits}.{unified}"
        ).format(
            available=gib(memory.ram_available),
            total=gib(memory.ram_total),
            swap=swap,
            seven_b=gib(SEVEN_B),
            fits=largest_fitting(memory.ram_available),
            unified=unified,
        ),
        remedy=_("close other programs or add swap; or run Llama 3.2 1B/3B, or a quantized GGUF (llama.cpp, Ollama)"),
        ram_available=memory.ram_available,
        ram_total=memory.ram_total,
        swap_total=memory.swap_total,
    )


@check(
    id="disk-low",
    summary="Little free disk space for downloading a model",
    severity=Severity.WARNING,
    group=Group.SYSTEM,
    requires=(DISK,),
    checked=lambda facts: _("{free} free on {path} (20.0 GiB wanted)").format(
        free=gib(facts.disk.free), path=facts.disk.path
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),
        Broken(linux_gpu(disk=Disk("/home/ada", 256 * GiB, 9 * GiB)), expect="Only 9.0 GiB free on /home/ada"),
        Broken(windows_conda(disk=Disk("C:\\Users\\ada", 256 * GiB, int(19.5 * GiB))), expect="C:\\Users\\ada"),
    ],
)
def disk_low(facts: Facts) -> Iterator[Finding]:
    """Free disk space is too small for a 7B download.

    What it checks: free space on the disk of the working folder (or `--repo`) against 20 GiB.
    Why it matters: a 7B download is 12.6 GiB (13.5 GB) and an 8B one 15.0 GiB; converting to Hugging Face
    format writes about as much again. A full disk truncates files (later: checksum failures, "PytorchStreamReader
    failed reading zip archive") or stops a conversion with "PytorchStreamWriter failed writing file".
    How to fix: free space, or download into a folder on a larger disk.
    """
    disk = facts.disk
    if disk.free >= DISK_LOW:
        return
    yield disk_low.finding(
        _(
            "Only {free} free on {path} (of {total}): a 7B Llama is {seven_b} to download, and converting it to "
            "Hugging Face format needs about as much again."
        ).format(free=gib(disk.free), path=disk.path, total=gib(disk.total), seven_b=gib(SEVEN_B)),
        remedy=_("free space on {path}, or download the model into a folder on a larger disk").format(path=disk.path),
        path=disk.path,
        free=disk.free,
        total=disk.total,
    )
