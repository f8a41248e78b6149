"""Failures while loading a model that the memory cannot hold, or a GPU that lacks the weights' dtype."""

from __future__ import annotations

from llamadoctor.failures._logs import HEALTHY_HF_LOAD, HEALTHY_META_LOAD, TORCHRUN_TAIL
from llamadoctor.failures.model import Failure, Handling, Signature, Step

# A size as torch prints it: "86.00 MiB", "15.77 GiB".
_SIZE = r"[\d.]+ [KMGT]iB"

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="gpu-oom-model-too-big",
        step=Step.LOAD,
        title="The model does not fit in the GPU's memory",
        runner=Handling(
            "refuses when its estimate exceeds free GPU memory", ("session:Session", "preflight:check_memory")
        ),
        signatures=(
            Signature(
                r"CUDA out of memory\. Tried to allocate (?P<tried>" + _SIZE + r")"
                r"(?:.*?GPU (?P<gpu>\d+)(?: has a total capac\w* of |; )(?P<total>" + _SIZE + r"))?"
            ),
        ),
        cause=(
            "GPU {gpu} ({total} in all) ran out of memory while asking for {tried} more: the 16-bit weights plus"
            " the KV cache, which Meta's code reserves for `max_batch_size` x `max_seq_len`, need more than it has."
        ),
        fix=(
            "Lower `--max_batch_size` and `--max_seq_len`, close other programs using the GPU, or use a quantized"
            " model (4-bit through bitsandbytes, or GGUF with llama.cpp or Ollama) or a larger GPU."
        ),
        commands=("nvidia-smi",),
        checks=("memory-insufficient",),
        defaults={"gpu": "the GPU", "total": "its memory", "tried": "a block"},
        matches=(
            '  File "/home/ada/llama/llama/model.py", line 289, in forward\n'
            "    h = h + self.attention(self.attention_norm(h), start_pos, freqs_cis, mask)\n"
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 86.00 MiB. GPU 0 has a total"
            " capacty of 7.78 GiB of which 61.00 MiB is free. Including non-PyTorch memory, this process has 7.71"
            " GiB memory in use. Of the allocated memory 7.58 GiB is allocated by PyTorch.\n" + TORCHRUN_TAIL,
            "RuntimeError: CUDA out of memory. Tried to allocate 172.00 MiB (GPU 0; 12.00 GiB total capacity;"
            " 11.21 GiB already allocated; 0 bytes free; 11.22 GiB reserved in total by PyTorch)",
            "[rank3]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 224.00 MiB. GPU 3 has a total"
            " capacity of 15.77 GiB of which 289.38 MiB is free.",
        ),
        ignores=(
            HEALTHY_META_LOAD,
            "RuntimeError: MPS backend out of memory (MPS allocated: 8.89 GB, other allocations: 172.98 MB, max"
            " allowed: 9.07 GB). Tried to allocate 6.25 MB on private pool.",
        ),
    ),
    Failure(
        id="bf16-unsupported-gpu",
        step=Step.LOAD,
        title="The GPU cannot run bfloat16",
        runner=Handling("picks fp16 on GPUs below compute capability 8.0", ("device:pick_dtype",)),
        signatures=(
            Signature(
                r"Bfloat16 is only supported on GPUs with compute capability of at least 8\.0\. Your (?P<gpu>.+?)"
                r" GPU has compute capability (?P<cc>\d+\.\d+)"
            ),
        ),
        cause=(
            "The model's config asks for bfloat16, which needs compute capability 8.0 (Ampere) or later; the"
            " {gpu} has {cc}."
        ),
        fix="Load in float16 instead: `--dtype half` for vLLM, `torch_dtype=torch.float16` for transformers.",
        checks=("bf16-unsupported",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/vllm/worker/worker.py", line 357, in'
            " _check_if_gpu_supports_dtype\n"
            "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4"
            " GPU has compute capability 7.5. You can use float16 instead by explicitly setting the`dtype` flag in"
            " CLI, for example: --dtype=half.",
            "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla"
            " V100-SXM2-16GB GPU has compute capability 7.0.",
        ),
        ignores=(
            "INFO 07-12 10:01:22 llm_engine.py:161] Initializing an LLM engine with config:"
            " model='meta-llama/Llama-2-7b-hf', dtype=torch.float16, max_seq_len=4096",
            "RuntimeError: GPUs with compute capability below 7.0 are not supported.",
        ),
    ),
    Failure(
        id="windows-pagefile",
        step=Step.LOAD,
        title="Windows ran out of virtual memory (the paging file is too small)",
        signatures=(
            Signature(r"The paging file is too small for this operation to complete"),
            Signature(r"\[WinError 1455\]|\(os error 1455\)"),
        ),
        cause=(
            "Windows could not commit the memory the model needs: RAM plus the paging file is smaller than what"
            " mapping the weights (or loading CUDA's libraries in several processes) requires."
        ),
        fix=(
            "Enlarge the paging file (System > Advanced system settings > Performance > Virtual memory), or let"
            " Windows manage it on a drive with free space; close other programs or load fewer processes."
        ),
        windows_commands=("Get-CimInstance Win32_PageFileUsage | Select-Object Name, AllocatedBaseSize",),
        checks=("pagefile-too-small",),
        matches=(
            r'  File "C:\Users\ada\ComfyUI\venv\lib\site-packages\safetensors\torch.py", line 311, in load_file'
            '\n    with safe_open(filename, framework="pt", device=device) as f:\n'
            "OSError: The paging file is too small for this operation to complete. (os error 1455)",
            r"OSError: [WinError 1455] Le fichier de pagination est insuffisant pour terminer cette opération."
            r' Error loading "C:\Users\ada\.venv\lib\site-packages\torch\lib\cudnn_cnn_infer64_8.dll" or one of'
            " its dependencies.",
        ),
        ignores=(
            HEALTHY_HF_LOAD,
            r"OSError: [WinError 126] The specified module could not be found. Error loading"
            r' "C:\Users\ada\.venv\lib\site-packages\torch\lib\fbgemm.dll" or one of its dependencies.',
        ),
    ),
    Failure(
        id="host-ram-sigkill",
        step=Step.LOAD,
        title="The process was killed for using too much RAM while loading",
        runner=Handling(
            "memory-maps the shards; refuses a CPU run that exceeds free RAM",
            ("checkpoint:load_file", "preflight:check_memory"),
        ),
        signatures=(
            Signature(r"failed \(exitcode: -9\) local_rank: (?P<rank>\d+) \(pid: (?P<pid>\d+)\)"),
            Signature(r"Signal 9 \(SIGKILL\) received by PID (?P<pid>\d+)"),
        ),
        cause=(
            "Process {pid} was killed with SIGKILL, almost always by the kernel's out-of-memory killer:"
            " `torch.load` reads a whole shard (13-16 GB for 7B/8B) into RAM before moving it to the GPU."
        ),
        fix=(
            "Free RAM or add swap (on WSL, raise `memory=` in `.wslconfig`), or load the Hugging Face safetensors"
            " with `low_cpu_mem_usage=True`, or use a quantized GGUF."
        ),
        commands=("free -h", "sudo dmesg | grep -i 'killed process'"),
        checks=("ram-low", "memory-insufficient", "host-ram-too-small-for-load"),
        matches=(
            "> initializing model parallel with size 1\n"
            "> initializing ddp with size 1\n"
            "> initializing pipeline with size 1\n"
            "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: -9) local_rank: 0 (pid: 62498)"
            " of binary: /home/znr/miniconda3/envs/llama/bin/python\n"
            "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
            "  time      : 2025-04-07_10:12:44\n"
            "  rank      : 0 (local_rank: 0)\n"
            "  exitcode  : -9 (pid: 2198)\n"
            "  traceback : Signal 9 (SIGKILL) received by PID 2198",
        ),
        ignores=(
            HEALTHY_META_LOAD,
            TORCHRUN_TAIL,
        ),
    ),
)
