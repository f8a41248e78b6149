"""Which Python versions each release of torch, sentencepiece and tiktoken has wheels for on PyPI.

Without a wheel pip builds from source, which for these needs a C++ or Rust toolchain and CMake, and fails on
most machines. The bounds below were read from PyPI on each side of each boundary with
`pip install --dry-run --only-binary=:all: --no-deps --python-version X.Y --platform P 'NAME==V'`, which
succeeds exactly when a wheel exists (for example sentencepiece 0.1.99 has one for 3.11, none for 3.12; torch
2.4.1 none for 3.13, 2.5.1 one, but not on Windows until 2.6). Releases not listed are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

ANY = (3, 0)  # the oldest Python of a range where only its newest was read


@dataclass(frozen=True)
class Wheels:
    """The CPython minors a range of releases ships wheels for, on one platform or on all (platform "")."""

    releases: str  # a specifier of the releases: ">=2.5,<2.6"
    oldest: tuple[int, int]
    newest: tuple[int, int]
    platform: str = ""  # "windows", "darwin-x86_64"; "" for every platform not listed separately


WHEELS: dict[str, tuple[Wheels, ...]] = {
    "torch": (
        Wheels(">=2.3", (0, 0), (0, 0), "darwin-x86_64"),  # 2.2.2 was the last build for Intel Macs
        Wheels(">=2.5,<2.6", (3, 9), (3, 12), "windows"),
        Wheels(">=2.0,<2.2", ANY, (3, 11)),
        Wheels(">=2.2,<2.5", ANY, (3, 12)),
        Wheels(">=2.5,<2.9", (3, 9), (3, 13)),
        Wheels(">=2.9,<2.10", (3, 10), (3, 14)),
    ),
    "sentencepiece": (
        Wheels(">=0.1.91,<0.1.98", ANY, (3, 10)),
        Wheels(">=0.1.98,<0.2", ANY, (3, 11)),
        Wheels(">=0.2.0,<0.2.1", ANY, (3, 12)),
        Wheels(">=0.2.1,<0.2.2", ANY, (3, 14)),
    ),
    "tiktoken": (
        Wheels(">=0.3,<0.5.2", ANY, (3, 11)),
        Wheels(">=0.5.2,<0.8", ANY, (3, 12)),
        Wheels(">=0.8,<0.12", ANY, (3, 13)),
        Wheels(">=0.12,<0.13", ANY, (3, 14)),
    ),
}
# The first release with wheels for each newer Python: what a pin without one can move to.
FIRST_WITH_WHEELS: dict[str, dict[tuple[int, int], str]] = {
    "torch": {(3, 12): "2.2", (3, 13): "2.5", (3, 14): "2.9"},
    "sentencepiece": {(3, 12): "0.2.0", (3, 13): "0.2.1", (3, 14): "0.2.1"},
    "tiktoken": {(3, 12): "0.5.2", (3, 13): "0.8.0", (3, 14): "0.12.0"},
}

# Where a platform's builds stopped: the last release to pin there.
LAST_FOR_PLATFORM: dict[tuple[str, str], str] = {("torch", "darwin-x86_64"): "2.2.2"}


def same_release(installed: Optional[str], release: Version) -> bool:
    """`installed` is `release`, whatever its local build label (2.3.1+cu121 is 2.3.1)."""
    try:
        return installed is not None and Version(installed).public == release.public
    except InvalidVersion:
        return False


def pinned_release(specifier: str) -> Optional[Version]:
    """The one release a specifier allows (`==0.1.99`, `===2.0.1`), else None: a range lets pip choose."""
    try:
        specs = list(SpecifierSet(specifier))
    except InvalidSpecifier:
        return None
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None
    try:
        return Version(specs[0].version)
    except InvalidVersion:
        return None


def python_minor(version: str) -> Optional[tuple[int, int]]:
    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    return (release[0], release[1]) if len(release) >= 2 else None


def has_wheel(project: str, release: Version, python: tuple[int, int], platform: str) -> Optional[bool]:
    """Whether PyPI has a wheel of `project` `release` for CPython `python` on `platform` ("linux", "windows",
    "darwin-arm64", "darwin-x86_64"); None when the table does not know the release."""
    for wheels in WHEELS.get(project, ()):
        if wheels.platform and not platform.startswith(wheels.platform):
            continue
        if release in SpecifierSet(wheels.releases):
            return wheels.oldest <= python <= wheels.newest
    return None


def platform_key(os_name: str, machine: str) -> str:
    """The platform `has_wheel` takes: the OS, with the architecture on macOS where wheels differ by it."""
    if os_name == "darwin":
        return "darwin-x86_64" if machine.lower() in ("x86_64", "amd64", "i386") else "darwin-arm64"
    return os_name


def newest_python(project: str, release: Version, platform: str) -> Optional[tuple[int, int]]:
    """The newest CPython `release` has wheels for on `platform`; None when unknown or none at all."""
    for wheels in WHEELS.get(project, ()):
        if wheels.platform and not platform.startswith(wheels.platform):
            continue
        if release in SpecifierSet(wheels.releases):
            return wheels.newest if wheels.newest >= wheels.oldest and wheels.newest > (0, 0) else None
    return None
