"""--deep imports torch in a subprocess; its answers must agree with what the files said (this machine)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence

import pytest

from llamadoctor.facts import Options
from llamadoctor.gather import Request, gather
from llamadoctor.probes.torch_deep import probe_torch_deep
from llamadoctor.testing import torch_info

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch in the test environment")
def test_fast_facts_agree_with_an_import_of_torch() -> None:
    fast = gather(Request()).torch
    deep = gather(Request(options=Options(deep=True))).torch
    assert deep.source == "import" and deep.deep_error is None
    for field in ("version", "cuda", "hip", "nccl", "gloo", "libuv", "mps"):
        assert getattr(fast, field) == getattr(deep, field), field
    if not deep.cuda_available:
        assert deep.matmul_device in ("cpu", "mps")
    else:
        assert set(deep.arch_list) <= set(fast.arch_list) or fast.arch_list == ()
    assert deep.matmul_ok is True


def _fails(stderr: str, code: int = 1):  # type: ignore[no-untyped-def]
    def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(argv), code, "", stderr)

    return run


def test_import_errors_crashes_and_hangs_become_one_line() -> None:
    fast = torch_info("2.3.1+cu121", cuda="12.1")
    err = "Traceback...\n  File x\nOSError: libcudnn.so.8: cannot open shared object file: No such file or directory\n"
    assert probe_torch_deep(sys.executable, fast, runner=_fails(err)).deep_error == (
        "OSError: libcudnn.so.8: cannot open shared object file: No such file or directory"
    )
    assert "signal 11" in (probe_torch_deep(sys.executable, fast, runner=_fails("", -11)).deep_error or "")

    def hang(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(list(argv), timeout)

    assert "did not finish" in (probe_torch_deep(sys.executable, fast, runner=hang, timeout=5).deep_error or "")
