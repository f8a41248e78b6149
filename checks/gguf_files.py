"""GGUF and GGML model files against the llama.cpp that will read them: format era, pre-tokenizer, vocabulary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable

from llamadoctor.checks._libraries import pip_install
from llamadoctor.facts import Facts, ModelFile
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.serving import GGUF_SINCE, LEGACY_FORMATS, older, pre_tokenizer_since, reads_gguf
from llamadoctor.shell import render_argv
from llamadoctor.testing import linux_cpu, replace_in, windows_conda

MODEL_FILES = Requires(
    lambda f: f.stacks.model_files,
    N_("no GGUF or GGML file given with --model-file or found in the model folders"),
    probe="stacks",
)
LLAMA_CPP_PYTHON = Requires(
    lambda f: "llama_cpp_python" in f.stacks.packages, N_("llama-cpp-python is not installed"), probe="stacks"
)
GGUF_DIR = "/home/ada/models"
WIN_DIR = r"C:\Users\ada\models"


def _file(name: str = "llama-3-8b.Q4_K_M.gguf", folder: str = GGUF_DIR, **fields: object) -> ModelFile:
    sep = "\\" if "\\" in folder else "/"
    defaults: dict[str, object] = {
        "format": "gguf",
        "magic": b"GGUF".hex(),
        "version": 3,
        "architecture": "llama",
        "pre_tokenizer": "llama-bpe",
        "token_count": 128256,
        "embedding_rows": 128256,
    }
    defaults.update(fields)
    return ModelFile(f"{folder}{sep}{name}", **defaults)  # type: ignore[arg-type]


def _with(facts: Facts, *files: ModelFile, llama_cpp: str | None = "0.2.90") -> Facts:
    packages = {"llama_cpp_python": llama_cpp} if llama_cpp else {}
    return replace_in(facts, "stacks", model_files=files, packages=packages)


GGJT = _file("llama-2-7b-chat.ggmlv3.q4_0.bin", format="ggjt", magic=b"tjgg".hex(), pre_tokenizer=None)


def as_integer(magic: str) -> str:
    """The magic as llama.cpp prints it: the first four bytes read as a little-endian integer, in hex."""
    return bytes.fromhex(magic)[::-1].hex() if len(magic) == 8 else magic


def _runtime(facts: Facts) -> str:
    version = facts.stacks.packages.get("llama_cpp_python")
    return f"llama-cpp-python {version}" if version else _("current llama.cpp, Ollama and llama-cpp-python")


def _files_checked(facts: Facts, words: Callable[[int], str]) -> str:
    """What a healthy run looked at, in `words` for the number of model files ("2 model files in GGUF, ...")."""
    files = len(facts.stacks.model_files)
    return words(files).format(count=files, runtime=_runtime(facts))


@check(
    id="gguf-format-era",
    summary="A model file is in the pre-GGUF GGML format, or a GGUF file meets a llama.cpp too old for it",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(MODEL_FILES,),
    checked=lambda f: _files_checked(
        f,
        lambda n: ngettext(
            "{count} model file in GGUF, readable by {runtime}", "{count} model files in GGUF, readable by {runtime}", n
        ),
    ),
    examples=[
        Healthy(_with(linux_cpu(), _file())),
        Healthy(_with(linux_cpu(), _file(), llama_cpp=None)),
        Inapplicable(linux_cpu(), expect="no GGUF or GGML file"),
        Broken(_with(linux_cpu(), GGJT), expect="invalid magic number 67676a74"),
        Broken(_with(linux_cpu(), GGJT, llama_cpp=None), expect="GGJT v3"),
        Broken(
            _with(windows_conda(), _file(folder=WIN_DIR), llama_cpp="0.1.78"),
            expect="llama-cpp-python 0.1.78 predates GGUF",
        ),
        Broken(
            _with(linux_cpu(), _file("notes.txt", format="unknown", magic=b"<htm".hex(), version=None)),
            expect="neither GGUF nor GGML",
        ),
    ],
)
def gguf_format_era(facts: Facts) -> Iterator[Finding]:
    """A GGML-era model file, or a GGUF file with a llama-cpp-python from before GGUF.

    What it checks: the first bytes of each `.gguf`/`.bin` model file (and of a file named with
    `--model-file`): `GGUF`, or one of the older GGML, GGMF and GGJT magics; and the llama-cpp-python version
    installed in the target Python.
    Why it matters: llama.cpp switched to GGUF in August 2023 and reads nothing older (`invalid magic number
    67676a74`, `unknown (magic, version) combination`); llama-cpp-python before 0.1.79 reads only the old
    files.
    How to fix: download a GGUF build of the model, or convert the old file with llama.cpp's
    convert_llama_ggml_to_gguf.py; for a GGUF file, upgrade llama-cpp-python.
    """
    llama_cpp = facts.stacks.packages.get("llama_cpp_python")
    for found in facts.stacks.model_files:
        if found.format in LEGACY_FORMATS:
            yield _legacy(facts, found, llama_cpp)
        elif found.format == "gguf" and llama_cpp and not reads_gguf(llama_cpp):
            yield gguf_format_era.finding(
                _(
                    "{path} is GGUF v{version}, but llama-cpp-python {installed} predates GGUF (it reads GGUF from "
                    "{since} on) and refuses it with “invalid magic number 46554747”."
                ).format(path=found.path, version=found.version, installed=llama_cpp, since=GGUF_SINCE),
                remedy=pip_install(facts, "llama-cpp-python"),
                file=found.path,
                llama_cpp_python=llama_cpp,
            )
        elif found.format == "unknown":
            yield gguf_format_era.finding(
                _(
                    "{path} is neither GGUF nor GGML (its first bytes are {magic}): no llama.cpp program can load "
                    "it; it may be a web page or a Git LFS pointer saved in its place."
                ).format(path=found.path, magic=found.magic or _("missing")),
                remedy=_("Download the .gguf file again (from the repository's Files page, not the page itself)."),
                file=found.path,
                magic=found.magic,
            )


def _legacy(facts: Facts, found: ModelFile, llama_cpp: str | None) -> Finding:
    era = f"{found.format.upper()} v{found.version}" if found.version is not None else found.format.upper()
    reader = (
        _("the installed llama-cpp-python {version} reads only GGUF").format(version=llama_cpp)
        if llama_cpp and reads_gguf(llama_cpp)
        else _("llama.cpp, Ollama and llama-cpp-python since 0.1.79 read only GGUF")
    )
    if llama_cpp and not reads_gguf(llama_cpp):
        reader = _("llama-cpp-python {version} still reads it, but every current llama.cpp program refuses it").format(
            version=llama_cpp
        )
    gguf = found.path.rsplit(".", 1)[0] + ".gguf"
    convert = render_argv(
        ["python", "convert_llama_ggml_to_gguf.py", "--input", found.path, "--output", gguf], facts.platform.shell
    )
    return gguf_format_era.finding(
        # TRANSLATORS: {era} is the file's format ("GGJT v3"); {reader} says which programs read it.
        _("{path} is a {era} file from before GGUF: {reader} (“invalid magic number {magic}”).").format(
            path=found.path, era=era, reader=reader, magic=as_integer(found.magic)
        ),
        remedy=_("Download a GGUF build of the model, or convert this file with llama.cpp's script:") + f"\n{convert}",
        file=found.path,
        format=found.format,
        llama_cpp_python=llama_cpp,
    )


@check(
    id="gguf-pretokenizer-unknown",
    summary="A GGUF file names a pre-tokenizer the installed llama-cpp-python does not know",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(MODEL_FILES, LLAMA_CPP_PYTHON),
    checked=lambda f: _files_checked(
        f,
        lambda n: ngettext(
            "the pre-tokenizers of {count} model file against {runtime}",
            "the pre-tokenizers of {count} model files against {runtime}",
            n,
        ),
    ),
    examples=[
        Healthy(_with(linux_cpu(), _file())),
        Healthy(_with(linux_cpu(), _file(pre_tokenizer="a-future-name"), llama_cpp="0.2.60")),
        Inapplicable(_with(linux_cpu(), _file(), llama_cpp=None), expect="llama-cpp-python is not installed"),
        Broken(
            _with(linux_cpu(), _file(), llama_cpp="0.2.64"),
            expect="unknown pre-tokenizer type: 'llama-bpe'",
        ),
        Broken(_with(windows_conda(), _file(folder=WIN_DIR), llama_cpp="0.2.56"), expect="0.2.68"),
    ],
)
def gguf_pretokenizer_unknown(facts: Facts) -> Iterator[Finding]:
    """A GGUF file's pre-tokenizer (`tokenizer.ggml.pre`) is newer than the llama-cpp-python installed.

    What it checks: the pre-tokenizer each GGUF file names against the first llama-cpp-python release whose
    llama.cpp knows it (Llama 3's `llama-bpe` and the other BPE pre-tokenizers arrived in 0.2.68); names the
    doctor's table does not hold are not judged.
    Why it matters: loading stops with `error loading model vocabulary: unknown pre-tokenizer type`.
    How to fix: upgrade llama-cpp-python with the target interpreter's pip (or update llama.cpp/Ollama).
    """
    installed = facts.stacks.packages["llama_cpp_python"]
    for found in facts.stacks.model_files:
        since = pre_tokenizer_since(found.pre_tokenizer or "")
        if found.format != "gguf" or since is None or not older(installed, since):
            continue
        yield gguf_pretokenizer_unknown.finding(
            _(
                "{path} uses the pre-tokenizer '{name}', which llama-cpp-python {installed} does not know (it arrived "
                "in {since}): loading stops with “unknown pre-tokenizer type: '{name}'”."
            ).format(path=found.path, name=found.pre_tokenizer, installed=installed, since=since),
            remedy=pip_install(facts, f"llama-cpp-python>={since}"),
            file=found.path,
            pre_tokenizer=found.pre_tokenizer,
            llama_cpp_python=installed,
            since=since,
        )


@check(
    id="gguf-vocab-mismatch",
    summary="A GGUF file's tokenizer and embedding have different numbers of tokens",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(MODEL_FILES,),
    checked=lambda f: _files_checked(
        f,
        lambda n: ngettext(
            "tokens against embedding rows in {count} model file",
            "tokens against embedding rows in {count} model files",
            n,
        ),
    ),
    examples=[
        Healthy(_with(linux_cpu(), _file())),
        Healthy(_with(linux_cpu(), _file(embedding_rows=None, token_count=None))),
        Inapplicable(linux_cpu(), expect="no GGUF or GGML file"),
        Broken(
            _with(linux_cpu(), _file("chatmusician.gguf", token_count=32001, embedding_rows=32000)),
            expect="32001 tokens but its embedding has 32000 rows",
        ),
        Broken(
            _with(linux_cpu(), _file(token_count=32000, embedding_rows=32000, vocab_size=32016)),
            expect="declares llama.vocab_size 32016",
        ),
    ],
)
def gguf_vocab_mismatch(facts: Facts) -> Iterator[Finding]:
    """A GGUF file whose tokenizer does not belong to its weights.

    What it checks: the number of entries in `tokenizer.ggml.tokens` against the rows of `token_embd.weight`
    and against `<architecture>.vocab_size` when the header declares it.
    Why it matters: llama.cpp refuses the file (`tensor 'token_embd.weight' has wrong shape`); the usual
    cause is a stray added_tokens.json, or another model's tokenizer, at conversion time.
    How to fix: convert again from a folder whose tokenizer belongs to the weights (move added_tokens.json
    away), or download another build of the file.
    """
    for found in facts.stacks.model_files:
        tokens = found.token_count
        if found.format != "gguf" or tokens is None:
            continue
        if found.embedding_rows is not None and found.embedding_rows != tokens:
            message = _(
                "{path} has a tokenizer of {tokens} tokens but its embedding has {rows} rows: the tokenizer does "
                "not belong to these weights and llama.cpp refuses the file (“tensor 'token_embd.weight' has wrong "
                "shape”)."
            )
        elif found.vocab_size is not None and found.vocab_size != tokens:
            message = _(
                "{path} has a tokenizer of {tokens} tokens but it declares {key} {size}: the tokenizer does not "
                "belong to these weights and llama.cpp refuses the file (“tensor 'token_embd.weight' has wrong "
                "shape”)."
            )
        else:
            continue
        yield gguf_vocab_mismatch.finding(
            message.format(
                path=found.path,
                tokens=tokens,
                rows=found.embedding_rows,
                key=f"{found.architecture or 'llama'}.vocab_size",
                size=found.vocab_size,
            ),
            remedy=_(
                "Convert again from a folder whose tokenizer matches the weights (move a stray added_tokens.json "
                "away), or download another GGUF build of the model."
            ),
            file=found.path,
            tokens=tokens,
            embedding_rows=found.embedding_rows,
            vocab_size=found.vocab_size,
        )


# Llama 3's tokenizer has 128256 entries; Llama 1 and 2 have 32000, which the default pre-tokenizer suits.
LLAMA3_TOKENS = 128000


@check(
    id="gguf-pretokenizer-missing",
    summary="A Llama 3 GGUF file names no pre-tokenizer, so llama.cpp tokenizes it wrongly",
    severity=Severity.WARNING,
    group=Group.MODEL,
    requires=(MODEL_FILES,),
    checked=lambda f: _files_checked(
        f, lambda n: ngettext("the pre-tokenizer of {count} model file", "the pre-tokenizer of {count} model files", n)
    ),
    examples=[
        Healthy(_with(linux_cpu(), _file())),
        Healthy(_with(linux_cpu(), _file("llama-2-7b.Q4_0.gguf", pre_tokenizer=None, token_count=32000))),
        Inapplicable(linux_cpu(), expect="no GGUF or GGML file"),
        Broken(_with(linux_cpu(), _file(pre_tokenizer=None)), expect="missing pre-tokenizer type, using: 'default'"),
    ],
)
def gguf_pretokenizer_missing(facts: Facts) -> Iterator[Finding]:
    """A GGUF of Llama 3 converted before llama.cpp knew Llama 3's pre-tokenizer.

    What it checks: GGUF files with Llama 3's vocabulary (128K tokens) and no `tokenizer.ggml.pre`.
    Why it matters: llama.cpp then splits text with the default (Llama 2) rules and warns `missing
    pre-tokenizer type, using: 'default'` and `GENERATION QUALITY WILL BE DEGRADED`: answers get worse with
    no error.
    How to fix: download a GGUF converted after April 2024, or convert again with a current
    convert_hf_to_gguf.py.
    """
    for found in facts.stacks.model_files:
        tokens = found.token_count or 0
        if found.format != "gguf" or found.pre_tokenizer or tokens < LLAMA3_TOKENS or found.architecture != "llama":
            continue
        yield gguf_pretokenizer_missing.finding(
            _(
                "{path} has Llama 3's {tokens}-token vocabulary but names no pre-tokenizer: llama.cpp warns "
                "“missing pre-tokenizer type, using: 'default'” and tokenizes with Llama 2's rules, which degrades "
                "every answer without an error."
            ).format(path=found.path, tokens=tokens),
            remedy=_(
                "Download a GGUF of the model converted after April 2024, or convert again with a current "
                "convert_hf_to_gguf.py from llama.cpp."
            ),
            file=found.path,
            tokens=tokens,
        )
