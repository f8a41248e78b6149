"""vLLM serving a Hugging Face folder on this GPU: whether the KV cache for the model's whole context fits in
the share of VRAM vLLM takes, once the weights are loaded."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._libraries import HF_TARGET, LLAMA31_HF_CONFIG, LLAMA31_HF_PATH, hf_targets
from llamadoctor.checks._requires import NVIDIA_GPU
from llamadoctor.checks._visible import visible_gpus
from llamadoctor.checks.serving_stacks import VLLM
from llamadoctor.estimate import gib
from llamadoctor.facts import Facts, Gpu
from llamadoctor.files import ModelDir
from llamadoctor.i18n import N_, _
from llamadoctor.llama.memory import MiB, kv_cache_bytes, weight_bytes
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.model_info import arch_of, model_context
from llamadoctor.registry import check
from llamadoctor.testing import gpu, linux_cpu, linux_gpu, nvidia, replace_in
from llamadoctor.testing_files import hf_model

# vLLM's default --gpu-memory-utilization: the share of each GPU's memory it lets itself use
GPU_MEMORY_UTILIZATION = 0.9
# What vLLM's profiling pass and the CUDA context take from that share besides weights and cache
PROFILE_ALLOWANCE = 512 * MiB
# vLLM serves in the config's 16-bit dtype (float32 checkpoints are cast to float16)
DTYPE = "bf16"


def _fit(model: ModelDir, card: Gpu) -> tuple[int, int, int] | None:
    """(the model's context, the tokens whose KV cache fits, the bytes left for it), or None when not judged."""
    params, context = arch_of(model), model_context(model)
    if params is None or context is None or (model.params or {}).get("quantization_config"):
        return None  # a quantized checkpoint's weights are not 16-bit: not judged
    left = int(card.memory_total * GPU_MEMORY_UTILIZATION) - weight_bytes(params, DTYPE) - PROFILE_ALLOWANCE
    per_token = kv_cache_bytes(params, 1, 1, DTYPE)
    return context, max(0, left) // per_token, left


GPU_VISIBLE = Requires(lambda f: visible_gpus(f), N_("CUDA_VISIBLE_DEVICES hides every GPU"))
LLAMA31_8B_HF = hf_model(LLAMA31_HF_PATH, params={**LLAMA31_HF_CONFIG, "max_position_embeddings": 131072})
LLAMA2_7B_HF = hf_model(params={**(hf_model().params or {}), "max_position_embeddings": 4096})
A100_80G = nvidia(gpu("NVIDIA A100-SXM4-80GB", vram_gib=80))
T4 = nvidia(gpu("Tesla T4", vram_gib=15, cc=(7, 5)))


def _vllm(**overrides: object) -> Facts:
    return replace_in(linux_gpu(**overrides), "stacks", packages={"vllm": "0.6.3"})


@check(
    id="vllm-kv-cache-too-small",
    summary="The KV cache vLLM reserves for the model's whole context does not fit on this GPU",
    severity=Severity.WARNING,
    group=Group.MODEL,
    platforms=("linux",),
    requires=(VLLM, NVIDIA_GPU, GPU_VISIBLE, HF_TARGET),
    checked=lambda facts: _(
        "{memory} x {share} of {gpu} against the weights and full-context KV cache of {models}"
    ).format(
        memory=gib(visible_gpus(facts)[0].memory_total),
        share=GPU_MEMORY_UTILIZATION,
        gpu=visible_gpus(facts)[0].name,
        models=", ".join(m.path for m in hf_targets(facts)),
    ),
    examples=(
        Healthy(_vllm(models=(LLAMA31_8B_HF,), gpu=A100_80G)),
        Healthy(_vllm(models=(LLAMA2_7B_HF,))),
        Inapplicable(linux_gpu(models=(LLAMA31_8B_HF,)), expect="vLLM is not installed"),
        Inapplicable(replace_in(linux_cpu(models=(LLAMA31_8B_HF,)), "stacks", packages={"vllm": "0.6.3"})),
        Broken(
            _vllm(models=(LLAMA31_8B_HF,)),
            expect="The model's max seq len (131072) is larger than the maximum number of tokens",
        ),
        Broken(_vllm(models=(LLAMA31_8B_HF,)), expect="room for about 50319 tokens"),
        Broken(_vllm(models=(LLAMA2_7B_HF,), gpu=T4), expect="Tesla T4"),
    ),
)
def vllm_kv_cache_too_small(facts: Facts) -> Iterator[Finding]:
    """What it checks: with vLLM installed, for each Hugging Face folder to serve, the first visible GPU's
    memory times vLLM's default --gpu-memory-utilization (0.9), less the 16-bit weights and about 512 MiB for
    vLLM's profiling pass, against the KV cache of one sequence of the model's whole context (its config's
    max_position_embeddings: 131072 for Llama 3.1), which is vLLM's default --max-model-len. Quantized
    checkpoints are not judged; nor is a --max-model-len the user passes (it is on vLLM's command line).

    Why it matters: vLLM refuses to start: “The model's max seq len (131072) is larger than the maximum number
    of tokens that can be stored in KV cache (39024). Try increasing `gpu_memory_utilization` or decreasing
    `max_model_len`”. When the weights alone fill the share, no cache block fits at all.

    How to fix: serve a shorter context (`vllm serve MODEL --max-model-len 32768`, the message gives what
    fits), raise `--gpu-memory-utilization` a little (0.95), or spread the model over GPUs with
    `--tensor-parallel-size`.
    """
    card = visible_gpus(facts)[0]
    for model in hf_targets(facts):
        fit = _fit(model, card)
        if fit is None or fit[1] >= fit[0]:
            continue
        context, tokens, left = fit
        yield vllm_kv_cache_too_small.finding(
            _message(model, card, context, tokens, left),
            remedy=_remedy(tokens),
            context=context,
            tokens_fit=tokens,
        )


def _message(model: ModelDir, card: Gpu, context: int, tokens: int, left: int) -> str:
    share = _("{share} of {gpu}'s {memory}").format(
        share=f"{GPU_MEMORY_UTILIZATION:.0%}", gpu=card.name, memory=gib(card.memory_total)
    )
    if tokens == 0:
        return _(
            "vLLM serving {path} may use {share}, and the 16-bit weights alone fill it: no KV cache block fits, so "
            "vLLM stops before serving (“No available memory for the cache blocks”)."
        ).format(path=model.path, share=share)
    return _(
        "vLLM serving {path} reserves KV cache for its whole context, {context} tokens, but {share} leaves about "
        "{left} after the weights, room for about {tokens} tokens: it stops with “The model's max seq len "
        "({context}) is larger than the maximum number of tokens that can be stored in KV cache”."
    ).format(path=model.path, context=context, share=share, left=gib(left), tokens=tokens)


def _remedy(tokens: int) -> str:
    fits = 1 << (tokens.bit_length() - 1) if tokens else 0  # a round length, as people pass
    if fits >= 1024:
        return f"vllm serve MODEL --max-model-len {fits}"
    return _("{command} (more GPUs), or serve a quantized model").format(
        command="vllm serve MODEL --tensor-parallel-size 2"
    )
