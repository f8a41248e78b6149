"""The GPU acceptance script's CPU mode, run for real on a small random Llama, and its pieces that need no GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu_acceptance  # noqa: E402
import peak_bandwidth  # noqa: E402
import random_llamas  # noqa: E402


def _lines(out: str) -> dict[str, str]:
    """item -> its verdict line."""
    found = {}
    for line in out.splitlines():
        status, _, rest = line.partition("  ")
        if status in ("PASS", "FAIL", "SKIP"):
            found[rest.split(":")[0]] = line
    return found


@pytest.mark.slow
def test_cpu_mode_gives_a_verdict_per_item_and_exits_0(tmp_path: Path) -> None:
    script = BENCHMARKS / "gpu_acceptance.sh"
    argv = [str(script), "--device", "cpu", "--shapes", "tiny", "--tokens", "4", "--no-compile"]
    argv += ["--dir", str(tmp_path), "--budget-minutes", "60"]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=1800, env={**os.environ, "PYTHON": sys.executable}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _lines(done.stdout)
    for item in ("run smoke", "check --deep", "run text tiny bf16", "total time < 60 min"):
        assert lines[item].startswith("PASS"), lines[item]
    assert "tok/s" in lines["run text tiny bf16"] and "bandwidth bound" in lines["run text tiny bf16"]
    quantized = ("run text tiny int8", "run text tiny int4")
    peak = lines["tiny int8 peak < 12 GB"]
    if gpu_acceptance.quantize_available():
        assert all(lines[item].startswith("PASS") for item in quantized), done.stdout
        assert peak.startswith("SKIP") and "peak RSS" in peak and "estimated" in peak
    else:
        assert all(lines[item].startswith("SKIP") and "not available" in lines[item] for item in quantized)
        assert peak.startswith("SKIP") and "not available" in peak


@pytest.mark.slow
def test_a_run_that_fails_is_a_one_line_fail_verdict(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    opts = gpu_acceptance.parse(["--device", "cpu", "--shapes", "tiny", "--tokens", "2", "--timeout", "300"])
    opts.bandwidth = 1e9
    seen: list[gpu_acceptance.Verdict] = []
    gpu_acceptance.Acceptance(opts, seen.append).text("tiny", tmp_path, "bf16")
    assert [v.status for v in seen] == ["FAIL"]
    assert "Traceback" not in seen[0].detail and "\n" not in seen[0].line()


@pytest.mark.parametrize(("peak_gb", "status"), [(7.4, "PASS"), (12.6, "FAIL")])
def test_7b_int8_on_cuda_is_judged_against_12_gb(peak_gb: float, status: str) -> None:
    opts = gpu_acceptance.parse(["--device", "cuda"])
    seen: list[gpu_acceptance.Verdict] = []
    a = gpu_acceptance.Acceptance(opts, seen.append)
    a.runs[("7B", "int8")] = gpu_acceptance.Run(True, {"peak_memory_bytes": peak_gb * 1e9}, "")
    a.int8_peak("7B")
    assert seen[0].line() == f"{status}  7B int8 peak < 12 GB: peak {peak_gb:.2f} GB"


def test_bandwidth_from_the_memory_bus_and_known_gpus() -> None:
    # CUDA reports an RTX 3090's memory clock as 9751 MHz on a 384-bit bus; its vendor figure is 936 GB/s.
    assert peak_bandwidth.from_clock(9_751_000, 384) == pytest.approx(936e9, rel=0.01)
    assert peak_bandwidth.gpu_by_name("NVIDIA A100-SXM4-80GB") == 2039e9
    assert peak_bandwidth.gpu_by_name("NVIDIA L4") == 300e9
    assert peak_bandwidth.gpu_by_name("NVIDIA L40S") == 864e9
    assert peak_bandwidth.gpu_by_name("Some Future GPU") == 0.0


def test_weights_read_per_token_follow_the_precision() -> None:
    assert random_llamas.parameter_count("7B") == pytest.approx(6.74e9, rel=0.01)
    bf16 = gpu_acceptance.read_bytes_per_token("7B", "bf16")
    assert bf16 == pytest.approx(2 * (6.74e9 - 32000 * 4096), rel=0.01)
    assert gpu_acceptance.read_bytes_per_token("7B", "int8") == pytest.approx(bf16 / 2, rel=0.01)
    # int4 with a scale and an offset per 32 columns, and the output layer at int8.
    assert bf16 / 4 < gpu_acceptance.read_bytes_per_token("7B", "int4") < bf16 / 2.9
