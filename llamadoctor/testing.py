"""Facts for any machine, built on any machine: the scenarios checks are tested against.

    from llamadoctor.testing import linux_gpu, windows_conda, torch_info
    facts = windows_conda(torch=torch_info("2.5.1+cu121", cuda="12.1", nccl=False, libuv=False))

Every builder returns a complete, healthy-looking Facts for that platform; pass keyword overrides (any Facts
field) to break exactly one thing. `replace_in(facts, "torch", nccl=False)` changes one field of one part.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from llamadoctor.facts import (
    Disk,
    Facts,
    Gpu,
    GpuInfo,
    Launcher,
    Memory,
    Network,
    Platform,
    PythonEnv,
    Tools,
    TorchInfo,
)

GiB = 1024**3
ARCHS_CU121 = ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")


def torch_info(version: str = "2.3.1", *, cuda: Optional[str] = None, **fields: Any) -> TorchInfo:
    """A healthy torch of that version; CUDA builds get NCCL and the matching arch list unless told."""
    cuda_build = cuda is not None
    if cuda is not None and "+" not in version:
        version = f"{version}+cu{cuda.replace('.', '')}"
    defaults: dict[str, Any] = {
        "installed": True,
        "version": version,
        "cuda": cuda,
        "location": "/usr/lib/python3/site-packages/torch",
        "nccl": cuda_build,
        "gloo": True,
        "libuv": True,
        "mps": False,
        "arch_list": ARCHS_CU121 if cuda_build else (),
        "arch_list_source": "build table" if cuda_build else "",
    }
    defaults.update(fields)
    return TorchInfo(**defaults)


def no_torch() -> TorchInfo:
    return TorchInfo(installed=False)


def gpu(
    name: str = "NVIDIA GeForce RTX 3090",
    *,
    vram_gib: float = 24,
    free_gib: Optional[float] = None,
    cc: tuple[int, int] = (8, 6),
    index: int = 0,
) -> Gpu:
    free = vram_gib - 0.5 if free_gib is None else free_gib
    return Gpu(index, name, int(vram_gib * GiB), int(free * GiB), cc)


def nvidia(*gpus: Gpu, driver: str = "535.104.05", driver_cuda: str = "12.2") -> GpuInfo:
    return GpuInfo(gpus=gpus or (gpu(),), driver_version=driver, driver_cuda=driver_cuda, source="nvml")


def _tools(os_name: str) -> Tools:
    if os_name == "windows":
        return Tools(found={"git": r"C:\Program Files\Git\cmd\git.exe", "curl": r"C:\Windows\System32\curl.exe"})
    names = ("wget", "md5sum", "bash", "git", "curl")
    if os_name == "darwin":
        return Tools(found={n: f"/opt/homebrew/bin/{n}" for n in names}, bash_version="5.2.26")
    return Tools(found={n: f"/usr/bin/{n}" for n in names}, bash_version="5.2.15")


def make_facts(os_name: str = "linux", **overrides: Any) -> Facts:
    """A healthy machine of that OS with a CPU-only torch; override any Facts field."""
    if os_name == "windows":
        prefix = r"C:\Users\ada\miniconda3\envs\llama"
        python = PythonEnv(prefix + r"\python.exe", "3.10.14", "AMD64", prefix, prefix + r"\Scripts", "conda")
        launcher = Launcher(
            prefix + r"\Scripts\torchrun-script.py", "conda-script", python.executable, True, "#!" + python.executable
        )
        platform = Platform("windows", "AMD64", "10", hostname="ADA-PC", shell="powershell", cpu_count=8)  # noqa: S604
        disk = Disk("C:\\Users\\ada", 512 * GiB, 200 * GiB)
    else:
        home = "/Users/ada" if os_name == "darwin" else "/home/ada"
        prefix = f"{home}/llama/.venv"
        machine = "arm64" if os_name == "darwin" else "x86_64"
        python = PythonEnv(f"{prefix}/bin/python", "3.11.9", machine, prefix, f"{prefix}/bin", "venv")
        launcher = Launcher(f"{prefix}/bin/torchrun", "script", python.executable, True, "#!" + python.executable)
        platform = Platform(
            os_name,
            machine,
            "23.5.0" if os_name == "darwin" else "6.1.0",
            hardware_arm64=os_name == "darwin",
            hostname="ada-box",
            shell="zsh" if os_name == "darwin" else "bash",
            cpu_count=8,
        )
        disk = Disk(home, 1000 * GiB, 400 * GiB)
    torch = torch_info(mps=os_name == "darwin", nccl=False, libuv=os_name != "windows")
    fields: dict[str, Any] = {
        "platform": platform,
        "python": python,
        "torch": torch,
        "gpu": GpuInfo(apple_silicon=os_name == "darwin"),
        "memory": Memory(32 * GiB, 24 * GiB, 8 * GiB),
        "disk": disk,
        "tools": _tools(os_name),
        "torchrun": launcher,
        "path_torchrun": launcher,
        "network": Network(),
    }
    fields.update(overrides)
    return Facts(**fields)


def replace_in(facts: Facts, part: str, **changes: Any) -> Facts:
    """Copy of `facts` with fields of one part replaced: replace_in(f, "torch", nccl=False)."""
    return dataclasses.replace(facts, **{part: dataclasses.replace(getattr(facts, part), **changes)})


# ---- named scenarios ---------------------------------------------------------------------------------------


def linux_cpu(**overrides: Any) -> Facts:
    """Linux, no GPU, a CPU build of torch: healthy for CPU inference."""
    return make_facts("linux", **overrides)


def linux_gpu(**overrides: Any) -> Facts:
    """Linux with one RTX 3090 and a matching CUDA 12.1 build of torch."""
    base = {"gpu": nvidia(), "torch": torch_info("2.3.1", cuda="12.1")}
    base.update(overrides)
    return make_facts("linux", **base)


def debian_system_python(**overrides: Any) -> Facts:
    """Debian's /usr/bin/python3 outside any venv: externally managed (PEP 668), pip refuses to install."""
    python = PythonEnv("/usr/bin/python3", "3.11.2", "x86_64", "/usr", "/usr/bin", "system", externally_managed=True)
    base: dict[str, Any] = {"python": python, "torch": no_torch()}
    base.update(overrides)
    return make_facts("linux", **base)


