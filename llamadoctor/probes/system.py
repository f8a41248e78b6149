"""The OS, memory, disk, the user's shell, tools on PATH and selected environment variables."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from llamadoctor.facts import ENV_VARS, SECRET_ENV, Disk, Memory, Platform, Tools
from llamadoctor.paths import disk_usage
from llamadoctor.probes.proc import Run, output, run

# Package managers are looked up too, so install advice names the one this machine has.
TOOLS = (
    "wget",
    "curl",
    "md5sum",
    "md5",
    "bash",
    "git",
    "git-lfs",
    "nvidia-smi",
    "apt-get",
    "dnf",
    "pacman",
    "brew",
    "wsl",
)


def os_name(sys_platform: str = sys.platform) -> str:
    if sys_platform.startswith("win"):
        return "windows"
    return "darwin" if sys_platform == "darwin" else "linux"


def probe_platform(*, runner: Run = run, root: Path = Path("/")) -> Platform:
    name = os_name()
    machine = platform.machine()
    hardware_arm64 = False
    if name == "darwin":
        # Under Rosetta the interpreter says x86_64; the kernel still knows the CPU is arm64.
        hardware_arm64 = (
            machine == "arm64" or (output(["sysctl", "-n", "hw.optional.arm64"], 2.0, runner) or "").strip() == "1"
        )
    wsl = False
    if name == "linux":
        try:
            wsl = "microsoft" in (root / "proc" / "version").read_text(errors="replace").lower()
        except OSError:
            wsl = False
    return Platform(
        name,
        machine,
        platform.release(),
        hardware_arm64,
        wsl,
        socket.gethostname(),
        detect_shell(name, os.environ),
        os.cpu_count() or 1,
    )


def detect_shell(name: str, environ: Mapping[str, str]) -> str:
    """The syntax the user types commands in: bash, zsh, powershell or cmd."""
    parent = ""
    try:
        import psutil

        parent = psutil.Process().parent().name().lower()  # type: ignore[union-attr]
    except Exception:
        parent = ""
    for shell in ("pwsh", "powershell", "cmd", "zsh", "bash", "fish"):
        if parent.startswith(shell):
            return "powershell" if shell == "pwsh" else ("bash" if shell == "fish" else shell)
    if name == "windows":
        return "powershell" if "PSModulePath" in environ and "PROMPT" not in environ else "cmd"
    shell = Path(environ.get("SHELL", "bash")).name
    return "zsh" if shell == "zsh" else "bash"


def probe_memory() -> Memory:
    import psutil

    vm = psutil.virtual_memory()
    try:
        swap = int(psutil.swap_memory().total)
    except Exception:  # some containers deny /proc/swaps
        swap = 0
    return Memory(int(vm.total), int(vm.available), swap)


def probe_disk(path: Path) -> Disk:
    total, free = disk_usage(path)
    return Disk(str(path), total, free)


def probe_tools(path_var: Optional[str], *, runner: Run = run) -> Tools:
    found = {}
    for tool in TOOLS:
        location = shutil.which(tool, path=path_var)
        if location:
            found[tool] = location
    bash_version = None
    if "bash" in found and os_name() != "windows":  # on Windows `bash` may start WSL: too slow to ask
        text = output([found["bash"], "-c", "echo $BASH_VERSION"], 3.0, runner)
        bash_version = text.strip().split("(")[0] if text else None
    return Tools(found, bash_version)


def selected_env(environ: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The variables worth reporting, and the names of secrets that are set (never their values)."""
    shown = {name: environ[name] for name in ENV_VARS if name in environ}
    secrets = tuple(name for name in SECRET_ENV if environ.get(name))
    return shown, secrets
