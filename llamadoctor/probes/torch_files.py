"""Torch's facts from its installed files, without importing it (an import costs ~2 s and may crash).

torch/version.py states the version and the CUDA/HIP build; the files in torch/lib say whether libuv made it
into a Windows build; the extension module's binary header says which CPU architecture it was built for.
From the build and the OS follow NCCL (Linux CUDA/ROCm builds only), gloo and MPS.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Optional

from llamadoctor.facts import TorchInfo
from llamadoctor.reading import read_regular

_ASSIGN = re.compile(r"^(__version__|cuda|hip)\s*(?::[^=]*)?=\s*(?:'([^']*)'|\"([^\"]*)\"|None)", re.M)

# Binary header machine codes -> the names platform.machine() uses for the interpreter.
_ELF = {0x3E: "x86_64", 0xB7: "aarch64", 0x03: "i386", 0x15: "ppc64le", 0x16: "s390x"}
_MACHO = {0x01000007: "x86_64", 0x0100000C: "arm64"}
_PE = {0x8664: "AMD64", 0xAA64: "ARM64", 0x014C: "x86"}
_SAME_ARCH = ({"x86_64", "amd64"}, {"arm64", "aarch64"})


def read_version_py(text: str) -> dict[str, Optional[str]]:
    found: dict[str, Optional[str]] = {}
    for match in _ASSIGN.finditer(text):
        found.setdefault(match.group(1), match.group(2) or match.group(3))
    return found


def binary_archs(path: Path) -> set[str]:
    """The CPU architectures an ELF, Mach-O (thin or fat) or PE file was built for; empty if unknown."""
    try:
        head = read_regular(path, 4096)
    except OSError:
        return set()
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        order = "<" if head[5] == 1 else ">"
        return {_ELF.get(struct.unpack(order + "H", head[18:20])[0], "unknown")}
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe") and len(head) >= 8:
        return {_MACHO.get(struct.unpack("<I", head[4:8])[0], "unknown")}
    if head[:4] == b"\xca\xfe\xba\xbe" and len(head) >= 8:  # universal binary: big-endian arch table
        count = struct.unpack(">I", head[4:8])[0]
        cputypes = [struct.unpack(">I", head[8 + 20 * i : 12 + 20 * i])[0] for i in range(min(count, 8))]
        return {_MACHO.get(c, "unknown") for c in cputypes}
    if head[:2] == b"MZ" and len(head) >= 64:
        offset = struct.unpack("<I", head[60:64])[0]
        if head[offset : offset + 4] == b"PE\0\0":
            return {_PE.get(struct.unpack("<H", head[offset + 4 : offset + 6])[0], "unknown")}
    return set()


def arch_compatible(built: set[str], machine: str) -> bool:
    if not built or "unknown" in built:
        return True
    wanted = machine.lower()
    for family in _SAME_ARCH:
        if wanted in family:
            return any(b.lower() in family for b in built)
    return any(b.lower() == wanted for b in built)


def _extension(torch_dir: Path) -> Optional[Path]:
    for pattern in ("_C.*.so", "_C.*.pyd", "_C.so", "_C.pyd"):
        found = sorted(torch_dir.glob(pattern))
        if found:
            return found[0]
    return None


def _text(path: Path) -> str:
    return read_regular(path, 1024 * 1024).decode("utf-8", "replace")


def _installed_version(torch_dir: Path) -> Optional[str]:
    for dist in sorted(torch_dir.parent.glob("torch-*.dist-info")):
        try:
            for line in _text(dist / "METADATA").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            continue
    return None


def _why_broken(torch_dir: Path, extension: Optional[Path], machine: str, version_py: bool) -> Optional[str]:
    if not version_py:
        return f"{torch_dir / 'version.py'} is missing: the install is incomplete"
    if extension is None:
        return f"torch's compiled extension (_C) is missing from {torch_dir}: the install is incomplete"
    built = binary_archs(extension)
    if not arch_compatible(built, machine):
        return (
            f"{extension.name} is built for {'/'.join(sorted(built))} but this Python is {machine} "
            f"(incompatible architecture)"
        )
    return None


def torch_from_files(
    torch_dir: Optional[str], *, os_name: str, machine: str, find_error: Optional[str] = None
) -> TorchInfo:
    """TorchInfo for the torch package at torch_dir (as found by the target interpreter)."""
    if torch_dir is None:
        return TorchInfo(installed=False, broken=find_error) if find_error else TorchInfo(installed=False)
    root = Path(torch_dir)
    try:
        text = _text(root / "version.py")
        has_version_py = True
    except OSError:
        text, has_version_py = "", False
    fields = read_version_py(text)
    version = fields.get("__version__") or _installed_version(root)
    cuda, hip = fields.get("cuda"), fields.get("hip")
    extension = _extension(root)
    gpu_build = cuda is not None or hip is not None
    return TorchInfo(
        installed=True,
        version=version,
        cuda=cuda,
        hip=hip,
        location=str(root),
        nccl=os_name == "linux" and gpu_build,
        gloo=True,
        libuv=_has_libuv(root) if os_name == "windows" else True,
        mps=os_name == "darwin" and machine.lower() == "arm64",
        arch_list=_arch_list(version, cuda),
        arch_list_source="build table" if cuda else "",
        broken=_why_broken(root, extension, machine, has_version_py),
        source="files",
        cudnn=_cudnn_major(root) if gpu_build else None,
    )


def _has_libuv(torch_dir: Path) -> bool:
    lib = torch_dir / "lib"
    return any((lib / name).exists() for name in ("uv.dll", "libuv.dll"))


_CUDNN = re.compile(r"^(?:lib)?cudnn(?:64_(\d+)\.dll|\.so\.(\d+))$")


def _cudnn_major(torch_dir: Path) -> Optional[str]:
    """The cuDNN a build carries in torch/lib (Windows wheels, some Linux builds); None when it relies on the
    nvidia-cudnn distribution or the system's."""
    try:
        names = [entry.name for entry in (torch_dir / "lib").iterdir()]
    except OSError:
        return None
    for name in sorted(names):
        match = _CUDNN.match(name)
        if match:
            return match.group(1) or match.group(2)
    return None


def _arch_list(version: Optional[str], cuda: Optional[str]) -> tuple[str, ...]:
    if not version or not cuda:
        return ()
    try:
        from llamadoctor.torch_builds import arch_list_for
    except ImportError:  # the build table ships with the torch-build checks
        return ()
    return tuple(arch_list_for(version, cuda))
