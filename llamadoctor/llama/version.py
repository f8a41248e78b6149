"""Which Llama a folder holds (1, 2, Code Llama, 3, 3.1, 3.2), its context length and tokenizer kind.

The generation is read from several witnesses, strongest first: the folder's name (Meta's downloads are
named `llama-2-7b-chat`, `Meta-Llama-3-8B`, `Llama3.2-1B`, `CodeLlama-7b`), the vocabulary size and the rope
settings, the files checklist.chk lists, the shape of the network (GQA and the FFN multiplier are Llama 2
70B's), and the shards' dtype (Llama 2 ships bfloat16, Llama 1 float16). norm_eps is only the last resort:
the first llama-2-7b-chat params.json carried Llama 1's 1e-06.

The tokenizer is not a witness: its kind follows from the generation (`TOKENIZER_KIND`), and a tokenizer of
another kind is a mismatch to report, not a reason to change the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from llamadoctor.llama.params import LlamaParams

LLAMA1, LLAMA2, CODE_LLAMA, LLAMA3, LLAMA31, LLAMA32 = "1", "2", "code", "3", "3.1", "3.2"
VERSIONS = (LLAMA1, LLAMA2, CODE_LLAMA, LLAMA3, LLAMA31, LLAMA32)
LLAMA3_FAMILY = (LLAMA3, LLAMA31, LLAMA32)

# The context each generation was trained for (transformers' convert_llama_weights_to_hf.py uses the same).
CONTEXT = {LLAMA1: 2048, LLAMA2: 4096, CODE_LLAMA: 16384, LLAMA3: 8192, LLAMA31: 131072, LLAMA32: 131072}

SENTENCEPIECE, TIKTOKEN = "sentencepiece", "tiktoken"  # the kinds of tokenizer.model Meta ships
TOKENIZER_KIND = {v: TIKTOKEN if v in LLAMA3_FAMILY else SENTENCEPIECE for v in VERSIONS}
LLAMA_VOCAB = 32000
CODE_LLAMA_VOCAB = 32016
LLAMA3_VOCAB = 128256
LLAMA3_MIN_VOCAB = 128000  # tiktoken's 128,000 ranks before the special tokens
VOCAB = {
    LLAMA1: LLAMA_VOCAB,
    LLAMA2: LLAMA_VOCAB,
    CODE_LLAMA: CODE_LLAMA_VOCAB,
    LLAMA3: LLAMA3_VOCAB,
    LLAMA31: LLAMA3_VOCAB,
    LLAMA32: LLAMA3_VOCAB,
}
LLAMA32_SHAPES = ((2048, 16), (3072, 28))  # (dim, n_layers) of 3.2 1B and 3B
LLAMA32_ROPE_FACTOR = 32.0

# Folder names, checked on the folder and up to three parents (`Meta-Llama-3.1-8B/original`).
_NAMES = (
    (re.compile(r"code[-_ ]?llama", re.I), CODE_LLAMA),
    (re.compile(r"llama[-_ ]?3[._]2(?!\d)", re.I), LLAMA32),
    (re.compile(r"llama[-_ ]?3[._]1(?!\d)", re.I), LLAMA31),
    (re.compile(r"llama[-_ ]?3(?![._]?\d)", re.I), LLAMA3),
    (re.compile(r"llama[-_ ]?2(?![._]?\d)", re.I), LLAMA2),
    (re.compile(r"llama[-_ ]?1(?![._]?\d)", re.I), LLAMA1),
)
# Llama 1's download.sh names its folders by size alone; 30B (33B) and 65B exist only in Llama 1.
_LLAMA1_ONLY_FOLDER = re.compile(r"^(30B|33B|65B)$")


@dataclass(frozen=True)
class Evidence:
    """What besides params.json tells the generation; every field may be unknown."""

    path: str = ""  # the model folder
    checklist: tuple[str, ...] = ()  # file names checklist.chk lists
    shard_dtypes: tuple[str, ...] = ()  # "bfloat16", "float16", ...


def version_from_name(path: str) -> str | None:
    """The generation a folder's name (or a parent's, up to three levels) states, None if none does."""
    parts = [p for p in PurePath(path.replace("\\", "/")).parts if p not in ("/", "")][-4:]
    for part in reversed(parts):
        for pattern, version in _NAMES:
            if pattern.search(part):
                return version
        if _LLAMA1_ONLY_FOLDER.match(part):
            return LLAMA1
    return None


def detect_version(params: LlamaParams, evidence: Evidence = Evidence()) -> str:
    """The Llama generation: one of VERSIONS."""
    named = version_from_name(evidence.path)
    if _is_llama3(params, evidence, named):
        return _llama3_minor(params, named)
    if named == CODE_LLAMA or params.vocab_size == CODE_LLAMA_VOCAB or params.rope_theta >= 1e6:
        return CODE_LLAMA
    if named in (LLAMA1, LLAMA2):
        return named
    return _llama1_or_2(params, evidence)


def _is_llama3(params: LlamaParams, evidence: Evidence, named: str | None) -> bool:
    if named in LLAMA3_FAMILY or params.vocab_size >= LLAMA3_MIN_VOCAB:
        return True
    # llama-models' checklists cover the tokenizer, which Llama 1/2 keep beside the model folders
    return "tokenizer.model" in evidence.checklist and named is None


def _llama3_minor(params: LlamaParams, named: str | None) -> str:
    """Scaled RoPE is what makes 3.1 and 3.2 (a folder renamed by hand can't change that); the name, the
    rope factor or the two 3.2 shapes tell 3.2 from 3.1."""
    if not params.use_scaled_rope:
        return LLAMA3
    if (
        named == LLAMA32
        or params.rope_scale_factor == LLAMA32_ROPE_FACTOR
        or (params.dim, params.n_layers) in LLAMA32_SHAPES
    ):
        return LLAMA32
    return LLAMA31


def _llama1_or_2(params: LlamaParams, evidence: Evidence) -> str:
    folder = PurePath(evidence.path.replace("\\", "/")).name
    if params.kv_heads != params.n_heads or params.ffn_dim_multiplier is not None or "chat" in folder.lower():
        return LLAMA2  # GQA and the FFN multiplier are Llama 2 70B's; Llama 1 has no chat models
    if params.max_position is not None:  # an HF config: Llama 1's says 2048 and 1e-06
        old = params.max_position <= CONTEXT[LLAMA1] and params.norm_eps < 1e-5
        return LLAMA1 if old else LLAMA2
    dtypes = set(evidence.shard_dtypes)
    if "bfloat16" in dtypes:
        return LLAMA2
    if "float16" in dtypes:
        return LLAMA1
    return LLAMA1 if params.norm_eps < 1e-5 else LLAMA2


def context_length(version: str, params: LlamaParams | None = None) -> int:
    """Tokens the model was trained for: an HF config's max_position_embeddings, else the generation's."""
    if params is not None and params.max_position is not None:
        return params.max_position
    return CONTEXT[version]


def hf_rope_factor(version: str, params: LlamaParams) -> float:
    """HF's rope_scaling factor: 32 for 3.2 (Meta's code says 8; HF's 3.2 configs say 32)."""
    return LLAMA32_ROPE_FACTOR if version == LLAMA32 else params.rope_scale_factor


def label(version: str | None) -> str:
    return {CODE_LLAMA: "Code Llama", None: "an unknown Llama"}.get(version, f"Llama {version}")


def dtype_names(dtypes: Iterable[object]) -> tuple[str, ...]:
    """Shard dtypes named as Evidence.shard_dtypes compares them ("bfloat16", also for torch.bfloat16)."""
    return tuple(sorted({str(d).replace("torch.", "") for d in dtypes}))
