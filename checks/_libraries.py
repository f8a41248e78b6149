"""What the library checks share: their requirements, version comparison, the pip command for the target
interpreter, and the installed packages their examples are built from."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Optional

from llamadoctor.facts import Facts, HfTokenizerFiles, Libraries, Requirement
from llamadoctor.files import ModelDir, targets
from llamadoctor.i18n import N_, _
from llamadoctor.llama.hf_support import transformers_loads
from llamadoctor.model import Requires
from llamadoctor.shell import render_argv
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import HOME, hf_model


def satisfies(version: Optional[str], specifier: str) -> Optional[bool]:
    """Whether `version` meets `specifier`; None when either cannot be read."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    if not version:
        return None
    try:
        return Version(version) in SpecifierSet(specifier, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None


def older(installed: Optional[str], minimum: str) -> bool:
    """`installed` is a release before `minimum` (an unreadable version is not judged)."""
    return satisfies(installed, f">={minimum}") is False


def declared(facts: Facts, distribution: str, dependency: str) -> Optional[str]:
    """The specifier the installed `distribution`'s metadata gives `dependency`, or None."""
    if not facts.libraries:
        return None
    return facts.libraries.requires.get(distribution, {}).get(dependency)


def installed(facts: Facts, name: str) -> Optional[str]:
    return facts.libraries.version(name) if facts.libraries else None


def pip_install(facts: Facts, *specs: str, upgrade: bool = True) -> str:
    """The target interpreter's pip installing `specs`, in the user's shell."""
    argv = [facts.python.executable, "-m", "pip", "install", *(["-U"] if upgrade else []), *specs]
    return render_argv(argv, facts.platform.shell)


def hf_targets(facts: Facts) -> list[ModelDir]:
    """The Hugging Face folders the user means to run, with a config.json that could be read."""
    return [
        m for m in targets(facts.models) if transformers_loads(m.format, m.params) and m.params_file == "config.json"
    ]


def hf_tokenizers(facts: Facts) -> tuple[HfTokenizerFiles, ...]:
    return facts.libraries.hf_tokenizers if facts.libraries else ()


LIBRARIES = Requires(lambda f: f.libraries is not None, N_("the installed packages were not read"), probe="libraries")
HF_TARGET = Requires(hf_targets, N_("no Hugging Face model folder to run"), probe="files")
HF_TOKENIZER_FILES = Requires(hf_tokenizers, N_("no Hugging Face model folder to run"), probe="files")


def library(name: str) -> Requires:
    # TRANSLATORS: {name} is a Python package (bitsandbytes, transformers).
    return Requires(lambda f: installed(f, name), lambda f: _("{name} is not installed").format(name=name))


# ---- examples ----------------------------------------------------------------------------------------------

HEALTHY_INSTALLED: Mapping[str, str] = {
    "torch": "2.5.1",
    "transformers": "4.46.3",
    "tokenizers": "0.20.3",
    "protobuf": "5.28.3",
    "sentencepiece": "0.2.0",
    "accelerate": "1.1.1",
    "fairscale": "0.4.13",
    "fire": "0.7.0",
    "tiktoken": "0.8.0",
    "blobfile": "3.0.0",
}
META_REQUIREMENTS = tuple(
    Requirement(n, "", "requirements.txt") for n in ("torch", "fairscale", "fire", "sentencepiece")
)
LLAMA31_HF_PATH = f"{HOME}/Llama-3.1-8B-Instruct"
LLAMA31_HF_CONFIG: Mapping[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
}


TRANSFORMERS_4_46_REQUIRES: Mapping[str, str] = {
    "accelerate": ">=0.26.0",
    "protobuf": "",
    "tokenizers": "<0.21,>=0.20",
}


def libraries(changes: Mapping[str, Optional[str]] = {}, **fields: Any) -> Libraries:
    """The healthy packages with `changes` (name -> version, None: not installed)."""
    packages = {**HEALTHY_INSTALLED, **changes}
    fields.setdefault("requires", {"transformers": TRANSFORMERS_4_46_REQUIRES} if packages.get("transformers") else {})
    return Libraries({k: v for k, v in packages.items() if v is not None}, ("/site-packages",), **fields)


def hf_facts(
    changes: Mapping[str, Optional[str]] = {},
    *,
    config: Optional[Mapping[str, Any]] = None,
    path: str = LLAMA31_HF_PATH,
    tokenizer: Optional[HfTokenizerFiles] = None,
    requires: Optional[Mapping[str, Mapping[str, str]]] = None,
    **overrides: Any,
) -> Facts:
    """Linux with a GPU, the packages `changes` makes, and one HF folder (Llama 3.1 8B unless told)."""
    model = hf_model(path, params=dict(config if config is not None else LLAMA31_HF_CONFIG))
    files = tokenizer or HfTokenizerFiles(path, "PreTrainedTokenizerFast", None, "pairs", True, False)
    extra = {} if requires is None else {"requires": requires}
    overrides.setdefault("libraries", libraries(changes, hf_tokenizers=(files,), **extra))
    return linux_gpu(models=(model,), **overrides)


def tokenizer_files(**changes: Any) -> HfTokenizerFiles:
    return dataclasses.replace(
        HfTokenizerFiles(LLAMA31_HF_PATH, "PreTrainedTokenizerFast", None, "pairs", True), **changes
    )
