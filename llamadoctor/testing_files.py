"""Facts about download scripts and model folders, built without touching the disk: examples for the checks.

    facts = linux_gpu(repo=repo_with(script(LLAMA2_SCRIPT.replace(b"\\n", b"\\r\\n"))))
    facts = linux_gpu(models=(meta_model(LLAMA2_7B),))

The byte contents are shortened copies of the real files' shape (first lines, the lines that matter).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from llamadoctor.files import (
    Checklist,
    ChecksumEntry,
    ModelDir,
    RepoFacts,
    ScriptFile,
    Shard,
    SourceFile,
    Tokenizer,
)
from llamadoctor.llama.releases import PARAMS_JSON

HOME = "/home/ada/llama"

LLAMA2_SCRIPT = (
    b"#!/usr/bin/env bash\n\n# Copyright (c) Meta Platforms, Inc. and affiliates.\n\nset -e\n\n"
    b'read -p "Enter the URL from email: " PRESIGNED_URL\necho ""\n'
    b'read -p "Enter the list of models to download without spaces (7B,13B,70B,7B-chat,13B-chat,70B-chat), '
    b'or press Enter for all: " MODEL_SIZE\nTARGET_FOLDER="."\nmkdir -p ${TARGET_FOLDER}\n\n'
    b'if [[ $MODEL_SIZE == "" ]]; then\n    MODEL_SIZE="7B,13B,70B,7B-chat,13B-chat,70B-chat"\nfi\n\n'
    b'wget --continue ${PRESIGNED_URL/\'*\'/"tokenizer.model"} -O ${TARGET_FOLDER}"/tokenizer.model"\n'
    b"(cd ${TARGET_FOLDER} && md5sum -c tokenizer_checklist.chk)\n"
    b'for m in ${MODEL_SIZE//,/ }\ndo\n    MODEL_PATH="llama-2-7b"\ndone\n'
)
LLAMA2_BIN_BASH_SCRIPT = LLAMA2_SCRIPT.replace(b"#!/usr/bin/env bash", b"#!/bin/bash", 1)
LLAMA1_SCRIPT = (
    b"#!/bin/bash\n# Copyright (c) Meta Platforms, Inc. and affiliates.\n\n"
    b'PRESIGNED_URL=""             # replace with presigned url from email\n'
    b'MODEL_SIZE="7B,13B,30B,65B"  # edit this list with the model sizes you wish to download\n'
    b'TARGET_FOLDER=""             # where all files should end up\n\n'
    b'declare -A N_SHARD_DICT\n\nN_SHARD_DICT["7B"]="0"\nN_SHARD_DICT["13B"]="1"\n'
)
GITHUB_PAGE = (
    b'{"payload":{"allShortcutsEnabled":false,"fileTree":{"":{"items":[{"name":"llama",'
    b'"path":"llama","contentType":"directory"}]}}}}'
)
HTML_PAGE = b'<!DOCTYPE html>\n<html lang="en">\n<head><title>llama/download.sh at main</title></head>\n'

LLAMA2_GENERATION = (
    b"import torch\n\nclass Llama:\n    @staticmethod\n    def build(ckpt_dir, tokenizer_path, max_seq_len, "
    b"max_batch_size, model_parallel_size=None, seed=1):\n"
    b"        if not torch.distributed.is_initialized():\n"
    b'            torch.distributed.init_process_group("nccl")\n'
    b"        if not model_parallel_is_initialized():\n"
    b"            if model_parallel_size is None:\n"
    b'                model_parallel_size = int(os.environ.get("WORLD_SIZE", 1))\n'
    b"            initialize_model_parallel(model_parallel_size)\n\n"
    b'        local_rank = int(os.environ.get("LOCAL_RANK", 0))\n'
    b"        torch.cuda.set_device(local_rank)\n\n"
    b"        # seed must be the same in all processes\n        torch.manual_seed(seed)\n"
)

# params.json exactly as Meta ships them: the shared model of Llama's table
LLAMA1_7B: Mapping[str, Any] = PARAMS_JSON["Llama 1 7B"]
LLAMA2_7B: Mapping[str, Any] = PARAMS_JSON["Llama 2 7B"]
LLAMA2_13B: Mapping[str, Any] = PARAMS_JSON["Llama 2 13B"]
LLAMA2_70B: Mapping[str, Any] = PARAMS_JSON["Llama 2 70B"]
LLAMA3_8B: Mapping[str, Any] = PARAMS_JSON["Llama 3 8B"]
LLAMA31_8B: Mapping[str, Any] = PARAMS_JSON["Llama 3.1 8B"]
LLAMA32_1B: Mapping[str, Any] = PARAMS_JSON["Llama 3.2 1B"]
# config.json of Hugging Face's Llama-2-7b-hf (the architecture keys)
HF_LLAMA2_7B_CONFIG: Mapping[str, Any] = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "rms_norm_eps": 1e-05,
    "max_position_embeddings": 4096,
}
LLAMA2_7B_BYTES = (
    b'{"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-05, "vocab_size": -1}\n'
)
LLAMA2_7B_CHAT_BAD_BYTES = LLAMA2_7B_BYTES.replace(b"1e-05", b"1e-06")

SP_TOKENIZER = Tokenizer(f"{HOME}/tokenizer.model", 499723, "sentencepiece", 32000, in_parent=True)
TIKTOKEN_TOKENIZER = Tokenizer(f"{HOME}/tokenizer.model", 2183982, "tiktoken", 128256)


def script(
    content: bytes = LLAMA2_SCRIPT,
    *,
    executable: bool = True,
    path: str = f"{HOME}/download.sh",
) -> ScriptFile:
    return ScriptFile(
        path,
        len(content),
        content[:4096],
        b"\r\n" in content,
        executable,
        content,
        mode=0o755 if executable else 0o644,
    )


def repo_with(
    download_script: ScriptFile | None = None,
    *,
    flavour: str | None = "llama",
    sources: tuple[SourceFile, ...] = (),
    chat_dialogs: int | None = None,
    path: str = HOME,
) -> RepoFacts:
    chat = f"{path}/example_chat_completion.py" if chat_dialogs is not None else None
    return RepoFacts(path, download_script, {}, flavour, sources, chat, chat_dialogs)


def generation_source(
    content: bytes = LLAMA2_GENERATION,
    path: str = f"{HOME}/llama/generation.py",
) -> SourceFile:
    lines = tuple(n for n, line in enumerate(content.decode().splitlines(), 1) if 'init_process_group("nccl")' in line)
    return SourceFile(path, content, lines)


def llama_params(params: Mapping[str, Any], vocab: int) -> Any:
    """The shared LlamaParams of a params.json, its vocab_size -1 filled in with `vocab`."""
    from llamadoctor.llama import from_meta_params

    parsed = from_meta_params(params)
    return parsed if parsed.vocab_size > 0 else parsed.with_vocab(vocab)


def expected_shapes(params: Mapping[str, Any], n_shards: int = 1, shard: int = 0) -> dict[str, tuple[int, ...]]:
    from llamadoctor.llama import shard_shapes

    return shard_shapes(llama_params(params, 32000), n_shards)


def shard(
    name: str = "consolidated.00.pth",
    *,
    params: Mapping[str, Any] = LLAMA2_7B,
    n_shards: int = 1,
    size: int | None = None,
    kind: str = "zip",
    dtype: str = "bfloat16",
    vocab: int = 32000,
) -> Shard:
    """A healthy Meta shard of that model (sizes and shapes as the real one's)."""
    from llamadoctor.llama import shard_shapes

    arch = llama_params(params, vocab)
    if size is None:
        size = arch.n_params() * 2 // n_shards
    if kind != "zip":
        return Shard(name, size, kind, "")
    shapes = shard_shapes(arch, n_shards)
    return Shard(
        name,
        size,
        kind,
        "",
        len(shapes) + (arch.n_layers - 1) * 9,
        arch.n_layers,
        (dtype,),
        shapes,
        True,
        max(_numel(s) for s in shapes.values()),
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def meta_model(
    params: Mapping[str, Any] | None = LLAMA2_7B,
    *,
    path: str = f"{HOME}/llama-2-7b",
    n_shards: int = 1,
    shards: tuple[Shard, ...] | None = None,
    tokenizer: Tokenizer | None = SP_TOKENIZER,
    checklists: tuple[Checklist, ...] | None = None,
    source: str = "given",
    disk_free: int | None = 400 * 1024**3,
    **fields: Any,
) -> ModelDir:
    """A complete Meta-format folder as download.sh leaves it (tokenizer beside it for Llama 2)."""
    vocab = tokenizer.n_words if tokenizer and tokenizer.n_words else 32000
    if shards is None:
        shards = tuple(
            shard(f"consolidated.{i:02d}.pth", params=params or LLAMA2_7B, n_shards=n_shards, vocab=vocab)
            for i in range(n_shards)
        )
    if checklists is None:
        entries = tuple(ChecksumEntry(s.name, "0" * 32, "ok", "0" * 32, s.size) for s in shards)
        checklists = (
            Checklist(
                f"{path}/checklist.chk",
                "ok",
                (
                    *entries,
                    ChecksumEntry(
                        "params.json",
                        "9a3757de7196d1840b551a85b82efbc8",
                        "ok",
                        "9a3757de7196d1840b551a85b82efbc8",
                        102,
                    ),
                ),
            ),
        )
    files = {s.name: s.size for s in shards}
    files.update({"params.json": 102, "checklist.chk": 100})
    if tokenizer and not tokenizer.in_parent:
        files["tokenizer.model"] = tokenizer.size
    if tokenizer and tokenizer.path.startswith(HOME + "/tokenizer") and not tokenizer.in_parent:
        tokenizer = dataclasses.replace(tokenizer, path=f"{path}/tokenizer.model")
    fields.setdefault("params_file", "params.json" if params is not None else None)
    return ModelDir(
        path,
        "meta",
        files,
        params,
        source=source,
        shards=shards,
        tokenizer=tokenizer,
        checklists=checklists,
        disk_free=disk_free,
        **fields,
    )


def llama3_model(params: Mapping[str, Any] = LLAMA3_8B, **kw: Any) -> ModelDir:
    kw.setdefault("path", f"{HOME}/Meta-Llama-3-8B-Instruct")
    kw.setdefault("tokenizer", TIKTOKEN_TOKENIZER)
    return meta_model(params, **kw)


def hf_model(path: str = f"{HOME}/Llama-2-7b-chat-hf", **fields: Any) -> ModelDir:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
        "rms_norm_eps": 1e-05,
    }
    shards = (
        Shard("model-00001-of-00002.safetensors", 9976576152, "safetensors"),
        Shard("model-00002-of-00002.safetensors", 3500296424, "safetensors"),
    )
    files = {s.name: s.size for s in shards}
    files.update(
        {
            "config.json": 614,
            "tokenizer.json": 1842767,
            "tokenizer.model": 499723,
            "tokenizer_config.json": 1618,
        }
    )
    fields.setdefault("source", "given")
    return ModelDir(path, "hf", files, fields.pop("params", config), params_file="config.json", shards=shards, **fields)


# ---- real folders on disk (tests build them in tmp_path; needs torch, which only tests have) ---------------

TINY: Mapping[str, Any] = {
    "dim": 64,
    "multiple_of": 32,
    "n_heads": 4,
    "n_layers": 2,
    "norm_eps": 1e-05,
    "vocab_size": -1,
}
TINY_VOCAB = 40


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sentencepiece_bytes(pieces: int = TINY_VOCAB) -> bytes:
    """A SentencePiece ModelProto SentencePiece itself loads: <unk>, <s>, </s> as Llama has them (unknown, control,
    control), then plain pieces up to `pieces` field-1 records, then a trainer spec."""
    records = []
    for i in range(pieces):
        text, kind = [(b"<unk>", 2), (b"<s>", 3), (b"</s>", 3)][i] if i < 3 else (f"p{i}".encode(), 1)
        piece = b"\x0a" + varint(len(text)) + text + b"\x15\x00\x00\x00\x00" + (b"\x18" + varint(kind)) * (kind != 1)
        records.append(b"\x0a" + varint(len(piece)) + piece)
    return b"".join(records) + b"\x12\x04\x08\x01\x10\x02"


def tiktoken_bytes(ranks: int = 300) -> bytes:
    import base64

    return b"".join(base64.b64encode(bytes([i % 256, i // 256 + 1])) + b" %d\n" % i for i in range(ranks))
