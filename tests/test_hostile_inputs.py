"""Every command on a valid tiny model with one of its files made hostile: params.json, a safetensors header,
checklist.chk, tokenizer.model (SentencePiece or tiktoken) or tokenizer.json. Each run exits 0, 1 or 2 with one
error line, never a traceback, never hangs (see tests/hostile.py)."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .hostile import (
    EXAMPLES,
    copy_of,
    every_command,
    hostile_settings,
    invoke,
    keeps_promises,
    run_process,
    summary,
)
from builders.llamas import make_model_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("valid")
    meta = _with_checklist(make_model_dir(root / "meta" / "llama-2-7b"))
    tiktoken = _with_checklist(make_model_dir(root / "tiktoken" / "llama-3-8b", family="llama3"))
    hf = make_model_dir(root / "hf" / "llama-2-7b-hf", fmt="hf", tokenizer=meta / "tokenizer.model")
    (hf / "tokenizer.model").write_bytes((meta / "tokenizer.model").read_bytes())
    yield {"meta": meta, "tiktoken": tiktoken, "hf": hf}
    print(f"\nhostile inputs so far: {summary()}")


def _with_checklist(folder: Path) -> Path:
    names = sorted(p.name for p in folder.iterdir())
    lines = [f"{hashlib.md5((folder / n).read_bytes(), usedforsecurity=False).hexdigest()}  {n}\n" for n in names]
    (folder / "checklist.chk").write_text("".join(lines))
    return folder


def _every_command_on(model: Path) -> None:
    keeps_promises(invoke(args) for args in every_command(model, model.parent / "converted"))


# --- params.json -------------------------------------------------------------------------------------------

EXTREME_NUMBERS = st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64 + 1, 10**12, 10**400, 1e300, 1e-300, -0.0, 0.5])
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    EXTREME_NUMBERS,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PARAM_KEYS = st.sampled_from(
    [
        "dim",
        "n_layers",
        "n_heads",
        "n_kv_heads",
        "vocab_size",
        "multiple_of",
        "ffn_dim_multiplier",
        "norm_eps",
        "rope_theta",
        "use_scaled_rope",
        "max_seq_len",
    ]
)


@st.composite
def hostile_params(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["value", "missing", "unicode-key", "not-an-object", "deep", "bytes"]))
    params = dict(valid)
    if kind == "value":
        for key in draw(st.lists(PARAM_KEYS, min_size=1, max_size=3, unique=True)):
            params[key] = draw(JSON_VALUES)
    elif kind == "missing":
        for key in draw(st.lists(st.sampled_from(sorted(valid)), min_size=1, unique=True)):
            del params[key]
    elif kind == "unicode-key":
        params[draw(st.text(min_size=1, max_size=10))] = draw(JSON_VALUES)
    elif kind == "not-an-object":
        return json.dumps(draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))).encode()
    elif kind == "deep":
        depth = draw(st.sampled_from([100, 1000, 10**5]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + "1" + closer * depth).encode()
    else:
        return draw(st.binary(max_size=64))
    return json.dumps(params).encode()


@given(data=st.data())
@hostile_settings()
def test_every_command_survives_a_hostile_params_json(models: dict[str, Path], data: st.DataObject) -> None:
    valid = json.loads((models["meta"] / "params.json").read_text())
    content = data.draw(hostile_params(valid), label="params.json")
    with copy_of(models["meta"]) as model:
        (model / "params.json").write_bytes(content)
        _every_command_on(model)


# --- safetensors header ------------------------------------------------------------------------------------


def _read_safetensors(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


@st.composite
def hostile_safetensors(draw: st.DrawFn, header: dict[str, Any], data: bytes) -> bytes:
    kind = draw(st.sampled_from(["entry", "not-an-object", "length", "not-utf8", "truncated"]))
    header = json.loads(json.dumps(header))
    tensors = sorted(k for k in header if k != "__metadata__")
    if kind == "entry":
        name = draw(st.sampled_from(tensors))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "whole"]))
        hostile = {
            "dtype": st.sampled_from(["F8", "Q4", "", "F64", "BOOL", "I8", "U64"]) | JSON_VALUES,
            "shape": st.lists(EXTREME_NUMBERS | st.integers(-3, 10**6), max_size=4) | JSON_VALUES,
            "data_offsets": st.tuples(st.integers(-10, len(data) * 2), st.integers(-10, len(data) * 2)).map(list)
            | JSON_VALUES,
            "whole": JSON_VALUES,
        }[field]
        if field == "whole":
            header[name] = draw(hostile)
        else:
            header[name][field] = draw(hostile)
    elif kind == "not-an-object":
        header = draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
    body = json.dumps(header).encode()
    if kind == "not-utf8":
        body = body[:10] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80\x80", b"\xed\xa0\x80"])) + body[10:]
    length = len(body)
    if kind == "length":
        length = draw(st.sampled_from([0, 1, 2**64 - 1, 2**63, 2**40, len(body) + len(data) + 1, len(body) - 1]))
    blob = struct.pack("<Q", length) + body + data
    if kind == "truncated":
        blob = blob[: draw(st.integers(0, len(blob) - 1))]
    return blob


@given(data=st.data())
@hostile_settings()
def test_every_command_survives_a_hostile_safetensors_header(models: dict[str, Path], data: st.DataObject) -> None:
    header, weights = _read_safetensors(models["hf"] / "model.safetensors")
    content = data.draw(hostile_safetensors(header, weights), label="model.safetensors")
    with copy_of(models["hf"]) as model:
        (model / "model.safetensors").write_bytes(content)
        _every_command_on(model)


# --- checklist.chk -----------------------------------------------------------------------------------------

NAMES = st.sampled_from(["consolidated.00.pth", "params.json", "tokenizer.model", "missing.pth"])
HOSTILE_NAMES = st.one_of(
    NAMES,
    NAMES.map(lambda n: "../" + n),
    NAMES.map(lambda n: "../../../../etc/" + n),
    st.just("/etc/passwd"),
    st.just("/dev/zero"),
    st.just("."),
    st.just(""),
    NAMES.map(lambda n: n + "\x00.txt"),
    st.text(st.characters(max_codepoint=0x9F), min_size=1, max_size=20).map(lambda s: s.replace("\n", "")),
    st.text(min_size=1, max_size=20),
)
HASHES = st.one_of(
    st.just("d41d8cd98f00b204e9800998ecf8427e"),
    st.text("0123456789abcdef", min_size=32, max_size=32),
    st.text("0123456789abcdefABCDEFxyz", max_size=40),
    st.just("x" * 100_000),
)


@st.composite
def hostile_checklist(draw: st.DrawFn, valid: str) -> bytes:
    lines = valid.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        sep = draw(st.sampled_from(["  ", " ", " *", "\t", ""]))
        lines.insert(draw(st.integers(0, len(lines))), draw(HASHES) + sep + draw(HOSTILE_NAMES))
    if draw(st.booleans()):
        lines.append("a" * draw(st.sampled_from([10_000, 2_000_000])))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r", "\x00"]))
    text = ending.join(lines)
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        raw += draw(st.binary(max_size=32))
    return raw


@given(data=st.data())
@hostile_settings()
def test_every_command_survives_a_hostile_checklist(models: dict[str, Path], data: st.DataObject) -> None:
    content = data.draw(hostile_checklist((models["meta"] / "checklist.chk").read_text()), label="checklist.chk")
    with copy_of(models["meta"]) as model:
        (model / "checklist.chk").write_bytes(content)
        _every_command_on(model)


# --- tokenizers --------------------------------------------------------------------------------------------


@st.composite
def damaged(draw: st.DrawFn, valid: bytes) -> bytes:
    """`valid` cut short, with bytes flipped, or replaced by garbage."""
    kind = draw(st.sampled_from(["truncated", "flipped", "garbage", "empty"]))
    if kind == "truncated":
        return valid[: draw(st.integers(1, len(valid) - 1))]
    if kind == "flipped":
        out = bytearray(valid)
        for i in draw(st.lists(st.integers(0, len(valid) - 1), min_size=1, max_size=8)):
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=256))
    return b""


TIKTOKEN_TOKENS = st.one_of(
    st.sampled_from(["IQ==", "!!!", "====", "QQ", "", "aGVsbG8=", "\u00e9t\u00e9", "-_-_"]),
    st.text(max_size=12),
)
TIKTOKEN_RANKS = st.one_of(
    st.sampled_from(["-1", "0", "1", "9" * 30, "2147483648", "1e3", "0x10", "", "NaN"]),
    st.integers().map(str),
)


@st.composite
def hostile_tiktoken(draw: st.DrawFn, valid: bytes) -> bytes:
    lines = valid.decode().splitlines()
    for _ in range(draw(st.integers(1, 4))):
        line = draw(TIKTOKEN_TOKENS) + draw(st.sampled_from([" ", "\t", "  ", ""])) + draw(TIKTOKEN_RANKS)
        if lines and draw(st.booleans()):
            lines[draw(st.integers(0, len(lines) - 1))] = line
        else:
            lines.insert(draw(st.integers(0, len(lines))), line)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@st.composite
def hostile_tokenizer_json(draw: st.DrawFn) -> bytes:
    vocab = st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=5) | JSON_VALUES
    model = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["BPE", "Unigram", "WordPiece", "WordLevel", ""]) | JSON_SCALARS,
            "vocab": vocab,
            "merges": st.lists(st.text(max_size=6) | st.lists(st.text(max_size=3), max_size=3), max_size=4)
            | JSON_VALUES,
            "byte_fallback": JSON_SCALARS,
        },
    )
    document = st.fixed_dictionaries(
        {},
        optional={
            "model": model | JSON_VALUES,
            "added_tokens": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "id": EXTREME_NUMBERS | JSON_SCALARS,
                        "content": JSON_SCALARS,
                        "special": JSON_SCALARS,
                    },
                ),
                max_size=3,
            )
            | JSON_VALUES,
            "pre_tokenizer": JSON_VALUES,
            "decoder": JSON_VALUES,
        },
    )
    return json.dumps(draw(document | JSON_VALUES)).encode()


@given(data=st.data())
@hostile_settings()
def test_every_command_survives_a_hostile_sentencepiece_model(models: dict[str, Path], data: st.DataObject) -> None:
    content = data.draw(damaged((models["meta"] / "tokenizer.model").read_bytes()), label="tokenizer.model")
    with copy_of(models["meta"]) as model:
        (model / "tokenizer.model").write_bytes(content)
        _every_command_on(model)


@given(data=st.data())
@hostile_settings()
def test_every_command_survives_a_hostile_tiktoken_file(models: dict[str, Path], data: st.DataObject) -> None:
    valid = (models["tiktoken"] / "tokenizer.model").read_bytes()
    content = data.draw(hostile_tiktoken(valid) | damaged(valid), label="tokenizer.model")
    with copy_of(models["tiktoken"]) as model:
        (model / "tokenizer.model").write_bytes(content)
        _every_command_on(model)


@given(data=st.data())
@hostile_settings()
def test_every_command_survives_a_hostile_tokenizer_json(models: dict[str, Path], data: st.DataObject) -> None:
    content = data.draw(hostile_tokenizer_json() | st.binary(max_size=64), label="tokenizer.json")
    alone = data.draw(st.booleans(), label="without tokenizer.model")
    with copy_of(models["hf"]) as model:
        (model / "tokenizer.json").write_bytes(content)
        if alone:
            (model / "tokenizer.model").unlink()
        _every_command_on(model)


# --- the same in real processes, each killed at its deadline: the proof that nothing hangs ------------------


@pytest.mark.slow
@given(data=st.data())
@hostile_settings(examples=max(2, EXAMPLES // 3))
def test_no_command_hangs_in_a_real_process(models: dict[str, Path], data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["params.json", "model.safetensors", "checklist.chk", "tokenizer.model"]))
    valid = models["hf" if kind == "model.safetensors" else "meta"]
    if kind == "params.json":
        content = data.draw(hostile_params(json.loads((valid / kind).read_text())), label=kind)
    elif kind == "model.safetensors":
        content = data.draw(hostile_safetensors(*_read_safetensors(valid / kind)), label=kind)
    elif kind == "checklist.chk":
        content = data.draw(hostile_checklist((valid / kind).read_text()), label=kind)
    else:
        content = data.draw(damaged((valid / kind).read_bytes()), label=kind)
    with copy_of(valid) as model:
        (model / kind).write_bytes(content)
        home = model.parent.parent / "home"
        home.mkdir()
        commands = every_command(model, model.parent / "converted")
        keeps_promises(run_process(args, home) for args in (commands[0], commands[3], commands[4]))


# --- what the properties found, kept as plain tests ----------------------------------------------------------


@pytest.mark.parametrize("depth", [200, 500, 800, 990])
def test_a_deeply_nested_params_json_is_a_finding_not_a_crash(models: dict[str, Path], depth: int) -> None:
    # deep enough that Python's json reads it and what walks the parsed value afterwards would not
    with copy_of(models["meta"]) as model:
        (model / "params.json").write_text('{"a":' * depth + "1" + "}" * depth)
        outcome = invoke(["check", "--model-dir", str(model), "--json"])
    assert outcome.code == 1, outcome.stderr
    assert "params.json is JSON nested too deeply" in outcome.stdout


@pytest.mark.parametrize("family", ["meta", "tiktoken"])
def test_an_empty_tokenizer_model_is_one_line_from_run(models: dict[str, Path], family: str) -> None:
    with copy_of(models[family]) as model:
        (model / "tokenizer.model").write_bytes(b"")
        outcome = invoke(["run", "text", "--model-dir", str(model), "--prompt", "hi", "--max-gen-len", "2"])
    assert outcome.code == 1, outcome.stderr
    assert outcome.stderr.startswith("llamadoctor: error: ")
    assert "tokenizer.model is empty" in outcome.stderr or "tokenizer.model is 0 bytes" in outcome.stderr


def test_a_checklist_name_with_a_nul_byte_is_never_opened(models: dict[str, Path]) -> None:
    with copy_of(models["meta"]) as model:
        chk = model / "checklist.chk"
        chk.write_bytes(chk.read_bytes().replace(b"\n", b"\x00"))
        outcomes = [
            invoke(["convert", "--model-dir", str(model), "--out", str(model.parent / "hf")]),
            invoke(["check", "--model-dir", str(model), "--json"]),
        ]
    for outcome in outcomes:
        assert outcome.code in (0, 1, 2) and "internal error" not in outcome.stderr, outcome.stderr


@pytest.mark.parametrize("line", ["IQ==-1", "!!! 5", "IQ== 1 2", "IQ== 0"])
def test_a_bad_tiktoken_line_is_one_line_from_convert(models: dict[str, Path], line: str) -> None:
    with copy_of(models["tiktoken"]) as model:
        tokenizer = model / "tokenizer.model"
        tokenizer.write_bytes(tokenizer.read_bytes() + line.encode() + b"\n")
        outcome = invoke(["convert", "--model-dir", str(model), "--out", str(model.parent / "hf")])
    assert outcome.code == 1, outcome.stderr
    assert outcome.stderr.splitlines()[-1].startswith("llamadoctor: error: ")
    assert "tokenizer.model" in outcome.stderr.splitlines()[-1]
