"""Write the tokenizer class transformers has into a tokenizer_config.json that misspells it."""

from __future__ import annotations

import re

from llamadoctor.facts import Facts
from llamadoctor.llama.hf_support import MISSPELLED_TOKENIZER_CLASSES
from llamadoctor.model import Action, Applicability, Finding, WriteFile
from llamadoctor.registry import fix

_CLASS = re.compile(rb'("tokenizer_class"\s*:\s*")(\w+)(")')


def renamed(raw: bytes) -> bytes:
    """`raw` with a misspelled tokenizer_class replaced in place; every other byte is kept."""

    def replace(match: re.Match[bytes]) -> bytes:
        right = MISSPELLED_TOKENIZER_CLASSES.get(match.group(2).decode("ascii"))
        return match.group(1) + right.encode("ascii") + match.group(3) if right else match.group(0)

    return _CLASS.sub(replace, raw)


@fix(
    id="rename-tokenizer-class",
    summary="write LlamaTokenizer for LLaMATokenizer in tokenizer_config.json",
    applicability=Applicability.SAFE,
)
def rename_tokenizer_class(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    folder = finding.evidence.get("path")
    files = next((t for t in facts.libraries.hf_tokenizers if t.folder == folder), None) if facts.libraries else None
    if files is None or files.config_bytes is None:
        return ()
    after = renamed(files.config_bytes)
    if after == files.config_bytes:
        return ()
    return (WriteFile(facts.path.join(files.folder, "tokenizer_config.json"), after, files.config_bytes),)
