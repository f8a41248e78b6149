"""Messages of the model checks: the numbers, the error texts users see, the ways out."""

from __future__ import annotations

import dataclasses

from llamadoctor.facts import Facts, Options
from llamadoctor.registry import CHECKS, load_all, run_check
from llamadoctor.testing import gpu, linux_gpu, mac_arm, nvidia, windows_conda
from llamadoctor.testing_files import (
    LLAMA2_13B,
    LLAMA2_70B,
    LLAMA3_8B,
    LLAMA31_8B,
    hf_model,
    llama3_model,
    meta_model,
    repo_with,
)

load_all()


def texts(check_id: str, facts: Facts) -> list[str]:
    return [f.message for f in run_check(CHECKS[check_id], facts)]


def test_memory_message_gives_numbers_and_ways_out() -> None:
    [text] = texts("memory-insufficient", windows_conda(models=(meta_model(),)))
    assert "6,738,415,616 parameters" in text
    assert "bf16, max_seq_len 512, max_batch_size 6" in text
    assert "weights 12.55 GiB + KV cache 1.50 GiB" in text
    assert "GPU 0 (NVIDIA GeForce RTX 4070) has 11.50 GiB free of 12.00 GiB" in text
    assert "run on the CPU" in text and "a smaller model" in text


def test_memory_splits_shards_across_gpus() -> None:
    eight = nvidia(*(gpu("Tesla V100-SXM2-16GB", vram_gib=16, index=i) for i in range(8)))
    facts = linux_gpu(
        models=(meta_model(LLAMA2_70B, n_shards=8),), gpu=eight, options=Options(max_seq_len=512, max_batch_size=1)
    )
    [text] = texts("memory-insufficient", facts)  # 16.06 GiB of weights per V100: the llama#913 case
    assert "per GPU" in text and "GPU 7" in text
    fits = linux_gpu(
        models=(meta_model(LLAMA2_70B, n_shards=8),), gpu=nvidia(*(gpu("A100", vram_gib=40, index=i) for i in range(8)))
    )
    assert texts("memory-insufficient", fits) == []


def test_memory_on_apple_silicon_uses_unified_memory() -> None:
    facts = mac_arm(models=(llama3_model(LLAMA31_8B),), options=Options(max_seq_len=131072, max_batch_size=1))
    [text] = texts("memory-insufficient", facts)
    assert "unified memory" in text and "--max-seq-len" in text


def test_hf_models_are_estimated_from_config() -> None:
    assert texts("memory-insufficient", linux_gpu(models=(hf_model(),))) == []
    assert texts("memory-insufficient", windows_conda(models=(hf_model(),)))


def test_disk_message_names_both_converters() -> None:
    [text] = texts("disk-insufficient-for-conversion", linux_gpu(models=(meta_model(disk_free=20 * 1024**3),)))
    assert "25.10 GiB" in text and "streaming converter needs 12.80 GiB and fits" in text


def test_shards_vs_gpus_and_nproc() -> None:
    two = meta_model(LLAMA2_13B, n_shards=2)
    [text] = texts("shards-vs-nproc", linux_gpu(models=(two,), options=Options(nproc=2)))
    assert "invalid device ordinal" in text and "1 GPU(s)" in text
    assert texts("shards-vs-nproc", mac_arm(models=(two,))) == []  # no GPUs: nothing to index


def test_shards_vs_nproc_offers_resharding_where_the_heads_split() -> None:
    two = meta_model(LLAMA2_13B, n_shards=2, path="C:\\Users\\Ada Lovelace\\llama-2-13b")

    def remedy(nproc: int) -> str:
        facts = windows_conda(models=(two,), options=Options(nproc=nproc))
        [finding] = [f for f in run_check(CHECKS["shards-vs-nproc"], facts) if "--nproc is" in f.message]
        return finding.remedy

    assert remedy(1).endswith(
        "llamadoctor convert --model-dir 'C:\\Users\\Ada Lovelace\\llama-2-13b' --shards 1 "
        "--out 'C:\\Users\\Ada Lovelace\\llama-2-13b-mp1'"
    )
    assert remedy(3) == ""  # 40 heads do not split over 3 processes


def test_usual_place_models_are_not_run_targets() -> None:
    facts = windows_conda(models=(meta_model(source="llama-home"),))
    assert texts("memory-insufficient", facts) == []


def test_code_generation_mismatches() -> None:
    llama2_code = repo_with(flavour="llama")
    [text] = texts("model-version-mismatch", linux_gpu(models=(llama3_model(LLAMA3_8B),), repo=llama2_code))
    assert "could not parse ModelProto" in text
    llama3_code = repo_with(flavour="llama3")
    [text] = texts("model-version-mismatch", linux_gpu(models=(meta_model(),), repo=llama3_code))
    assert "not enough values to unpack" in text
    assert (
        texts(
            "model-version-mismatch",
            linux_gpu(models=(llama3_model(LLAMA31_8B),), repo=repo_with(flavour="llama-models")),
        )
        == []
    )


def test_batch_size_from_the_repo_example() -> None:
    facts = linux_gpu(repo=repo_with(chat_dialogs=4), options=Options(max_batch_size=4))
    assert texts("batch-size-too-small", facts) == []
    facts = dataclasses.replace(facts, options=Options(max_batch_size=2))
    assert "AssertionError: (4, 2)" in texts("batch-size-too-small", facts)[0]
