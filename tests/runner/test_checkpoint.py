"""Checkpoint reading: split table, shard merge/split, HF names and rotary permutation, memory-mapping."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner import loader
from llamadoctor.runner.args import from_hf_config, from_meta_params
from llamadoctor.runner.distributed import SINGLE, Parallel
from llamadoctor.runner.errors import RunError

from builders import llamas


def test_ffn_width_rule_gives_the_published_sizes() -> None:
    def width(dim: int, multiple_of: int, mult: float | None = None) -> int:
        return from_meta_params(
            {"dim": dim, "n_layers": 1, "n_heads": 1, "multiple_of": multiple_of, "ffn_dim_multiplier": mult}
        ).hidden_dim

    assert width(4096, 256) == 11008  # Llama 2 7B
    assert width(5120, 256) == 13824  # 13B
    assert width(8192, 4096, 1.3) == 28672  # 70B
    assert width(4096, 1024, 1.3) == 14336  # Llama 3 8B


def test_parameter_count_of_llama2_7b_and_llama3_8b() -> None:
    l2 = from_meta_params(
        {"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-05, "vocab_size": 32000}
    )
    l3 = from_meta_params(
        {
            "dim": 4096,
            "n_layers": 32,
            "n_heads": 32,
            "n_kv_heads": 8,
            "vocab_size": 128256,
            "multiple_of": 1024,
            "ffn_dim_multiplier": 1.3,
            "rope_theta": 500000.0,
        }
    )
    assert l2.n_params() == 6_738_415_616
    assert l3.n_params() == 8_030_261_248


def test_meta_params_ignore_unknown_keys_and_hf_config_maps_fields() -> None:
    args = from_meta_params({"dim": 64, "n_layers": 2, "n_heads": 4, "use_scaled_rope": True, "future": 1})
    assert args.use_scaled_rope and args.rope_interleaved
    hf = from_hf_config(
        {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 300,
            "intermediate_size": 224,
            "rope_scaling": {"rope_type": "llama3", "factor": 32.0},
        }
    )
    assert (hf.kv_heads, hf.hidden_dim, hf.rope_scale_factor, hf.rope_interleaved) == (2, 224, 32.0, False)


@pytest.mark.parametrize("embedding_dim", [0, 1])
def test_split_then_merge_gives_back_every_tensor(embedding_dim: int) -> None:
    state = llamas.random_state(llamas.tiny_args("llama3", vocab_size=256))
    for key, t in state.items():
        parts = [ckpt.split_tensor(key, t, r, 4, embedding_dim) for r in range(4)]
        assert torch.equal(ckpt.merge_tensor(key, parts, embedding_dim), t), key
        if ckpt.split_dim(key, embedding_dim) is not None:
            assert parts[0].numel() * 4 == t.numel(), key


def test_split_dims_follow_fairscale() -> None:
    assert ckpt.split_dim("layers.0.attention.wo.weight", 1) == 1
    assert ckpt.split_dim("layers.5.feed_forward.w2.weight", 1) == 1
    assert ckpt.split_dim("layers.5.feed_forward.w3.weight", 1) == 0
    assert ckpt.split_dim("output.weight", 1) == 0
    assert ckpt.split_dim("tok_embeddings.weight", ckpt.EMBEDDING_SPLIT_DIM["llama1/2"]) == 1
    assert ckpt.split_dim("tok_embeddings.weight", ckpt.EMBEDDING_SPLIT_DIM["llama3"]) == 0
    assert ckpt.split_dim("layers.1.ffn_norm.weight", 0) is None


def test_hf_permutation_round_trips_and_names_map_both_ways() -> None:
    w = torch.randn(8 * 16, 64)
    p = ckpt.permute_to_hf(w, 8)
    assert not torch.equal(p, w)
    assert torch.equal(ckpt.permute_from_hf(p, 8), w)
    for key in llamas.random_state(llamas.tiny_args("llama2", vocab_size=64)):
        assert ckpt.meta_key_from_hf(ckpt.hf_key_from_meta(key)) == key
    assert ckpt.meta_key_from_hf("model.layers.0.self_attn.rotary_emb.inv_freq") is None


@pytest.mark.parametrize("family", ["llama2", "llama3"])
def test_two_shards_merge_to_the_single_shard_weights(model_dir, family) -> None:
    one = loader.read_rank_state(model_dir(family, "meta", 1), SINGLE)
    two = loader.read_rank_state(model_dir(family, "meta", 2), SINGLE)
    assert one.tensors.keys() == two.tensors.keys()
    for key in one.tensors:
        assert torch.equal(one.tensors[key], two.tensors[key]), key


def test_rank_state_of_two_ranks_over_one_shard_splits_it(model_dir) -> None:
    full = loader.read_rank_state(model_dir("llama2", "meta", 1), SINGLE).tensors
    halves = [loader.read_rank_state(model_dir("llama2", "meta", 1), Parallel(r, 2, r)).tensors for r in (0, 1)]
    wo = torch.cat([h["layers.0.attention.wo.weight"] for h in halves], dim=1)
    assert torch.equal(wo, full["layers.0.attention.wo.weight"])
    emb = torch.cat([h["tok_embeddings.weight"] for h in halves], dim=1)  # Llama 2: split on width
    assert torch.equal(emb, full["tok_embeddings.weight"])


def _mapped_from(path: Path) -> list[tuple[int, int]]:
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(str(path)):
            lo, hi = line.split()[0].split("-")
            ranges.append((int(lo, 16), int(hi, 16)))
    return ranges


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("fmt", ["meta", "hf"])
def test_loaded_weights_are_memory_mapped_not_copied(model_dir, fmt) -> None:
    folder = model_dir("llama2", fmt)
    model = loader.load(folder, SINGLE, torch.device("cpu"), torch.float32)
    weights = next(p for p in folder.iterdir() if p.suffix in (".pth", ".safetensors"))
    ranges = _mapped_from(weights.resolve())
    ptr = model.layers[1].feed_forward.w2.weight.data_ptr()
    assert any(lo <= ptr < hi for lo, hi in ranges), "weights were copied instead of memory-mapped"


def test_hf_index_with_a_missing_file_is_named(model_dir, tmp_path) -> None:
    src = model_dir("llama3", "hf", 1, 3)
    for f in src.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    missing = sorted(set(index["weight_map"].values()))[1]
    (tmp_path / missing).unlink()
    with pytest.raises(RunError, match=missing):
        ckpt.hf_weight_files(tmp_path)


# ---- files a user or an attacker can put in the model folder ----------------------------------------------


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _fifo(path: Path) -> Path:
    """A FIFO at `path`; a writer opens and closes it after a while, so a reader that blocks on it gets 0
    bytes instead of hanging the test run."""
    import contextlib
    import os
    import threading
    import time

    path.unlink(missing_ok=True)
    os.mkfifo(path)

    def release() -> None:
        time.sleep(5)
        with contextlib.suppress(OSError):  # nobody is blocked on it
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    threading.Thread(target=release, daemon=True).start()
    return path


def test_an_index_entry_outside_the_folder_is_refused_naming_it(model_dir, tmp_path) -> None:
    folder = _copy(model_dir("llama3", "hf", 1, 3), tmp_path / "hf")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    key = next(iter(index["weight_map"]))
    index["weight_map"][key] = "../../../../etc/passwd"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(RunError, match=r"outside the model folder: '../../../../etc/passwd'"):
        ckpt.hf_weight_files(folder)


def test_a_pickle_with_code_is_refused_as_unsafe_and_never_advises_weights_only_false(tmp_path) -> None:
    import os

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    shard = tmp_path / "consolidated.00.pth"
    torch.save({"tok_embeddings.weight": Evil()}, shard)
    with pytest.raises(RunError) as caught:
        ckpt.load_file(shard)
    text = caught.value.one_line()
    assert "contains code or objects that are not tensors; refusing to load it (it may be unsafe)" in text
    assert "download the checkpoint again from Meta" in text
    assert "weights_only" not in text and "damaged" not in text
    assert not (tmp_path / "pwned").exists()


def test_torch_errors_are_quoted_without_the_weights_only_advice() -> None:
    message = (
        "Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` argument "
        "in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set to `False` will "
        "likely succeed, but it can result in arbitrary code execution. Do it only if you got the file from a "
        "trusted source.\nPlease file an issue"
    )
    assert ckpt.torch_error_text(RuntimeError(message)) == "Weights only load failed."


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
@pytest.mark.parametrize("name", ["consolidated.00.pth", "params.json"])
def test_a_fifo_in_the_model_folder_is_refused_not_waited_on(model_dir, tmp_path, name) -> None:
    folder = _copy(model_dir("llama2", "meta"), tmp_path / "m")
    _fifo(folder / name)
    with pytest.raises(RunError, match="FIFO"):
        loader.read_rank_state(folder, SINGLE)


@pytest.mark.skipif(sys.platform == "win32", reason="byte paths are POSIX")
@pytest.mark.parametrize("fmt", ["meta", "hf"])
def test_a_model_under_a_non_utf8_folder_name_loads(model_dir, tmp_path, fmt) -> None:
    import os

    folder = _copy(model_dir("llama2", fmt), Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")))
    state = loader.read_rank_state(folder, SINGLE)
    expected = loader.read_rank_state(model_dir("llama2", fmt), SINGLE)
    key = "layers.1.feed_forward.w2.weight"
    assert torch.equal(state.tensors[key], expected.tensors[key])
