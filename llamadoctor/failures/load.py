"""Failures while loading a model: the wrong folder or format for the tool, damaged or mismatched files."""

from __future__ import annotations

from llamadoctor.failures._logs import HEALTHY_HF_LOAD, HEALTHY_META_LOAD, TORCHRUN_TAIL
from llamadoctor.failures.model import Failure, Handling, Signature, Step

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="load-meta-format-in-hf-loader",
        step=Step.LOAD,
        title="A Meta-format folder was given to a Hugging Face loader",
        runner=Handling("reads Meta and Hugging Face folders alike", ("checkpoint:detect_format",)),
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
            HEALTHY_HF_LOAD,
            "OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the"
            " cached files and it looks like meta-llama/Meta-Llama-3-8B-Instruct is not the path to a directory"
            " containing a file named config.json.",
        ),
    ),
    Failure(
        id="hf-format-in-meta-loader",
        step=Step.LOAD,
        title="A Hugging Face folder was given to a tool that reads Meta's format",
        runner=Handling("reads Meta and Hugging Face folders alike", ("checkpoint:detect_format",)),
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
            HEALTHY_META_LOAD,
            "FileNotFoundError: [Errno 2] No such file or directory: 'llama-2-7b/7B/params.json'",
            "FileNotFoundError: [Errno 2] No such file or directory:"
            " '.\\\\output_models\\\\llama_7b_lora\\\\7B\\\\params.json'",
        ),
    ),
    Failure(
        id="mp-world-size-mismatch",
        step=Step.LOAD,
        title="torchrun started a different number of processes than the checkpoint has shards",
        runner=Handling(
            "merges or splits shards for any process count that divides them, refuses others",
            ("loader:_meta_state", "preflight:check_shards_vs_ranks"),
        ),
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
            "AssertionError: Loading a checkpoint for MP=1 but world size is 4\n" + TORCHRUN_TAIL,
            "[rank0]: AssertionError: Loading a checkpoint for MP=2 but world size is 8",
        ),
        ignores=(
            HEALTHY_META_LOAD,
            "AssertionError: Loading a checkpoint for MP=0 but world size is 1",
        ),
    ),
    Failure(
        id="ckpt-dir-empty",
        step=Step.LOAD,
        title="--ckpt_dir has no checkpoint files",
        runner=Handling(
            "refuses before loading, with the words of `check`",
            ("doctor_checks:refuse_unless_ready", "doctor_checks:RUN_CHECKS"),
        ),
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
            "AssertionError: no checkpoint files found in llama-2-7b-chat/\n" + TORCHRUN_TAIL,
            "AssertionError: no checkpoint files found in --ckpt_dir",
            "AssertionError: Checkpoint directory 'Meta-Llama-3-8B-Instruct/' does not exist.",
            "AssertionError: Loading a checkpoint for MP=0 but world size is 1",
        ),
        ignores=(
            HEALTHY_META_LOAD,
            "AssertionError: Loading a checkpoint for MP=2 but world size is 1",
        ),
    ),
    Failure(
        id="tokenizer-path-wrong",
        step=Step.LOAD,
        title="--tokenizer_path does not name a tokenizer.model file",
        runner=Handling(
            "refuses before loading, with the words of `check`",
            ("doctor_checks:refuse_unless_ready", "doctor_checks:RUN_CHECKS"),
        ),
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
            HEALTHY_META_LOAD,
            "RuntimeError: Internal: could not parse ModelProto from ./tokenizer.model",
        ),
    ),
    Failure(
        id="truncated-pth",
        step=Step.LOAD,
        title="A checkpoint file is truncated or empty",
        runner=Handling(
            "refuses before loading, with the words of `check`",
            ("doctor_checks:refuse_unless_ready", "doctor_checks:RUN_CHECKS"),
        ),
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
            HEALTHY_META_LOAD,
            "EOFError: Ran out of input",
        ),
    ),
    Failure(
        id="lfs-pointer-or-html-weights",
        step=Step.LOAD,
        title="A weights file is a Git LFS pointer or a web page",
        runner=Handling(
            "refuses before loading, with the words of `check`",
            ("doctor_checks:refuse_unless_ready", "doctor_checks:RUN_CHECKS"),
        ),
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
            HEALTHY_HF_LOAD,
            "_pickle.UnpicklingError: Weights only load failed. WeightsUnpickler error: Unsupported global: GLOBAL"
            " numpy.core.multiarray._reconstruct was not an allowed global by default.",
        ),
    ),
    Failure(
        id="llama3-tokenizer-in-sentencepiece",
        step=Step.LOAD,
        title="A Llama 3 tokenizer was read as SentencePiece, or the reverse",
        runner=Handling("tells SentencePiece and tiktoken files apart by their bytes", ("tokenizer:sniff",)),
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
            " ../llama3/Meta-Llama-3-8B-Instruct/tokenizer.model\n" + TORCHRUN_TAIL,
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
        id="weights-only-default-torch26",
        step=Step.LOAD,
        title="torch.load refuses a file that is not plain tensors",
        runner=Handling(
            "loads with weights_only=True and refuses other pickles",
            ("checkpoint:load_file", "doctor_checks:RUN_CHECKS"),
        ),
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
            HEALTHY_META_LOAD,
            "FutureWarning: You are using `torch.load` with `weights_only=False` (the current default value), which"
            " uses the default pickle module implicitly.",
        ),
    ),
)
