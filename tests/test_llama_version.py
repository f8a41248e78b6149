"""Which Llama a folder holds: `check` and `convert` give the same generation and context for every params.json
Meta shipped, including llama-2-7b-chat's first file with Llama 1's norm_eps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.facts import Options
from llamadoctor.llama import Evidence, detect_version, from_meta_params
from llamadoctor.model_info import model_context, model_version
from llamadoctor.probes.files import gather_files
from llamadoctor.runner.conversion import hf as convert_hf
from llamadoctor.testing_files import (
    HF_LLAMA2_7B_CONFIG,
    LLAMA1_7B,
    LLAMA2_7B,
    LLAMA3_8B,
    LLAMA31_8B,
    LLAMA32_1B,
    sentencepiece_bytes,
    tiktoken_bytes,
)

from builders import llamas

LLAMA2_7B_CHAT_FIRST = {**LLAMA2_7B, "norm_eps": 1e-06}
CODE_LLAMA_7B = {
    "dim": 4096,
    "n_layers": 32,
    "n_heads": 32,
    "multiple_of": 256,
    "ffn_dim_multiplier": 1.0,
    "norm_eps": 1e-05,
    "rope_theta": 1000000,
    "vocab_size": 32016,
}
LLAMA32_3B = {**LLAMA32_1B, "dim": 3072, "n_layers": 28, "n_heads": 24, "ffn_dim_multiplier": 1.0}

# (folder as Meta's download names it, params.json, tokenizer beside or inside, expected version, context)
RELEASES = [
    pytest.param("7B", LLAMA1_7B, "parent", "1", 2048, id="llama-1-7b"),
    pytest.param("llama-2-7b", LLAMA2_7B, "parent", "2", 4096, id="llama-2-7b"),
    pytest.param("llama-2-7b-chat", LLAMA2_7B_CHAT_FIRST, "parent", "2", 4096, id="llama-2-7b-chat-1e-06"),
    pytest.param("CodeLlama-7b", CODE_LLAMA_7B, "inside", "code", 16384, id="codellama-7b"),
    pytest.param("Meta-Llama-3-8B", LLAMA3_8B, "inside", "3", 8192, id="llama-3-8b"),
    pytest.param("Llama3.1-8B", LLAMA31_8B, "inside", "3.1", 131072, id="llama-3.1-8b"),
    pytest.param("Llama3.2-1B", LLAMA32_1B, "inside", "3.2", 131072, id="llama-3.2-1b"),
    pytest.param("Llama3.2-3B", LLAMA32_3B, "inside", "3.2", 131072, id="llama-3.2-3b"),
]


def _meta_folder(root: Path, name: str, params: dict[str, Any], tokenizer_at: str) -> Path:
    """params.json, checklist.chk and tokenizer.model where that release's download puts them."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(params))
    llama3 = params.get("vocab_size", -1) > 100_000
    tokenizer = tiktoken_bytes() if llama3 else sentencepiece_bytes()
    (folder.parent if tokenizer_at == "parent" else folder).joinpath("tokenizer.model").write_bytes(tokenizer)
    listed = ["consolidated.00.pth", "params.json"] + (["tokenizer.model"] if llama3 else [])
    (folder / "checklist.chk").write_text("".join(f"{'0' * 32}  {n}\n" for n in listed))
    return folder


def _doctor(folder: Path) -> tuple[str | None, int | None]:
    _, models = gather_files(folder.parent, [folder], Options(no_hash=True))
    [model] = [m for m in models if Path(m.path) == folder]
    return model_version(model), model_context(model)


def _converter(folder: Path, dtype: torch.dtype) -> tuple[str, int]:
    args = from_meta_params(json.loads((folder / "params.json").read_text()))
    if args.vocab_size <= 0:  # the converter reads it from the embedding's rows
        args = args.with_vocab(32000)
    version = convert_hf.llama_version(args, folder, [dtype])
    config = convert_hf.hf_config(args, version, torch.bfloat16, {"bos_token_id": 1, "eos_token_id": 2}, False)
    return version, config["max_position_embeddings"]


