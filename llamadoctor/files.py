"""Facts about the user's files: the repo folder holding Meta's download.sh and examples, and model folders.

Filled by llamadoctor.probes.files; read by the download and model checks. Like all facts, plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class ScriptFile:
    """A shell script the user will run (Meta's download.sh)."""

    path: str
    size: int
    head: bytes  # the first bytes, enough to judge the shebang, CRLF and HTML
    crlf: bool  # any "\r\n" in the file
    executable: bool


@dataclass(frozen=True)
class RepoFacts:
    path: str
    download_script: Optional[ScriptFile] = None
    # Meta's generation code (llama/generation.py and the like): path -> the lines that matter
    generation_files: Mapping[str, str] = field(default_factory=dict)
    flavour: Optional[str] = None  # "llama" | "llama3" | "codellama" | "llama-models"


@dataclass(frozen=True)
class ModelDir:
    path: str
    format: str  # "meta" | "hf" | "meta-in-hf" | "unknown"
    files: Mapping[str, int] = field(default_factory=dict)  # name -> size in bytes
    params: Optional[Mapping[str, Any]] = None  # params.json or config.json, parsed
    params_error: Optional[str] = None
    details: Mapping[str, Any] = field(default_factory=dict)
