"""What the serving stacks can read: the first llama-cpp-python release that knows each GGUF feature."""

from __future__ import annotations

from typing import Optional

from llamadoctor.torch_builds import version_tuple

# The first llama-cpp-python release reading GGUF; every older one reads only the GGML-family files.
GGUF_SINCE = "0.1.79"
# tokenizer.ggml.pre values and the first llama-cpp-python release whose bundled llama.cpp knows them (the
# BPE pre-tokenizers arrived together in llama.cpp's April 2024 change that Llama 3 needed). Names absent
# from this table are not judged.
PRE_TOKENIZERS_SINCE = {
    "default": "0.2.68",
    "llama-bpe": "0.2.68",
    "deepseek-llm": "0.2.68",
    "deepseek-coder": "0.2.68",
    "falcon": "0.2.68",
    "mpt": "0.2.68",
    "starcoder": "0.2.68",
    "gpt-2": "0.2.68",
}
LEGACY_FORMATS = ("ggml", "ggmf", "ggjt")


def older(version: str, than: str) -> bool:
    return version_tuple(version) < version_tuple(than)


def reads_gguf(llama_cpp_python: str) -> bool:
    return not older(llama_cpp_python, GGUF_SINCE)


def pre_tokenizer_since(name: str) -> Optional[str]:
    """The first llama-cpp-python release knowing pre-tokenizer `name`, or None when the table has no word."""
    return PRE_TOKENIZERS_SINCE.get(name)
