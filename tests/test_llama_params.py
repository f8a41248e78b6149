"""params.json and config.json are validated in one place: every bad value is one ParamsError that names the
file, the field and the value; every published Llama passes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from llamadoctor.llama import ParamsError, from_hf_config, from_meta_params
from llamadoctor.testing_files import (
    HF_LLAMA2_7B_CONFIG,
    LLAMA1_7B,
    LLAMA2_7B,
    LLAMA2_70B,
    LLAMA3_8B,
    LLAMA31_8B,
    LLAMA32_1B,
)

HF_7B = HF_LLAMA2_7B_CONFIG

BAD_META = [
    pytest.param({"n_layers": 0}, "params.json: n_layers is 0;", id="zero-layers"),
    pytest.param({"n_layers": -3}, "n_layers is -3;", id="negative-layers"),
    pytest.param({"dim": True}, "dim is true; expected a whole number", id="bool-dim"),
    pytest.param({"dim": "4096"}, 'dim is "4096"; expected a whole number', id="string-dim"),
    pytest.param({"dim": 4096.5}, "dim is 4096.5", id="fractional-dim"),
    pytest.param({"dim": None}, "dim is missing", id="null-dim"),
    pytest.param({"vocab_size": 1e12}, "vocab_size is 1000000000000; expected a whole number from 1", id="huge-vocab"),
    pytest.param({"vocab_size": 0}, "vocab_size is 0", id="zero-vocab"),
    pytest.param({"n_heads": 30}, "dim 4096 is not divisible by n_heads 30", id="heads-not-dividing-dim"),
    pytest.param({"n_heads": 0}, "n_heads is 0", id="zero-heads"),
    pytest.param({"n_kv_heads": 5}, "n_kv_heads 5 does not divide n_heads 32", id="kv-not-dividing-heads"),
    pytest.param({"n_kv_heads": 64}, "n_kv_heads is 64", id="more-kv-than-heads"),
    pytest.param({"dim": 4096 * 3, "n_heads": 4096 * 3}, "odd head size", id="odd-head-dim"),
    pytest.param({"norm_eps": math.nan}, "norm_eps is NaN", id="nan-eps"),
    pytest.param({"norm_eps": 0}, "norm_eps is 0", id="zero-eps"),
    pytest.param({"rope_theta": math.inf}, "rope_theta is Infinity", id="inf-theta"),
    pytest.param({"rope_theta": -1.0}, "rope_theta is -1.0", id="negative-theta"),
    pytest.param({"multiple_of": 0}, "multiple_of is 0", id="zero-multiple-of"),
    pytest.param({"ffn_dim_multiplier": [1.3]}, "ffn_dim_multiplier is [1.3]; expected a number", id="list-mult"),
    pytest.param({"use_scaled_rope": "yes"}, 'use_scaled_rope is "yes"; expected true or false', id="string-flag"),
    pytest.param({"dim": 10**400}, "dim is 1000000000000000000000000000000000000...", id="enormous-int"),
]


@pytest.mark.parametrize(("change", "message"), BAD_META)
def test_bad_params_json_values_are_one_error_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamsError) as caught:
        from_meta_params({**LLAMA2_7B, **change})
    assert message in str(caught.value)
    assert str(caught.value).startswith("params.json: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_hidden_layers": 0}, "config.json: num_hidden_layers is 0"),
        ({"hidden_size": False}, "hidden_size is false"),
        ({"vocab_size": -1}, "vocab_size is -1"),
        ({"intermediate_size": "11008"}, 'intermediate_size is "11008"'),
        ({"num_attention_heads": 24, "num_key_value_heads": 8}, "hidden_size 4096 is not divisible by num_attention"),
        ({"rope_scaling": "llama3"}, 'rope_scaling is "llama3"'),
        ({"rope_scaling": {"rope_type": "llama3", "factor": -8}}, "rope_scaling.factor is -8"),
        ({"max_position_embeddings": 0}, "max_position_embeddings is 0"),
        ({"tie_word_embeddings": 1}, "tie_word_embeddings is 1; expected true or false"),
    ],
)
def test_bad_config_json_values_are_one_error_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamsError) as caught:
        from_hf_config({**HF_7B, **change})
    assert message in str(caught.value)


@pytest.mark.parametrize("data", [[1, 2], "dim", 7, None])
def test_a_file_that_is_not_an_object_is_one_error(data: Any) -> None:
    with pytest.raises(ParamsError, match=r"params\.json is not a JSON object"):
        from_meta_params(data)


@pytest.mark.parametrize("params", [LLAMA1_7B, LLAMA2_7B, LLAMA2_70B, LLAMA3_8B, LLAMA31_8B, LLAMA32_1B])
def test_every_published_params_json_is_valid(params: dict[str, Any]) -> None:
    assert from_meta_params({**params, "some_future_key": 1}).n_layers == params["n_layers"]


def test_the_source_named_in_errors_is_the_callers() -> None:
    with pytest.raises(ParamsError, match=r"^/models/x/params.json: n_layers is 0"):
        from_meta_params({**LLAMA2_7B, "n_layers": 0}, "/models/x/params.json")
