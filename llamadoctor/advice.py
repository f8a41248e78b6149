"""Remedies shared by checks and fixes: which torch to install here, which tools download.sh lacks and how to
install them, and how to say it in this shell."""

from __future__ import annotations

from dataclasses import dataclass

from llamadoctor.facts import Facts
from llamadoctor.shell import comment, render_argv
from llamadoctor.torch_builds import (
    flavour_covers,
    flavour_cuda,
    install_argv,
    min_driver,
    recommended_flavour,
    version_tuple,
    wheel_flavours_for_driver,
)

NEWEST_CUDA = "99.9"  # every flavour in the table is at or below this


@dataclass(frozen=True)
class TorchInstall:
    command: str  # in the user's shell, with the target interpreter
    flavour: str | None  # "cu121", "cpu", or None for PyPI's default wheel
    note: str = ""  # why this build, or what must happen first
    shell: str = "bash"

    @property
    def remedy(self) -> str:
        """The reasons as comment lines, then the commands each alone on its line: pasted together, all run."""
        notes = [comment(line, self.shell) for line in self.note.splitlines()]
        return "\n".join([*notes, self.command])


def capabilities(facts: Facts) -> list[tuple[int, int]]:
    return [g.compute_capability for g in facts.gpu.gpus if g.compute_capability]


def driver_label(facts: Facts) -> str:
    """'driver 535.104.05 (CUDA 12.2)', or what we know of it."""
    gpu = facts.gpu
    version = f"driver {gpu.driver_version}" if gpu.driver_version else "the NVIDIA driver"
    return f"{version} (CUDA {gpu.driver_cuda})" if gpu.driver_cuda else version


def _cuda_flavour(facts: Facts) -> tuple[str, str]:
    gpu, caps = facts.gpu, capabilities(facts)
    flavour = recommended_flavour(gpu.driver_cuda, caps, driver_version=gpu.driver_version, os_name=facts.os)
    if flavour:
        return flavour, f"{flavour} is the newest PyTorch CUDA build {driver_label(facts)} runs"
    covering = [f for f in wheel_flavours_for_driver(NEWEST_CUDA) if flavour_covers(f, caps)] or ["cu128"]
    if not gpu.driver_cuda:
        return covering[0], "the NVIDIA driver's CUDA version is unknown: check it with nvidia-smi"
    # The smallest driver update that makes a build with kernels for these GPUs run.
    newest_first = [f for f in covering if version_tuple(flavour_cuda(f)) > version_tuple(gpu.driver_cuda)]
    target = newest_first[-1] if newest_first else covering[0]
    need = min_driver(flavour_cuda(target), facts.os)
    return target, (
        f"no PyTorch CUDA build for these GPUs runs on {driver_label(facts)}: update the NVIDIA "
        f"driver to {need} or newer first (https://www.nvidia.com/Download/index.aspx)"
    )


def install_advice(facts: Facts, *, reinstall: bool = False) -> TorchInstall:
    """The pip command that installs the right torch build for this machine, for the target interpreter."""
    flavour: str | None = None
    note = ""
    if facts.gpu.gpus:
        flavour, note = _cuda_flavour(facts)
    elif facts.os == "linux":
        flavour, note = "cpu", "no NVIDIA GPU here: the CPU build avoids gigabytes of unused CUDA libraries"
    shell = facts.platform.shell
    if facts.python.externally_managed:
        steps = venv_steps(facts)
        steps.append(render_argv(install_argv(venv_python(facts), flavour), shell))
        note = "\n".join(filter(None, (note, externally_managed_note(facts))))
        return TorchInstall("\n".join(steps), flavour, note, shell)
    argv = install_argv(facts.python.executable, flavour, reinstall=reinstall)
    return TorchInstall(render_argv(argv, shell), flavour, note, shell)


VENV = "llama-venv"


def venv_python(facts: Facts) -> str:
    """The interpreter of the virtual environment `venv_steps` makes, relative to the folder they run in."""
    return f"{VENV}\\Scripts\\python.exe" if facts.os == "windows" else f"{VENV}/bin/python"


def venv_steps(facts: Facts) -> list[str]:
    """The command that makes a virtual environment from the target interpreter, in the user's shell."""
    return [render_argv([facts.python.executable, "-m", "venv", VENV], facts.platform.shell)]


def externally_managed_note(facts: Facts) -> str:
    """Why the advice makes a virtual environment: pip refuses `externally-managed-environment` Pythons."""
    return (
        f"{facts.python.executable} is managed by the system (PEP 668): its pip refuses to install "
        f"packages, so install into a virtual environment and run Llama with {venv_python(facts)} "
        "(if venv says ensurepip is not available: sudo apt install python3-venv)"
    )


# ---- the programs Meta's download.sh runs --------------------------------------------------------------

NEEDED = ("bash", "wget", "md5sum")
PACKAGE = {"bash": "bash", "wget": "wget", "md5sum": "coreutils"}  # md5sum ships in coreutils everywhere
LINUX_MANAGERS = (
    ("apt-get", "sudo apt-get install -y"),
    ("dnf", "sudo dnf install -y"),
    ("pacman", "sudo pacman -S --needed"),
)


def missing(facts: Facts) -> tuple[str, ...]:
    """The needed tools download.sh would not find, in the shell that would run it."""
    bash = facts.tools.found.get("bash", "")
    # Git for Windows' bash puts its own usr\bin (md5sum included) on PATH inside the script.
    git_bash = facts.os == "windows" and "\\git\\" in bash.lower()
    return tuple(n for n in NEEDED if not facts.tools.has(n) and not (git_bash and n == "md5sum"))


def install_commands(facts: Facts, names: tuple[str, ...]) -> tuple[str, ...]:
    """How to get `names` on this platform; several lines are alternatives (one per package manager)."""
    packages = " ".join(sorted({PACKAGE[n] for n in names if n != "bash" or facts.os == "linux"}))
    if facts.os == "darwin":
        return (f"brew install {packages}",) if packages else ()
    if facts.os == "windows":
        if "bash" in names:
            return ("wsl --install", "wsl -- sudo apt-get install -y wget coreutils")
        return ("winget install --exact --id JernejSimoncic.Wget",)
    known = [cmd for tool, cmd in LINUX_MANAGERS if facts.tools.has(tool)]
    return tuple(f"{cmd} {packages}" for cmd in (known[:1] or [cmd for _, cmd in LINUX_MANAGERS]))
