"""What PyTorch's CUDA wheels need and contain: driver minimums, wheel flavours, GPU arch lists.

Pure functions over the two data tables in llamadoctor/data (edit those, not this code, when NVIDIA or PyTorch
ship something new). The torch probe calls `arch_list_for` to fill TorchInfo.arch_list without importing
torch;
the checks call the rest to phrase their remedies.

    arch_list_for("2.3.1+cu121", "12.1")        -> ("sm_50", ..., "sm_90")
    runs_on(("sm_80",), (8, 6))                  -> True   (same major, newer minor: binary compatible)
    wheel_flavours_for_driver("12.2")           -> ("cu121", "cu118", "cu117")
    min_driver("12.4", "windows")               -> "551.61"
    driver_cuda_for("535.104.05", "linux")      -> "12.2"
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

Capability = tuple[int, int]
INDEX = "https://download.pytorch.org/whl/"


@cache
def _table(name: str) -> dict[str, Any]:
    text = (resources.files("llamadoctor") / "data" / name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def version_tuple(version: str) -> tuple[int, ...]:
    """'535.104.05' -> (535, 104, 5); '2.3.1+cu121' -> (2, 3, 1); stops at the first non-numeric part."""
    numbers = re.match(r"^\d+(?:\.\d+)*", version.strip())
    return tuple(int(n) for n in numbers.group(0).split(".")) if numbers else ()


def flavour_for_cuda(cuda: str) -> str:
    """'12.1' -> 'cu121': the tag of PyTorch's wheel index for that CUDA."""
    major, minor = (*version_tuple(cuda), 0, 0)[:2]
    return f"cu{major}{minor}"


def index_url(flavour: str) -> str:
    """'cu121' -> 'https://download.pytorch.org/whl/cu121' (also 'cpu')."""
    return INDEX + flavour


def flavour_cuda(flavour: str) -> str:
    """'cu121' -> '12.1'."""
    return str(_table("torch_arch_lists.json")["flavours"][flavour])


# ---- arch lists --------------------------------------------------------------------------------------------


def _builds() -> dict[str, dict[str, list[str]]]:
    return _table("torch_arch_lists.json")["builds"]  # type: ignore[no-any-return]


def _minor_key(torch_version: str) -> str | None:
    """The table row for a torch version: its own, or the newest one for a torch newer than the table."""
    wanted = version_tuple(torch_version)[:2]
    rows = sorted(_builds(), key=version_tuple)
    if not wanted or wanted < version_tuple(rows[0]):
        return None
    known = [row for row in rows if version_tuple(row) <= wanted]
    return known[-1]


def arch_list_for(torch_version: str, cuda: str) -> tuple[str, ...]:
    """torch.cuda.get_arch_list() of PyTorch's wheel for that version and CUDA; () when the table lacks it."""
    row = _minor_key(torch_version)
    if row is None:
        return ()
    return tuple(_builds()[row].get(flavour_for_cuda(cuda), ()))


def _arch_capability(arch: str) -> tuple[str, Capability] | None:
    match = re.match(r"^(sm|compute)_(\d+)(\d)[af]?$", arch)
    if not match:
        return None
    return match.group(1), (int(match.group(2)), int(match.group(3)))


def runs_on(arch_list: Iterable[str], capability: Capability) -> bool:
    """Whether a build with these archs has kernels a GPU of this compute capability can run.

    SASS (sm_XY) runs on the same major version with an equal or higher minor (sm_80 runs on 8.6 and 8.9,
    never on 9.0 or 12.0). PTX (compute_XY) is JIT-compiled by the driver for any capability at or above XY.
    """
    for arch in arch_list:
        parsed = _arch_capability(arch)
        if parsed is None:
            continue
        kind, (major, minor) = parsed
        if kind == "sm" and major == capability[0] and minor <= capability[1]:
            return True
        if kind == "compute" and (major, minor) <= capability:
            return True
    return False


def arch_name(capability: Capability) -> str:
    return f"sm_{capability[0]}{capability[1]}"


# ---- drivers -----------------------------------------------------------------------------------------------


def _driver_os(os_name: str) -> str:
    return "windows" if os_name == "windows" else "linux"


def min_driver(cuda: str, os_name: str) -> str | None:
    """The driver CUDA `cuda`'s toolkit release requires (NVIDIA's table); None for a CUDA the table lacks."""
    wanted = version_tuple(cuda)[:2]
    for row in _table("cuda_drivers.json")["toolkits"]:
        if version_tuple(row["cuda"]) == wanted:
            return str(row[_driver_os(os_name)])
    return None


