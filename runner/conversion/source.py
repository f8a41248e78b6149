"""What `llamadoctor convert` checks in its input before writing a byte: params.json's values are numbers of the
right kind, every shard holds the same tensors and no shard is a copy of another, and the checkpoint's shapes
are the ones params.json describes (every layer 0..n_layers-1, no more), so an HF folder never contradicts its
weights. The expected shapes come from the runner's own model, built on the meta device (nothing allocated)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from llamadoctor.i18n import N_, _
from llamadoctor.model import Finding, Severity
from llamadoctor.progress import ProgressFn
from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner.args import ModelArgs
from llamadoctor.runner.errors import RunError

REDOWNLOAD = N_("download the model folder again (params.json and every consolidated.*.pth)")
WHOLE = ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of")
REAL = ("norm_eps", "rope_theta", "ffn_dim_multiplier")
LAYER = re.compile(r"^layers\.(\d+)\.(.+)$")
# The params.json fields each tensor's shape follows from, named when a shape contradicts them.
FIELDS = {
    "tok_embeddings.weight": "vocab_size, dim",
    "output.weight": "vocab_size, dim",
    "attention.wq.weight": "dim, n_heads",
    "attention.wk.weight": "dim, n_heads, n_kv_heads",
    "attention.wv.weight": "dim, n_heads, n_kv_heads",
    "attention.wo.weight": "dim, n_heads",
    "feed_forward.w1.weight": "dim, multiple_of, ffn_dim_multiplier",
    "feed_forward.w2.weight": "dim, multiple_of, ffn_dim_multiplier",
    "feed_forward.w3.weight": "dim, multiple_of, ffn_dim_multiplier",
}


def check_keys(opened: list[dict[str, torch.Tensor]], shards: list[Path]) -> None:
    """Every shard holds the same tensors, all of them ones a Llama has."""
    first = set(opened[0])
    for key in opened[0]:
        try:
            ckpt.split_dim(key, 1)
        except KeyError:
            raise RunError(
                _("{shard} holds {key}, which no Llama has").format(shard=shards[0].name, key=repr(key)), _(REDOWNLOAD)
            ) from None
    for path, shard in zip(shards[1:], opened[1:]):
        diff = sorted(first.symmetric_difference(shard))
        if diff:
            raise RunError(
                _("{shard} and {first} hold different tensors ({key})").format(
                    shard=path.name, first=shards[0].name, key=diff[0]
                ),
                _(REDOWNLOAD),
            )


def check_distinct(opened: list[dict[str, torch.Tensor]], shards: list[Path], embedding_dim: int) -> None:
    """No shard is a copy of another: same size and the same first split tensor (each rank has its own slice)."""
    key = next((k for k in opened[0] if ckpt.split_dim(k, embedding_dim) is not None), None)
    if key is None:
        return
    for j in range(1, len(shards)):
        for i in range(j):
            same_size = shards[i].stat().st_size == shards[j].stat().st_size
            if same_size and torch.equal(opened[i][key], opened[j][key]):
                raise RunError(
                    _("{shard} is a copy of {other} (same size, same {key})").format(
                        shard=shards[j].name, other=shards[i].name, key=key
                    ),
                    _("download {name} again").format(name=shards[j].name),
                )


def expected_shapes(args: ModelArgs) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Full (merged) shapes of the top-level tensors and of one layer's, as the runner's model has them."""
    from llamadoctor.runner.model import Transformer

    with torch.device("meta"):
        model = Transformer(dataclasses.replace(args, n_layers=1))
    top: dict[str, tuple[int, ...]] = {}
    layer: dict[str, tuple[int, ...]] = {}
    for key, tensor in model.state_dict().items():
        m = LAYER.match(key)
        (layer if m else top)[m.group(2) if m else key] = tuple(tensor.shape)
    return top, layer


