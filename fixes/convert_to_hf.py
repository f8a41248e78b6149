"""Convert a Meta-format folder that Hugging Face tools were given into an HF folder beside it."""

from __future__ import annotations

from llamadoctor.facts import Facts
from llamadoctor.files import ModelDir, hf_copy_path
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual, RunCommand
from llamadoctor.registry import fix

# Streaming conversion runs near disk speed; the budget assumes a slow disk (50 MB/s) and never less than 10 min.
SECONDS_PER_BYTE = 1 / 50e6
MIN_TIMEOUT = 600.0


def output_path(model: ModelDir) -> str:
    return hf_copy_path(model.path)


def _convertible(model: ModelDir) -> bool:
    return (
        model.format == "meta"
        and not model.params_error
        and model.params_file == "params.json"
        and bool(model.meta_shards)
        and all(s.ok for s in model.meta_shards)
        and model.tokenizer is not None
        and model.tokenizer.kind in ("sentencepiece", "tiktoken")
    )


@fix(
    id="convert-to-hf",
    summary="convert the Meta checkpoint to Hugging Face format in a folder beside it",
    applicability=Applicability.SAFE,
)
def convert_to_hf(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    path = finding.evidence.get("path")
    model = next((m for m in facts.models if m.path == path), None)
    if model is None or not _convertible(model):
        return ()
    need = sum(s.size for s in model.meta_shards)
    out = output_path(model)
    if model.disk_free is not None and model.disk_free < need:
        return (
            Manual(
                _(
                    "Converting {path} writes about {need} GB to {out}, but only {free} GB is free there: free space "
                    "first, or convert to another disk with `llamadoctor convert --model-dir DIR --to hf --out "
                    "OTHER_DISK/NAME-hf`."
                ).format(path=model.path, need=f"{need / 1e9:.1f}", out=out, free=f"{model.disk_free / 1e9:.1f}")
            ),
        )
    argv = (
        facts.python.executable, "-m", "llamadoctor", "convert",
        "--model-dir", model.path, "--to", "hf", "--out", out,
    )  # fmt: skip
    return (RunCommand(argv, timeout=max(MIN_TIMEOUT, need * SECONDS_PER_BYTE)),)
