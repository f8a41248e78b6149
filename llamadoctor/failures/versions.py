"""Failures while loading a model whose generation the code or libraries predate: a Llama 3 checkpoint in
Llama 2 code, a transformers or tokenizers release older than the model's config."""

from __future__ import annotations

from llamadoctor.failures._logs import HEALTHY_HF_LOAD, HEALTHY_META_LOAD, TORCHRUN_TAIL
from llamadoctor.failures.model import Failure, Handling, Signature, Step

QUANTIZED_FOLDER_IN_TRANSFORMERS = (
    "ValueError: The checkpoint you are trying to load has model type `llamadoctor-int8` but Transformers does not"
    " recognize this architecture. This could be because of an issue with the checkpoint, or because your version"
    " of Transformers is out of date."
)

FAILURES: tuple[Failure, ...] = (
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
            "TypeError: ModelArgs.__init__() got an unexpected keyword argument 'use_scaled_rope'\n" + TORCHRUN_TAIL,
            '  File "llama/generation.py", line 82, in build\n'
            "    params = json.loads(f.read())\n"
            "    model_args: ModelArgs = ModelArgs(max_seq_len=max_seq_len, max_batch_size=max_batch_size, **params)\n"
            "TypeError: __init__() got an unexpected keyword argument 'rope_theta'",
        ),
        ignores=(
            HEALTHY_META_LOAD,
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
        checks=("tokenizers-too-old",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/tokenization_utils_fast.py", line'
            " 111, in __init__\n"
            "    fast_tokenizer = TokenizerFast.from_file(fast_tokenizer_file)\n"
            "Exception: data did not match any variant of untagged enum PyPreTokenizerTypeWrapper at line 40"
            " column 3",
            "Exception: data did not match any variant of untagged enum ModelWrapper at line 1251012 column 3",
        ),
        ignores=(
            HEALTHY_HF_LOAD,
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
        checks=("tokenizer-class-misspelled", "transformers-too-old"),
        fixes=("rename-tokenizer-class",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/models/auto/tokenization_auto.py",'
            " line 676, in from_pretrained\n"
            "    raise ValueError(\n"
            "ValueError: Tokenizer class LLaMATokenizer does not exist or is not currently imported.",
            "ValueError: Tokenizer class LlamaTokenizer does not exist or is not currently imported.",
        ),
        ignores=(
            HEALTHY_HF_LOAD,
            "ValueError: Tokenizer class Qwen2Tokenizer does not exist or is not currently imported.",
        ),
    ),
    Failure(
        id="transformers-too-old-rope-llama31",
        step=Step.LOAD,
        title="transformers is too old for Llama 3.1's rope_scaling",
        runner=Handling("applies Llama 3.1's rope scaling itself", ("model:rope_frequencies",)),
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
        checks=("transformers-too-old",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/transformers/models/llama/configuration_llama.py",'
            " line 182, in _rope_scaling_validation\n"
            "ValueError: `rope_scaling` must be a dictionary with two fields, `type` and `factor`, got {'factor':"
            " 8.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0, 'original_max_position_embeddings': 8192,"
            " 'rope_type': 'llama3'}",
            "ValueError: `rope_scaling`'s type field must be one of ['linear', 'dynamic'], got llama3",
        ),
        ignores=(
            HEALTHY_HF_LOAD,
            "ValueError: `rope_scaling` must be a dictionary with two fields, `type` and `factor`, got {'type':"
            " 'yarn', 'factor': 4.0, 'original_max_position_embeddings': 32768}",
        ),
    ),
    Failure(
        id="transformers-too-old-arch",
        step=Step.LOAD,
        title="transformers does not know the model's architecture",
        signatures=(
            Signature(
                r"has model type `(?P<model_type>(?!llamadoctor-)[\w-]+)` but Transformers does not recognize this"
                r" architecture"
            ),
            Signature(r"^KeyError: '(?P<model_type>mllama|llama4(?:_text)?)'$", near=r"configuration_auto"),
        ),
        cause=(
            "The model's `config.json` says `model_type` `{model_type}`, an architecture added to transformers"
            " after the installed release (Llama 3.2 Vision's `mllama` needs 4.45)."
        ),
        fix="Upgrade transformers, or the serving image that bundles it, to a release that knows the architecture.",
        commands=("python -m pip install -U transformers",),
        checks=("transformers-too-old",),
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
            HEALTHY_HF_LOAD,
            "KeyError: 'mllama'",
            QUANTIZED_FOLDER_IN_TRANSFORMERS,
        ),
    ),
    Failure(
        id="quantized-folder-in-transformers",
        step=Step.LOAD,
        title="A folder `llamadoctor convert --quantize` wrote, loaded by transformers",
        runner=Handling("runs the folder at its own quantization", ("quantized_folder:build",)),
        signatures=(
            Signature(
                r"has model type `(?P<model_type>llamadoctor-[\w-]+)` but Transformers does not recognize this"
                r" architecture"
            ),
        ),
        cause=(
            "The folder's `config.json` says `model_type` `{model_type}`: it holds llamadoctor's quantized weights,"
            " written by `llamadoctor convert --quantize`. Only `llamadoctor run` reads them; transformers and the"
            " tools built on it refuse the folder on purpose, and no upgrade changes that."
        ),
        fix=(
            "Run the folder with `llamadoctor run chat --model-dir` and its path, or give transformers the folder it"
            " was converted from (or one `llamadoctor convert` wrote without `--quantize`)."
        ),
        log_only="which tool will load a folder is only known when it runs",
        matches=(QUANTIZED_FOLDER_IN_TRANSFORMERS,),
        ignores=(
            HEALTHY_HF_LOAD,
            "ValueError: The checkpoint you are trying to load has model type `mllama` but Transformers does not"
            " recognize this architecture.",
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
        checks=("accelerate-too-old",),
        fixes=("install-missing-packages",),
        matches=(
            "ImportError: Using `low_cpu_mem_usage=True` or a `device_map` requires Accelerate: `pip install"
            " accelerate`",
            "ImportError: Using `low_cpu_mem_usage=True`, a `device_map` or a `tp_plan` requires Accelerate: `pip"
            " install 'accelerate>=0.26.0'`",
        ),
        ignores=(
            HEALTHY_HF_LOAD,
            "ModuleNotFoundError: No module named 'accelerate.utils.modeling'",
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
        checks=("transformers-too-old",),
        matches=(
            "RuntimeError: Error(s) in loading state_dict for LlamaForCausalLM:\n"
            "\tsize mismatch for model.layers.0.self_attn.k_proj.weight: copying a param with shape"
            " torch.Size([1024, 8192]) from checkpoint, the shape in current model is torch.Size([8192, 8192]).",
            "\tsize mismatch for layers.16.attention.wk.weight: copying a param with shape torch.Size([4096, 4096])"
            " from checkpoint, the shape in current model is torch.Size([128, 4096]).",
        ),
        ignores=(
            HEALTHY_META_LOAD,
            "\tsize mismatch for tok_embeddings.weight: copying a param with shape torch.Size([128256, 8192]) from"
            " checkpoint, the shape in current model is torch.Size([32000, 8192]).",
        ),
    ),
    Failure(
        id="llama3-weights-llama2-code",
        step=Step.LOAD,
        title="Llama 3 weights were loaded into a Llama 2 model",
        runner=Handling(
            "builds Llama 1, 2 and 3 from params.json, grouped KV heads included",
            ("model:Attention", "loader:build_model"),
        ),
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
            HEALTHY_META_LOAD,
            "\tsize mismatch for model.embed_tokens.weight: copying a param with shape torch.Size([32001, 4096])"
            " from checkpoint, the shape in current model is torch.Size([32000, 4096]).",
        ),
    ),
    Failure(
        id="rope-freqs-unexpected-key",
        step=Step.LOAD,
        title="A strict loader rejects the rope.freqs buffer of Meta's checkpoint",
        runner=Handling("leaves out the rope.freqs buffer when loading", ("loader:_meta_state",)),
        signatures=(Signature(r"Unexpected key\(s\) in state_dict: \"rope\.freqs\""),),
        cause=(
            "Llama 2's `consolidated.*.pth` carries a `rope.freqs` buffer that Meta's code ignores (it loads with"
            " `strict=False`); this loader is strict and stops on it."
        ),
        fix='Drop the key before loading (`checkpoint.pop("rope.freqs", None)`) or load with `strict=False`.',
        log_only="only strict third-party loaders stop on it, and a script picks its loader in its own code",
        matches=(
            '  File "/home/ada/llama2.c/export.py", line 311, in load_meta_model\n'
            "RuntimeError: Error(s) in loading state_dict for Transformer:\n"
            '\tUnexpected key(s) in state_dict: "rope.freqs". ',
            "[rank0]: RuntimeError: Error(s) in loading state_dict for Transformer:\n"
            '[rank0]: \tUnexpected key(s) in state_dict: "rope.freqs".',
        ),
        ignores=(
            HEALTHY_META_LOAD,
            '\tUnexpected key(s) in state_dict: "lm_head.bias". ',
        ),
    ),
)
