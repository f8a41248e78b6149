"""`llamadoctor report`: what a maintainer asks for in a bug report, in one document, private by default.

The document is `check --json`'s (so `diff` reads either) plus `kind: "report"`, an `environment` section (the
machine, the target Python's libraries, the model folders, each stated once and in words a maintainer reads)
and `masked` (what privacy hid). Markdown is rendered from that same document, after masking, so the two
formats can never disagree and neither can leak what the other hides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from llamadoctor import __version__
from llamadoctor.engine import Report
from llamadoctor.errors import UsageError
from llamadoctor.facts import Facts, Libraries
from llamadoctor.files import ModelDir
from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.model_info import arch_of, label, model_version
from llamadoctor.privacy import Identity, Masker, masked_sentence
from llamadoctor.redact import safe_text
from llamadoctor.report import fenced, gib, how_found, to_data

KIND = "report"
# The libraries of this field, by the name pip compares: a maintainer asks for each one that is installed.
FIELD_LIBRARIES = (
    "transformers",
    "tokenizers",
    "accelerate",
    "sentencepiece",
    "tiktoken",
    "protobuf",
    "safetensors",
    "bitsandbytes",
    "vllm",
    "llama-cpp-python",
    "huggingface-hub",
    "llama-models",
    "fairscale",
    "xformers",
    "flash-attn",
    "triton",
    "peft",
)
_FORMATS = {
    "meta": N_("Meta format"),
    "hf": N_("Hugging Face format"),
    "meta-in-hf": N_("Hugging Face with Meta's files"),
}


def this_machine(facts: Facts) -> Identity:
    """Who runs llamadoctor here and the machine's names and addresses, as the report must not show them."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment nor in the password database (a bare container)
        user = ""
    net = facts.network
    addresses = (*net.local_addresses, *net.hostname_resolves_to, *(net.master_addr_resolves_to or ()))
    return Identity(str(Path.home()), user, facts.platform.hostname, tuple(addresses))


def build(report: Report, identity: Identity, *, strict: bool = False) -> dict[str, Any]:
    """The report document, masked: check's JSON, the environment, and what was masked."""
    data = to_data(report, strict=strict)
    data = {**data, "kind": KIND, "environment": environment(report.facts)}
    masker = Masker(identity)
    masked = masker.data(data)
    masked["masked"] = masker.masked()
    return masked  # type: ignore[no-any-return]


# ---- the environment, as data --------------------------------------------------------------------------------


def environment(facts: Facts) -> dict[str, Any]:
    p, torch, gpu = facts.platform, facts.torch, facts.gpu
    return {
        "os": {"name": p.os, "release": p.release, "machine": p.machine, "wsl": p.wsl},
        "cpu": {"model": facts.cpu.model, "cores": p.cpu_count, "extensions": list(facts.cpu.extensions)},
        "ram": {"total": facts.memory.ram_total, "available": facts.memory.ram_available},
        "gpus": [
            {"name": g.name, "memory": g.memory_total, "compute_capability": _capability(g.compute_capability)}
            for g in gpu.gpus
        ],
        "apple_silicon": gpu.apple_silicon,
        "driver": gpu.driver_version,
        "driver_cuda": gpu.driver_cuda,
        "cuda": {"torch_build": torch.cuda, "rocm": torch.hip, "toolkit": _toolkit(facts)},
        "cudnn": _cudnn(facts),
        "python": {
            "version": facts.python.version,
            "machine": facts.python.machine,
            "kind": facts.python.kind,
            "executable": facts.python.executable,
        },
        "torch": {"installed": torch.installed, "version": torch.version, "broken": torch.broken},
        "libraries": _libraries(facts.libraries),
        "ollama": _ollama(facts),
        "models": [_model(m, facts) for m in facts.models],
    }


def _capability(cc: Optional[tuple[int, int]]) -> Optional[str]:
    return f"{cc[0]}.{cc[1]}" if cc else None


def _toolkit(facts: Facts) -> Optional[str]:
    """Where a CUDA toolkit was pointed to (builds of llama-cpp-python and bitsandbytes compile against it)."""
    return facts.env.get("CUDA_HOME") or facts.stacks.cuda_path


def _cudnn(facts: Facts) -> Optional[str]:
    """cuDNN as pip installed it for torch (nvidia-cudnn-cu12), else the major version inside torch/lib."""
    installed = facts.libraries.installed if facts.libraries else {}
    for name in sorted(installed):
        if name.startswith("nvidia-cudnn"):
            return f"{installed[name]} ({name})"
    return f"{facts.torch.cudnn} (in torch/lib)" if facts.torch.cudnn else None


