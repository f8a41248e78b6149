"""Probe the user's files: Meta's download.sh and reference code under --repo, and every model folder.

    repo, models = gather_files(Path("~/llama"), [Path("~/llama/llama-2-7b-chat")], options)

Model folders come from three places: `--model-dir`s (source "given"), folders under `--repo` that hold a
params.json or config.json (the folder itself and its subfolders, as Meta's download.sh lays them out; deeper
only when asked with `search_depth`; source "repo"), and the usual places, only summarised:
`~/.llama/checkpoints/*` ("llama-home") and Llama repos of the Hugging Face cache ("hf-cache"). Shards are
sniffed (first bytes, zip central directory, tensor shapes from data.pkl) but never loaded; checklists of given
and repo folders are verified with md5 unless `options.no_hash`.

Nothing here raises for bad input: unreadable files, symlink loops, invalid JSON or non-UTF-8 bytes become
facts (`params_error`, `Shard.kind`, `Checklist.status`) that checks turn into findings.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
import re
import shutil
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from llamadoctor.facts import Options
from llamadoctor.files import (
    Checklist,
    ModelDir,
    RepoFacts,
    ScriptFile,
    Searched,
    SourceFile,
    Tokenizer,
    hf_copy_path,
    tokenizer_places,
)
from llamadoctor.formats import MAX_TOKENIZER, classify_head, inside
from llamadoctor.llama.releases import identify
from llamadoctor.probes.checksum import cache_file, params_md5, read_checklist, verify_entries
from llamadoctor.probes.sniff import sniff_tokenizer_at, sniff_weights
from llamadoctor.progress import ProgressFn
from llamadoctor.reading import read_regular, reason

SEARCH_DEPTH = 1  # the repo folder and its subfolders: where download.sh puts llama-2-7b/
MAX_ENTRIES = 4000
MAX_JSON = 1024 * 1024
# Model configs nest a few levels; deeper documents are refused before anything walks them recursively
# (Python's json reads ~1000 levels, the reports' own walks overflow the stack well before that).
MAX_JSON_NESTING = 64
MAX_SCRIPT = 1024 * 1024
MAX_SOURCE = 512 * 1024
MAX_USUAL = 24  # model folders summarised from ~/.llama and the HF cache
SKIP_DIRS = {
    "node_modules",
    "__pycache__",
    "site-packages",
    "dist-packages",
    "Library",
    "AppData",
    "Windows",
    "Program Files",
    "proc",
    "sys",
    "dev",
}
NCCL_CALL = re.compile(r"""init_process_group\(\s*(?:backend\s*=\s*)?["']nccl["']\s*\)""")
SIZE_DIR = re.compile(r"^\d+(\.\d+)?[BM]$", re.IGNORECASE)  # 7B, 13B, 30B: the Llama 1 torrent layout


def gather_files(
    repo: Path | None,
    model_dirs: Sequence[Path] = (),
    options: Options | None = None,
    *,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
    hash_progress: ProgressFn | None = None,
    cache_path: Path | None = None,
    search_depth: int = SEARCH_DEPTH,
    cancel: threading.Event | None = None,
) -> tuple[RepoFacts | None, tuple[ModelDir, ...]]:
    """Facts about the repo folder and all model folders; see the module docstring.

    `home` and `environ` are seams for tests (defaults: the real home folder and os.environ, read only for
    HF_HOME / HF_HUB_CACHE). `hash_progress(done_bytes, total_bytes)` is called from hashing threads;
    `cache_path` is where verified hashes are remembered (default: checksums.json in the state folder).
    Setting `cancel` stops the hashing within one chunk (checksum.HashCancelled is raised).
    """
    options = options or Options()
    home = home if home is not None else Path.home()
    environ = os.environ if environ is None else environ
    repo_facts = probe_repo(repo) if repo is not None else None
    found: dict[str, tuple[Path, str]] = {}
    for path in model_dirs:
        _add(found, path, "given")
    if repo is not None:
        for path in find_model_dirs(repo, search_depth):
            _add(found, path, "repo")
    for path, source in usual_model_dirs(home, environ):
        _add(found, path, source)
    models = [_inspect(path, source) for path, source in found.values()]
    for model in list(models):  # a parent folder (the old 7B/ layout): look at its models too
        for sub in model.subdirs if model.format == "parent" else ():
            child = Path(model.path) / sub
            if _key(child) not in found:
                found[_key(child)] = (child, "repo")
                models.append(_inspect(child, "repo"))
    models = _verify(
        models,
        do_hash=not options.no_hash,
        progress=hash_progress,
        cache_path=cache_path if cache_path is not None else cache_file(),
        cancel=cancel,
    )
    return repo_facts, tuple(models)


def _inspect(path: Path, source: str) -> ModelDir:
    """inspect_model_dir, and a failure of ours on one folder is an error about that folder, not a gap."""
    try:
        return inspect_model_dir(path, source)
    except Exception as exc:
        why = f"could not be inspected ({type(exc).__name__}: {str(exc)[:200]}; a bug in llamadoctor: please report it)"
        return ModelDir(str(path), "unknown", source=source, error=why)


def _key(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return str(path.absolute())


def _add(found: dict[str, tuple[Path, str]], path: Path, source: str) -> None:
    found.setdefault(_key(path), (path, source))


# ---- the repo: download.sh and Meta's reference code -----------------------------------------------------


def probe_repo(repo: Path) -> RepoFacts | None:
    """download.sh and Meta's generation code in `repo`; None when there is neither."""
    if not _is_dir(repo):
        return None
    script = read_script(repo / "download.sh")
    sources = tuple(s for s in (read_source(p) for p in _source_candidates(repo)) if s is not None)
    flavour = code_flavour(repo)
    chat = repo / "example_chat_completion.py"
    dialogs = count_dialogs(chat) if _is_file(chat) else None
    if script is None and not sources and flavour is None:
        return None
    generation = {s.path: "\n".join(_line(s.content, n) for n in s.nccl_lines) for s in sources if s.nccl_lines}
    return RepoFacts(
        str(repo),
        script,
        generation,
        flavour,
        sources,
        str(chat) if dialogs is not None else None,
        dialogs,
        script_flavour(script),
    )


def read_script(path: Path) -> ScriptFile | None:
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    executable = bool(st.st_mode & 0o111)
    try:
        data = read_regular(path, MAX_SCRIPT + 1)
    except OSError as exc:
        return ScriptFile(
            str(path),
            st.st_size,
            b"",
            False,
            executable,
            None,
            reason(exc),
            stat.S_IMODE(st.st_mode),
        )
    content = data if len(data) <= MAX_SCRIPT else None
    return ScriptFile(
        str(path),
        st.st_size,
        data[:4096],
        b"\r\n" in data,
        executable,
        content,
        None,
        stat.S_IMODE(st.st_mode),
    )


def script_flavour(script: ScriptFile | None) -> str | None:
    data = (script.content or script.head) if script else b""
    for marker, flavour in (
        (b"declare -A", "llama1"),
        (b"Meta-Llama-3", "llama3"),
        (b"CodeLlama", "codellama"),
        (b"llama-2-", "llama2"),
    ):
        if marker in data:
            return flavour
    return None


def _source_candidates(repo: Path) -> Iterator[Path]:
    yield repo / "llama" / "generation.py"
    yield repo / "example.py"  # the llama_v1 branch sets up torch.distributed here
    for sub in ("models/llama3/reference_impl/generation.py", "models/llama3/generation.py"):
        yield repo / sub


def read_source(path: Path) -> SourceFile | None:
    try:
        if not _is_file(path) or path.stat().st_size > MAX_SOURCE:
            return None
        content = read_regular(path, MAX_SOURCE)
    except OSError:
        return None
    text = content.decode("utf-8", "replace")
    lines = tuple(
        n for n, line in enumerate(text.splitlines(), 1) if NCCL_CALL.search(line) and not line.lstrip().startswith("#")
    )
    return SourceFile(str(path), content, lines)


def _line(content: bytes, number: int) -> str:
    lines = content.decode("utf-8", "replace").splitlines()
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def code_flavour(repo: Path) -> str | None:
    """Which Meta repository `repo` is a clone of, from files that differ between them."""
    tokenizer = repo / "llama" / "tokenizer.py"
    generation = repo / "llama" / "generation.py"
    if _is_dir(repo / "models" / "llama3"):
        return "llama-models"
    if _is_file(tokenizer):
        head = _read(tokenizer, 64 * 1024)
        if b"tiktoken" in head:
            return "llama3"
    if _is_file(generation):
        gen = _read(generation, MAX_SOURCE)
        if b"infilling" in gen:
            return "codellama"
        if b"class LLaMA" in gen:
            return "llama1"
        return "llama"
    return None


def count_dialogs(path: Path) -> int | None:
    """len() of the `dialogs` list literal in Meta's example_chat_completion.py (6 for Llama 2, 4 for 3)."""
    try:
        tree = ast.parse(_read(path, MAX_SOURCE))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # deeply nested code defeats the parser
        return None
    for node in ast.walk(tree):
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        )
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "dialogs" and isinstance(value, ast.List):
            return len(value.elts)
    return None


# ---- finding model folders ---------------------------------------------------------------------------------


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, RuntimeError):
        return False


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, RuntimeError):
        return False


