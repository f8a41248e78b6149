"""The estimator: exact published parameter counts, the published KV-cache figures, folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from llamadoctor.estimate import ModelDirError, estimate_for_model_dir, estimate_json, render_estimate
from llamadoctor.llama import LlamaParams, estimate, from_meta_params, kv_cache_bytes, ways_out
from llamadoctor.llama.memory import GiB
from llamadoctor.testing_files import LLAMA2_7B, LLAMA2_13B, LLAMA2_70B, LLAMA3_8B, TINY

from builders.checkpoints import write_meta_model


def untied_or_tied(
    dim: int, n_layers: int, n_heads: int, kv: int, vocab: int, hidden_dim: int, tied: bool = False
) -> LlamaParams:
    return LlamaParams(dim, n_layers, n_heads, kv, vocab, ffn_hidden_dim=hidden_dim, tie_embeddings=tied)


def meta(params: dict[str, object], vocab: int = 32000) -> LlamaParams:
    parsed = from_meta_params(params)
    return parsed if parsed.vocab_size > 0 else parsed.with_vocab(vocab)


L3_70B = {**LLAMA3_8B, "dim": 8192, "n_layers": 80, "n_heads": 64, "multiple_of": 4096}


@pytest.mark.parametrize(
    ("arch", "params"),
    [
        pytest.param(meta(LLAMA2_7B), 6_738_415_616, id="llama2-7b"),
        pytest.param(meta(LLAMA2_13B), 13_015_864_320, id="llama2-13b"),
        pytest.param(meta(LLAMA2_70B), 68_976_648_192, id="llama2-70b"),
        pytest.param(meta(LLAMA3_8B), 8_030_261_248, id="llama3-8b"),
        pytest.param(meta(L3_70B), 70_553_706_496, id="llama3-70b"),
        pytest.param(untied_or_tied(2048, 22, 32, 4, 32000, 5632), 1_100_048_384, id="tinyllama"),
        pytest.param(untied_or_tied(288, 6, 6, 6, 32000, 768, True), 15_191_712, id="stories15M"),
        pytest.param(untied_or_tied(512, 8, 8, 8, 32000, 1376, True), 41_689_600, id="stories42M"),
        pytest.param(untied_or_tied(768, 12, 12, 12, 32000, 2048, True), 109_529_856, id="stories110M"),
        pytest.param(
            meta({"dim": 6656, "n_heads": 52, "n_layers": 60, "multiple_of": 256}),
            32_528_943_616,
            id="llama1-33b",
        ),
        pytest.param(
            meta({"dim": 8192, "n_heads": 64, "n_layers": 80, "multiple_of": 256}),
            65_285_660_672,
            id="llama1-65b",
        ),
    ],
)
def test_parameter_counts_match_the_published_ones(arch: LlamaParams, params: int) -> None:
    assert arch.n_params() == params


@pytest.mark.parametrize(
    ("params", "ffn"),
    [
        (LLAMA2_7B, 11008),
        (LLAMA2_13B, 13824),
        (LLAMA2_70B, 28672),
        (LLAMA3_8B, 14336),
        ({"dim": 6656, "n_heads": 52, "n_layers": 60}, 17920),
        ({"dim": 8192, "n_heads": 64, "n_layers": 80}, 22016),
    ],
)
def test_ffn_width_rule(params: dict[str, object], ffn: int) -> None:
    assert meta(params).hidden_dim == ffn


def test_fp16_bytes_of_llama2_7b() -> None:
    assert estimate(meta(LLAMA2_7B), dtype="fp16").weights_bytes == 13_476_831_232


@pytest.mark.parametrize(
    ("params", "seq", "batch", "expected"),
    [
        (LLAMA2_7B, 1024, 32, 17_179_869_184),  # Llama 1 FAQ
        (LLAMA2_7B, 512, 8, 2 * GiB),
        (LLAMA2_7B, 512, 6, int(1.5 * GiB)),
        (LLAMA2_7B, 128, 4, 256 * 1024**2),
        (LLAMA2_13B, 4096, 1, int(3.125 * GiB)),
        (LLAMA2_70B, 4096, 1, int(1.25 * GiB)),
        (LLAMA3_8B, 8192, 1, 1 * GiB),
        (LLAMA3_8B, 131072, 1, 16 * GiB),
    ],
)
def test_kv_cache_figures(params: dict[str, object], seq: int, batch: int, expected: int) -> None:
    assert kv_cache_bytes(meta(params), seq, batch, 2) == expected


def test_per_device_split_and_ways_out() -> None:
    one = estimate(meta(LLAMA2_70B), dtype="bf16", max_seq_len=4096, nproc=1)
    eight = one.with_(nproc=8)
    assert eight.per_device_bytes < one.per_device_bytes / 7
    assert eight.weights_bytes == one.weights_bytes
    fp32 = estimate(meta(LLAMA2_7B), dtype="fp32", device="cpu", max_seq_len=4096, max_batch_size=6)
    exits = ways_out(fp32, 20 * GiB)
    assert any("bf16" in e for e in exits) and any("--max-batch-size" in e for e in exits)
    assert estimate(meta(LLAMA2_7B), device="cpu").dtype == "fp32"
    with pytest.raises(ValueError, match="unknown dtype"):
        estimate(meta(LLAMA2_7B), dtype="int3")


def test_estimate_for_model_dir_and_its_outputs(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m", n_shards=2)
    est = estimate_for_model_dir(model, "bf16", max_seq_len=64, max_batch_size=1)
    assert est.nproc == 2 and est.params == meta(TINY, 40).n_params()
    data = estimate_json(est)
    assert json.loads(json.dumps(data)) == data and data["bytes"]["per_device"] == est.per_device_bytes
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(render_estimate(est))
    assert "KV cache" in out.getvalue() and "per device" in out.getvalue()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "neither params.json"),
        (lambda p: (p.mkdir(), (p / "params.json").write_text("{")), "not valid JSON"),
        (lambda p: (p.mkdir(), (p / "params.json").write_text('{"dim": 4}')), "n_heads is missing"),
    ],
)
def test_bad_folders_raise_one_clear_error(tmp_path: Path, setup: object, message: str) -> None:
    path = tmp_path / "x"
    setup(path)  # type: ignore[operator]
    with pytest.raises(ModelDirError, match=message):
        estimate_for_model_dir(path)


def test_the_verdict_on_a_gpu_names_it_and_its_free_memory() -> None:
    from llamadoctor.estimate import pick_device, room_on, verdict
    from llamadoctor.facts import Memory
    from llamadoctor.testing import gpu, nvidia

    gpus = nvidia(gpu("NVIDIA GeForce RTX 4070", vram_gib=12, cc=(8, 9)))
    device = pick_device(gpus)
    est = estimate(meta(LLAMA2_7B), device=device, capability=(8, 9))
    line = verdict(est, room_on(device, est.nproc, gpus, Memory(64 * GiB, 60 * GiB)))
    assert line.startswith("Does not fit: needs 15.11 GiB per GPU (cuda, bf16) of 11.50 GiB GPU 0 (NVIDIA GeForce")
    # bf16 weights alone exceed the card: no setting of the run fits, only its int8 weights do.
    assert line.endswith("free. Ways out: --quantize int8 (weights quantized while loading: needs 8.84 GiB).")


@pytest.mark.parametrize(
    ("device", "capability", "dtype"),
    [
        ("cuda", (8, 0), "bf16"),
        ("cuda", (7, 5), "fp16"),
        ("cuda", None, "bf16"),
        ("mps", None, "bf16"),
        ("cpu", None, "fp32"),
    ],
)
def test_the_default_dtype_is_runs_choice_for_the_device(device: str, capability: object, dtype: str) -> None:
    assert estimate(meta(LLAMA2_7B), device=device, capability=capability).dtype == dtype  # type: ignore[arg-type]


def test_check_sizes_an_older_gpu_in_fp16_as_run_would() -> None:
    from llamadoctor.registry import CHECKS, load_all, run_check
    from llamadoctor.testing import gpu, linux_gpu, nvidia
    from llamadoctor.testing_files import meta_model

    load_all()
    facts = linux_gpu(models=(meta_model(),), gpu=nvidia(gpu("Tesla T4", vram_gib=16, free_gib=8, cc=(7, 5))))
    [finding] = run_check(CHECKS["memory-insufficient"], facts)
    assert "with fp16," in finding.message
