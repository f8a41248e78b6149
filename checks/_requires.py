"""The facts checks need, each with the reason a check does not apply when it is missing."""

from __future__ import annotations

from llamadoctor.facts import Facts
from llamadoctor.files import targets
from llamadoctor.model import Requires


def _repo_folder(facts: Facts) -> str:
    where = facts.searched.repo or (facts.repo.path if facts.repo else "")
    return f" in {where}" if where else ""


def _no_target(facts: Facts) -> str:
    if not facts.models:
        return "no model folder found"
    return (
        "no model folder to run: none given with --model-dir or found in the repo folder (those in "
        "~/.llama or the Hugging Face cache are checked for damage only)"
    )


def _always(facts: Facts) -> bool:
    return True


DOWNLOAD_SCRIPT = Requires(
    lambda f: f.repo and f.repo.download_script, lambda f: f"no download.sh found{_repo_folder(f)}", probe="files"
)
URL = Requires(lambda f: f.options.url, "no --url given")
MODEL = Requires(lambda f: f.models, "no model folder found", probe="files")
TARGET_MODEL = Requires(lambda f: targets(f.models), _no_target, probe="files")
META_MODEL = Requires(
    lambda f: any(m.format == "meta" for m in f.models),
    lambda f: "no Meta-format model folder" if f.models else "no model folder found",
    probe="files",
)
META_TARGET = Requires(
    lambda f: any(m.format == "meta" and m.shards for m in targets(f.models)),
    lambda f: "no Meta-format model folder to run" if targets(f.models) else _no_target(f),
    probe="files",
)
META_CODE = Requires(
    lambda f: f.repo and f.repo.sources, lambda f: f"no Meta reference code found{_repo_folder(f)}", probe="files"
)
TORCH = Requires(lambda f: f.torch.installed, "torch is not installed")
CUDA_TORCH = Requires(lambda f: f.torch.installed and f.torch.cuda, "torch is not a CUDA build")
NVIDIA_GPU = Requires(lambda f: f.gpu.gpus, "no NVIDIA GPU found", probe="gpu")
# Facts every machine has, known unless their probe failed.
MEMORY, DISK, TOOLS, NETWORK, PLATFORM = (
    Requires(_always, probe=name) for name in ("memory", "disk", "tools", "network", "platform")
)


def count(n: int, noun: str) -> str:
    """ "1 model folder", "3 model folders"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
