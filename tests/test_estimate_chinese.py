"""`estimate` as a Chinese user sees it, `--json` staying English, and `estimate -q`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor import i18n
from llamadoctor.cli import app
from llamadoctor.estimate import RAM, Room, estimate_for_model_dir, pick_device, room_on, verdict
from llamadoctor.facts import Memory
from llamadoctor.llama import estimate, from_meta_params
from llamadoctor.llama.memory import GiB
from llamadoctor.testing import gpu, nvidia
from llamadoctor.testing_files import LLAMA2_7B

from builders.checkpoints import write_meta_model

runner = CliRunner()
CJK = re.compile(r"[\u4e00-\u9fff]")


pytestmark = pytest.mark.usefixtures("catalogues")


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU machine with 60 GiB free: the same figures on every run."""
    from llamadoctor import estimate as estimating
    from llamadoctor.facts import GpuInfo

    monkeypatch.setattr(estimating, "probe_machine", lambda device: (GpuInfo(), Memory(64 * GiB, 60 * GiB)))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_meta_model(tmp_path_factory.mktemp("estimate") / "m", n_shards=2)


def ld(*args: object):
    return runner.invoke(app, ["estimate", *map(str, args)], catch_exceptions=False)


def test_the_table_and_verdict_in_chinese(model: Path) -> None:
    english = ld("--model-dir", model, "--device", "cpu")
    chinese = ld("--model-dir", model, "--device", "cpu", "--lang", "zh")
    assert chinese.exit_code == english.exit_code == 0, chinese.stderr
    out = chinese.stdout
    for word in ("字节", "参数", "权重（fp32）", "KV 缓存", "批大小 6 × 512 个 token，每个设备 × 2", "激活值", "共需"):
        assert word in out, word
    assert "精度" in out and "放得下" in out and "(--quantize int8)" in out
    assert re.search(r"^\s*各种精度与可用内存 60.00 GiB 的对比\s*$", out, re.M)
    assert out.endswith("\n放得下：需要 0.51 GiB（cpu，fp32），可用内存为 60.00 GiB。\n")
    assert english.stdout.endswith("\nFits: needs 0.51 GiB (cpu, fp32) of 60.00 GiB RAM available.\n")
    assert not CJK.search(english.stdout)


def test_json_stays_english_whatever_the_language(model: Path) -> None:
    data = json.loads(ld("--model-dir", model, "--device", "cpu", "--json", "--lang", "zh").stdout)
    assert data["fits"]["where"] == "RAM available" and not CJK.search(json.dumps(data, ensure_ascii=False))


def test_quiet_prints_only_the_verdict(model: Path) -> None:
    full = ld("--model-dir", model, "--device", "cpu").stdout.splitlines()
    for quiet in (["-q"], ["--quiet"]):
        shown = ld("--model-dir", model, "--device", "cpu", *quiet)
        assert shown.exit_code == 0 and shown.stdout.splitlines() == [full[-1]]
        assert shown.stdout.startswith("Fits: needs ")
    before = runner.invoke(app, ["-q", "estimate", "--model-dir", str(model), "--device", "cpu"])
    assert before.stdout.splitlines() == [full[-1]]
    chinese = ld("--model-dir", model, "--device", "cpu", "-q", "--lang", "zh")
    assert chinese.stdout.startswith("放得下：") and len(chinese.stdout.splitlines()) == 1
    bad = ld("--model-dir", model, "--dtype", "fp8", "-q", "--lang", "zh")
    assert bad.exit_code == 2 and "--dtype 必须是 auto 或 bf16, fp16, fp32 之一，而不是 'fp8'" in bad.stderr


def test_a_gpu_that_is_too_small_in_chinese_with_its_way_out() -> None:
    gpus = nvidia(gpu("NVIDIA GeForce RTX 4070", vram_gib=12, cc=(8, 9)))
    device = pick_device(gpus)
    est = estimate(from_meta_params(LLAMA2_7B).with_vocab(32000), device=device, capability=(8, 9))
    room = room_on(device, est.nproc, gpus, Memory(64 * GiB, 60 * GiB))
    i18n.activate("zh")
    line = verdict(est, room)
    assert line.startswith("放不下：每块 GPU 需要 15.11 GiB（cuda，bf16），GPU 0（NVIDIA GeForce RTX 4070")
    assert line.endswith("的可用显存为 11.50 GiB。可行的办法：--quantize int8（加载时量化权重：需要 8.84 GiB）。")
    i18n.activate(i18n.ENGLISH)
    assert room.where.startswith("GPU 0 (NVIDIA GeForce RTX 4070") and room.where.endswith(") free")


def test_ways_out_on_the_cpu_in_chinese(model: Path) -> None:
    est = estimate_for_model_dir(model, device="cpu", nproc=1)
    room = Room("cpu", est.with_(dtype="bf16").needed_bytes, RAM)
    english = verdict(est, room)
    i18n.activate("zh")
    assert english == (
        "Does not fit: needs 0.26 GiB (cpu, fp32) of 0.26 GiB RAM available. Ways out: --max-seq-len 256 (a shorter "
        "context: a smaller KV cache); --max-batch-size 3; --quantize int8 --dtype bf16 (weights quantized while "
        "loading: needs 0.26 GiB)."
    )
    assert verdict(est, room) == (
        "放不下：需要 0.26 GiB（cpu，fp32），可用内存为 0.26 GiB。"
        "可行的办法：--max-seq-len 256（上下文更短，KV 缓存更小）；--max-batch-size 3；"
        "--quantize int8 --dtype bf16（加载时量化权重：需要 0.26 GiB）。"
    )
