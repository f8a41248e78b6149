"""Failures of the serving stacks people run Llama with: llama.cpp (GGUF), vLLM, Ollama."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Signature, Step

# A native Windows path in a traceback: C:\Users\..., D:\envs\...
_WINDOWS_PATH = r"\b[A-Za-z]:\\"

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="ggml-vs-gguf",
        step=Step.SERVE,
        title="The model file is GGML while the program reads GGUF, or the reverse",
        signatures=(
            Signature(
                r"unknown \(magic, version\) combination: (?P<magic>[0-9a-f]{8}), [0-9a-f]{8}; is this really a"
                r" GGML file\?"
            ),
            Signature(r"invalid magic number (?P<magic>[0-9a-f]{8})\b"),
            Signature(r"gguf_init_from_file: invalid magic characters '?(?P<magic>[^'\s]{4})"),
            Signature(r"bad magic \[got 0x(?P<magic>[0-9a-f]+) want 0x[0-9a-f]+\]"),
        ),
        cause=(
            "The model file (magic `{magic}`) and the program reading it are from different eras of llama.cpp:"
            " GGUF replaced the GGML/GGJT `.bin` files in August 2023, and each reads only its own format."
        ),
        fix=(
            "Download a GGUF file of the model (most Llama repositories have one), or convert the old `.bin`"
            " with llama.cpp's GGML-to-GGUF script (convert_llama_ggml_to_gguf.py); for a GGUF file that an old"
            " program refuses, update the program."
        ),
        checks=("gguf-format-era",),
        matches=(
            "llama.cpp: loading model from models/llama-2-7b-chat.ggmlv3.q4_0.bin\nerror loading model: unknown"
            " (magic, version) combination: 67676a74, 00000003; is this really a GGML file?\n"
            "llama_init_from_file: failed to load model",
            "gguf_init_from_file: invalid magic number 67676a74\nerror loading model: llama_model_loader: failed to"
            " load model from ./models/llama-2-7b.ggmlv3.q4_0.bin",
            "gguf_init_from_file: invalid magic characters 'tjgg'",
            "main: error: unable to load model\nllama_model_load: invalid magic number 46554747 (GGUF)",
            "llama_model_load: invalid model file 'models/7B/ggml-model-q4_0.bin' (bad magic [got 0x67676d66 want"
            " 0x67676a74])",
        ),
        ignores=(
            "llama_model_loader: loaded meta data with 19 key-value pairs and 291 tensors from"
            " models/llama-2-7b.Q4_K_M.gguf (version GGUF V2)\nllm_load_print_meta: format           = GGUF V2",
        ),
    ),
    Failure(
        id="llamacpp-pretokenizer",
        step=Step.SERVE,
        title="llama.cpp does not know the model's BPE pre-tokenizer (Llama 3)",
        signatures=(
            Signature(r"unknown pre-tokenizer type: '(?P<pre>[^']+)'"),
            Signature(r"The BPE pre-tokenizer was not recognized!", warning=True),
            Signature(r"BPE pre-tokenizer was not recognized - update get_vocab_base_pre\(\)"),
        ),
        cause=(
            "Llama 3's tokenizer needs its own pre-tokenizer (`llama-bpe`): the program reading the GGUF is older"
            " than the pre-tokenizer the file names, or the converter did not recognise the tokenizer."
        ),
        fix=(
            "Update llama.cpp (or Ollama, LM Studio); convert again with a current convert_hf_to_gguf.py from the"
            " Hugging Face repository; a Llama 3 file labelled `smaug-bpe` can be relabelled with"
            " gguf-new-metadata.py --pre-tokenizer llama-bpe."
        ),
        checks=("gguf-pretokenizer-unknown", "gguf-pretokenizer-missing"),
        matches=(
            "llama_model_load: error loading model: error loading model vocabulary: unknown pre-tokenizer type:"
            " 'smaug-bpe'\nllama_load_model_from_file: failed to load model",
            "WARNING:hf-to-gguf:**************************************************************************************"
            "\nWARNING:hf-to-gguf:** WARNING: The BPE pre-tokenizer was not recognized!\n"
            "NotImplementedError: BPE pre-tokenizer was not recognized - update get_vocab_base_pre()",
        ),
        ignores=(
            "llm_load_vocab: special tokens cache size = 256\nllm_load_print_meta: vocab type       = BPE\n"
            "llm_load_print_meta: n_vocab          = 128256",
        ),
    ),
    Failure(
        id="vllm-kv-cache-too-small",
        step=Step.SERVE,
        title="vLLM cannot fit the KV cache for the model's full context",
        signatures=(
            Signature(
                r"max seq len \((?P<max_len>\d+)\) is larger than the maximum number of tokens that can be stored"
                r" in KV cache \((?P<kv_tokens>\d+)\)"
            ),
            Signature(
                r"max seq len \((?P<max_len>\d+)\), \(?[\d.]+ \w+ KV cache is needed, which is larger than the"
                r" available KV cache memory(?:.*?estimated maximum model length is (?P<kv_tokens>\d+))?"
            ),
        ),
        cause=(
            "vLLM reserves KV cache for the model's whole context, {max_len} tokens (Llama 3.1 advertises 128K),"
            " and that does not fit in the GPU memory it may use."
        ),
        fix=(
            "Serve a shorter context: `--max-model-len` no larger than {kv_tokens}; or let vLLM use more of the"
            " GPU with `--gpu-memory-utilization 0.95`, or spread the model over more GPUs with"
            " `--tensor-parallel-size`."
        ),
        defaults={"kv_tokens": "the length vLLM says fits"},
        checks=("vllm-kv-cache-too-small",),
        matches=(
            "INFO 10-17 12:01:33 gpu_executor.py:122] # GPU blocks: 2439, # CPU blocks: 4096\n[rank0]: ValueError:"
            " The model's max seq len (131072) is larger than the maximum number of tokens that can be stored in KV"
            " cache (39024). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when"
            " initializing the engine.",
            "(EngineCore_DP0 pid=18799) ERROR 10-08 20:33:48 [core.py:708] ValueError: To serve at least one"
            " request with the models's max seq len (131072), (16.00 GiB KV cache is needed, which is larger than"
            " the available KV cache memory (4.50 GiB). Based on the available memory, the estimated maximum model"
            " length is 36864. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when"
            " initializing the engine.",
        ),
        ignores=(
            "INFO 10-17 12:01:33 gpu_executor.py:122] # GPU blocks: 2439, # CPU blocks: 4096\n"
            "INFO 10-17 12:01:35 api_server.py:232] vLLM API server version 0.6.3\n"
            "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
        ),
    ),
    Failure(
        id="vllm-not-on-windows-mac",
        step=Step.SERVE,
        title="vLLM was installed on native Windows or macOS, where its GPU server does not run",
        signatures=(
            Signature(r"vLLM only supports Linux platform \(including WSL\)"),
            Signature(r"No module named 'vllm\._C'", near=_WINDOWS_PATH),
            Signature(r"name 'nvcc_cuda_version' is not defined", near=_WINDOWS_PATH),
            Signature(
                r"Model architectures \['LlamaForCausalLM'\] are not supported for now", near=_WINDOWS_PATH, weak=True
            ),
        ),
        cause=(
            "vLLM's GPU server runs only on Linux (WSL counts): on native Windows or macOS its compiled CUDA"
            " kernels are missing."
        ),
        fix=(
            "On Windows install and run vLLM inside WSL2; otherwise serve Llama with llama.cpp, Ollama or transformers."
        ),
        windows_commands=("wsl --install", "wsl python3 -m pip install vllm"),
        checks=("vllm-native-platform",),
        matches=(
            '  File "C:\\Users\\ada\\AppData\\Local\\Temp\\pip-install-x\\vllm\\setup.py", line 12, in <module>\n'
            '    assert sys.platform.startswith("linux"), \\\n'
            "AssertionError: vLLM only supports Linux platform (including WSL).",
            '  File "C:\\Users\\ada\\venv\\Lib\\site-packages\\vllm\\platforms\\cuda.py", line 15, in <module>\n'
            "    import vllm._C  # noqa\nModuleNotFoundError: No module named 'vllm._C'",
        ),
        ignores=(
            "INFO 10-17 12:01:35 api_server.py:232] vLLM API server version 0.6.3\n"
            "INFO 10-17 12:01:35 selector.py:135] Using Flash Attention backend.",
            '  File "/home/ada/vllm/vllm/platforms/cuda.py", line 15, in <module>\n'
            "ModuleNotFoundError: No module named 'vllm._C'",
        ),
    ),
    Failure(
        id="ollama-too-old",
        step=Step.SERVE,
        title="The model needs a newer Ollama server",
        signatures=(
            Signature(r"pull model manifest: 412\b"),
            Signature(r"The model you are attempting to pull requires a newer version of Ollama"),
            Signature(r"Warning: client version is (?P<client>\d[\w.-]*)", warning=True, weak=True),
        ),
        cause=(
            "The Ollama server is older than this model needs; when the `ollama` command warns about its client"
            " version, the upgrade replaced the command but the old server is still running."
        ),
        fix=(
            "Restart the Ollama server so the upgraded version runs (quit and reopen the app on Windows and macOS,"
            " pull a newer image for Docker), or install the latest from https://ollama.com/download."
        ),
        commands=("ollama --version", "sudo systemctl restart ollama"),
        checks=("ollama-server-outdated",),
        matches=(
            "$ ollama run llama3.1:405b\npulling manifest\nError: pull model manifest: 412:\n\nThe model you are"
            " attempting to pull requires a newer version of Ollama.\n\nPlease download the latest version at:\n\n"
            "\thttps://ollama.com/download",
            "$ ollama --version\nollama version is 0.3.0\nWarning: client version is 0.3.6",
        ),
        ignores=(
            "$ ollama --version\nollama version is 0.3.6\n$ ollama pull llama3.1\npulling manifest\n"
            "pulling 8eeb52dfb3bb... 100% ▕████████████████▏ 4.7 GB\nverifying sha256 digest\nsuccess",
        ),
    ),
    Failure(
        id="ollama-not-running",
        step=Step.SERVE,
        title="The ollama command finds no Ollama server",
        signatures=(
            Signature(r"could not connect to ollama app, is it running\?"),
            Signature(
                r"dial tcp (?P<address>[\w.\[\]:-]+:\d+): connect(?:ex)?: (?:connection refused|No connection could"
                r" be made)",
                near=r"(?i)ollama|:11434\b",
            ),
            Signature(
                r"listen tcp (?P<address>[\w.\[\]:-]+:\d+): bind: An attempt was made to access a socket in a way"
                r" forbidden by its access permissions"
            ),
        ),
        cause=(
            "The `ollama` command found no server at {address}: the Ollama app or service is not running or could"
            " not start (on Windows a reserved port range can forbid its port), or OLLAMA_HOST differs between"
            " the server and this shell."
        ),
        fix=(
            "Start the server (the Ollama app, `ollama serve`, or `systemctl start ollama`) with the same"
            " OLLAMA_HOST as the command; if Windows forbids the port, choose another one with OLLAMA_HOST."
        ),
        commands=("curl http://{address}/api/version", "sudo systemctl start ollama"),
        windows_commands=(
            "curl.exe http://{address}/api/version",
            "netsh int ipv4 show excludedportrange protocol=tcp",
        ),
        defaults={"address": "127.0.0.1:11434"},
        checks=("ollama-server-down",),
        matches=(
            "PS C:\\Users\\ada> ollama run llama3\nError: could not connect to ollama app, is it running?",
            '$ ollama list\nError: Head "http://127.0.0.1:11434/": dial tcp 127.0.0.1:11434: connect: connection'
            " refused",
            "Error: listen tcp 127.0.0.1:11434: bind: An attempt was made to access a socket in a way forbidden by"
            " its access permissions.",
        ),
        ignores=(
            "$ ollama list\nNAME               ID              SIZE      MODIFIED\nllama3.1:latest    42182419e950"
            "    4.7 GB    2 days ago",
            "dial tcp 10.0.0.5:5432: connect: connection refused",
        ),
    ),
    Failure(
        id="ollama-ram",
        step=Step.SERVE,
        title="Ollama cannot load the model into the memory that is free",
        signatures=(
            Signature(
                r"model requires more system memory \((?P<needed>[\d.]+ ?[KMGT]i?B)\) than is available"
                r" \((?P<available>[\d.]+ ?[KMGT]i?B)\)"
            ),
            Signature(r"llama runner exited, you may not have enough available memory to run this model"),
            Signature(r"llama runner process has terminated: (?:signal: killed|.*unable to allocate|.*out of memory)"),
            # Without a reason the runner may also have died of an old driver (exit status 0xc0000139).
            Signature(r"llama runner process has terminated\s*$", weak=True),
        ),
        cause=("Ollama could not load the model: with its context it needs more RAM (or GPU memory) than is free."),
        fix=(
            "Use a smaller model or quantization (a 3B, or a q4 tag), lower the context (`num_ctx`), or close"
            " other programs to free memory."
        ),
        commands=("ollama ps", "free -h"),
        windows_commands=(
            "ollama ps",
            "Get-CimInstance Win32_OperatingSystem | Select-Object FreePhysicalMemory, FreeVirtualMemory",
        ),
        checks=("ollama-model-too-big",),
        matches=(
            "$ ollama run llama3.1:8b\nError: model requires more system memory (5.3 GiB) than is available (3.3 GiB)",
            "$ ollama run llama2:13b\nError: llama runner process has terminated",
            "Error: llama runner process has terminated: error loading model: unable to allocate backend buffer",
            "Error: llama runner exited, you may not have enough available memory to run this model?",
        ),
        ignores=(
            "Error: llama runner process has terminated: exit status 0xc0000139",
            "$ ollama run llama3.2\n>>> Send a message (/? for help)",
        ),
    ),
)
