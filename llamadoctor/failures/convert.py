"""Failures while converting Meta's checkpoints (to Hugging Face format, or to GGUF for llama.cpp)."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Handling, Signature, Step

# The converters whose log a line must come from: transformers' script and its tokenizer converters, llama.cpp's
# scripts, llamadoctor's own.
_CONVERTER = (
    r"convert_llama_weights_to_hf|convert_slow_tokenizer|LlamaConverter|convert_hf_to_gguf|convert[-_]?\w*\.py"
    r"|llamadoctor convert"
)

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="disk-full-on-save",
        step=Step.CONVERT,
        title="The disk filled up while the converted model was being written",
        signatures=(
            Signature(
                r"\[enforce fail at inline_container\.cc:\d+\] \. ?PytorchStreamWriter failed writing file"
                r" (?P<entry>\S+): file write failed"
            ),
            Signature(r"\[enforce fail at inline_container\.cc:\d+\] \. ?unexpected pos \d+ vs \d+"),
            Signature(r"\[Errno 28\] No space left on device"),
            Signature(r"IoError\(Os \{ code: 28, kind: StorageFull"),
        ),
        cause=(
            "The disk the model was being written to filled up part-way: a conversion with transformers' script"
            " needs about twice the model's size free, as it writes a temporary copy first."
        ),
        fix=(
            "Delete the partial output, then free space or write to another disk (`--output_dir`, or `--out` for"
            " `llamadoctor convert`, which needs about the model's size once)."
        ),
        commands=("df -h .",),
        windows_commands=("Get-PSDrive -PSProvider FileSystem",),
        checks=("disk-insufficient-for-conversion",),
        matches=(
            "Saving a LlamaForCausalLM to llama-2-7b-hf.\nTraceback (most recent call last):\n  File"
            ' "/usr/lib/python3/dist-packages/torch/serialization.py", line 441, in save\nRuntimeError: [enforce'
            " fail at inline_container.cc:445] . PytorchStreamWriter failed writing file data/3: file write failed",
            "RuntimeError: [enforce fail at inline_container.cc:659] . unexpected pos 2387758464 vs 2387758376",
            "safetensors_rust.SafetensorError: Error while serializing: IoError(Os { code: 28, kind: StorageFull,"
            ' message: "No space left on device" })',
            "OSError: [Errno 28] No space left on device: 'llama-2-7b-hf/tmp/pytorch_model-2-of-33.bin'",
        ),
        ignores=(
            "Saving a LlamaForCausalLM to llama-2-7b-hf.\nLoading the checkpoint in a Llama model.\n"
            "Loading checkpoint shards: 100%|██████████| 33/33 [00:21<00:00,  1.53it/s]",
            "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central directory",
        ),
    ),
    Failure(
        id="protobuf-missing-or-too-new",
        step=Step.CONVERT,
        title="Converting the SentencePiece tokenizer needs protobuf, or an older one",
        signatures=(
            Signature(r"requires the protobuf library but it was not found in your environment"),
            Signature(r"Descriptors cannot (?:not )?be created directly"),
            Signature(r"must be regenerated with protoc >= \d+\.\d+\.\d+"),
            Signature(r"No module named 'google\.protobuf'"),
        ),
        cause=(
            "transformers reads a SentencePiece tokenizer through the protobuf library: it is either not"
            " installed, or a protobuf 4 or newer that cannot use the `_pb2` files an older transformers ships."
        ),
        fix=(
            'Install protobuf if it is missing; for "Descriptors cannot be created directly", upgrade'
            " transformers, or pin `protobuf==3.20.*`, or set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python"
            " (slower)."
        ),
        commands=("python -m pip install -U protobuf transformers",),
        checks=("protobuf-missing", "protobuf-too-new"),
        fixes=("install-missing-packages",),
        matches=(
            "ImportError: \nLlamaConverter requires the protobuf library but it was not found in your environment."
            " Checkout the instructions on the\ninstallation page of its repo:"
            " https://github.com/protocolbuffers/protobuf/tree/master/python#installation and follow the ones\n"
            "that match your environment. Please note that you may need to restart your runtime after installation.",
            '  File "/opt/conda/lib/python3.10/site-packages/transformers/utils/sentencepiece_model_pb2.py", line'
            " 29, in <module>\n    _descriptor.EnumValueDescriptor(\nTypeError: Descriptors cannot not be created"
            " directly.\nIf this call came from a _pb2.py file, your generated code is out of date and must be"
            " regenerated with protoc >= 3.19.0.",
            "ImportError: \nThe new behaviour of LlamaTokenizer (with `self.legacy = False`) requires the protobuf"
            " library but it was not found in your environment. Checkout the instructions on the",
        ),
        ignores=(
            "Successfully installed protobuf-4.25.3\nFetching all parameters from the checkpoint at llama-2-7b.",
            "ValueError: Failed to instantiate tokenizer.Pleae, make sure you have sentencepiece and protobuf.",
        ),
    ),
    Failure(
        id="convert-old-dir-layout",
        step=Step.CONVERT,
        title="The converter expects Llama 1's folder layout (7B/params.json)",
        signatures=(
            Signature(r"(?i:no such file or directory): '(?P<path>[^']*?[/\\]+\d+B[/\\]+params\.json)'"),
            Signature(r"You have to set at least `num_shards` if you are not giving the `model_size`"),
        ),
        cause=(
            "This convert_llama_weights_to_hf.py expects Llama 1's layout (`input_dir/7B/params.json`), or the"
            " newest one needs `--num_shards` or `--model_size`; Llama 2 and 3 downloads have params.json"
            " directly in the model folder."
        ),
        fix=(
            "Upgrade transformers and give the model folder itself as `--input_dir` with `--llama_version`"
            " (and `--num_shards` for the newest script); or convert with `llamadoctor convert`, which reads"
            " the folder as it is."
        ),
        commands=(
            "python -m pip install -U transformers",
            "llamadoctor convert --model-dir {model_dir} --out {model_dir}-hf",
        ),
        checks=("model-dir-incomplete",),
        defaults={"model_dir": "llama-2-7b"},
        matches=(
            "$ python convert_llama_weights_to_hf.py --input_dir ./llama-2-7b-chat --model_size 7B --output_dir"
            " ./llama-2-7b-chat-hf\nTraceback (most recent call last):\nFileNotFoundError: [Errno 2] No such file or"
            " directory: './llama-2-7b-chat/7B/params.json'",
            "FileNotFoundError: [Errno 2] No such file or directory:"
            " '.\\\\output_models\\\\llama_7b_lora\\\\7B\\\\params.json'",
            "ValueError: You have to set at least `num_shards` if you are not giving the `model_size`",
        ),
        ignores=(
            "FileNotFoundError: [Errno 2] No such file or directory: 'llama-2-7b/params.json'",
            "Fetching all parameters from the checkpoint at ./llama-2-7b-chat.",
        ),
    ),
    Failure(
        id="convert-params-json-bad",
        step=Step.CONVERT,
        title="params.json is empty or an error page",
        runner=Handling(
            "refuses before loading, with the words of `check`",
            ("doctor_checks:refuse_unless_ready", "doctor_checks:RUN_CHECKS"),
        ),
        signatures=(
            Signature(
                r"JSONDecodeError: Expecting (?:value|property name enclosed in double quotes): line \d+ column \d+",
                near=r"params\.json",
            ),
        ),
        cause=(
            "`params.json` is not JSON: it is empty or an error page, left by a download that failed (an expired"
            " or mangled link)."
        ),
        fix=(
            "Download params.json again with a fresh link, and check the other files of the same run with"
            " `md5sum -c checklist.chk`: they are often empty too."
        ),
        commands=("wc -c params.json", "md5sum -c checklist.chk"),
        windows_commands=("(Get-Item params.json).Length", "Get-FileHash -Algorithm MD5 params.json"),
        checks=("model-dir-incomplete",),
        matches=(
            '  File "convert_llama_weights_to_hf.py", line 111, in write_model\n    params = read_json(os.path.join('
            'input_base_path, "params.json"))\n  File "/usr/lib/python3.10/json/decoder.py", line 355, in'
            ' raw_decode\n    raise JSONDecodeError("Expecting value", s, err.value) from None\n'
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
            "!python convert_llama_weights_to_hf.py --input_dir /content/llama-2-7b --model_size 7B --output_dir"
            ' /content/llama-2-7b-hf\n    params = read_json(os.path.join(input_base_path, "params.json"))\n'
            '  File "/usr/lib/python3.10/json/__init__.py", line 293, in load\n    return loads(fp.read(),\n'
            "JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        ),
        ignores=(
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n  while reading"
            " tokenizer_config.json",
            "Fetching all parameters from the checkpoint at llama-2-7b.\nLoading the checkpoint in a Llama model.",
        ),
    ),
    Failure(
        id="convert-out-of-ram",
        step=Step.CONVERT,
        title="The converter ran out of RAM and was killed",
        signatures=(
            Signature(r"^Killed\s*$", near=_CONVERTER),
            Signature(r"\bKilled\s+\S*python\S*\s+\S*convert\S*\.py"),
            Signature(
                r"DefaultCPUAllocator: not enough memory: you tried to allocate (?P<bytes>\d+) bytes", near=_CONVERTER
            ),
        ),
        cause=(
            "The converter used up the machine's RAM and the system stopped it: transformers'"
            " convert_llama_weights_to_hf.py holds the whole model in memory (about 140 GB for a 70B)."
        ),
        fix=(
            "Convert with `llamadoctor convert`, which streams one tensor at a time, or download the model's"
            " pre-converted Hugging Face repository (the `-hf` ones for Llama 2), or add swap."
        ),
        commands=("free -h", "llamadoctor convert --model-dir {model_dir} --out {model_dir}-hf"),
        windows_commands=(
            "Get-CimInstance Win32_OperatingSystem | Select-Object FreePhysicalMemory, FreeVirtualMemory",
            "llamadoctor convert --model-dir {model_dir} --out {model_dir}-hf",
        ),
        defaults={"model_dir": "llama-2-7b"},
        checks=("convert-out-of-ram",),
        matches=(
            "$ python convert_llama_weights_to_hf.py --input_dir llama-2-70b --model_size 70B --output_dir"
            " llama-2-70b-hf\nFetching all parameters from the checkpoint at llama-2-70b.\nKilled",
            "./convert.sh: line 3: 48211 Killed                  python3 convert_llama_weights_to_hf.py"
            " --input_dir llama-2-13b --model_size 13B --output_dir out",
            '  File "C:\\Users\\ada\\convert_llama_weights_to_hf.py", line 160, in write_model\n'
            "RuntimeError: [enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough memory: you"
            " tried to allocate 1048576000 bytes.",
        ),
        ignores=(
            "$ torchrun --nproc_per_node 1 example_chat_completion.py\nKilled",
            "Fetching all parameters from the checkpoint at llama-2-7b.\nLoading the checkpoint in a Llama model.\n"
            "Saving in the Transformers format.",
        ),
    ),
    Failure(
        id="convert-llama3-tokenizer",
        step=Step.CONVERT,
        title="A Llama 3 model was converted with Llama 1/2 settings",
        signatures=(
            Signature(r"Failed to instantiate tokenizer\.\s*Plea?e?s?e, make sure you have sentencepiece and protobuf"),
            Signature(
                r"could not parse ModelProto from (?P<model_dir>\S+?)[/\\]+tokenizer\.model",
                near=_CONVERTER,
            ),
            Signature(r"DecodeError: Error parsing message", near=_CONVERTER),
        ),
        cause=(
            "Llama 3's tokenizer.model is a tiktoken file, not a SentencePiece model, and the converter read it"
            " with Llama 1/2 settings (`--llama_version` defaults to 1)."
        ),
        fix=(
            "Convert again with `--llama_version` set to the model's version (3, 3.1, 3.2 …, and `--instruct True`"
            " for an instruct model), or use `llamadoctor convert`, which tells the versions apart, or download"
            " the official Hugging Face repository."
        ),
        commands=("llamadoctor convert --model-dir {model_dir} --out {model_dir}-hf",),
        defaults={"model_dir": "Meta-Llama-3-8B"},
        log_only="the converter's --llama_version is chosen on its command line, only known when it runs",
        matches=(
            "$ python -m transformers.models.llama.convert_llama_weights_to_hf --input_dir Llama-3.3-70B-Instruct"
            " --output_dir out\nValueError: Failed to instantiate tokenizer.Pleae, make sure you have sentencepiece"
            " and protobuf.",
            '  File "/home/ada/transformers/src/transformers/models/llama/convert_llama_weights_to_hf.py", line'
            " 383, in write_tokenizer\n    tokenizer = tokenizer_class(input_tokenizer_path)\nRuntimeError:"
            " Internal: could not parse ModelProto from"
            " /Data_disk/meta_llama/meta_llama3.2/Llama3.2-1B-Instruct/tokenizer.model",
            '  File "/usr/lib/python3/site-packages/transformers/convert_slow_tokenizer.py", line 62, in'
            " get_spm_processor\n    model = model_pb2.ModelProto.FromString(sp_model)\n"
            "google.protobuf.message.DecodeError: Error parsing message",
        ),
        ignores=(
            '  File "/home/ada/llama/llama/tokenizer.py", line 24, in __init__\n    self.sp_model ='
            " SentencePieceProcessor(model_file=model_path)\nRuntimeError: Internal: could not parse ModelProto"
            " from Meta-Llama-3-8B/tokenizer.model",
            "Saving a LlamaTokenizerFast to Meta-Llama-3-8B-hf.",
        ),
    ),
    Failure(
        id="llamacpp-vocab-mismatch",
        step=Step.CONVERT,
        title="The tokenizer and the model have different numbers of tokens (GGUF conversion)",
        runner=Handling(
            "refuses a tokenizer whose size differs from the model's",
            ("preflight:check_vocab", "doctor_checks:RUN_CHECKS"),
        ),
        signatures=(
            Signature(
                r"Vocab size mismatch \(model has (?P<model_vocab>\d+), but (?P<tokenizer>.+?) has"
                r" (?P<tokenizer_vocab>\d+)\)"
            ),
        ),
        cause=(
            "The model has {model_vocab} token rows but {tokenizer} has {tokenizer_vocab} tokens: an"
            " `added_tokens.json` beside the tokenizer adds tokens the weights lack, or the tokenizer belongs to"
            " another model (Code Llama has 32016 tokens, Llama 2 32000)."
        ),
        fix=(
            "Move a stray `added_tokens.json` away, or use the tokenizer that came with these weights, then"
            " convert again."
        ),
        checks=("tokenizer-vocab-mismatch", "gguf-vocab-mismatch"),
        matches=(
            "Loading model file models/chatmusician/pytorch_model-00001-of-00002.bin\nValueError: Vocab size"
            " mismatch (model has 32000, but /Users/ada/models/chatmusician/tokenizer.model has 32001).",
            "Exception: Vocab size mismatch (model has 39424, but ../LMFlow/output_models/test/tokenizer.model"
            " combined with ../LMFlow/output_models/test/added_tokens.json has 39410).",
        ),
        ignores=(
            "Loading model file models/7B/consolidated.00.pth\nparams = Params(n_vocab=32000, n_embd=4096)\n"
            "Writing models/7B/ggml-model-f16.gguf, format 1",
        ),
    ),
)
