"""Facts about the user's files: the repo folder holding Meta's download.sh and examples, and model folders.

Filled by llamadoctor.probes.files; read by the download and model checks. Like all facts, plain data: paths
are strings of the described OS, file contents are bytes the probe already read (small text files only), so
checks and fix plans never touch the disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Where a model folder was found: "given" (--model-dir), "repo" (under --repo), "llama-home"
# (~/.llama/checkpoints), "hf-cache" (the Hugging Face hub cache).
SOURCES = ("given", "repo", "llama-home", "hf-cache")


@dataclass(frozen=True)
class Searched:
    """Where model folders were looked for (besides the --model-dir folders), for the report to name."""

    repo: str = ""  # the repo folder: --repo, else the current folder
    depth: int = 1  # folder levels under it that were searched (0: the folder itself)
    llama_home: str = ""  # ~/.llama/checkpoints
    hf_cache: str = ""  # the Hugging Face hub cache


@dataclass(frozen=True)
class ScriptFile:
    """A shell script the user will run (Meta's download.sh), with its bytes (it is a few KB)."""

    path: str
    size: int
    head: bytes  # the first bytes, enough to judge the shebang, CRLF and HTML
    crlf: bool  # any "\r\n" in the file
    executable: bool
    content: bytes | None = None  # the whole file when it is small enough to plan a rewrite (<= 1 MB)
    error: str | None = None  # why it could not be read
    mode: int = 0o644  # permission bits

    @property
    def shebang(self) -> str:
        """The first line if it is a #! line, without its line ending."""
        first = self.head.split(b"\n", 1)[0].rstrip(b"\r")
        return first.decode("utf-8", "replace") if first.startswith(b"#!") else ""


@dataclass(frozen=True)
class SourceFile:
    """One of Meta's Python files that sets up torch.distributed (llama/generation.py, example.py)."""

    path: str
    content: bytes
    nccl_lines: tuple[int, ...] = ()  # 1-based lines calling init_process_group with a hard-coded "nccl"


@dataclass(frozen=True)
class RepoFacts:
    path: str
    download_script: ScriptFile | None = None
    # Meta's generation code (llama/generation.py and the like): path -> the lines that matter
    generation_files: Mapping[str, str] = field(default_factory=dict)
    # "llama" (Llama 2), "llama1" (llama_v1 branch), "llama3", "codellama", "llama-models"; None: not Meta's
    flavour: str | None = None
    sources: tuple[SourceFile, ...] = ()
    chat_example: str | None = None  # path of example_chat_completion.py
    chat_dialogs: int | None = None  # how many dialogs that example sends in one batch
    download_script_flavour: str | None = None  # "llama1" | "llama2" | "llama3" | "codellama"


@dataclass(frozen=True)
class Shard:
    """One weights file, sniffed without loading tensor data.

    kind: "zip" (a torch zip checkpoint), "safetensors", "legacy-pickle" (pre-1.6 torch format), "empty",
    "lfs-pointer", "html", "truncated" (zip without its central directory, or safetensors shorter than its
    header says), "unsafe" (its pickle asks for code or objects other than tensors), "unknown",
    "unreadable".
    """

    name: str
    size: int
    kind: str
    detail: str = ""  # what was seen: the first line of an HTML page, the parse error
    tensors: int = 0  # number of tensors recorded
    layers: int = 0  # distinct layers.N indices
    dtypes: tuple[str, ...] = ()  # "bfloat16", "float16", ...
    # Shapes of the non-layer tensors and of layer 0 (as "layers.0.attention.wq.weight")
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    uniform_layers: bool = True  # every layer has layer 0's shapes
    largest_tensor: int = 0  # elements of the largest tensor (conversion working memory)

    @property
    def ok(self) -> bool:
        return self.kind in ("zip", "safetensors", "legacy-pickle")


@dataclass(frozen=True)
class Tokenizer:
    """The tokenizer a run of the folder reads: tokenizer.model, or an HF folder's tokenizer.json.

    kind: "sentencepiece", "tiktoken", "empty", "lfs-pointer", "html", "unknown", "unreadable". A tokenizer.json
    is "sentencepiece" (Llama 1/2's pieces) or "tiktoken" (Llama 3's byte-level BPE) by the tokenizer it holds.
    """

    path: str
    size: int
    kind: str
    n_words: int | None = None  # pieces (SentencePiece) or ranks + 256 specials (tiktoken)
    in_parent: bool = False  # found beside the model folder (the Llama 2 layout), not inside
    library: str = ""  # the Python library that reads it
    library_missing: bool = False  # `library` cannot be imported where llamadoctor (and so `run`) runs

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


TOKENIZER_LIBRARIES = {"tokenizer.json": "tokenizers", "sentencepiece": "sentencepiece", "tiktoken": "tiktoken"}


def tokenizer_places(folder: Path, is_meta: bool) -> list[tuple[Path, bool]]:
    """Where a run looks for a folder's tokenizer, first found wins: (path, beside the folder rather than in it).

    An HF folder's original/ holds Meta's tokenizer.model; Llama 2's download.sh leaves tokenizer.model beside
    the Meta folders.
    """
    if is_meta:
        return [(folder / "tokenizer.model", False), (folder.parent / "tokenizer.model", True)]
    return [
        (folder / "tokenizer.model", False),
        (folder / "original" / "tokenizer.model", False),
        (folder / "tokenizer.json", False),
    ]


@dataclass(frozen=True)
class ChecksumEntry:
    """One line of a checklist and what verifying it gave.

    status: "ok", "mismatch", "missing" (the listed file does not exist), "outside" (the name leaves the model
    folder: never hashed), "unreadable", "skipped" (--no-hash, or hashing was not asked for this folder).
    """

    name: str
    expected: str
    status: str
    actual: str | None = None
    size: int | None = None
    cached: bool = False


@dataclass(frozen=True)
class Checklist:
    """checklist.chk or tokenizer_checklist.chk. status: "ok" (parsed), "empty", "html", "malformed",
    "unreadable"."""

    path: str
    status: str
    entries: tuple[ChecksumEntry, ...] = ()
    bad_lines: tuple[str, ...] = ()  # lines that are not "<md5>  <name>" (first few, shortened)
    size: int = 0
    # The release whose published md5s stand in for a checklist.chk the folder lacks ("Llama 2 7B"); its path
    # is then where that checklist.chk would be.
    known: str = ""


@dataclass(frozen=True)
class ModelDir:
    """A model folder.

    format: "meta" (params.json + consolidated.*.pth), "hf" (config.json + safetensors/bin), "meta-in-hf"
    (an HF folder with the Meta files under original/), "parent" (holds model folders such as 7B/: the Llama 1
    layout), "unknown".
    """

    path: str
    format: str
    files: Mapping[str, int] = field(default_factory=dict)  # name -> size in bytes (top level)
    params: Mapping[str, Any] | None = None  # params.json or config.json, parsed
    params_error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    source: str = "given"
    params_file: str | None = None  # "params.json" | "config.json"
    params_bytes: bytes | None = None  # params.json as read (small), for the correcting fix
    shards: tuple[Shard, ...] = ()  # consolidated.*.pth, or *.safetensors / pytorch_model*.bin
    tokenizer: Tokenizer | None = None
    checklists: tuple[Checklist, ...] = ()
    subdirs: tuple[str, ...] = ()  # model folders inside ("7B", "original")
    disk_free: int | None = None  # free bytes on this folder's filesystem
    error: str | None = None  # the folder could not be listed

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]

    @property
    def meta_shards(self) -> tuple[Shard, ...]:
        return tuple(s for s in self.shards if s.name.startswith("consolidated.") and s.name.endswith(".pth"))

    @property
    def weights_bytes(self) -> int:
        return sum(s.size for s in self.shards)


def hf_copy_path(path: str) -> str:
    """Where `convert-to-hf` puts the Hugging Face copy of a Meta folder: `DIR-hf` beside it, or
    `DIR-converted` when the Meta folder itself is named `-hf`."""
    base = path.rstrip("/\\")
    return base + ("-converted" if base.lower().endswith("-hf") else "-hf")


def targets(models: Iterable[ModelDir]) -> tuple[ModelDir, ...]:
    """The folders the user means to run: those given with --model-dir, else those found under --repo.

    Folders found in the usual places (~/.llama, the HF cache) are checked for damage, but the run-sizing
    checks (memory, shards vs processes, disk for conversion) would only guess which of them the user means.
    """
    models = tuple(models)
    given = tuple(m for m in models if m.source == "given")
    return given or tuple(m for m in models if m.source == "repo")


def executable_mode(mode: int) -> int:
    """`mode` plus an x bit wherever there is an r bit (what `chmod +x` does under a usual umask)."""
    return mode | ((mode & 0o444) >> 2)


def mode_text(mode: int) -> str:
    """A regular file's permissions as `ls -l` shows them (`-rwxr-xr-x`), whatever type bits `mode` has."""
    import stat

    return stat.filemode(stat.S_IFREG | stat.S_IMODE(mode))
