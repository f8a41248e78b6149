"""GPU platform and host memory checks: the exact values and remedies a user sees, per platform and shell."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from llamadoctor.checks._visible import visible_gpus
from llamadoctor.checks.bf16_unsupported import fp16_where_bf16_works
from llamadoctor.checks.gpu_platform import (
    META_REPO,
    TWO_4090,
    nccl_p2p_consumer_gpus,
    nccl_without_usable_gpu,
    wsl_libcuda_unusable,
)
from llamadoctor.checks.host_memory import WSL_12G, host_ram_too_small_for_load, pagefile_too_small
from llamadoctor.checks.meta_code import CODELLAMA_STYLE
from llamadoctor.checks.mps_fallback import mps_fallback_unset
from llamadoctor.checks.run_settings import max_seq_len_past_context
from llamadoctor.checks.shards import shards_vs_nproc
from llamadoctor.checks.torchrun_launcher import SPACED, SPACED_PYTHON, torchrun_launcher_broken
from llamadoctor.engine import run_one
from llamadoctor.facts import Facts, HostLimits, Launcher, Memory, Options
from llamadoctor.fixes.rewrite_torchrun_shebang import rewrite_torchrun_shebang
from llamadoctor.fixes.set_distributed_env import set_distributed_env
from llamadoctor.model import Check, Finding, Manual, Severity, Status, WriteFile
from llamadoctor.probes.launcher import read_launcher
from llamadoctor.registry import run_check
from llamadoctor.testing import GiB, gpu, linux_gpu, mac_arm, nvidia, replace_in, torch_info, windows_conda
from llamadoctor.testing_files import LLAMA2_13B, LLAMA2_70B, generation_source, llama3_model, meta_model, repo_with


def findings(spec: Check, facts: Facts) -> list[Finding]:
    return list(run_check(spec, facts))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, [0, 1, 2, 3]), ("2,0", [2, 0]), ("", []), ("-1", []), ("1,7,2", [1]), ("0,0", [0]), ("GPU-3", [3])],
)
def test_cuda_visible_devices_as_cuda_reads_it(value: str | None, shown: list[int]) -> None:
    four = nvidia(*(dataclasses.replace(gpu(index=i), uuid=f"GPU-{i}aa") for i in range(4)))
    env = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert [g.index for g in visible_gpus(linux_gpu(gpu=four, env=env))] == shown


def test_shards_vs_nproc_counts_only_the_visible_gpus() -> None:
    model = meta_model(LLAMA2_70B, n_shards=8)
    assert findings(shards_vs_nproc, linux_gpu(models=(model,), gpu=nvidia(*(gpu(index=i) for i in range(8))))) == []
    hidden = linux_gpu(
        models=(model,), gpu=nvidia(*(gpu(index=i) for i in range(8))), env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    )
    (finding,) = findings(shards_vs_nproc, hidden)
    assert "shows 4 GPU(s) (CUDA_VISIBLE_DEVICES='0,1,2,3' shows 4 of the 8 found): process 4 fails" in finding.message


def test_host_ram_error_and_warning_and_wsl_remedy() -> None:
    short = linux_gpu(models=(meta_model(),), memory=Memory(16 * GiB, 9 * GiB, 2 * GiB))
    (error,) = findings(host_ram_too_small_for_load, short)
    assert error.severity is Severity.ERROR
    assert "needs about 13.55 GiB of host RAM" in error.message and "9.00 GiB of RAM is available" in error.message
    assert "sudo fallocate -l 5G /swapfile" in error.remedy and "wsl" not in error.remedy

    swapping = linux_gpu(models=(meta_model(),), memory=Memory(16 * GiB, 9 * GiB, 8 * GiB))
    (warning,) = findings(host_ram_too_small_for_load, swapping)
    assert warning.severity is Severity.WARNING and "very slow" in warning.message

    wsl = replace_in(
        linux_gpu(models=(meta_model(),), memory=Memory(12 * GiB, 11 * GiB), host_limits=WSL_12G), "platform", wsl=True
    )
    (capped,) = findings(host_ram_too_small_for_load, wsl)
    assert capped.remedy.startswith(
        "raise WSL's memory: in /mnt/c/Users/ada/.wslconfig put `[wsl2]` and `memory=15GB`, then `wsl --shutdown`"
    )
    default_cap = replace_in(wsl, "host_limits", wslconfig=None, wsl_memory=None)
    (uncapped,) = findings(host_ram_too_small_for_load, default_cap)
    assert "half of Windows' RAM" in uncapped.message and r"%UserProfile%\.wslconfig" in uncapped.remedy


def test_host_ram_counts_every_process_of_a_sharded_model() -> None:
    facts = linux_gpu(models=(meta_model(LLAMA2_13B, n_shards=2),), memory=Memory(64 * GiB, 25 * GiB, 0))
    (finding,) = findings(host_ram_too_small_for_load, facts)
    assert "its 2 processes each read their shard whole into RAM at once" in finding.message
    assert finding.evidence["needed"] > 26 * GiB


def test_pagefile_remedy_gives_a_size() -> None:
    facts = windows_conda(models=(meta_model(),), memory=Memory(16 * GiB, 12 * GiB, 0))
    (finding,) = findings(pagefile_too_small, facts)
    assert "a paging file of 0.00 GiB" in finding.message
    assert "at least 8192 MB" in finding.remedy and "Win32_PageFileUsage" in finding.remedy


def test_seq_len_severity_follows_what_the_code_does() -> None:
    (llama3,) = findings(
        max_seq_len_past_context, linux_gpu(models=(llama3_model(),), options=Options(max_seq_len=9000))
    )
    assert llama3.severity is Severity.ERROR and "Use --max_seq_len 8192 or less" in llama3.message
    (llama2,) = findings(max_seq_len_past_context, linux_gpu(models=(meta_model(),), options=Options(max_seq_len=4097)))
    assert llama2.severity is Severity.WARNING and "trained for 4096 tokens" in llama2.message
    assert (
        findings(max_seq_len_past_context, linux_gpu(models=(meta_model(),), options=Options(max_seq_len=4096))) == []
    )


@pytest.mark.parametrize(
    ("shell", "line"),
    [
        ("bash", "export LD_LIBRARY_PATH=/usr/lib/wsl/lib:/usr/local/cuda/lib64/stubs"),
        ("zsh", "export LD_LIBRARY_PATH=/usr/lib/wsl/lib:/usr/local/cuda/lib64/stubs"),
    ],
)
def test_wsl_stub_remedy_puts_the_windows_library_first(shell: str, line: str) -> None:
    limits = HostLimits(
        wsl_libcuda=("/usr/lib/wsl/lib/libcuda.so.1",),
        other_libcuda=("/usr/local/cuda/lib64/stubs/libcuda.so",),
        ld_library_path=("/usr/local/cuda/lib64/stubs",),
    )
    facts = replace_in(replace_in(linux_gpu(host_limits=limits), "platform", wsl=True), "platform", shell=shell)
    (finding,) = findings(wsl_libcuda_unusable, facts)
    assert finding.remedy.splitlines()[0] == line


@pytest.mark.parametrize(
    ("shell", "line"), [("bash", "export NCCL_P2P_DISABLE=1"), ("powershell", '$env:NCCL_P2P_DISABLE = "1"')]
)
def test_p2p_remedy_in_the_users_shell(shell: str, line: str) -> None:
    facts = replace_in(linux_gpu(gpu=TWO_4090, options=Options(nproc=2)), "platform", shell=shell)
    (finding,) = findings(nccl_p2p_consumer_gpus, facts)
    assert finding.remedy.splitlines()[0] == line and "NVLink" in finding.remedy
    assert finding.message.startswith("2 processes will talk over NCCL between 2 NVIDIA GeForce RTX 4090")


def test_p2p_needs_two_consumer_cards_visible() -> None:
    mixed = nvidia(gpu("NVIDIA GeForce RTX 4090"), gpu("NVIDIA A100-SXM4-80GB", vram_gib=80, index=1))
    assert findings(nccl_p2p_consumer_gpus, linux_gpu(gpu=mixed, options=Options(nproc=2))) == []
    one_shown = linux_gpu(gpu=TWO_4090, options=Options(nproc=2), env={"CUDA_VISIBLE_DEVICES": "0"})
    assert findings(nccl_p2p_consumer_gpus, one_shown) == []
    assert findings(
        nccl_p2p_consumer_gpus, linux_gpu(gpu=TWO_4090, options=Options(nproc=2), env={"NCCL_P2P_DISABLE": "0"})
    )


def test_nccl_without_gpu_reasons_and_remedies() -> None:
    deep = replace_in(linux_gpu(repo=META_REPO), "torch", cuda_available=False)
    (finding,) = findings(nccl_without_usable_gpu, deep)
    assert "torch.cuda.is_available() is False here" in finding.message
    assert "llamadoctor run" in finding.remedy
    hidden = replace_in(linux_gpu(repo=META_REPO, env={"CUDA_VISIBLE_DEVICES": "-1"}), "platform", shell="bash")
    (finding,) = findings(nccl_without_usable_gpu, hidden)
    assert finding.remedy == "unset CUDA_VISIBLE_DEVICES"


def test_nccl_without_gpu_leaves_code_that_falls_back_to_gloo_and_torch_without_nccl() -> None:
    gloo = repo_with(sources=(generation_source(CODELLAMA_STYLE),))
    cpu_box = linux_gpu(repo=gloo, gpu=nvidia(), env={"CUDA_VISIBLE_DEVICES": ""})
    assert findings(nccl_without_usable_gpu, cpu_box) == []
    no_nccl = linux_gpu(repo=META_REPO, torch=torch_info("2.3.1+cpu", nccl=False), env={"CUDA_VISIBLE_DEVICES": ""})
    assert findings(nccl_without_usable_gpu, no_nccl) == []


def test_mps_remedy_for_zsh() -> None:
    (finding,) = findings(mps_fallback_unset, mac_arm())
    assert finding.severity is Severity.INFO
    assert finding.remedy.splitlines()[0] == "export PYTORCH_ENABLE_MPS_FALLBACK=1"


def test_fp16_is_left_alone_when_one_gpu_lacks_bf16() -> None:
    mixed = nvidia(gpu(), gpu("Tesla T4", vram_gib=15, cc=(7, 5), index=1))
    assert findings(fp16_where_bf16_works, linux_gpu(gpu=mixed, options=Options(dtype="fp16"))) == []


def test_unquoted_spaced_launcher_is_found_and_rewritten_with_quotes(tmp_path: Path) -> None:
    script = tmp_path / "torchrun-script.py"
    body = b"# -*- coding: utf-8 -*-\r\nfrom torch.distributed.run import main\r\n"
    script.write_bytes(b"#!" + SPACED_PYTHON.encode() + b"\r\n" + body)
    probed = read_launcher(script, "conda-script", exists=lambda _: True)
    assert probed is not None and probed.interpreter == SPACED_PYTHON and probed.interpreter_exists
    facts = replace_in(windows_conda(torchrun=probed), "python", executable=SPACED_PYTHON)
    (finding,) = findings(torchrun_launcher_broken, facts)
    assert r"up to its first space (C:\Users\Ada)" in finding.message
    (action,) = rewrite_torchrun_shebang.plan(finding, facts)
    assert isinstance(action, WriteFile)
    assert action.after == b'#!"' + SPACED_PYTHON.encode() + b'"\r\n' + body
    quoted = Launcher(SPACED.path, "conda-script", SPACED_PYTHON, True, f'#!"{SPACED_PYTHON}"')
    assert findings(torchrun_launcher_broken, windows_conda(torchrun=quoted)) == []


def test_wsl_check_is_skipped_not_passed_when_its_probe_failed() -> None:
    facts = replace_in(linux_gpu(probe_errors={"host_limits": "timed out after 10.0 s"}), "platform", wsl=True)
    assert run_one(wsl_libcuda_unusable, facts).status is Status.SKIPPED


def test_p2p_fix_prints_the_variable_for_the_users_shell() -> None:
    facts = replace_in(linux_gpu(gpu=TWO_4090, options=Options(nproc=2)), "platform", shell="powershell")
    (finding,) = findings(nccl_p2p_consumer_gpus, facts)
    (action,) = set_distributed_env.plan(finding, facts)
    assert isinstance(action, Manual) and action.commands == ('$env:NCCL_P2P_DISABLE = "1"',)
    done = linux_gpu(gpu=TWO_4090, options=Options(nproc=2), env={"NCCL_P2P_DISABLE": "1"})
    assert set_distributed_env.plan(finding, done) == ()
