"""What the target interpreter has installed, read from package metadata without importing anything; what the
repo folder asks pip to install; what the model folders' tokenizer files need of the libraries reading them.

Reading `*.dist-info/METADATA` is what `pip list` and importlib.metadata do, minus the import of the target
Python: a few hundred small reads, fast enough for every `check`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

from llamadoctor.facts import HfTokenizerFiles, Libraries, Requirement
from llamadoctor.files import ModelDir
from llamadoctor.formats import MAX_TOKENIZER_JSON
from llamadoctor.llama.hf_support import transformers_loads
from llamadoctor.reading import read_regular

_SEPARATORS = re.compile(r"[-_.]+")
# "pyyaml-6.0.1.dist-info", "fairscale-0.4.13-py3.11.egg-info": a name without "-", then a version
_NAMED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._]*)-(\d[A-Za-z0-9.!+_]*?)(?:-py\d[\d.]*)?\.(?:dist|egg)-info$")
_HEADER = re.compile(r"^(Name|Version):\s*(.+?)\s*$", re.M)
_METADATA_HEAD = 8192  # Name and Version are among the first header lines
_MAX_PTH = 64 * 1024
_MAX_METADATA = 1024 * 1024
# Distributions whose own requirements the checks compare with what is installed, and which of them
READ_REQUIRES = {"transformers": ("accelerate", "protobuf", "tokenizers")}
# Packages whose native libraries tell which build is installed: distribution -> (import folder, file prefix)
READ_NATIVE = {"bitsandbytes": ("bitsandbytes", "libbitsandbytes")}
_NATIVE_SUFFIXES = (".so", ".dll", ".dylib")
_MAX_REQUIREMENTS = 256 * 1024
_MAX_TOKENIZER_CONFIG = 4 * 1024 * 1024
# A BPE merges list whose first item is a list ("pairs") or a string ("a b")
_MERGES = re.compile(rb'"merges"\s*:\s*\[\s*(\[|")')
_PYPROJECT_DEPS = re.compile(r"^dependencies\s*=\s*\[(.*?)\]", re.M | re.S)
_SETUP_DEPS = re.compile(r"install_requires\s*=\s*\[(.*?)\]", re.S)
# A metadata line's "name[extras] (specifier)" or "name specifier", markers cut off
_DECLARED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*\(?\s*([^()]*?)\s*\)?\s*$")
_QUOTED = re.compile(r"""["']([^"'\n]+)["']""")


def normalise(name: str) -> str:
    """A distribution name as pip compares it: `Sentence_Piece` and `sentence-piece` are one project."""
    return _SEPARATORS.sub("-", name).lower()


# ---- installed distributions -----------------------------------------------------------------------------


def places(site_packages: Sequence[str]) -> tuple[str, ...]:
    """The site-packages folders and the folders their .pth files add, as Python's site module would."""
    found: list[str] = []
    for site in site_packages:
        if site not in found:
            found.append(site)
        with contextlib.suppress(OSError):
            for pth in sorted(Path(site).glob("*.pth")):
                for extra in _pth_dirs(pth):
                    if extra not in found:
                        found.append(extra)
    return tuple(found)


def _pth_dirs(pth: Path) -> list[str]:
    try:
        text = read_regular(pth, _MAX_PTH).decode("utf-8", "replace")
    except OSError:
        return []
    dirs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "import ", "import\t")):
            continue
        folder = os.path.normpath(os.path.join(str(pth.parent), line))
        if os.path.isdir(folder):
            dirs.append(folder)
    return dirs


def declared_requirements(meta: Path, wanted: Iterable[str]) -> dict[str, str]:
    """Required name -> specifier for the `wanted` projects, as the distribution whose metadata folder is `meta`
    declares them (markers and extras aside: the first line naming a project wins)."""
    if not meta.name.endswith(".dist-info"):
        return {}
    try:
        text = read_regular(meta / "METADATA", _MAX_METADATA).decode("utf-8", "replace")
    except OSError:
        return {}
    names = set(wanted)
    declared: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():  # the body after the first blank line is the description
        value = line[len("Requires-Dist:") :] if line.startswith("Requires-Dist:") else ""
        found = _DECLARED.match(value.split(";", 1)[0])
        name = normalise(found.group(1)) if found else ""
        if found and name in names and name not in declared and _valid_specifier(found.group(2)):
            declared[name] = found.group(2).replace(" ", "")
    return declared


def _valid_specifier(text: str) -> bool:
    # packaging.specifiers, not packaging.requirements: the latter's grammar costs 70 ms to import, on every check
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return True


def installed_distributions(folders: Iterable[str]) -> dict[str, str]:
    """Normalised name -> version of every distribution whose metadata is in `folders` (the first wins, as on
    sys.path)."""
    return {name: version for name, (version, _) in metadata_folders(folders).items()}


def metadata_folders(folders: Iterable[str]) -> dict[str, tuple[str, Path]]:
    """Normalised name -> (version, its `.dist-info` or `.egg-info`) of every distribution in `folders` (the
    first wins, as on sys.path)."""
    found: dict[str, tuple[str, Path]] = {}
    for folder in folders:
        try:
            stat = os.stat(folder)
        except OSError:
            continue
        for name, version, meta in _folder_distributions(folder, (stat.st_mtime_ns, stat.st_nlink, stat.st_size)):
            found.setdefault(name, (version, meta))
    return found