def _read(path: Path, limit: int) -> bytes:
    try:
        return read_regular(path, limit)
    except OSError:
        return b""


def find_model_dirs(root: Path, max_depth: int = SEARCH_DEPTH) -> list[Path]:
    """Folders under `root` (itself included, `max_depth` levels down) holding params.json or config.json;
    bounded, never follows symlinked folders, skips hidden and tool folders. Folders are visited in name
    order, so a busy tree that exhausts the budget gives the same answer on every run."""
    found: list[Path] = []
    budget = MAX_ENTRIES
    stack = [(root, 0)]
    while stack and budget > 0:
        folder, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)  # popped in name order
        except OSError:
            continue
        budget -= len(entries)
        names = {e.name for e in entries}
        if "params.json" in names or ("config.json" in names and _looks_like_model_config(folder)):
            found.append(folder)
            continue  # a model folder: its own subfolders (original/) are the model's business
        if depth >= max_depth or (names & {"pyvenv.cfg", "conda-meta"}):
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if (
                    entry.is_dir(follow_symlinks=False)
                    and not entry.name.startswith(".")
                    and entry.name not in SKIP_DIRS
                ):
                    stack.append((Path(entry.path), depth + 1))
    return sorted(found)


def _looks_like_model_config(folder: Path) -> bool:
    head = _read(folder / "config.json", 8192)
    return b'"model_type"' in head or b'"architectures"' in head


