from __future__ import annotations

import dataclasses

from llamadoctor.checks.vllm_kv_cache import LLAMA2_7B_HF, LLAMA31_8B_HF, T4, _vllm, vllm_kv_cache_too_small
from llamadoctor.testing import gpu, nvidia


def test_llama31_on_a_24g_card_is_told_a_max_model_len_that_fits() -> None:
    (finding,) = vllm_kv_cache_too_small.func(_vllm(models=(LLAMA31_8B_HF,)))
    assert finding.evidence["context"] == 131072
    assert 32768 <= finding.evidence["tokens_fit"] < 65536
    assert finding.remedy == "vllm serve MODEL --max-model-len 32768"


def test_weights_that_fill_the_share_leave_no_cache_block() -> None:
    small = nvidia(gpu("NVIDIA GeForce RTX 3060", vram_gib=12))
    (finding,) = vllm_kv_cache_too_small.func(_vllm(models=(LLAMA2_7B_HF,), gpu=small))
    assert "the 16-bit weights alone fill it" in finding.message
    assert "--tensor-parallel-size" in finding.remedy


def test_a_quantized_checkpoint_is_not_judged() -> None:
    params = {**(LLAMA2_7B_HF.params or {}), "quantization_config": {"quant_method": "awq", "bits": 4}}
    model = dataclasses.replace(LLAMA2_7B_HF, params=params)
    assert list(vllm_kv_cache_too_small.func(_vllm(models=(model,), gpu=T4))) == []