def linux_cpu_only_torch(**overrides: Any) -> Facts:
    """The classic: an NVIDIA GPU, but pip installed the CPU wheel."""
    base = {"gpu": nvidia(), "torch": torch_info("2.3.1+cpu", nccl=False)}
    base.update(overrides)
    return make_facts("linux", **base)


def windows_conda(**overrides: Any) -> Facts:
    """Windows 11, a conda env, an RTX 4070 and a CUDA build of torch (no NCCL, no libuv: as shipped)."""
    base = {
        "gpu": nvidia(gpu("NVIDIA GeForce RTX 4070", vram_gib=12, cc=(8, 9)), driver="546.33", driver_cuda="12.3"),
        "torch": torch_info(
            "2.3.1",
            cuda="12.1",
            nccl=False,
            libuv=False,
            location=r"C:\Users\ada\miniconda3\envs\llama\Lib\site-packages\torch",
        ),
    }
    base.update(overrides)
    return make_facts("windows", **base)


def mac_arm(**overrides: Any) -> Facts:
    """An Apple Silicon Mac with an arm64 Python and torch with MPS."""
    return make_facts("darwin", **overrides)


def mac_arm_x86_python(**overrides: Any) -> Facts:
    """An Apple Silicon Mac running an x86_64 Python under Rosetta."""
    facts = make_facts("darwin", **overrides)
    return replace_in(replace_in(facts, "python", machine="x86_64"), "platform", machine="x86_64")