def usual_places(home: Path, environ: Mapping[str, str]) -> tuple[Path, Path]:
    """~/.llama/checkpoints (where llama-models' `llama download` puts models) and the Hugging Face hub cache."""
    hub = (
        Path(environ["HF_HUB_CACHE"])
        if environ.get("HF_HUB_CACHE")
        else (Path(environ["HF_HOME"]) / "hub" if environ.get("HF_HOME") else home / ".cache" / "huggingface" / "hub")
    )
    return home / ".llama" / "checkpoints", hub


def searched_places(
    repo: Path, depth: int = SEARCH_DEPTH, *, home: Path | None = None, environ: Mapping[str, str] | None = None
) -> Searched:
    """Where gather_files looks for model folders, as the report names them; touches nothing."""
    llama_home, hub = usual_places(Path.home() if home is None else home, os.environ if environ is None else environ)
    return Searched(str(repo), depth, str(llama_home), str(hub))


def usual_model_dirs(home: Path, environ: Mapping[str, str]) -> list[tuple[Path, str]]:
    """~/.llama/checkpoints/* and the newest snapshot of each Llama repo in the HF cache, bounded."""
    out: list[tuple[Path, str]] = []
    llama_home, hub = usual_places(home, environ)
    for path in _subdirs(llama_home)[:MAX_USUAL]:
        out.append((path, "llama-home"))
    repos = [p for p in _subdirs(hub) if p.name.startswith("models--") and "llama" in p.name.lower()]
    for repo in repos[:MAX_USUAL]:
        snapshots = _subdirs(repo / "snapshots")
        if snapshots:
            newest = max(snapshots, key=_mtime)
            out.append((newest, "hf-cache"))
    return out


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# ---- one model folder --------------------------------------------------------------------------------------


def _listing(path: Path) -> tuple[dict[str, int], list[str]]:
    """name -> size for files (symlinks followed; -1 when the target is missing or loops), and subfolders."""
    files: dict[str, int] = {}
    dirs: list[str] = []
    with os.scandir(path) as it:
        for n, entry in enumerate(it):
            if n >= MAX_ENTRIES:
                break
            try:
                if entry.is_dir():
                    dirs.append(entry.name)
                else:
                    files[entry.name] = entry.stat().st_size
            except OSError:
                files[entry.name] = -1
    return files, sorted(dirs)