# Two probes read the same folders in one `check`. Adding or removing a distribution changes its folder's
# mtime and link count (each is a subfolder), so a cached listing is reused only while the folder is unchanged.
@functools.lru_cache(maxsize=32)
def _folder_distributions(folder: str, state: tuple[int, int, int]) -> tuple[tuple[str, str, Path], ...]:
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith((".dist-info", ".egg-info")))
    except OSError:
        return ()
    found = []
    for entry in names:
        meta = Path(folder) / entry
        distribution = _distribution(meta)
        if distribution:
            found.append((distribution[0], distribution[1], meta))
    return tuple(found)


def _distribution(meta: Path) -> Optional[tuple[str, str]]:
    """(name, version): from the folder's name, which pip writes as `name-version.dist-info`, else from the
    metadata inside (an .egg-info is a folder holding PKG-INFO, or a single PKG-INFO file by that name)."""
    named = _NAMED.match(meta.name)
    if named:
        return normalise(named.group(1)), named.group(2)
    files = [meta / "METADATA"] if meta.name.endswith(".dist-info") else [meta / "PKG-INFO", meta]
    for path in files:
        with contextlib.suppress(OSError):
            text = read_regular(path, _METADATA_HEAD).decode("utf-8", "replace")
            header: dict[str, str] = {m.group(1): m.group(2) for m in _HEADER.finditer(text)}
            if "Name" in header and "Version" in header:
                return normalise(header["Name"]), header["Version"]
    return None


# ---- what the repo folder requires ------------------------------------------------------------------------


def repo_requirements(repo: Path) -> tuple[Requirement, ...]:
    """The projects requirements.txt, pyproject.toml and setup.py in `repo` name (each name once)."""
    found: dict[str, Requirement] = {}
    for filename, lines in (
        ("requirements.txt", _requirement_lines),
        ("pyproject.toml", _pyproject_lines),
        ("setup.py", _setup_lines),
    ):
        try:
            text = read_regular(repo / filename, _MAX_REQUIREMENTS).decode("utf-8", "replace")
        except OSError:
            continue
        for line in lines(text):
            requirement = parse_requirement(line, filename)
            if requirement and requirement.name not in found:
                found[requirement.name] = requirement
    return tuple(found.values())


def parse_requirement(line: str, source: str = "") -> Optional[Requirement]:
    """One requirement line; None for options, URLs, local paths, lines with environment markers and
    anything pip would not read as `name[extras] specifier`."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Parsed

    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith(("#", "-")):
        return None
    try:
        parsed = Parsed(line)
    except InvalidRequirement:
        return None
    if parsed.url or parsed.marker is not None:
        return None
    return Requirement(normalise(parsed.name), str(parsed.specifier), source)


def _requirement_lines(text: str) -> list[str]:
    return text.splitlines()


def _pyproject_lines(text: str) -> list[str]:
    match = _PYPROJECT_DEPS.search(text)
    return _QUOTED.findall(match.group(1)) if match else []


def _setup_lines(text: str) -> list[str]:
    match = _SETUP_DEPS.search(text)
    return _QUOTED.findall(match.group(1)) if match else []


# ---- what a Hugging Face folder's tokenizer files need ----------------------------------------------------


def hf_tokenizer_files(folder: Path) -> HfTokenizerFiles:
    """tokenizer_config.json's class name and how tokenizer.json writes its merges; never raises."""
    from llamadoctor.probes.files import read_json

    config, _, raw = read_json(folder / "tokenizer_config.json", _MAX_TOKENIZER_CONFIG)
    name = config.get("tokenizer_class") if config else None
    merges = ""
    tokenizer_json = folder / "tokenizer.json"
    with contextlib.suppress(OSError):
        found = _MERGES.search(read_regular(tokenizer_json, MAX_TOKENIZER_JSON))
        if found:
            merges = "pairs" if found.group(1) == b"[" else "strings"
    return HfTokenizerFiles(
        str(folder),
        name if isinstance(name, str) else None,
        raw if config else None,
        merges,
        tokenizer_json.is_file(),
        (folder / "tokenizer.model").is_file(),
    )


def tokenizer_files_of(models: Iterable[ModelDir]) -> tuple[HfTokenizerFiles, ...]:
    return tuple(hf_tokenizer_files(Path(m.path)) for m in models if transformers_loads(m.format, m.params))


def native_libraries(folders: Iterable[str], installed: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """For each installed distribution of READ_NATIVE, the library files in its package folder (the first
    folder holding it wins, as on sys.path)."""
    found: dict[str, tuple[str, ...]] = {}
    wanted = {name: READ_NATIVE[name] for name in installed if name in READ_NATIVE}
    for folder in folders:
        for name, (package, prefix) in wanted.items():
            if name in found:
                continue
            with contextlib.suppress(OSError), os.scandir(Path(folder) / package) as entries:
                found[name] = tuple(
                    sorted(e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(_NATIVE_SUFFIXES))
                )
    return found


def probe_libraries(site_packages: Sequence[str], repo: Optional[Path], models: Iterable[ModelDir]) -> Libraries:
    where = places(site_packages)
    scanned = metadata_folders(where)
    return Libraries(
        installed={name: version for name, (version, _) in scanned.items()},
        places=where,
        requirements=repo_requirements(repo) if repo is not None else (),
        hf_tokenizers=tokenizer_files_of(models),
        requires={
            name: declared_requirements(scanned[name][1], wanted)
            for name, wanted in READ_REQUIRES.items()
            if name in scanned
        },
        native=native_libraries(where, scanned),
    )