def _libraries(libraries: Optional[Libraries]) -> Optional[dict[str, Optional[str]]]:
    """name -> version, None for those not installed; None when the installed packages could not be read."""
    if libraries is None:
        return None
    return {name: libraries.version(name) for name in FIELD_LIBRARIES}


def _ollama(facts: Facts) -> dict[str, Any]:
    server = facts.stacks.ollama
    return {
        "cli": facts.stacks.ollama_cli_version,
        "server_running": bool(server and server.running),
        "server": server.version if server and server.running else None,
    }


def _model(model: ModelDir, facts: Facts) -> dict[str, Any]:
    return {"path": model.path, "found": how_found(model, facts.searched), "what": describe_model(model)}


def describe_model(model: ModelDir) -> str:
    """What a model folder holds, in words: generation and size, format, shards and bytes, or what is wrong."""
    if model.error:
        return _("unreadable: {error}").format(error=model.error)
    if model.format == "parent":
        return _("a folder of model folders ({names})").format(names=", ".join(model.subdirs))
    if model.format not in _FORMATS:
        return _("not a model folder llamadoctor recognises")
    params = arch_of(model)
    what = f"{label(model_version(model))} {params.n_params() / 1e9:.1f}B" if params else _("parameters unreadable")
    shards = len(model.shards)
    weights = ngettext("{count} weights file, {size}", "{count} weights files, {size}", shards)
    # TRANSLATORS: {what} is the model (Llama 2 6.7B), {format} its format, {weights} its files and their size.
    return _("{what}, {format}, {weights}").format(
        what=what, format=_(_FORMATS[model.format]), weights=weights.format(count=shards, size=gib(model.weights_bytes))
    )


# ---- Markdown ------------------------------------------------------------------------------------------------


def render_markdown(data: Mapping[str, Any]) -> str:
    """The report to paste into an issue, from the (masked) document."""
    env, summary = data["environment"], data["summary"]
    title = _("llamadoctor {version} report: {verdict}")
    lines = [f"### {title.format(version=data.get('llamadoctor', __version__), verdict=summary['verdict'])}", ""]
    lines += _table(("", ""), machine_rows(env))
    lines += ["", "#### " + _("Libraries in the target Python"), ""]
    libraries = env["libraries"]
    if libraries is None:
        lines.append(_("The installed packages could not be read."))
    else:
        shown = [(name, version) for name, version in libraries.items() if version]
        absent = [name for name, version in libraries.items() if not version]
        lines += _table((_("library"), _("version")), shown) if shown else [_("None of them is installed.")]
        if absent:
            lines += ["", _("Not installed: {names}.").format(names=", ".join(absent))]
    lines += ["", "#### " + _("Model folders"), ""]
    lines += [f"- `{m['path']}`: {m['what']} ({m['found']})" for m in env["models"]] or [_("None found.")]
    lines += ["", "#### " + _("Findings"), ""]
    lines += _findings(data["findings"]) or [_("No problems found.")]
    lines += ["", f"<details><summary>{_tally(summary)}</summary>", ""]
    lines += [f"- `{c['check']}` {c['status']}" + (f": {c['detail']}" if c["detail"] else "") for c in data["checks"]]
    lines += ["", "</details>", "", "_" + masked_sentence(data["masked"], data["facts"]["secrets_set"]) + "_"]
    return safe_text("\n".join(lines) + "\n")


def machine_rows(env: Mapping[str, Any]) -> list[tuple[str, str]]:
    os_, cpu, python, torch = env["os"], env["cpu"], env["python"], env["torch"]
    system = f"{os_['name']} {os_['release']} ({os_['machine']}{', WSL' if os_['wsl'] else ''})"
    extensions = ", ".join(cpu["extensions"]) or _("none found")
    cpu_line = _("{model}, {cores} logical cores; vector extensions: {extensions}").format(
        model=cpu["model"] or _("unknown model"), cores=cpu["cores"], extensions=extensions
    )
    ram = _("{total} ({available} available)").format(
        total=gib(env["ram"]["total"]), available=gib(env["ram"]["available"])
    )
    if torch["installed"]:
        torch_line = torch["version"] or _("installed, version unknown")
        if torch["broken"]:
            torch_line = _("{version} (broken: {reason})").format(version=torch_line, reason=torch["broken"])
    else:
        torch_line = _("not installed")
    driver = _("{driver} (CUDA ≤ {cuda})").format(driver=env["driver"], cuda=env["driver_cuda"])
    return [
        (_("OS"), system),
        ("CPU", cpu_line),
        (_("RAM"), ram),
        ("GPU", _gpu_line(env)),
        (_("Driver"), driver if env["driver"] else _("none")),
        ("CUDA", _cuda_line(env["cuda"])),
        ("cuDNN", env["cudnn"] or _("none found")),
        ("Python", f"{python['version']} ({python['machine']}, {python['kind']}) {python['executable']}"),
        ("PyTorch", torch_line),
        ("Ollama", _ollama_line(env["ollama"])),
    ]


