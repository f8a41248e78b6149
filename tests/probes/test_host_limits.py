from __future__ import annotations

from pathlib import Path

import pytest

from llamadoctor.facts import HostLimits
from llamadoctor.probes.host_limits import parse_size, parse_wslconfig, probe_host_limits

GiB = 1024**3


def _touch(root: Path, path: str, text: str = "") -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


@pytest.mark.parametrize(
    ("text", "size"),
    [("8GB", 8 * GiB), ("4096MB", 4 * GiB), ("0.5TB", 512 * GiB), (" 16gb ", 16 * GiB), ("lots", None)],
)
def test_wsl_sizes(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_wslconfig_reads_the_wsl2_section_only() -> None:
    text = "[experimental]\nmemory=99GB\n\n[wsl2]\n# a comment\nMemory = 12GB  # half my RAM\nswap=0\n"
    assert parse_wslconfig(text) == (12 * GiB, 0)
    assert parse_wslconfig("[wsl2]\nprocessors=4\n") == (None, None)


def test_outside_wsl_nothing_is_read(tmp_path: Path) -> None:
    _touch(tmp_path, "/mnt/c/Users/ada/.wslconfig", "[wsl2]\nmemory=4GB\n")
    assert probe_host_limits(wsl=False, environ={}, root=tmp_path) == HostLimits()


def test_wsl_memory_cap_and_the_windows_driver_library(tmp_path: Path) -> None:
    _touch(tmp_path, "/mnt/c/Users/Ada/.wslconfig", "[wsl2]\nmemory=8GB\nswap=2GB\n")
    _touch(tmp_path, "/usr/lib/wsl/lib/libcuda.so")
    _touch(tmp_path, "/usr/lib/wsl/lib/libcuda.so.1")
    limits = probe_host_limits(wsl=True, environ={"USER": "ada"}, root=tmp_path)
    assert limits.wslconfig == "/mnt/c/Users/Ada/.wslconfig"
    assert (limits.wsl_memory, limits.wsl_swap) == (8 * GiB, 2 * GiB)
    assert limits.wsl_libcuda == ("/usr/lib/wsl/lib/libcuda.so", "/usr/lib/wsl/lib/libcuda.so.1")
    assert limits.other_libcuda == ()


def test_several_windows_users_pick_the_one_named_like_this_user(tmp_path: Path) -> None:
    _touch(tmp_path, "/mnt/c/Users/bob/.wslconfig", "[wsl2]\nmemory=4GB\n")
    _touch(tmp_path, "/mnt/c/Users/ada/.wslconfig", "[wsl2]\nmemory=24GB\n")
    assert probe_host_limits(wsl=True, environ={"USER": "ada"}, root=tmp_path).wsl_memory == 24 * GiB
    # nobody matches: no guess
    assert probe_host_limits(wsl=True, environ={"USER": "eve"}, root=tmp_path).wslconfig is None


def test_a_linux_driver_and_a_toolkit_stub_shadow_the_windows_library(tmp_path: Path) -> None:
    _touch(tmp_path, "/usr/lib/wsl/lib/libcuda.so.1")
    _touch(tmp_path, "/usr/lib/x86_64-linux-gnu/libcuda.so.1")
    _touch(tmp_path, "/usr/local/cuda/lib64/stubs/libcuda.so")
    environ = {"LD_LIBRARY_PATH": "/usr/local/cuda/lib64/stubs:/usr/lib/wsl/lib"}
    limits = probe_host_limits(wsl=True, environ=environ, root=tmp_path)
    assert limits.other_libcuda == ("/usr/local/cuda/lib64/stubs/libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so.1")
    assert limits.ld_library_path == ("/usr/local/cuda/lib64/stubs", "/usr/lib/wsl/lib")


def test_a_link_to_the_windows_library_is_not_a_shadow(tmp_path: Path) -> None:
    real = _touch(tmp_path, "/usr/lib/wsl/lib/libcuda.so.1")
    link = tmp_path / "usr/lib/x86_64-linux-gnu/libcuda.so.1"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    assert probe_host_limits(wsl=True, environ={}, root=tmp_path).other_libcuda == ()


def test_wsl_without_the_driver_library(tmp_path: Path) -> None:
    limits = probe_host_limits(wsl=True, environ={}, root=tmp_path)
    assert limits.wsl_libcuda == () and limits.wslconfig is None
