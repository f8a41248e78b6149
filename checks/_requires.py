"""The facts checks need, each with the reason a check does not apply when it is missing."""

from __future__ import annotations

from llamadoctor.facts import Facts
from llamadoctor.files import targets
from llamadoctor.i18n import N_, _
from llamadoctor.model import Requires


def _repo_folder(facts: Facts) -> str:
    return facts.searched.repo or (facts.repo.path if facts.repo else "")


def _no_target(facts: Facts) -> str:
    if not facts.models:
        return _("no model folder found")
    return _(
        "no model folder to run: none given with --model-dir or found in the repo folder (those in "
        "~/.llama or the Hugging Face cache are checked for damage only)"
    )


def _no_script(facts: Facts) -> str:
    folder = _repo_folder(facts)
    return _("no download.sh found in {folder}").format(folder=folder) if folder else _("no download.sh found")


def _no_meta_code(facts: Facts) -> str:
    folder = _repo_folder(facts)
    if folder:
        return _("no Meta reference code found in {folder}").format(folder=folder)
    return _("no Meta reference code found")


def _always(facts: Facts) -> bool:
    return True


DOWNLOAD_SCRIPT = Requires(lambda f: f.repo and f.repo.download_script, _no_script, probe="files")
URL = Requires(lambda f: f.options.url, N_("no --url given"))
MODEL = Requires(lambda f: f.models, N_("no model folder found"), probe="files")
TARGET_MODEL = Requires(lambda f: targets(f.models), _no_target, probe="files")
META_MODEL = Requires(
    lambda f: any(m.format == "meta" for m in f.models),
    lambda f: _("no Meta-format model folder") if f.models else _("no model folder found"),
    probe="files",
)
META_TARGET = Requires(
    lambda f: any(m.format == "meta" and m.shards for m in targets(f.models)),
    lambda f: _("no Meta-format model folder to run") if targets(f.models) else _no_target(f),
    probe="files",
)
META_CODE = Requires(lambda f: f.repo and f.repo.sources, _no_meta_code, probe="files")
TORCH = Requires(lambda f: f.torch.installed, N_("torch is not installed"))
CUDA_TORCH = Requires(lambda f: f.torch.installed and f.torch.cuda, N_("torch is not a CUDA build"))
NVIDIA_GPU = Requires(lambda f: f.gpu.gpus, N_("no NVIDIA GPU found"), probe="gpu")
# Facts every machine has, known unless their probe failed.
MEMORY, DISK, TOOLS, NETWORK, PLATFORM = (
    Requires(_always, probe=name) for name in ("memory", "disk", "tools", "network", "platform")
)


def count(n: int, noun: str) -> str:
    """ "1 model folder", "3 model folders"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
