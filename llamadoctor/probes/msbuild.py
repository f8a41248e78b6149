"""Visual Studio's MSBuild customisation folders on Windows, where CUDA's installer puts the files that let
CMake build CUDA code (llama.cpp, llama-cpp-python) with Visual Studio."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

# <Program Files>\Microsoft Visual Studio\<year>\<edition>\MSBuild\Microsoft\VC\<toolset>\BuildCustomizations
PATTERN = "Microsoft Visual Studio/*/*/MSBuild/Microsoft/VC/*/BuildCustomizations"
PROGRAM_FILES = ("ProgramFiles", "ProgramFiles(x86)")


def build_customizations(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each BuildCustomizations folder found -> the CUDA .props files in it (empty: CUDA cannot build there)."""
    found: dict[str, tuple[str, ...]] = {}
    for variable in PROGRAM_FILES:
        base = environ.get(variable)
        if not base:
            continue
        for folder in sorted(Path(base).glob(PATTERN)):
            try:
                props = sorted(p.name for p in folder.iterdir() if p.name.startswith("CUDA ") and p.suffix == ".props")
            except OSError:
                continue
            found[str(folder)] = tuple(props)
    return found