def minor_compat_driver(cuda_major: int, os_name: str) -> str | None:
    """The oldest driver that runs every CUDA `cuda_major`.x runtime through minor version compatibility."""
    for row in _table("cuda_drivers.json")["minor_version_compatibility"]:
        if row["major"] == cuda_major:
            return str(row[_driver_os(os_name)])
    return None


def driver_cuda_for(driver_version: str, os_name: str) -> str | None:
    """The newest CUDA toolkit in the table whose minimum driver this one meets ('535.104.05' -> '12.2')."""
    have = version_tuple(driver_version)
    best = None
    for row in _table("cuda_drivers.json")["toolkits"]:
        if have >= version_tuple(row[_driver_os(os_name)]):
            best = str(row["cuda"])
    return best


def driver_error_number(cuda: str) -> int:
    """How torch prints a driver's CUDA in "too old (found version 11040)": '11.4' -> 11040."""
    major, minor = (*version_tuple(cuda), 0, 0)[:2]
    return major * 1000 + minor * 10


def runs_by_minor_compat(torch_cuda: str, driver_version: str | None, os_name: str) -> bool:
    """A driver older than torch's CUDA still runs it if the majors match and it meets that major's floor."""
    if not driver_version:
        return False
    floor = minor_compat_driver(version_tuple(torch_cuda)[0], os_name)
    return floor is not None and version_tuple(driver_version) >= version_tuple(floor)


# ---- wheel flavours ----------------------------------------------------------------------------------------


def _flavours_newest_first() -> list[str]:
    return sorted(
        _table("torch_arch_lists.json")["flavours"], key=lambda f: version_tuple(flavour_cuda(f)), reverse=True
    )


def newest_torch_with(flavour: str) -> str | None:
    """The newest torch minor version ('2.5') in the table that PyTorch published as a `flavour` wheel."""
    rows = [row for row, flavours in _builds().items() if flavour in flavours]
    return max(rows, key=version_tuple) if rows else None


def wheel_flavours_for_driver(driver_cuda: str) -> tuple[str, ...]:
    """PyTorch CUDA wheel flavours whose CUDA this driver supports natively, newest first."""
    have = version_tuple(driver_cuda)[:2]
    return tuple(f for f in _flavours_newest_first() if version_tuple(flavour_cuda(f)) <= have)


def flavour_covers(flavour: str, capabilities: Iterable[Capability]) -> bool:
    """Whether the newest torch built as `flavour` has kernels for every one of these GPUs."""
    newest = newest_torch_with(flavour)
    archs = arch_list_for(newest, flavour_cuda(flavour)) if newest else ()
    return all(runs_on(archs, cc) for cc in capabilities)


def recommended_flavour(
    driver_cuda: str | None,
    capabilities: Iterable[Capability] = (),
    *,
    driver_version: str | None = None,
    os_name: str = "linux",
) -> str | None:
    """The newest flavour this driver runs natively and that has kernels for these GPUs.

    Only a driver older than every flavour falls back to one of its own CUDA major that it runs through minor
    version compatibility (an R470 driver, CUDA 11.4, runs cu118): a GPU newer than the driver's CUDA
    (Blackwell on an R550 driver) needs a new driver, not a newer runtime. None when no published wheel fits.
    """
    if not driver_cuda and driver_version:
        driver_cuda = driver_cuda_for(driver_version, os_name)
    if not driver_cuda:
        return None
    caps = list(capabilities)
    native = wheel_flavours_for_driver(driver_cuda)
    if native:
        return next((f for f in native if flavour_covers(f, caps)), None)
    major = version_tuple(driver_cuda)[0]
    for flavour in _flavours_newest_first():
        cuda = flavour_cuda(flavour)
        if (
            version_tuple(cuda)[0] == major
            and runs_by_minor_compat(cuda, driver_version, os_name)
            and flavour_covers(flavour, caps)
        ):
            return flavour
    return None


def install_argv(python: str, flavour: str | None, *, reinstall: bool = False) -> tuple[str, ...]:
    """`python -m pip install torch` from the index of `flavour` ('cu121', 'cpu'; None: PyPI's default)."""
    argv = [python, "-m", "pip", "install"]
    if reinstall:
        argv.append("--force-reinstall")
    argv.append("torch")
    if flavour:
        argv += ["--index-url", index_url(flavour)]
    return tuple(argv)
