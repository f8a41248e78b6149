from __future__ import annotations

import json
from importlib import resources

import pytest

from llamadoctor.torch_builds import (
    arch_list_for,
    driver_cuda_for,
    driver_error_number,
    flavour_covers,
    flavour_for_cuda,
    index_url,
    install_argv,
    min_driver,
    minor_compat_driver,
    newest_torch_with,
    recommended_flavour,
    runs_by_minor_compat,
    runs_on,
    version_tuple,
    wheel_flavours_for_driver,
)


def test_version_tuple() -> None:
    assert version_tuple("535.104.05") == (535, 104, 5)
    assert version_tuple("2.3.1+cu121") == (2, 3, 1)
    assert version_tuple("2.5.0a0+git123") == (2, 5, 0)
    assert version_tuple("junk") == ()


def test_flavour_names() -> None:
    assert flavour_for_cuda("12.1") == "cu121"
    assert flavour_for_cuda("11.8") == "cu118"
    assert flavour_for_cuda("13.0") == "cu130"
    assert index_url("cu121") == "https://download.pytorch.org/whl/cu121"


@pytest.mark.parametrize(
    ("version", "cuda", "has", "lacks"),
    [
        ("2.3.1+cu121", "12.1", "sm_90", "sm_120"),
        ("2.5.1+cu124", "12.4", "sm_50", "sm_100"),
        ("2.7.0+cu128", "12.8", "sm_120", "sm_37"),
        ("2.8.0+cu128", "12.8", "sm_70", "sm_50"),
        ("2.8.0+cu126", "12.6", "sm_50", "sm_120"),
        ("2.9.1+cu130", "13.0", "sm_110", "sm_70"),
        ("2.10.0+cu128", "12.8", "sm_70", "sm_60"),
        ("2.11.0+cu128", "12.8", "sm_75", "sm_70"),  # Volta left cu128 in 2.11 (pytorch#182250)
        ("2.13.0+cu128", "12.8", "sm_120", "sm_70"),  # newer than the table: its newest row
    ],
)
def test_arch_lists(version: str, cuda: str, has: str, lacks: str) -> None:
    archs = arch_list_for(version, cuda)
    assert has in archs and lacks not in archs


def test_arch_list_unknown() -> None:
    assert arch_list_for("1.13.1", "11.7") == ()
    assert arch_list_for("2.3.1", "12.2") == ()  # no cu122 wheels: a custom build
    assert arch_list_for("", "12.1") == ()


@pytest.mark.parametrize(
    ("archs", "cc", "runs"),
    [
        pytest.param(("sm_86",), (8, 6), True, id="exact"),
        pytest.param(("sm_80",), (8, 9), True, id="same-major-higher-minor"),
        pytest.param(("sm_86",), (8, 0), False, id="same-major-lower-minor"),
        pytest.param(("sm_90",), (12, 0), False, id="sass-never-crosses-majors"),
        pytest.param(("sm_50", "sm_90"), (10, 0), False, id="blackwell-on-hopper-build"),
        pytest.param(("compute_90",), (12, 0), True, id="ptx-jits-forward"),
        pytest.param(("compute_120",), (8, 6), False, id="ptx-never-backward"),
        pytest.param(("sm_120a",), (12, 0), True, id="arch-suffix"),
        pytest.param(("sm_70", "sm_75"), (6, 1), False, id="pascal-on-cu128"),
        pytest.param(("bogus",), (8, 6), False, id="unparsable"),
    ],
)
def test_runs_on(archs: tuple[str, ...], cc: tuple[int, int], runs: bool) -> None:
    assert runs_on(archs, cc) is runs


def test_driver_table() -> None:
    assert min_driver("11.8", "linux") == "520.61.05"
    assert min_driver("11.8", "windows") == "520.06"
    assert min_driver("12.1", "linux") == "530.30.02"
    assert min_driver("12.4", "windows") == "551.61"
    assert min_driver("12.7", "linux") is None
    assert minor_compat_driver(12, "linux") == "525.60.13"
    assert minor_compat_driver(11, "windows") == "452.39"
    assert driver_cuda_for("535.104.05", "linux") == "12.2"
    assert driver_cuda_for("546.33", "windows") == "12.3"
    assert driver_cuda_for("470.86", "linux") == "11.4"
    assert driver_cuda_for("300.1", "linux") is None
    assert driver_error_number("11.4") == 11040
    assert driver_error_number("12.2") == 12020


def test_minor_version_compatibility() -> None:
    assert runs_by_minor_compat("12.4", "535.104.05", "linux")
    assert not runs_by_minor_compat("12.4", "520.61.05", "linux")  # an 11.x driver
    assert runs_by_minor_compat("11.8", "470.86", "linux")
    assert not runs_by_minor_compat("12.1", None, "linux")


def test_flavours_for_driver() -> None:
    assert wheel_flavours_for_driver("12.2") == ("cu121", "cu118", "cu117")
    assert wheel_flavours_for_driver("12.8")[0] == "cu128"
    assert wheel_flavours_for_driver("11.4") == ()
    assert newest_torch_with("cu121") == "2.5"
    assert newest_torch_with("cu118") == "2.7"


def test_recommended_flavour() -> None:
    assert recommended_flavour("12.2", [(8, 6)]) == "cu121"
    assert recommended_flavour("12.4", [(8, 9)]) == "cu124"
    assert recommended_flavour("13.0", [(8, 6)]) == "cu130"
    # Blackwell needs cu128 and a driver that runs it
    assert recommended_flavour("12.8", [(12, 0)]) == "cu128"
    assert recommended_flavour("12.4", [(12, 0)]) is None
    # Pascal: dropped from the newest cu128/cu129/cu130 builds, cu126 keeps it
    assert recommended_flavour("13.0", [(6, 1)]) == "cu126"
    assert not flavour_covers("cu128", [(6, 1)])
    # an R470 driver (CUDA 11.4) runs cu118 through minor version compatibility
    assert recommended_flavour("11.4", [(7, 5)], driver_version="470.86") == "cu118"
    assert recommended_flavour(None, [(8, 6)], driver_version="535.104.05") == "cu121"
    assert recommended_flavour(None, [(8, 6)]) is None


def test_install_argv() -> None:
    assert install_argv("py", "cu121", reinstall=True) == (
        "py",
        "-m",
        "pip",
        "install",
        "--force-reinstall",
        "torch",
        "--index-url",
        "https://download.pytorch.org/whl/cu121",
    )
    assert install_argv("py", None) == ("py", "-m", "pip", "install", "torch")


def test_tables_are_consistent() -> None:
    data = resources.files("llamadoctor").joinpath("data")
    arch = json.loads(data.joinpath("torch_arch_lists.json").read_text("utf-8"))
    drivers = json.loads(data.joinpath("cuda_drivers.json").read_text("utf-8"))
    for flavours in arch["builds"].values():
        for flavour, archs in flavours.items():
            assert flavour in arch["flavours"]
            assert min_driver(arch["flavours"][flavour], "linux"), f"no driver row for {flavour}"
            assert all(a.startswith(("sm_", "compute_")) for a in archs)
    rows = [version_tuple(r["linux"]) for r in drivers["toolkits"]]
    assert rows == sorted(rows), "driver minimums grow with the toolkit"
