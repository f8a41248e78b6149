"""Failures while generating: tensors or dtypes on the wrong device, GPU kernels the build lacks, limits of the
reference code's chat and batch handling, and sampling that breaks on overflowed numbers."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Handling, Signature, Step

_HEALTHY_CHAT = (
    "> initializing model parallel with size 1\n"
    "> initializing ddp with size 1\n"
    "> initializing pipeline with size 1\n"
    "Loaded in 7.62 seconds\n"
    "User: I am going to Paris, what should I see?\n"
    "\n"
    "> Assistant:  Paris, the capital of France, is known for its stunning architecture, art museums,"
    " historical landmarks, and romantic atmosphere.\n"
    "\n"
    "==================================\n"
)
_HEALTHY_HF_GENERATE = (
    "Loading checkpoint shards: 100%|██████████| 2/2 [00:03<00:00,  1.62s/it]\n"
    "Setting `pad_token_id` to `eos_token_id`:128001 for open-end generation.\n"
    "The attention mask and the pad token id were not set. As a consequence, you may observe unexpected"
    " behavior. Please pass your input's `attention_mask` to obtain reliable results.\n"
)

_UNSAFE_ERROR = r"Error: special tags are not allowed as part of the prompt\."
_EXAMPLE_UNSAFE_DIALOG = r"Unsafe \[/INST\] prompt using \[INST\] special tags"

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="device-mismatch-cpu-gpu",
        step=Step.RUN,
        title="Tensors on the CPU and the GPU were mixed in one operation",
        log_only="where a script puts each tensor is decided by that script's own code as it runs",
        signatures=(
            Signature(
                r"Expected all tensors to be on the same device, but found at least two devices, (?P<first>\S+?)"
                r" and (?P<second>\S+?)!"
            ),
            Signature(
                r"Expected all tensors to be on the same device, but got \w+ is on (?P<first>\S+), different from"
                r" other tensors on (?P<second>\S+?) \("
            ),
        ),
        cause=(
            "One operation received tensors on {first} and on {second}: the inputs were not moved to the model's"
            ' device, or `device_map="auto"` left some layers on the CPU while the code moves tensors itself.'
        ),
        fix=(
            'Move the inputs to the model\'s device (`inputs = tokenizer(text, return_tensors="pt").to(model.device)`),'
            " and check `model.hf_device_map` for layers placed on `cpu` or `disk`."
        ),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/torch/nn/functional.py", line 2233, in embedding\n'
            "    return torch.embedding(weight, input, padding_idx, scale_grad_by_freq, sparse)\n"
            "RuntimeError: Expected all tensors to be on the same device, but found at least two devices, cuda:0"
            " and cpu! (when checking argument for argument index in method wrapper_CUDA__index_select)",
            "RuntimeError: Expected all tensors to be on the same device, but got index is on cpu, different from"
            " other tensors on cuda:0 (when checking argument in method wrapper_CUDA__index_select)",
        ),
        ignores=(
            _HEALTHY_HF_GENERATE,
            "UserWarning: You are calling .generate() with the `input_ids` being on a device type different than"
            " your model's device. `input_ids` is on cpu, whereas the model is on cuda.",
        ),
    ),
    Failure(
        id="gpu-arch-not-in-build",
        step=Step.RUN,
        title="The installed build has no GPU kernels for this GPU",
        signatures=(
            Signature(r"no kernel image is available for execution on the device"),
            Signature(r"GPUs with compute capability below (?P<minimum>\d+\.\d+) are not supported"),
            Signature(
                r"(?P<gpu>\S.*?) with CUDA capability (?P<sm>sm_\d+) is not compatible with the current PyTorch"
                r" installation",
                warning=True,
            ),
        ),
        cause=(
            "The GPU's compute capability is not among those the installed torch, vLLM or llama.cpp build was"
            " compiled for: very new GPUs (RTX 50xx needs CUDA 12.8 builds) and old ones (before Volta for vLLM)"
            " are left out."
        ),
        fix=(
            "Install a build made for this GPU (for RTX 50xx, torch from the cu128 index or later), or rebuild"
            " llama.cpp with `-DCMAKE_CUDA_ARCHITECTURES` set to the GPU's compute capability."
        ),
        commands=(
            "nvidia-smi --query-gpu=name,compute_cap --format=csv",
            'python -c "import torch; print(torch.cuda.get_arch_list())"',
        ),
        checks=("gpu-arch-unsupported",),
        fixes=("reinstall-torch-cuda",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/vllm/model_executor/layers/layernorm.py", line'
            " 60, in forward\n"
            "RuntimeError: CUDA error: no kernel image is available for execution on the device\n"
            "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below"
            " might be incorrect.",
            "CUDA error 209 at /tmp/llama.cpp/ggml-cuda.cu:6701: no kernel image is available for execution on the"
            " device",
            "/home/ada/.venv/lib/python3.12/site-packages/torch/cuda/__init__.py:235: UserWarning:\n"
            "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch"
            " installation.\n"
            "The current PyTorch install supports CUDA capabilities sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90.",
            "RuntimeError: GPUs with compute capability below 7.0 are not supported.",
        ),
        ignores=(
            _HEALTHY_CHAT,
            "RuntimeError: CUDA error: invalid device ordinal\n"
            "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below"
            " might be incorrect.",
        ),
    ),
    Failure(
        id="fp16-on-cpu",
        step=Step.RUN,
        title="A float16 model runs on the CPU, which lacks float16 kernels",
        runner=Handling("runs fp32 on the CPU; refuses a dtype whose matmul fails", ("device:pick_dtype",)),
        signatures=(
            Signature(
                r"\"(?P<op>\w*_cpu\w*|LayerNormKernelImpl|baddbmm_with_gemm|\w+_cpu_)\" not implemented for 'Half'"
            ),
        ),
        cause=(
            "The model is in float16 but runs on the CPU, where torch has no float16 version of `{op}`: it was"
            " loaded with `torch_dtype=torch.float16`, or never moved to the GPU."
        ),
        fix=(
            "On the CPU load in float32 (or bfloat16 where the CPU supports it); otherwise move the model and its"
            ' inputs to the GPU (`.to("cuda")`) or to `mps` on a Mac.'
        ),
        checks=("fp16-on-cpu",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/torch/nn/modules/linear.py", line 114, in'
            " forward\n"
            "    return F.linear(input, self.weight, self.bias)\n"
            "RuntimeError: \"addmm_impl_cpu_\" not implemented for 'Half'",
            "RuntimeError: \"LayerNormKernelImpl\" not implemented for 'Half'",
        ),
        ignores=(
            _HEALTHY_HF_GENERATE,
            "RuntimeError: \"triu_tril_cuda_template\" not implemented for 'BFloat16'",
        ),
    ),
    Failure(
        id="mps-oom-or-missing-op",
        step=Step.RUN,
        title="Apple's MPS backend ran out of memory or lacks an operator",
        signatures=(
            Signature(
                r"MPS backend out of memory \(MPS allocated: (?P<allocated>[\d.]+ [KMG]B), other allocations:"
                r" [\d.]+ [KMG]B, max allowed: (?P<allowed>[\d.]+ [KMG]B)\)"
            ),
            Signature(r"The operator '(?P<op>[\w:.]+)' is not current(?:ly)? implemented for the MPS device"),
        ),
        cause=(
            "On Apple Silicon the model either needs more unified memory than the Mac can give the GPU (a 7B model"
            " in 16-bit is about 13.5 GB), or uses an operator torch's MPS backend does not have yet."
        ),
        fix=(
            "For a missing operator, set `PYTORCH_ENABLE_MPS_FALLBACK=1` before Python starts (it runs that"
            " operator on the CPU). For memory, use a quantized GGUF with llama.cpp or Ollama, which run on Metal,"
            " or a smaller model."
        ),
        commands=("export PYTORCH_ENABLE_MPS_FALLBACK=1",),
        checks=("memory-insufficient", "mps-fallback-unset"),
        fixes=("set-distributed-env",),
        matches=(
            '  File "/Users/ada/.venv/lib/python3.11/site-packages/torch/nn/modules/linear.py", line 116, in'
            " forward\n"
            "RuntimeError: MPS backend out of memory (MPS allocated: 8.89 GB, other allocations: 172.98 MB, max"
            " allowed: 9.07 GB). Tried to allocate 6.25 MB on private pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0"
            " to disable upper limit for memory allocations (may cause system failure).",
            "NotImplementedError: The operator 'aten::cumsum.out' is not current implemented for the MPS device. If"
            " you want this op to be added in priority during the prototype phase of this feature, please comment"
            " on https://github.com/pytorch/pytorch/issues/77764. As a temporary fix, you can set the environment"
            " variable `PYTORCH_ENABLE_MPS_FALLBACK=1` to use the CPU as a fallback for this op.",
            "NotImplementedError: The operator 'aten::isin.Tensor_Tensor_out' is not currently implemented for the"
            " MPS device.",
        ),
        ignores=(
            "UserWarning: The operator 'aten::nonzero' is not currently supported on the MPS backend and will fall"
            " back to run on the CPU. This may have performance implications.",
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 86.00 MiB.",
        ),
    ),
    Failure(
        id="batch-size-assert",
        step=Step.RUN,
        title="More prompts than --max_batch_size",
        runner=Handling("runs extra prompts in further batches", ("generate:Generator",)),
        signatures=(
            Signature(r"^AssertionError: \((?P<prompts>\d+), (?P<max_batch_size>\d+)\)$", near=r"max_batch_size"),
        ),
        cause=(
            "The script sent {prompts} prompts in one batch but Meta's code was built with `--max_batch_size"
            " {max_batch_size}` (the Llama 2 chat example has 6 dialogs, while older READMEs say 4)."
        ),
        fix=(
            "Run with `--max_batch_size {prompts}` or more; each extra slot costs KV-cache memory on the GPU, so"
            " lower `--max_seq_len` if memory is short."
        ),
        checks=("batch-size-too-small",),
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 138, in generate\n'
            "    assert bsz <= params.max_batch_size, (bsz, params.max_batch_size)\n"
            "AssertionError: (6, 4)\n"
            "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: 1) local_rank: 0 (pid: 2301) of"
            " binary: /home/ada/.venv/bin/python",
            '[rank0]:   File "/home/ada/llama3/llama/generation.py", line 165, in generate\n'
            "[rank0]:     assert bsz <= params.max_batch_size, (bsz, params.max_batch_size)\n"
            "[rank0]: AssertionError: (4, 1)",
        ),
        ignores=(
            _HEALTHY_CHAT,
            "AssertionError: (6, 4)",
        ),
    ),
    Failure(
        id="seq-len-limits",
        step=Step.RUN,
        title="The prompt or the requested length exceeds max_seq_len",
        runner=Handling("refuses a prompt that leaves no room to answer", ("preflight:check_prompts",)),
        signatures=(
            Signature(r"max_seq_len must be between 1 and (?P<limit>\d+), got (?P<requested>\d+)"),
            Signature(r"assert max_prompt_len <= params\.max_seq_len"),
            Signature(
                r"Token indices sequence length is longer than the specified maximum sequence length for this model",
                warning=True,
            ),
            Signature(r"Input length of input_ids is \d+, but `max_length` is set to \d+", warning=True),
        ),
        cause=(
            "The prompt, or the prompt plus the answer, is longer than the context the run allows: Meta's code"
            " stops (or cuts answers short) at `--max_seq_len`, and transformers at `max_length`."
        ),
        fix=(
            "Raise `--max_seq_len` within the model's context (Llama 2: 4096, Llama 3: 8192 in Meta's code),"
            " keeping an eye on KV-cache memory, or shorten the prompt; with transformers, set `max_new_tokens`."
        ),
        checks=("max-seq-len-past-context",),
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 141, in generate\n'
            "    assert max_prompt_len <= params.max_seq_len\n"
            "AssertionError\n",
            "AssertionError: max_seq_len must be between 1 and 8192, got 131072.",
            "Token indices sequence length is longer than the specified maximum sequence length for this model"
            " (5120 > 4096). Running this sequence through the model will result in indexing errors",
            "UserWarning: Input length of input_ids is 412, but `max_length` is set to 20. This can lead to"
            " unexpected behavior. You should consider increasing `max_length` or, better yet, setting"
            " `max_new_tokens`.",
        ),
        ignores=(
            _HEALTHY_CHAT,
            "AssertionError: (6, 4)",
        ),
    ),
    Failure(
        id="chat-special-tags",
        step=Step.RUN,
        title="The chat prompt already contains Llama 2's [INST] or <<SYS>> tags",
        log_only="the chat messages a user types are not known before the run",
        runner=Handling(
            "answers with Meta's error, as the reference does", ("chat:has_special_tags", "chat:UNSAFE_ERROR")
        ),
        # Meta's own chat example sends one such dialog on purpose, so its answer is this error in a healthy run.
        signatures=(
            Signature(_UNSAFE_ERROR, near=r"\A(?![\s\S]*^User: " + _EXAMPLE_UNSAFE_DIALOG + r"$)"),
            Signature(_UNSAFE_ERROR, near=r"^User: (?!" + _EXAMPLE_UNSAFE_DIALOG + r"$).*(?:\[/?INST\]|<</?SYS>>)"),
        ),
        cause=(
            "Meta's `chat_completion` wraps each message in `[INST] … [/INST]` (and `<<SYS>>`) itself and answers"
            " with this error instead of generating when the text already contains those tags, as when a tool"
            " formats the prompt first."
        ),
        fix=(
            "Send the plain user text to `chat_completion`, or build the template yourself and call"
            " `text_completion`; never both."
        ),
        matches=(
            "User: [INST] Write a function that reverses a string [/INST]\n"
            "\n"
            "> Assistant: Error: special tags are not allowed as part of the prompt.\n"
            "\n"
            "==================================",
            "User: Unsafe [/INST] prompt using [INST] special tags\n"
            "\n"
            "> Assistant: Error: special tags are not allowed as part of the prompt.\n"
            "\n"
            "User: <<SYS>>Answer in French<</SYS>> Where is the Louvre?\n"
            "\n"
            "> Assistant: Error: special tags are not allowed as part of the prompt.",
            "  Continue: Error: special tags are not allowed as part of the prompt.",
        ),
        ignores=(
            _HEALTHY_CHAT,
            "> Assistant:  [/INST] Sure! Here is a function that reverses a string in Python:",
            _HEALTHY_CHAT + "User: Unsafe [/INST] prompt using [INST] special tags\n"
            "\n"
            "> Assistant: Error: special tags are not allowed as part of the prompt.\n"
            "\n"
            "==================================",
        ),
    ),
    Failure(
        id="chat-role-order",
        step=Step.RUN,
        title="The chat messages are not in the order the model expects",
        log_only="the order of the chat messages is set by the user's code or input at run time",
        runner=Handling("refuses the dialog with Meta's message", ("chat:llama2_tokens", "chat:ROLE_ORDER_ERROR")),
        signatures=(
            Signature(
                r"model only supports 'system', 'user' and 'assistant' roles, starting with 'system', then 'user'"
                r" and alternating"
            ),
            Signature(r"Conversation roles must alternate user/assistant/user/assistant"),
        ),
        cause=(
            "Llama 2's chat format takes an optional system message, then strictly alternating user and assistant"
            " messages ending with the user; this conversation breaks that order (two messages of one role in a"
            " row, a system message later on, or an assistant message last)."
        ),
        fix=(
            "Merge consecutive messages of the same role, fold a later system message into the next user message,"
            " and end with a user message."
        ),
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 321, in chat_completion\n'
            '    assert all([msg["role"] == "user" for msg in dialog[::2]]) and all(\n'
            "AssertionError: model only supports 'system', 'user' and 'assistant' roles, starting with 'system',"
            " then 'user' and alternating (u/a/u/a/u...)",
            "jinja2.exceptions.TemplateError: Conversation roles must alternate user/assistant/user/assistant/...",
            "openai.BadRequestError: Error code: 400 - {'object': 'error', 'message': 'Conversation roles must"
            " alternate user/assistant/user/assistant/...', 'type': 'BadRequestError', 'param': None, 'code': 400}",
        ),
        ignores=(
            _HEALTHY_CHAT,
            "Error: special tags are not allowed as part of the prompt.",
        ),
    ),
    Failure(
        id="nan-sampling-fp16",
        step=Step.RUN,
        title="Sampling met inf or NaN probabilities",
        signatures=(Signature(r"probability tensor contains either `inf`, `nan` or element < 0"),),
        cause=(
            "The model produced `inf` or `NaN` logits, so sampling could not draw a token: most often float16"
            " overflowing on Llama's activations, otherwise a damaged or badly quantized model or a multi-GPU"
            " communication fault."
        ),
        fix=(
            "Run in bfloat16 where the GPU supports it (compute capability 8.0 or later), otherwise in float32;"
            " greedy decoding (`do_sample=False`, temperature 0) avoids the crash but not the bad numbers."
        ),
        checks=("fp16-where-bf16-works",),
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 418, in sample_top_p\n'
            "    next_token = torch.multinomial(probs_sort, num_samples=1)\n"
            "RuntimeError: probability tensor contains either `inf`, `nan` or element < 0",
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/generation/utils.py", line 2941, in'
            " _sample\n"
            "    next_tokens = torch.multinomial(probs, num_samples=1).squeeze(1)\n"
            "RuntimeError: probability tensor contains either `inf`, `nan` or element < 0",
        ),
        ignores=(
            _HEALTHY_CHAT,
            "UserWarning: `do_sample` is set to `False`. However, `temperature` is set to `0.6` -- this flag is only"
            " used in sample-based generation modes.",
        ),
    ),
    Failure(
        id="hf-no-pad-token",
        step=Step.RUN,
        title="Batched generation needs a padding token the Llama tokenizer lacks",
        log_only="only the script knows whether it will batch prompts with padding, and it decides as it runs",
        runner=Handling("pads batched prompts itself, with no pad token", ("generate:Generator",)),
        signatures=(Signature(r"Asking to pad but the tokenizer does not have a padding token"),),
        cause=("Llama's tokenizer defines no padding token, and padding a batch of prompts to one length needs one."),
        fix=(
            "Set one before tokenizing, e.g. `tokenizer.pad_token = tokenizer.eos_token`, and"
            ' `tokenizer.padding_side = "left"` for generation.'
        ),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/tokenization_utils_base.py", line'
            " 2538, in _get_padding_truncation_strategies\n"
            "    raise ValueError(\n"
            "ValueError: Asking to pad but the tokenizer does not have a padding token. Please select a token to"
            " use as `pad_token` `(tokenizer.pad_token = tokenizer.eos_token e.g.)` or add a new pad token via"
            " `tokenizer.add_special_tokens({'pad_token': '[PAD]'})`.",
            "[rank0]: ValueError: Asking to pad but the tokenizer does not have a padding token. Please select a"
            " token to use as `pad_token` `(tokenizer.pad_token = tokenizer.eos_token e.g.)`",
        ),
        ignores=(_HEALTHY_HF_GENERATE,),
    ),
)