def _layers_message(n_layers: int, found: set[int]) -> str:
    if not found:
        return _("params.json says n_layers {n_layers} but the checkpoint has no layers").format(n_layers=n_layers)
    extra = [i for i in found if i >= n_layers]
    # Looked for among the first len(found)+1 only: n_layers may be absurd (10**9), the checkpoint's layers are not.
    missing = next((i for i in range(min(n_layers, len(found) + 1)) if i not in found), None)
    if missing is not None and not extra:
        message = _(
            "layer {missing} is missing from the checkpoint (params.json says n_layers {n_layers}, it has layers "
            "{first}-{last})"
        )
    else:
        message = _("params.json says n_layers {n_layers} but the checkpoint has layers {first}-{last}")
    return message.format(missing=missing, n_layers=n_layers, first=min(found), last=max(found))


def check_shapes(shapes: Mapping[str, tuple[int, ...]], args: ModelArgs) -> None:
    """Every tensor params.json implies is there with its shape; nothing more (rope.freqs aside)."""
    found = {int(m.group(1)) for m in map(LAYER.match, shapes) if m}
    if len(found) != args.n_layers or (found and max(found) != args.n_layers - 1):  # i.e. not exactly 0..n-1
        raise RunError(_layers_message(args.n_layers, found), _(REDOWNLOAD))
    for key, width in _widths(args).items():  # first in plain integers: absurd params cannot overflow a tensor
        if key in shapes and tuple(shapes[key]) != width:
            raise _contradiction(key, shapes[key], width, args)
    top, layer = expected_shapes(args)
    want = dict(top)
    for i in range(args.n_layers):
        want.update({f"layers.{i}.{name}": shape for name, shape in layer.items()})
    for key, shape in want.items():
        if key not in shapes:
            raise RunError(_("{key} is missing from the checkpoint").format(key=key), _(REDOWNLOAD))
        if tuple(shapes[key]) != shape:
            raise _contradiction(key, shapes[key], shape, args)


def _widths(args: ModelArgs) -> dict[str, tuple[int, ...]]:
    try:
        hidden = args.hidden_dim
    except OverflowError:  # ffn_dim_multiplier 1e308
        hidden = -1
    return {"tok_embeddings.weight": (args.vocab_size, args.dim), "layers.0.feed_forward.w1.weight": (hidden, args.dim)}


def _contradiction(key: str, got: tuple[int, ...], want: tuple[int, ...], args: ModelArgs) -> RunError:
    fields = FIELDS.get(LAYER.sub(r"\2", key), "dim")
    values = ", ".join(f"{f} {getattr(args, f, None)}" for f in fields.split(", "))
    return RunError(
        _("{key} is {shape} but params.json ({values}) means {wanted}").format(
            key=key, shape=list(got), values=values, wanted=list(want)
        ),
        _(REDOWNLOAD),
    )


# ---- what `llamadoctor check` says about the folder ------------------------------------------------------------

# Missing params.json, shards or tokenizer are convert's own errors (with their own fixes); the folder-level
# check would also object to a Meta folder named for Hugging Face, which is what converting mends.
MODEL_CHECKS = ("shard-corrupt", "checksum-mismatch")


def doctor_errors(model_dir: Path, progress: ProgressFn | None = None) -> list[Finding]:
    """Errors the doctor's model-file checks find in `model_dir` (damaged or missing files, failed md5)."""
    from llamadoctor.engine import run, select
    from llamadoctor.gather import model_folder_facts
    from llamadoctor.registry import all_checks

    report = run(model_folder_facts(model_dir, progress), select(all_checks(), MODEL_CHECKS), partial=True)
    return [f for f in report.findings if f.severity is Severity.ERROR]


def refuse_if_doctor_objects(model_dir: Path, progress: ProgressFn | None = None) -> None:
    found = doctor_errors(model_dir, progress)
    if found:
        raise RunError(
            found[0].message.rstrip("."),
            _(
                "download the named files again (`llamadoctor check --model-dir` lists them), or pass --force to "
                "convert anyway"
            ),
        )