def read_json(path: Path, limit: int = MAX_JSON) -> tuple[dict[str, Any] | None, str | None, bytes | None]:
    """(parsed object, error, bytes); the error says what the file is instead: empty, a web page, not JSON."""
    try:
        size = path.stat().st_size
        data = read_regular(path, limit + 1)
    except OSError as exc:
        return None, f"cannot be read ({reason(exc)})", None
    bad = classify_head(data[:512], size)
    if bad:
        return (
            None,
            {
                "empty": "is empty (0 bytes)",
                "lfs-pointer": "is a Git LFS pointer, not the file",
                "html": f"is {bad[1]}, not JSON",
            }[bad[0]],
            data,
        )
    if len(data) > limit:
        return None, f"is too large to read (over {limit // (1024 * 1024)} MB)", None
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "is not UTF-8 text", data
    except RecursionError:
        return None, "is JSON nested too deeply to be read", data
    except ValueError as exc:
        return None, f"is not valid JSON ({exc})", data
    if _nesting(value) > MAX_JSON_NESTING:
        return None, "is JSON nested too deeply to be read", data
    if not isinstance(value, dict):
        return None, f"is JSON but not an object ({type(value).__name__})", data
    return value, None, data


def _nesting(value: Any) -> int:
    """How many lists and objects deep `value` goes, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def inspect_model_dir(path: Path, source: str = "given") -> ModelDir:
    """All the checks need to know about one folder, without hashing (see _verify); never raises."""
    if not _is_dir(path):
        why = "does not exist" if not os.path.lexists(path) else "is not a folder"
        return ModelDir(str(path), "missing", source=source, error=why)
    try:
        files, dirs = _listing(path)
    except OSError as exc:
        return ModelDir(str(path), "unknown", source=source, error=f"cannot be listed ({exc.strerror or exc})")
    fmt = _format(path, files, dirs)
    params: dict[str, Any] | None = None
    error: str | None = None
    raw: bytes | None = None
    params_file = "params.json" if "params.json" in files else "config.json" if "config.json" in files else None
    if params_file:
        params, error, raw = read_json(path / params_file)
    weight_names = sorted(n for n in files if _is_weights(n, fmt))
    shards = tuple(sniff_weights(path / n, max(files[n], 0)) for n in weight_names)
    tokenizer = _tokenizer(path, fmt)
    subdirs = tuple(
        d
        for d in dirs
        if (d == "original" and fmt == "meta-in-hf") or (fmt == "parent" and _is_file(path / d / "params.json"))
    )
    details: dict[str, Any] = _index_details(path, files)
    if "tokenizer.json" in files and source in ("given", "repo"):  # a 9 MB parse: only for the run's folders
        tok_json_error = tokenizer_json_error(path / "tokenizer.json")
        if tok_json_error:
            details["tokenizer_json_error"] = tok_json_error
    if fmt == "meta":
        copy = hf_copy_path(str(path))
        if _is_file(Path(copy) / "config.json"):
            details["hf_copy"] = copy
    if fmt == "meta-in-hf":
        with contextlib.suppress(OSError):
            details["original_files"] = sorted(os.listdir(path / "original"))[:50]
    disk_free = None
    with contextlib.suppress(OSError):
        disk_free = shutil.disk_usage(path).free
    return ModelDir(
        str(path),
        fmt,
        files,
        params,
        error,
        details,
        source,
        params_file,
        raw if params_file == "params.json" else None,
        shards,
        tokenizer,
        (),
        subdirs,
        disk_free,
    )


def _index_details(path: Path, files: Mapping[str, int]) -> dict[str, Any]:
    """The weight files an HF index lists that are missing, and names in it that leave the folder (never
    looked at: an index is as untrusted as any downloaded file)."""
    details: dict[str, Any] = {}
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if index in files:
            data, _, _ = read_json(path / index, MAX_TOKENIZER)
            weight_map = data.get("weight_map") if data else None
            if isinstance(weight_map, dict):
                needed = sorted({str(v) for v in weight_map.values()})
                outside = [n for n in needed if not inside(n)]
                if outside:
                    details["index_outside"] = outside[:5]
                details["index_missing"] = [n for n in needed if inside(n) and files.get(n, -1) <= 0]
    return details


def tokenizer_json_error(path: Path) -> str | None:
    """What is wrong with an HF tokenizer.json, None when it looks like one (an object with a model vocab)."""
    data, error, _ = read_json(path, MAX_TOKENIZER)
    if error:
        return error
    model = (data or {}).get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if not isinstance(vocab, (dict, list)):
        return "has no model vocabulary: it is not a Hugging Face tokenizer"
    return None


def _tokenizer(path: Path, fmt: str) -> Tokenizer | None:
    """The tokenizer `run` would read for this folder."""
    for place, in_parent in tokenizer_places(path, fmt == "meta"):
        if _is_file(place) or place.is_symlink():  # a dangling or looping link is there, unreadable
            return sniff_tokenizer_at(place, in_parent=in_parent)
    return None


def _format(path: Path, files: Mapping[str, int], dirs: Sequence[str]) -> str:
    if "params.json" in files or any(n.endswith(".pth") for n in files):
        return "meta"
    if "config.json" in files:
        return "meta-in-hf" if _is_file(path / "original" / "params.json") else "hf"
    if any(n.endswith((".safetensors", ".bin")) for n in files):
        return "hf"
    if any(_is_file(path / d / "params.json") for d in dirs if SIZE_DIR.match(d) or "llama" in d.lower()):
        return "parent"
    return "unknown"


def _is_weights(name: str, fmt: str) -> bool:
    if fmt == "meta":
        return name.endswith(".pth")  # Meta's code loads sorted(glob("*.pth")): every .pth counts
    return name.endswith(".safetensors") or (name.startswith("pytorch_model") and name.endswith(".bin"))


def _checklists_of(model: ModelDir) -> list[tuple[Path, Path]]:
    path = Path(model.path)
    pairs = []
    if "checklist.chk" in model.files:
        pairs.append((path / "checklist.chk", path))
    tok_root = path.parent if model.tokenizer and model.tokenizer.in_parent else path
    if _is_file(tok_root / "tokenizer_checklist.chk"):
        pairs.append((tok_root / "tokenizer_checklist.chk", tok_root))
    return pairs


def _verify(
    models: list[ModelDir],
    *,
    do_hash: bool,
    progress: ProgressFn | None,
    cache_path: Path | None,
    cancel: threading.Event | None = None,
) -> list[ModelDir]:
    """Verify all checklists in one parallel pass; only given and repo folders are hashed. A Meta folder without
    checklist.chk whose params.json is a known release's is verified against that release's published md5s."""
    jobs: list[tuple[int, tuple[Path, Checklist, Sequence[tuple[str, str]]]]] = []
    for i, model in enumerate(models):
        if model.format in ("meta", "meta-in-hf"):
            jobs += [(i, (root, *read_checklist(chk))) for chk, root in _checklists_of(model)]
            jobs += [(i, job) for job in _published_checklist(model)]
    hashed = [i for i, _ in jobs if models[i].source in ("given", "repo")]
    results = verify_entries(
        [job for i, job in jobs if i in hashed],
        do_hash=do_hash,
        progress=progress,
        cache_path=cache_path,
        cancel=cancel,
    )
    results += verify_entries([job for i, job in jobs if i not in hashed], do_hash=False)
    order = [i for i, _ in jobs if i in hashed] + [i for i, _ in jobs if i not in hashed]
    out = list(models)
    for i, checklist in zip(order, results):
        out[i] = dataclasses.replace(out[i], checklists=(*out[i].checklists, checklist))
    return out


def _published_checklist(model: ModelDir) -> list[tuple[Path, Checklist, Sequence[tuple[str, str]]]]:
    """The published md5s of the release this folder's params.json identifies, when it has no checklist.chk."""
    if model.format != "meta" or "checklist.chk" in model.files or "params.json" not in model.files:
        return []
    path = Path(model.path)
    md5 = params_md5(path)
    known = identify(md5) if md5 else None
    if known is None:
        return []
    entries = [(digest, name) for name, digest in known.files.items()]
    return [(path, Checklist(str(path / "checklist.chk"), "ok", known=known.name), entries)]
