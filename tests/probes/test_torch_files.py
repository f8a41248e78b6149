"""Torch facts from installed files, on fake torch installs built in tmp_path."""

from __future__ import annotations

import struct
from pathlib import Path

from llamadoctor.probes.torch_files import arch_compatible, binary_archs, read_version_py, torch_from_files

ELF_X86 = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + struct.pack("<H", 0x3E) + b"\0" * 40
MACHO_X86 = b"\xcf\xfa\xed\xfe" + struct.pack("<I", 0x01000007) + b"\0" * 40
MACHO_ARM = b"\xcf\xfa\xed\xfe" + struct.pack("<I", 0x0100000C) + b"\0" * 40


def fake_torch(
    site: Path,
    version: str,
    cuda: str | None,
    *,
    ext: str = "_C.cpython-311-x86_64-linux-gnu.so",
    header: bytes = ELF_X86,
    libs: tuple[str, ...] = (),
) -> Path:
    root = site / "torch"
    (root / "lib").mkdir(parents=True)
    cuda_text = repr(cuda) if cuda else "None"
    (root / "version.py").write_text(
        f"from typing import Optional\n__all__ = ['__version__']\n__version__ = '{version}'\n"
        f"debug = False\ncuda: Optional[str] = {cuda_text}\ngit_version = 'abc'\nhip: Optional[str] = None\n"
    )
    (root / ext).write_bytes(header)
    for lib in libs:
        (root / "lib" / lib).write_bytes(b"")
    dist = site / f"torch-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
    return root


def test_version_py_parsing_handles_annotations_and_none() -> None:
    text = "__version__ = '2.3.1+cu121'\ncuda: Optional[str] = '12.1'\nhip: Optional[str] = None\n"
    assert read_version_py(text) == {"__version__": "2.3.1+cu121", "cuda": "12.1", "hip": None}


def test_linux_cuda_wheel_has_nccl_and_gloo(tmp_path: Path) -> None:
    info = torch_from_files(str(fake_torch(tmp_path, "2.3.1+cu121", "12.1")), os_name="linux", machine="x86_64")
    assert (info.installed, info.version, info.cuda, info.nccl, info.gloo, info.broken) == (
        True,
        "2.3.1+cu121",
        "12.1",
        True,
        True,
        None,
    )


def test_cpu_wheel_has_no_nccl(tmp_path: Path) -> None:
    info = torch_from_files(str(fake_torch(tmp_path, "2.3.1+cpu", None)), os_name="linux", machine="x86_64")
    assert info.cuda is None and info.nccl is False and info.arch_list == ()


def test_windows_wheel_libuv_follows_the_dll(tmp_path: Path) -> None:
    without = torch_from_files(
        str(fake_torch(tmp_path / "a", "2.5.1+cu121", "12.1", ext="_C.cp311-win_amd64.pyd", header=b"MZ")),
        os_name="windows",
        machine="AMD64",
    )
    with_uv = torch_from_files(
        str(
            fake_torch(
                tmp_path / "b", "2.6.0+cu124", "12.4", ext="_C.cp311-win_amd64.pyd", header=b"MZ", libs=("uv.dll",)
            )
        ),
        os_name="windows",
        machine="AMD64",
    )
    assert (without.libuv, without.nccl) == (False, False)
    assert with_uv.libuv is True


def test_x86_64_torch_under_an_arm64_python_is_broken(tmp_path: Path) -> None:
    root = fake_torch(tmp_path, "2.2.0", None, ext="_C.cpython-311-darwin.so", header=MACHO_X86)
    info = torch_from_files(str(root), os_name="darwin", machine="arm64")
    assert info.broken is not None and "incompatible architecture" in info.broken
    assert info.mps is True


def test_missing_extension_is_an_incomplete_install(tmp_path: Path) -> None:
    root = fake_torch(tmp_path, "2.3.1", None)
    next(root.glob("_C*")).unlink()
    info = torch_from_files(str(root), os_name="linux", machine="x86_64")
    assert info.broken is not None and "extension" in info.broken


def test_not_installed_and_find_errors() -> None:
    assert torch_from_files(None, os_name="linux", machine="x86_64").installed is False
    broken = torch_from_files(None, os_name="linux", machine="x86_64", find_error="ValueError: bad .pth")
    assert broken.installed is False and broken.broken == "ValueError: bad .pth"


def test_binary_archs(tmp_path: Path) -> None:
    fat = (
        b"\xca\xfe\xba\xbe"
        + struct.pack(">I", 2)
        + struct.pack(">IIIII", 0x01000007, 3, 0, 0, 0)
        + struct.pack(">IIIII", 0x0100000C, 0, 0, 0, 0)
    )
    for name, data, want in (
        ("elf", ELF_X86, {"x86_64"}),
        ("arm", MACHO_ARM, {"arm64"}),
        ("fat", fat, {"x86_64", "arm64"}),
        ("text", b"hello", set()),
    ):
        (tmp_path / name).write_bytes(data)
        assert binary_archs(tmp_path / name) == want
    assert arch_compatible({"arm64"}, "arm64") and arch_compatible({"aarch64"}, "arm64")
    assert not arch_compatible({"x86_64"}, "arm64") and arch_compatible(set(), "arm64")
