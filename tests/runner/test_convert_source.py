"""`llamadoctor convert` refuses, before writing anything, a checkpoint that contradicts its params.json: a missing
or extra layer, a copied shard, a vocabulary or width that is not the weights', values that are not numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from llamadoctor.runner.conversion import convert
from llamadoctor.runner.errors import RunError

from builders import llamas


def _folder(
    root: Path,
    tokenizer: Path,
    *,
    shards: int = 1,
    n_layers: int = 2,
    params: dict[str, Any] | None = None,
    drop: str = "",
    extra: str = "",
) -> Path:
    """A tiny Llama 2 Meta folder, damaged as asked: params.json edited, tensors dropped or added."""
    args = llamas.tiny_args("llama2", vocab_size=llamas.tokenizer_vocab(tokenizer), n_layers=n_layers)
    state = llamas.random_state(args)
    state = {k: v for k, v in state.items() if not (drop and k.startswith(drop))}
    folder = llamas.write_meta(root / "in" / "llama-2-tiny", args, state, "llama2", shards=shards)
    if extra:
        for path in folder.glob("consolidated.*.pth"):
            shard = torch.load(path, weights_only=True)
            torch.save({**shard, extra: shard["norm.weight"].clone()}, path)
    shutil.copyfile(tokenizer, folder / "tokenizer.model")
    written = json.loads((folder / "params.json").read_text())
    (folder / "params.json").write_text(json.dumps({**written, **(params or {})}))
    return folder


CASES = [
    ({"n_layers": 3, "drop": "layers.1."}, "layer 1 is missing from the checkpoint (params.json says n_layers 3"),
    ({"params": {"n_layers": 0}}, "params.json: n_layers is 0; expected a whole number from 1 to 1024"),
    ({"params": {"n_layers": 1}}, "params.json says n_layers 1 but the checkpoint has layers 0-1"),
    ({"params": {"n_layers": 6}}, "layer 2 is missing from the checkpoint (params.json says n_layers 6"),
    ({"params": {"n_layers": 10**9}}, "params.json: n_layers is 1000000000; expected a whole number from 1 to 1024"),
    ({"params": {"vocab_size": 1e12}}, "params.json: vocab_size is 1000000000000; expected a whole number"),
    ({"params": {"vocab_size": 10**12}}, "params.json: vocab_size is 1000000000000; expected a whole number"),
    ({"params": {"vocab_size": 7}}, "but params.json (vocab_size 7, dim 64) means [7, 64]"),
    ({"params": {"dim": True}}, "params.json: dim is true; expected a whole number"),
    ({"params": {"dim": 10**12}}, "params.json: dim is 1000000000000; expected a whole number"),
    ({"params": {"ffn_dim_multiplier": 1e300}}, "params.json: ffn_dim_multiplier is 1e+300; expected a number"),
    ({"params": {"n_heads": 64}}, "params.json: dim 64 / n_heads 64 gives an odd head size 1"),
    ({"params": {"n_heads": 0}}, "params.json: n_heads is 0"),
    ({"params": {"norm_eps": "1e-5"}}, 'params.json: norm_eps is "1e-5"; expected a number'),
    ({"params": {"multiple_of": 256}}, "feed_forward.w1.weight is [192, 64] but params.json (dim 64, multiple_of 256"),
    ({"params": {"n_kv_heads": 2}}, "wk.weight is [64, 64] but params.json (dim 64, n_heads 4, n_kv_heads 2) means"),
    ({"extra": "layers.0.attention.lora_a.weight"}, "holds 'layers.0.attention.lora_a.weight', which no Llama has"),
]


@pytest.mark.parametrize(("damage", "message"), CASES)
@pytest.mark.parametrize("to", ["hf", "meta"])
def test_a_checkpoint_contradicting_its_params_is_refused_before_writing(
    tmp_path, tokenizer_files, damage, message, to
) -> None:
    src = _folder(tmp_path, tokenizer_files["sentencepiece"], **damage)
    request = convert.Request(src, tmp_path / "out", to=to, shards=2 if to == "meta" else None)
    with pytest.raises(RunError) as err:
        convert.convert(request)
    assert message in err.value.message
    assert not isinstance(err.value, convert.BadInput)  # damaged input: exit 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_a_copied_shard_is_refused(tmp_path, tokenizer_files) -> None:
    src = _folder(tmp_path, tokenizer_files["sentencepiece"], shards=2)
    shutil.copyfile(src / "consolidated.00.pth", src / "consolidated.01.pth")
    with pytest.raises(RunError) as err:
        convert.convert(convert.Request(src, tmp_path / "out"))
    assert "consolidated.01.pth is a copy of consolidated.00.pth" in err.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_on_the_command_line_a_contradiction_is_one_line_and_exit_1(tmp_path, tokenizer_files) -> None:
    src = _folder(tmp_path, tokenizer_files["sentencepiece"], params={"n_layers": 6})
    from llamadoctor.cli import app

    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2 always separates stderr
        runner = CliRunner()
    result = runner.invoke(app, ["convert", "--model-dir", str(src), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "n_layers 6" in result.stderr and "fix:" in result.stderr
    assert not (tmp_path / "out").exists()
