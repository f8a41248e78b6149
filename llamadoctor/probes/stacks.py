"""The serving stacks and the Hugging Face hub around the target Python: installed packages read from their
metadata (never imported), the hub settings and token (presence only), and the Ollama server on loopback."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from llamadoctor.facts import HubAccess, ModelFile, OllamaServer, Stacks
from llamadoctor.probes.hub import ENDPOINT, HubGet, ask_hub, token_value
from llamadoctor.probes.hub import TIMEOUT as HUB_TIMEOUT
from llamadoctor.probes.hub import hub_get as default_hub_get
from llamadoctor.probes.msbuild import build_customizations
from llamadoctor.probes.packages import metadata_folders, places
from llamadoctor.probes.packages import normalise as pip_name
from llamadoctor.probes.proc import Run, output, run

# Distributions read here, keyed in Stacks by `normalise`d name.
PACKAGES = ("vllm", "llama_cpp_python", "llama_models")
HUB_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT")
OLLAMA = "127.0.0.1:11434"
OLLAMA_TIMEOUT = 0.5
HUB_BUDGET = 7.0  # seconds for every hub request together: gather gives each probe 10
_OLLAMA_VERSION = re.compile(r"(?:client version is|ollama version is)\s+v?(\d[\w.+-]*)")

Fetch = Callable[[str, float], bytes]


@dataclass(frozen=True)
class StackRequest:
    """What the user named for these probes."""

    model_files: Sequence[Path] = ()
    hf_repos: Sequence[str] = ()
    online: bool = False
    folders: Sequence[Path] = field(default_factory=tuple)  # where GGUF files are looked for


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def installed_versions(site_packages: Iterable[str], names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """name -> version for those of `names` installed in these folders (the first one wins), keyed as
    `normalise` writes them."""
    found = metadata_folders(site_packages)
    return {normalise(n): found[pip_name(n)][0] for n in names if pip_name(n) in found}


def missing_entry_modules(site_packages: Sequence[str], dist: str) -> tuple[str, ...]:
    """Modules the console scripts of `dist` import that are not installed (a packaging mistake)."""
    found = metadata_folders(site_packages).get(pip_name(dist))
    if found is None:
        return ()
    try:
        text = (found[1] / "entry_points.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    modules = sorted(set(_console_modules(text)))
    return tuple(m for m in modules if not _module_exists(site_packages, m))


def _console_modules(text: str) -> Iterable[str]:
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "console_scripts" and "=" in line:
            yield line.split("=", 1)[1].split(":", 1)[0].strip()


def _module_exists(site_packages: Sequence[str], module: str) -> bool:
    relative = Path(*module.split("."))
    for site in site_packages:
        base = Path(site) / relative
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() or base.is_dir():
            return True
    return False


def token_source(environ: Mapping[str, str], home: Path) -> Optional[str]:
    """Where the hub library would find a token: a variable's name or the token file's path. Never the value."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if environ.get(name, "").strip():
            return name
    if environ.get("HF_TOKEN_PATH"):
        path = Path(environ["HF_TOKEN_PATH"])
    elif environ.get("HF_HOME"):
        path = Path(environ["HF_HOME"]) / "token"
    else:
        path = home / ".cache" / "huggingface" / "token"
    try:
        return str(path) if path.stat().st_size > 0 else None
    except OSError:
        return None


def cached_repos(repos: Iterable[str], hub_cache: Path) -> tuple[str, ...]:
    """Those of `repos` with at least one snapshot in the hub cache."""
    out = []
    for repo in repos:
        snapshots = hub_cache / ("models--" + repo.replace("/", "--")) / "snapshots"
        try:
            if any(p.is_dir() for p in snapshots.iterdir()):
                out.append(repo)
        except OSError:
            continue
    return tuple(out)


def http_get(url: str, timeout: float) -> bytes:
    """GET without any proxy: only loopback addresses are asked here."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        data: bytes = response.read(1_000_000)
        return data


def probe_ollama(fetch: Fetch = http_get, address: str = OLLAMA, timeout: float = OLLAMA_TIMEOUT) -> OllamaServer:
    """The server's version and model sizes from its HTTP API; `running` False when nothing answers."""
    try:
        version = json.loads(fetch(f"http://{address}/api/version", timeout)).get("version")
    except (OSError, ValueError, AttributeError) as exc:
        return OllamaServer(address, running=False, error=_reason(exc))
    models: dict[str, int] = {}
    try:
        for item in json.loads(fetch(f"http://{address}/api/tags", timeout)).get("models", []):
            if isinstance(item.get("size"), int):
                models[str(item.get("name"))] = item["size"]
    except (OSError, ValueError, AttributeError):
        pass  # the version alone is still worth judging
    return OllamaServer(address, running=True, version=str(version) if version else None, models=models)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__


def ollama_client_version(program: str, runner: Run = run) -> Optional[str]:
    """The version of the `ollama` command itself (it names the server's first when they differ)."""
    text = output([program, "--version"], 3.0, runner)
    if not text:
        return None
    found = _OLLAMA_VERSION.findall(text)
    return found[-1] if found else None


def probe_stacks(
    request: StackRequest,
    site_packages: Sequence[str],
    environ: Mapping[str, str],
    *,
    home: Path,
    hub_cache: Path,
    which: Callable[[str], Optional[str]],
    model_files: Callable[[], tuple[ModelFile, ...]] = tuple,
    runner: Run = run,
    fetch: Fetch = http_get,
    hub_get: Optional[HubGet] = None,
    windows: bool = False,
) -> Stacks:
    # Folders that .pth files add hold editable installs: their metadata and, for missing_entry_modules, modules.
    site_packages = places(site_packages)
    packages = installed_versions(site_packages)
    ollama_cli = which("ollama")
    token_at = token_source(environ, home)
    hub: tuple[HubAccess, ...] = ()
    if request.online and request.hf_repos:
        token = token_value(environ, token_at if token_at and token_at not in environ else None)
        endpoint = environ.get("HF_ENDPOINT") or ENDPOINT
        # Two requests per repository, all inside the probe's own deadline.
        timeout = min(HUB_TIMEOUT, HUB_BUDGET / (2 * len(request.hf_repos)))
        hub = ask_hub(request.hf_repos, token, endpoint, hub_get or default_hub_get, timeout)
    return Stacks(
        model_files=model_files(),
        packages=packages,
        llama_cli_missing=missing_entry_modules(site_packages, "llama_models") if "llama_models" in packages else (),
        hub_env={k: environ[k] for k in HUB_ENV if k in environ},
        hf_repos=tuple(request.hf_repos),
        hf_cached=cached_repos(request.hf_repos, hub_cache),
        hf_login=token_at,
        hub=hub,
        ollama_cli=ollama_cli,
        ollama_cli_version=ollama_client_version(ollama_cli, runner) if ollama_cli else None,
        ollama=probe_ollama(fetch),
        cuda_path=environ.get("CUDA_PATH") if windows else None,
        vs_cuda_props=build_customizations(environ) if windows else {},
    )
