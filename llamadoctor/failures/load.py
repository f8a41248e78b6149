"""Failures while loading a model: the wrong folder or format for the tool, library versions older than the
model, damaged or mismatched files, and not enough memory to hold the weights."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Signature, Step

# A traceback's last lines as torchrun prints them for a failed rank: the noise around most load failures.
_TORCHRUN_TAIL = (
    "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: 1) local_rank: 0 (pid: 4121) of binary:"
    " /home/ada/miniconda3/envs/llama/bin/python\n"
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n"
)
_HEALTHY_META_LOAD = (
    "> initializing model parallel with size 1\n"
    "> initializing ddp with size 1\n"
    "> initializing pipeline with size 1\n"
    "Loaded in 9.84 seconds\n"
    "User: what is the recipe of mayonnaise?\n"
)
_HEALTHY_HF_LOAD = (
    "Loading checkpoint shards: 100%|██████████| 2/2 [00:04<00:00,  2.21s/it]\n"
    "generation_config.json: 100%|██████████| 188/188 [00:00<00:00, 1.20MB/s]\n"
    "Setting `pad_token_id` to `eos_token_id`:2 for open-end generation.\n"
)
_SIZE = r"[\d.]+ [KMGT]iB"

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="load-meta-format-in-hf-loader",
        step=Step.LOAD,
        title="A Meta-format folder was given to a Hugging Face loader",
        signatures=(Signature(r"(?P<model>\S+) does not appear to have a file named config\.json"),),
        cause=(
            "`{model}` has no `config.json`: it is in Meta's own format (`params.json`, `consolidated.*.pth`) or is"
            " the non-`-hf` repository, and transformers, vLLM and text-generation-webui read only the Hugging Face"
            " format."
        ),
        fix=(
            "Use the `-hf` repository (e.g. `meta-llama/Llama-2-7b-hf`) or convert the Meta folder to the Hugging"
            " Face format; for Llama 3 repositories, load the repository root, not its `original/` folder."
        ),
        checks=("model-dir-incomplete",),
        fixes=("convert-to-hf",),
        matches=(
            "Traceback (most recent call last):\n"
            '  File "/home/ada/chat.py", line 4, in <module>\n'
            "    model = AutoModelForCausalLM.from_pretrained(path)\n"
            "OSError: meta-llama/Llama-2-7b does not appear to have a file named config.json. Checkout"
            " 'https://huggingface.co/meta-llama/Llama-2-7b/tree/main' for available files.\n",
            r"OSError: models\LLaMA-7B does not appear to have a file named config.json. Checkout"
            r" 'https://huggingface.co/models\LLaMA-7B/None' for available files.",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            "OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the"
            " cached files and it looks like meta-llama/Meta-Llama-3-8B-Instruct is not the path to a directory"
            " containing a file named config.json.",
        ),
    ),
    Failure(
        id="gpu-oom-model-too-big",
        step=Step.LOAD,
        title="The model does not fit in the GPU's memory",
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
            " GiB memory in use. Of the allocated memory 7.58 GiB is allocated by PyTorch.\n" + _TORCHRUN_TAIL,
            "RuntimeError: CUDA out of memory. Tried to allocate 172.00 MiB (GPU 0; 12.00 GiB total capacity;"
            " 11.21 GiB already allocated; 0 bytes free; 11.22 GiB reserved in total by PyTorch)",
            "[rank3]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 224.00 MiB. GPU 3 has a total"
            " capacity of 15.77 GiB of which 289.38 MiB is free.",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "RuntimeError: MPS backend out of memory (MPS allocated: 8.89 GB, other allocations: 172.98 MB, max"
            " allowed: 9.07 GB). Tried to allocate 6.25 MB on private pool.",
        ),
    ),
    Failure(
        id="llama-version-code-mismatch",
        step=Step.LOAD,
        title="params.json is from a newer Llama than the code reading it",
        signatures=(
            Signature(r"ModelArgs\.__init__\(\) got an unexpected keyword argument '(?P<key>\w+)'"),
            Signature(
                r"^TypeError: __init__\(\) got an unexpected keyword argument"
                r" '(?P<key>rope_theta|use_scaled_rope|n_kv_heads|ffn_dim_multiplier|vocab_size|rope_scaling)'"
            ),
        ),
        cause=(
            "The checkpoint's `params.json` has the key `{key}`, which this version of Meta's code does not know:"
            " the weights belong to a later Llama generation than the code (Code Llama adds `rope_theta`,"
            " Llama 3.1 adds `use_scaled_rope`)."
        ),
        fix=(
            "Run the model with the code of its own generation: meta-llama/llama for Llama 2 and Code Llama,"
            " meta-llama/llama3 for Llama 3, meta-llama/llama-models for 3.1 and later. Deleting the key from"
            " params.json loads the model without the behaviour it asks for."
        ),
        commands=("llamadoctor check --repo . --only model-version-mismatch",),
        checks=("model-version-mismatch",),
        matches=(
            "Traceback (most recent call last):\n"
            '  File "/home/ada/llama3/llama/generation.py", line 107, in build\n'
            "    model_args: ModelArgs = ModelArgs(\n"
            "                            ^^^^^^^^^^\n"
            "TypeError: ModelArgs.__init__() got an unexpected keyword argument 'use_scaled_rope'\n" + _TORCHRUN_TAIL,
            '  File "llama/generation.py", line 82, in build\n'
            "    params = json.loads(f.read())\n"
            "    model_args: ModelArgs = ModelArgs(max_seq_len=max_seq_len, max_batch_size=max_batch_size, **params)\n"
            "TypeError: __init__() got an unexpected keyword argument 'rope_theta'",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "TypeError: generate() got an unexpected keyword argument 'temperature'",
        ),
    ),
    Failure(
        id="tokenizers-too-old",
        step=Step.LOAD,
        title="tokenizer.json was written by a newer tokenizers release",
        signatures=(
            Signature(
                r"data did not match any variant of untagged enum (?P<part>\w+Wrapper) at line (?P<line>\d+) column"
            ),
        ),
        cause=(
            "The installed `tokenizers` library cannot read line {line} of the model's `tokenizer.json` (its"
            " `{part}`): the file was written by a newer release, as Llama 3 and 3.1 tokenizers are."
        ),
        fix="Upgrade transformers and tokenizers together in the environment that loads the model.",
        commands=("python -m pip install -U transformers tokenizers",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/tokenization_utils_fast.py", line'
            " 111, in __init__\n"
            "    fast_tokenizer = TokenizerFast.from_file(fast_tokenizer_file)\n"
            "Exception: data did not match any variant of untagged enum PyPreTokenizerTypeWrapper at line 40"
            " column 3",
            "Exception: data did not match any variant of untagged enum ModelWrapper at line 1251012 column 3",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        ),
    ),
    Failure(
        id="transformers-too-old-llama-class",
        step=Step.LOAD,
        title="transformers does not know the tokenizer class the model names",
        signatures=(
            Signature(r"Tokenizer class (?P<cls>\w*(?:LLaMA|Llama)\w*) does not exist or is not currently imported"),
        ),
        cause=(
            "The model's `tokenizer_config.json` names `{cls}`, which this transformers cannot find: either"
            " transformers is older than 4.28 (the first with Llama), or the folder is an early unofficial"
            " conversion that spelled the class `LLaMATokenizer`."
        ),
        fix=(
            "Upgrade transformers; if the config says `LLaMATokenizer`, change it to `LlamaTokenizer` in"
            " `tokenizer_config.json` (or use an official `-hf` repository)."
        ),
        commands=("python -m pip install -U transformers",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/models/auto/tokenization_auto.py",'
            " line 676, in from_pretrained\n"
            "    raise ValueError(\n"
            "ValueError: Tokenizer class LLaMATokenizer does not exist or is not currently imported.",
            "ValueError: Tokenizer class LlamaTokenizer does not exist or is not currently imported.",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            "ValueError: Tokenizer class Qwen2Tokenizer does not exist or is not currently imported.",
        ),
    ),
    Failure(
        id="transformers-too-old-rope-llama31",
        step=Step.LOAD,
        title="transformers is too old for Llama 3.1's rope_scaling",
        signatures=(
            Signature(r"`rope_scaling` must be a dictionary with two fields, `type` and `factor`, got .*'llama3'"),
            Signature(r"`rope_scaling`'s type field must be one of \[.*\], got llama3"),
        ),
        cause=(
            "The model's `config.json` uses the `llama3` rope scaling of Llama 3.1 and later, which transformers"
            " (and the vLLM built on it) understands only from 4.43."
        ),
        fix="Upgrade transformers to 4.43 or later (and vLLM, if it is the one loading the model).",
        commands=("python -m pip install -U 'transformers>=4.43'",),
        windows_commands=('python -m pip install -U "transformers>=4.43"',),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/models/llama/configuration_llama.py",'
            " line 182, in _rope_scaling_validation\n"
            "ValueError: `rope_scaling` must be a dictionary with two fields, `type` and `factor`, got {'factor':"
            " 8.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0, 'original_max_position_embeddings': 8192,"
            " 'rope_type': 'llama3'}",
            "ValueError: `rope_scaling`'s type field must be one of ['linear', 'dynamic'], got llama3",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            "ValueError: `rope_scaling` must be a dictionary with two fields, `type` and `factor`, got {'type':"
            " 'yarn', 'factor': 4.0, 'original_max_position_embeddings': 32768}",
        ),
    ),
    Failure(
        id="transformers-too-old-arch",
        step=Step.LOAD,
        title="transformers does not know the model's architecture",
        signatures=(
            Signature(r"has model type `(?P<model_type>[\w-]+)` but Transformers does not recognize this architecture"),
            Signature(r"^KeyError: '(?P<model_type>mllama|llama4(?:_text)?)'$", near=r"configuration_auto"),
        ),
        cause=(
            "The model's `config.json` says `model_type` `{model_type}`, an architecture added to transformers"
            " after the installed release (Llama 3.2 Vision's `mllama` needs 4.45)."
        ),
        fix="Upgrade transformers, or the serving image that bundles it, to a release that knows the architecture.",
        commands=("python -m pip install -U transformers",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/models/auto/configuration_auto.py",'
            " line 1022, in from_pretrained\n"
            '    config_class = CONFIG_MAPPING[config_dict["model_type"]]\n'
            "KeyError: 'mllama'\n"
            "During handling of the above exception, another exception occurred:\n"
            "ValueError: The checkpoint you are trying to load has model type `mllama` but Transformers does not"
            " recognize this architecture. This could be because of an issue with the checkpoint, or because your"
            " version of Transformers is out of date.",
            "ValueError: The checkpoint you are trying to load has model type `llama4` but Transformers does not"
            " recognize this architecture.",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            "KeyError: 'mllama'",
        ),
    ),
    Failure(
        id="accelerate-missing",
        step=Step.LOAD,
        title="device_map or low_cpu_mem_usage needs accelerate",
        signatures=(Signature(r"requires Accelerate: `pip install (?P<requirement>[^`]*accelerate[^`]*)`"),),
        cause=(
            "Loading with `device_map` or `low_cpu_mem_usage=True` needs the accelerate library, which is missing,"
            " too old, or installed into another environment than the Python that ran this."
        ),
        fix="Install or upgrade accelerate with the same Python that loads the model.",
        commands=("python -m pip install -U {requirement}",),
        matches=(
            "ImportError: Using `low_cpu_mem_usage=True` or a `device_map` requires Accelerate: `pip install"
            " accelerate`",
            "ImportError: Using `low_cpu_mem_usage=True`, a `device_map` or a `tp_plan` requires Accelerate: `pip"
            " install 'accelerate>=0.26.0'`",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            "ModuleNotFoundError: No module named 'accelerate.utils.modeling'",
        ),
    ),
    Failure(
        id="hf-format-in-meta-loader",
        step=Step.LOAD,
        title="A Hugging Face folder was given to a tool that reads Meta's format",
        signatures=(
            Signature(
                r"No such file or directory: '(?P<model>[^']*[^'/\\])(?<![/\\]\dB)(?<![/\\]\d\dB)[/\\]+params\.json'"
            ),
        ),
        cause=(
            "The tool reads Meta's format and looked for `params.json` in `{model}`, which has none: it is most"
            " likely a Hugging Face folder (`config.json` and `*.safetensors`)."
        ),
        fix=(
            "Use the tool's Hugging Face path instead (e.g. llama.cpp's `convert_hf_to_gguf.py`), or give it the"
            " Meta files: the `original/` folder of the Hugging Face repository or Meta's own download. Do not"
            " write a params.json by hand."
        ),
        commands=("llamadoctor check --model-dir {model}",),
        checks=("model-dir-incomplete",),
        matches=(
            '  File "/home/ada/LLaMA_MPS/chat.py", line 42, in load\n'
            '    with open(Path(ckpt_dir) / "params.json", "r") as f:\n'
            "FileNotFoundError: [Errno 2] No such file or directory: 'models/llama-7b-hf/params.json'",
            r"FileNotFoundError: [Errno 2] No such file or directory: 'C:\models\Llama-2-7b-hf\params.json'",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "FileNotFoundError: [Errno 2] No such file or directory: 'llama-2-7b/7B/params.json'",
            "FileNotFoundError: [Errno 2] No such file or directory:"
            " '.\\\\output_models\\\\llama_7b_lora\\\\7B\\\\params.json'",
        ),
    ),
    Failure(
        id="mp-world-size-mismatch",
        step=Step.LOAD,
        title="torchrun started a different number of processes than the checkpoint has shards",
        signatures=(Signature(r"Loading a checkpoint for MP=(?P<mp>[1-9]\d*) but world size is (?P<world>\d+)"),),
        cause=(
            "The checkpoint folder holds {mp} `consolidated.*.pth` shard(s) but {world} process(es) were started:"
            " Meta's code needs exactly one process, and one GPU, per shard."
        ),
        fix=(
            "Start torchrun with `--nproc_per_node {mp}`; with fewer GPUs than shards, use the Hugging Face format"
            ' with `device_map="auto"`, a quantized GGUF, or `llamadoctor run`, which merges the shards.'
        ),
        checks=("shards-vs-nproc",),
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 101, in build\n'
            "    assert model_parallel_size == len(\n"
            "AssertionError: Loading a checkpoint for MP=1 but world size is 4\n" + _TORCHRUN_TAIL,
            "[rank0]: AssertionError: Loading a checkpoint for MP=2 but world size is 8",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "AssertionError: Loading a checkpoint for MP=0 but world size is 1",
        ),
    ),
    Failure(
        id="ckpt-dir-empty",
        step=Step.LOAD,
        title="--ckpt_dir has no checkpoint files",
        signatures=(
            Signature(r"""no checkpoint files found in (?P<ckpt_dir>[^\s{"']\S*)"""),
            Signature(r"Checkpoint directory '(?P<ckpt_dir>[^'{][^']*)' does not exist"),
            Signature(r"Loading a checkpoint for MP=0 but world size is"),
        ),
        cause=(
            "Meta's code found no `consolidated.*.pth` in {ckpt_dir}: the path is wrong, the download did not"
            " finish, or the files sit in a subfolder (Hugging Face downloads keep them under `original/`)."
        ),
        fix=(
            "Point `--ckpt_dir` at the folder that holds `consolidated.00.pth` (`…/original/` for a Hugging Face"
            " download). When pasting a command on Windows, drop the `\\` line continuations."
        ),
        commands=("find . -name 'consolidated.*.pth'",),
        windows_commands=("Get-ChildItem -Recurse -Filter 'consolidated.*.pth'",),
        checks=("model-dir-incomplete",),
        defaults={"ckpt_dir": "the --ckpt_dir folder"},
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 96, in build\n'
            '    assert len(checkpoints) > 0, f"no checkpoint files found in {ckpt_dir}"\n'
            "AssertionError: no checkpoint files found in llama-2-7b-chat/\n" + _TORCHRUN_TAIL,
            "AssertionError: no checkpoint files found in --ckpt_dir",
            "AssertionError: Checkpoint directory 'Meta-Llama-3-8B-Instruct/' does not exist.",
            "AssertionError: Loading a checkpoint for MP=0 but world size is 1",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "AssertionError: Loading a checkpoint for MP=2 but world size is 1",
        ),
    ),
    Failure(
        id="tokenizer-path-wrong",
        step=Step.LOAD,
        title="--tokenizer_path does not name a tokenizer.model file",
        signatures=(
            Signature(r"^AssertionError: (?P<tokenizer>\S*tokenizer\.model)$"),
            Signature(r"Tokenizer file '(?P<tokenizer>[^'{][^']*)' does not exist"),
            Signature(r"OSError: Not found: \"(?P<tokenizer>[^\"]*tokenizer\.model)\": No such file or directory"),
            Signature(r"Can't load tokenizer for '(?P<tokenizer>[^']+)'", weak=True),
        ),
        cause=(
            "No tokenizer was found at `{tokenizer}`. Llama 2's download puts `tokenizer.model` beside the model"
            " folders, Llama 3's inside each model folder, and Hugging Face downloads under `original/`."
        ),
        fix="Pass `--tokenizer_path` the real location of `tokenizer.model`.",
        commands=("find . -name tokenizer.model",),
        windows_commands=("Get-ChildItem -Recurse -Filter tokenizer.model",),
        checks=("model-dir-incomplete",),
        matches=(
            '  File "/home/ada/LLaMA_MPS/llama/tokenizer.py", line 17, in __init__\n'
            "    assert os.path.isfile(model_path), model_path\n"
            "AssertionError: ./models/tokenizer.model",
            "AssertionError: Tokenizer file 'llama-2-7b/tokenizer.model' does not exist.",
            'OSError: Not found: "/home/ada/Llama-2-7b/tokenizer.model": No such file or directory Error #2',
            "OSError: Can't load tokenizer for 'llama-2-7b'. If you were trying to load it from"
            " 'https://huggingface.co/models', make sure you don't have a local directory with the same name."
            " Otherwise, make sure 'llama-2-7b' is the correct path to a directory containing all relevant files"
            " for a LlamaTokenizer tokenizer.",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "RuntimeError: Internal: could not parse ModelProto from ./tokenizer.model",
        ),
    ),
    Failure(
        id="truncated-pth",
        step=Step.LOAD,
        title="A checkpoint file is truncated or empty",
        signatures=(
            Signature(r"PytorchStreamReader failed reading zip archive: failed finding central directory"),
            Signature(r"PytorchStreamReader failed reading file \S+: invalid header or archive is corrupted"),
            Signature(r"^EOFError: Ran out of input$", near=r"torch[/\\]serialization\.py|torch\.load", weak=True),
        ),
        cause=(
            "A `.pth` file ends early or is empty: the download was interrupted, or a failed request (an expired"
            " link) left a 0-byte or partial file behind."
        ),
        fix="Download the damaged file again (with a fresh link if it came from Meta) and verify it.",
        commands=("md5sum -c checklist.chk",),
        checks=("shard-corrupt", "checksum-mismatch"),
        fixes=("redownload-failed-shards",),
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 103, in build\n'
            '    checkpoint = torch.load(ckpt_path, map_location="cpu")\n'
            "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central directory",
            '  File "/home/ada/.venv/lib/python3.10/site-packages/torch/serialization.py", line 1384, in'
            " _legacy_load\n"
            "    magic_number = pickle_module.load(f, **pickle_load_args)\n"
            "EOFError: Ran out of input",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "EOFError: Ran out of input",
        ),
    ),
    Failure(
        id="lfs-pointer-or-html-weights",
        step=Step.LOAD,
        title="A weights file is a Git LFS pointer or a web page",
        signatures=(
            Signature(r"invalid load key, '(?P<byte>v|<)'\."),
            Signature(r"Error while deserializing header: HeaderTooLarge"),
            Signature(r"WeightsUnpickler error: Unsupported operand (?P<byte>118|60)\b"),
            Signature(r"^version https://git-lfs\.github\.com/spec/v1$", weak=True),
        ),
        cause=(
            "The file that should hold weights holds text: a Git LFS pointer (cloned without `git lfs`; it starts"
            " with `v`, byte 118) or a saved HTML page (it starts with `<`)."
        ),
        fix=(
            "Fetch the real files: `git lfs install && git lfs pull` inside the clone, or download again with"
            " `huggingface-cli download`. Do not pass `weights_only=False`: the file is not a checkpoint."
        ),
        commands=("git lfs install", "git lfs pull"),
        checks=("shard-corrupt",),
        fixes=("redownload-failed-shards",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/torch/serialization.py", line 1033, in'
            " _legacy_load\n"
            "    magic_number = pickle_module.load(f, **pickle_load_args)\n"
            "_pickle.UnpicklingError: invalid load key, 'v'.",
            "safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge",
            "_pickle.UnpicklingError: Weights only load failed. In PyTorch 2.6, we changed the default value of the"
            " `weights_only` argument in `torch.load` from `False` to `True`.\n"
            "Please file an issue with the following so that we can make `weights_only=True` compatible with your"
            " use case: WeightsUnpickler error: Unsupported operand 118",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            "_pickle.UnpicklingError: Weights only load failed. WeightsUnpickler error: Unsupported global: GLOBAL"
            " numpy.core.multiarray._reconstruct was not an allowed global by default.",
        ),
    ),
    Failure(
        id="llama3-tokenizer-in-sentencepiece",
        step=Step.LOAD,
        title="A Llama 3 tokenizer was read as SentencePiece, or the reverse",
        signatures=(
            Signature(
                r"could not parse ModelProto from (?P<tokenizer>\S+)",
                near=r"llama[/\\]tokenizer\.py|SentencePieceProcessor\(model_file",
            ),
            Signature(
                r"\[model_proto->ParseFromArray\(serialized\.data\(\), serialized\.size\(\)\)\]",
                near=r"llama[/\\]tokenizer\.py|SentencePieceProcessor\(model_file",
            ),
            Signature(r"not enough values to unpack \(expected 2, got 1\)", near=r"load_tiktoken_bpe"),
            Signature(r"too many values to unpack \(expected 2\)", near=r"load_tiktoken_bpe"),
        ),
        cause=(
            "Llama 3's `{tokenizer}` is a tiktoken BPE text file, not a SentencePiece model, so Llama 2's code"
            " cannot parse it; the reverse, a SentencePiece file given to Llama 3's code, fails to unpack."
        ),
        fix=(
            "Keep each model with its own code: meta-llama/llama3 or llama-models (or the Hugging Face format) for"
            " Llama 3, meta-llama/llama for Llama 2, and each model's own `tokenizer.model`."
        ),
        commands=("head -c 64 {tokenizer}",),
        checks=("model-version-mismatch",),
        defaults={"tokenizer": "tokenizer.model"},
        matches=(
            '  File "/home/ada/llama/llama/tokenizer.py", line 19, in __init__\n'
            "    self.sp_model = SentencePieceProcessor(model_file=model_path)\n"
            '  File "/home/ada/.venv/lib/python3.10/site-packages/sentencepiece/__init__.py", line 310, in'
            " LoadFromFile\n"
            "RuntimeError: Internal: could not parse ModelProto from"
            " ../llama3/Meta-Llama-3-8B-Instruct/tokenizer.model\n" + _TORCHRUN_TAIL,
            '  File "/home/ada/llama/llama/tokenizer.py", line 16, in __init__\n'
            "RuntimeError: Internal: src/sentencepiece_processor.cc(1101)"
            " [model_proto->ParseFromArray(serialized.data(), serialized.size())]",
            '  File "/home/ada/.venv/lib/python3.10/site-packages/tiktoken/load.py", line 145, in load_tiktoken_bpe\n'
            "    for token, rank in (line.split() for line in contents.splitlines() if line)\n"
            "ValueError: not enough values to unpack (expected 2, got 1)",
        ),
        ignores=(
            "python convert_llama_weights_to_hf.py --input_dir Llama3.2-1B-Instruct --model_size 1B --output_dir"
            " hf\n"
            '  File "/home/ada/.venv/lib/python3.10/site-packages/sentencepiece/__init__.py", line 310, in'
            " LoadFromFile\n"
            "RuntimeError: Internal: could not parse ModelProto from Llama3.2-1B-Instruct/tokenizer.model",
            "ValueError: not enough values to unpack (expected 2, got 1)",
        ),
    ),
    Failure(
        id="gqa-shape-mismatch",
        step=Step.LOAD,
        title="Key/value projection shapes differ between checkpoint and model",
        signatures=(
            Signature(
                r"size mismatch for (?P<param>\S*(?:k_proj|v_proj|wk|wv)\.weight): copying a param with shape"
                r" torch\.Size\(\[(?P<checkpoint>[\d, ]+)\]\) from checkpoint, the shape in current model is"
                r" torch\.Size\(\[(?P<model>[\d, ]+)\]\)"
            ),
        ),
        cause=(
            "`{param}` is [{checkpoint}] in the checkpoint but [{model}] in the model built to receive it: the"
            " model was built with the wrong number of key/value heads (grouped-query attention, used by Llama 2"
            " 70B and all Llama 3, needs transformers 4.31 or later), or a single shard of a sharded checkpoint is"
            " being loaded as a whole model."
        ),
        fix=(
            "Upgrade transformers; with Meta's code, leave `n_kv_heads` as `params.json` has it and load every"
            " shard with its own process."
        ),
        commands=("python -m pip install -U 'transformers>=4.31'",),
        windows_commands=('python -m pip install -U "transformers>=4.31"',),
        matches=(
            "RuntimeError: Error(s) in loading state_dict for LlamaForCausalLM:\n"
            "\tsize mismatch for model.layers.0.self_attn.k_proj.weight: copying a param with shape"
            " torch.Size([1024, 8192]) from checkpoint, the shape in current model is torch.Size([8192, 8192]).",
            "\tsize mismatch for layers.16.attention.wk.weight: copying a param with shape torch.Size([4096, 4096])"
            " from checkpoint, the shape in current model is torch.Size([128, 4096]).",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "\tsize mismatch for tok_embeddings.weight: copying a param with shape torch.Size([128256, 8192]) from"
            " checkpoint, the shape in current model is torch.Size([32000, 8192]).",
        ),
    ),
    Failure(
        id="llama3-weights-llama2-code",
        step=Step.LOAD,
        title="Llama 3 weights were loaded into a Llama 2 model",
        signatures=(
            Signature(
                r"size mismatch for (?P<param>\S*(?:tok_embeddings|embed_tokens|output|lm_head)\.weight): copying a"
                r" param with shape torch\.Size\(\[(?P<checkpoint>128256), \d+\]\) from checkpoint, the shape in"
                r" current model is torch\.Size\(\[(?P<model>\d+), \d+\]\)"
            ),
        ),
        cause=(
            "The checkpoint's vocabulary has {checkpoint} tokens (Llama 3) but the model was built for {model}"
            " (Llama 1 and 2): the code or its configuration is from the Llama 2 era."
        ),
        fix=(
            "Use the Llama 3 configuration or code (meta-llama/llama3, llama-models, or a current transformers with"
            " the model's own `config.json`)."
        ),
        commands=("python -m pip install -U transformers",),
        checks=("model-version-mismatch",),
        matches=(
            "RuntimeError: Error(s) in loading state_dict for Transformer:\n"
            "\tsize mismatch for tok_embeddings.weight: copying a param with shape torch.Size([128256, 8192]) from"
            " checkpoint, the shape in current model is torch.Size([32000, 8192]).",
            "\tsize mismatch for model.embed_tokens.weight: copying a param with shape torch.Size([128256, 4096])"
            " from checkpoint, the shape in current model is torch.Size([32000, 4096]).\n"
            "\tsize mismatch for model.layers.0.self_attn.k_proj.weight: copying a param with shape"
            " torch.Size([1024, 4096]) from checkpoint, the shape in current model is torch.Size([4096, 4096]).",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "\tsize mismatch for model.embed_tokens.weight: copying a param with shape torch.Size([32001, 4096])"
            " from checkpoint, the shape in current model is torch.Size([32000, 4096]).",
        ),
    ),
    Failure(
        id="rope-freqs-unexpected-key",
        step=Step.LOAD,
        title="A strict loader rejects the rope.freqs buffer of Meta's checkpoint",
        signatures=(Signature(r"Unexpected key\(s\) in state_dict: \"rope\.freqs\""),),
        cause=(
            "Llama 2's `consolidated.*.pth` carries a `rope.freqs` buffer that Meta's code ignores (it loads with"
            " `strict=False`); this loader is strict and stops on it."
        ),
        fix='Drop the key before loading (`checkpoint.pop("rope.freqs", None)`) or load with `strict=False`.',
        matches=(
            '  File "/home/ada/llama2.c/export.py", line 311, in load_meta_model\n'
            "RuntimeError: Error(s) in loading state_dict for Transformer:\n"
            '\tUnexpected key(s) in state_dict: "rope.freqs". ',
            "[rank0]: RuntimeError: Error(s) in loading state_dict for Transformer:\n"
            '[rank0]: \tUnexpected key(s) in state_dict: "rope.freqs".',
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            '\tUnexpected key(s) in state_dict: "lm_head.bias". ',
        ),
    ),
    Failure(
        id="bf16-unsupported-gpu",
        step=Step.LOAD,
        title="The GPU cannot run bfloat16",
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
        matches=(
            r'  File "C:\Users\ada\ComfyUI\venv\lib\site-packages\safetensors\torch.py", line 311, in load_file'
            '\n    with safe_open(filename, framework="pt", device=device) as f:\n'
            "OSError: The paging file is too small for this operation to complete. (os error 1455)",
            r"OSError: [WinError 1455] Le fichier de pagination est insuffisant pour terminer cette opération."
            r' Error loading "C:\Users\ada\.venv\lib\site-packages\torch\lib\cudnn_cnn_infer64_8.dll" or one of'
            " its dependencies.",
        ),
        ignores=(
            _HEALTHY_HF_LOAD,
            r"OSError: [WinError 126] The specified module could not be found. Error loading"
            r' "C:\Users\ada\.venv\lib\site-packages\torch\lib\fbgemm.dll" or one of its dependencies.',
        ),
    ),
    Failure(
        id="host-ram-sigkill",
        step=Step.LOAD,
        title="The process was killed for using too much RAM while loading",
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
        checks=("ram-low", "memory-insufficient"),
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
            _HEALTHY_META_LOAD,
            _TORCHRUN_TAIL,
        ),
    ),
    Failure(
        id="weights-only-default-torch26",
        step=Step.LOAD,
        title="torch.load refuses a file that is not plain tensors",
        signatures=(Signature(r"Weights only load failed\."),),
        cause=(
            "`torch.load` now loads only tensors by default (since torch 2.6), and this file holds something else."
            " Meta's `consolidated.*.pth` hold only tensors, so on a Llama shard this means the file is damaged or"
            " not a checkpoint at all (a Git LFS pointer or a web page)."
        ),
        fix=(
            "Check the file before anything else and download it again if it is damaged. Pass `weights_only=False`"
            " only for a file from a source you trust completely: it lets the file run code."
        ),
        checks=("shard-corrupt",),
        fixes=("redownload-failed-shards",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.12/site-packages/torch/serialization.py", line 1470, in load\n'
            "    raise pickle.UnpicklingError(_get_wo_message(str(e))) from None\n"
            "_pickle.UnpicklingError: Weights only load failed. In PyTorch 2.6, we changed the default value of the"
            " `weights_only` argument in `torch.load` from `False` to `True`. Re-running `torch.load` with"
            " `weights_only` set to `False` will likely succeed, but it can result in arbitrary code execution.",
            "_pickle.UnpicklingError: Weights only load failed. This file can still be loaded, to do so you have two"
            " options, do those steps only if you trust the source of the checkpoint.\n"
            "\t(1) In PyTorch 2.6, we changed the default value of the `weights_only` argument in `torch.load` from"
            " `False` to `True`. Re-running `torch.load` with `weights_only` set to `False` will likely succeed, but"
            " it can result in arbitrary code execution. Do it only if you got the file from a trusted source.\n"
            "\t(2) Alternatively, to load with `weights_only=True` please check the recommended steps in the"
            " following error message.\n"
            "\tWeightsUnpickler error: Unsupported global: GLOBAL argparse.Namespace was not an allowed global by"
            " default.",
            "_pickle.UnpicklingError: Weights only load failed. Re-running `torch.load` with `weights_only` set to"
            " `False` will likely succeed, but it can result in arbitrary code execution. Do it only if you got the"
            " file from a trusted source.",
        ),
        ignores=(
            _HEALTHY_META_LOAD,
            "FutureWarning: You are using `torch.load` with `weights_only=False` (the current default value), which"
            " uses the default pickle module implicitly.",
        ),
    ),
)