@pytest.mark.parametrize(("name", "params", "tokenizer_at", "version", "context"), RELEASES)
def test_doctor_and_converter_agree_on_every_meta_release(
    tmp_path: Path, name: str, params: dict[str, Any], tokenizer_at: str, version: str, context: int
) -> None:
    folder = _meta_folder(tmp_path, name, params, tokenizer_at)
    assert _doctor(folder) == (version, context)
    shards_dtype = torch.float16 if version == "1" else torch.bfloat16  # as Meta ships each generation
    assert _converter(folder, shards_dtype) == (version, context)


@pytest.mark.parametrize(
    ("dtypes", "version"), [(("bfloat16",), "2"), (("float16",), "1")], ids=["bf16-shards", "fp16-shards"]
)
def test_a_renamed_folder_with_norm_eps_1e06_is_told_by_its_shards_dtype(dtypes: tuple[str, ...], version: str) -> None:
    params = from_meta_params(LLAMA2_7B_CHAT_FIRST)
    assert detect_version(params, Evidence(path="/models/my-model", shard_dtypes=dtypes)) == version


def test_convert_writes_llama_2_context_for_the_first_llama_2_7b_chat_params(tmp_path: Path) -> None:
    folder = llamas.make_model_dir(tmp_path / "llama-2-7b-chat", family="llama2", dtype=torch.bfloat16)
    params = json.loads((folder / "params.json").read_text())
    (folder / "params.json").write_text(json.dumps({**params, "norm_eps": 1e-06}))
    out = tmp_path / "llama-2-7b-chat-hf"
    result = CliRunner().invoke(app, ["convert", "--model-dir", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["max_position_embeddings"] == 4096
    assert json.loads((out / "generation_config.json").read_text())["max_length"] == 4096


HF_LLAMA2 = HF_LLAMA2_7B_CONFIG
HF_LLAMA31 = {
    **HF_LLAMA2,
    "intermediate_size": 14336,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "rope_theta": 500000.0,
    "max_position_embeddings": 131072,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
}


@pytest.mark.parametrize(
    ("config", "path", "version", "context"),
    [
        pytest.param(HF_LLAMA2, "/hub/Llama-2-7b-hf", "2", 4096, id="llama-2-hf"),
        pytest.param(HF_LLAMA2, "/models/x", "2", 4096, id="llama-2-hf-renamed"),
        pytest.param(
            {**HF_LLAMA2, "rms_norm_eps": 1e-06, "max_position_embeddings": 2048},
            "/m/llama-7b",
            "1",
            2048,
            id="llama-1-hf",
        ),
        pytest.param(
            {**HF_LLAMA2, "rope_theta": 1e6, "vocab_size": 32016, "max_position_embeddings": 16384},
            "/m/x",
            "code",
            16384,
            id="codellama-hf",
        ),
        pytest.param(HF_LLAMA31, "/hub/Meta-Llama-3.1-8B-Instruct", "3.1", 131072, id="llama-3.1-hf"),
        pytest.param(
            {**HF_LLAMA31, "rope_scaling": {**HF_LLAMA31["rope_scaling"], "factor": 32.0}},
            "/m/x",
            "3.2",
            131072,
            id="llama-3.2-hf-by-factor",
        ),
        pytest.param(
            {**HF_LLAMA31, "rope_scaling": None, "max_position_embeddings": 8192}, "/m/x", "3", 8192, id="llama-3-hf"
        ),
    ],
)
def test_hf_configs_give_their_generation_and_own_context(
    config: dict[str, Any], path: str, version: str, context: int
) -> None:
    from llamadoctor.llama import context_length, from_hf_config

    params = from_hf_config(config)
    assert detect_version(params, Evidence(path=path)) == version
    assert context_length(version, params) == context


def test_scaled_rope_outweighs_a_llama_3_folder_name() -> None:
    params = from_meta_params(LLAMA31_8B)
    assert detect_version(params, Evidence(path="/home/ada/Meta-Llama-3-8B-Instruct")) == "3.1"
    assert detect_version(params, Evidence(path="/home/ada/Llama3.2-8B/original")) == "3.2"