def _gpu_line(env: Mapping[str, Any]) -> str:
    gpus = env["gpus"]
    if gpus:
        return _("; ").join(
            _("{name} {memory} (compute {capability})").format(
                name=g["name"], memory=gib(g["memory"]), capability=g["compute_capability"]
            )
            if g["compute_capability"]
            else f"{g['name']} {gib(g['memory'])}"
            for g in gpus
        )
    return "Apple Silicon (MPS)" if env["apple_silicon"] else _("no NVIDIA GPU found")


def _cuda_line(cuda: Mapping[str, Any]) -> str:
    if cuda["torch_build"]:
        line = _("torch built for CUDA {version}").format(version=cuda["torch_build"])
    elif cuda["rocm"]:
        line = _("torch built for ROCm {version}").format(version=cuda["rocm"])
    else:
        line = _("torch has no CUDA build")
    # TRANSLATORS: {build} is what torch was built for; {path} where the CUDA toolkit is.
    return _("{build}; toolkit at {path}").format(build=line, path=cuda["toolkit"]) if cuda["toolkit"] else line


def _ollama_line(ollama: Mapping[str, Any]) -> str:
    if ollama["server_running"]:
        server = ollama["server"] or _("version unknown")
        if ollama["cli"]:
            return _("server {server} running; client {client}").format(server=server, client=ollama["cli"])
        return _("server {server} running").format(server=server)
    if ollama["cli"]:
        return _("client {client}; server not running").format(client=ollama["cli"])
    return _("not installed")


def _table(header: tuple[str, str], rows: Sequence[tuple[str, str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "/").replace("\n", " ")

    return [f"| {header[0]} | {header[1]} |", "|---|---|", *(f"| {cell(a)} | {cell(b)} |" for a, b in rows)]


def _findings(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for f in findings:
        lines.append(f"- **{f['severity']}** `{f['check']}`: {f['message']}")
        if f["remedy"].strip():
            lines += fenced(f["remedy"], indent="  ")
    return lines


def _tally(summary: Mapping[str, Any]) -> str:
    errors, warnings = summary["errors"], summary["warnings"]
    outcomes = [_("{count} passed").format(count=summary["passed"])]
    if errors:
        outcomes.append(ngettext("{count} error", "{count} errors", errors).format(count=errors))
    if warnings:
        outcomes.append(ngettext("{count} warning", "{count} warnings", warnings).format(count=warnings))
    # TRANSLATORS: {outcomes} lists how many checks passed and how many errors and warnings they found.
    ran = ngettext(
        "{count} check run: {outcomes}; {not_applicable} not applicable, {skipped} skipped",
        "{count} checks run: {outcomes}; {not_applicable} not applicable, {skipped} skipped",
        summary["checks_run"],
    )
    return ran.format(
        count=summary["checks_run"],
        outcomes=_(", ").join(outcomes),
        not_applicable=summary["not_applicable"],
        skipped=summary["skipped"],
    )


# ---- writing -------------------------------------------------------------------------------------------------


def output_target(path: Path) -> Path:
    """`--output` checked before any probe runs: a file (new or to replace) in a folder that exists."""
    if path.is_dir():
        raise UsageError(
            _("--output {path} is a folder").format(path=path), _("name a file, e.g. llamadoctor-report.md")
        )
    if not path.absolute().parent.is_dir():
        missing = _("--output {path}: the folder {folder} does not exist")
        raise UsageError(missing.format(path=path, folder=path.absolute().parent))
    return path


def write_report(path: Path, text: str) -> None:
    """Written whole or not at all: a temp file beside it, then renamed over it."""
    from llamadoctor.durable import write_new

    try:
        write_new(path, text.encode("utf-8"))
    except OSError as exc:
        unwritable = _("--output {path} cannot be written ({reason})")
        raise UsageError(unwritable.format(path=path, reason=exc.strerror or exc)) from None
