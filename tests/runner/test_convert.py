"""`llamadoctor convert`: Meta -> HF that transformers loads with our runner's logits, shard merge/split that
round-trips exactly, and the safety promises (disk refused before writing, no overwrite without --force; a
conversion killed at each phase is in test_convert_faults.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner import loader
from llamadoctor.runner.chat import DEFAULT_SYSTEM_PROMPT, PARIS_ANSWER, Message, dialog_tokens
from llamadoctor.runner.conversion import convert
from llamadoctor.runner.distributed import SINGLE
from llamadoctor.runner.generate import Generator, Sampling, Timings
from llamadoctor.runner.tokenizer import load as load_tokenizer

from builders import llamas

PROMPT = "I am going to Paris, what should I see? The Eiffel Tower"
TEXTS = [PROMPT, " leading space\n\nnewlines  and   spaces", "emoji 🦙 and ünïcödé 12345678", PARIS_ANSWER]
CASES = [("llama2", 1), ("llama2", 2), ("llama3", 1), ("llama3.1", 2)]


def _llama_sentencepiece(path: Path) -> Path:
    """A SentencePiece model with Llama's own settings (identity normalisation, whitespace kept, digits split)."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(llamas.CORPUS * 4), model_writer=model, vocab_size=400, model_type="bpe",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2, num_threads=1, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True,
    )  # fmt: skip
    path.write_bytes(model.getvalue())
    return path


@pytest.fixture(scope="module")
def meta(tmp_path_factory: pytest.TempPathFactory):
    """`meta(family, shards)` -> a cached bf16 Meta folder named like a chat model (seed 0)."""
    root = tmp_path_factory.mktemp("convert-in")
    sp = _llama_sentencepiece(root / "sp.model")
    tt = llamas.write_tiktoken(root / "tt.model")
    cache: dict[tuple[str, int], Path] = {}

    def make(family: str = "llama2", shards: int = 1) -> Path:
        if (family, shards) not in cache:
            cache[(family, shards)] = llamas.make_model_dir(
                root / f"{family}-mp{shards}-chat", family=family, fmt="meta", shards=shards,
                dtype=torch.bfloat16, tokenizer=tt if family.startswith("llama3") else sp,
            )  # fmt: skip
        return cache[(family, shards)]

    return make


@pytest.fixture(scope="module")
def converted(meta, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("convert-out")
    cache: dict[tuple[str, int], Path] = {}

    def make(family: str, shards: int) -> Path:
        if (family, shards) not in cache:
            out = root / f"{family}-mp{shards}-chat-hf"
            convert.convert(convert.Request(meta(family, shards), out))
            cache[(family, shards)] = out
        return cache[(family, shards)]

    return make


def _ours(model_dir: Path):
    return loader.load(model_dir, SINGLE, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize(("family", "shards"), CASES)
def test_transformers_loads_the_output_with_our_logits(meta, converted, family, shards) -> None:
    from transformers import AutoModelForCausalLM

    out = converted(family, shards)
    ref = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    tok = load_tokenizer(meta(family, shards) / "tokenizer.model")
    ids = torch.tensor([tok.encode(PROMPT, bos=True, eos=False)])
    ours = _ours(meta(family, shards))
    ours.setup_cache(1, 64)
    got = ours(ids, 0, all_logits=True)
    with torch.no_grad():
        want = ref(ids).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("family", "shards"), CASES)
def test_config_values_per_version(meta, converted, family, shards) -> None:
    out = converted(family, shards)
    config = json.loads((out / "config.json").read_text())
    args = ckpt.read_args(meta(family, shards))
    assert config["torch_dtype"] == "bfloat16"  # kept, not the HF script's "float16"
    assert config["num_key_value_heads"] == args.kv_heads
    assert config["rms_norm_eps"] == args.norm_eps and config["rope_theta"] == args.rope_theta
    assert config["max_position_embeddings"] == {"llama2": 4096, "llama3": 8192, "llama3.1": 131072}[family]
    if family == "llama3.1":
        assert config["rope_scaling"] == {
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        }  # fmt: skip
        assert config["eos_token_id"] == [args.vocab_size - 255, args.vocab_size - 248, args.vocab_size - 247]
    else:
        assert config["rope_scaling"] is None
    index = json.loads((out / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert all((out / f).is_file() for f in files)
    assert index["metadata"]["total_size"] == sum((out / f).stat().st_size for f in files) - sum(
        8 + int.from_bytes((out / f).read_bytes()[:8], "little") for f in files
    )
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["bos_token_id"] == config["bos_token_id"] and gen["temperature"] == 0.6
    assert not list(out.parent.glob(".*partial*"))


@pytest.mark.parametrize("family", ["llama2", "llama3.1"])
def test_transformers_tokenizer_and_chat_template_match_ours(meta, converted, family) -> None:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(converted(family, 2 if family == "llama3.1" else 1)))
    tok = load_tokenizer(meta(family, 2 if family == "llama3.1" else 1) / "tokenizer.model")
    for text in TEXTS:
        assert hf(text)["input_ids"] == tok.encode(text, bos=True, eos=False), text
        assert hf.decode(tok.encode(text, bos=False, eos=False)) == text
    dialog = [
        Message("system", DEFAULT_SYSTEM_PROMPT),
        Message("user", "what is the recipe of mayonnaise?"),
        Message("assistant", " Whisk an egg yolk. "),
        Message("user", "And then?"),
    ]
    for turns in (dialog, dialog[1:2], dialog[1:]):
        messages = [{"role": m.role, "content": m.content} for m in turns]
        got = hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        got = got if isinstance(got, list) else got["input_ids"]
        assert got == dialog_tokens(turns, tok)


def test_llama3_tokenizer_json_equals_transformers_own_converter(meta, converted) -> None:
    conv = pytest.importorskip("transformers.convert_slow_tokenizer")
    from llamadoctor.runner.tokenizer import LLAMA3_PATTERN, LLAMA3_SPECIALS

    ours = json.loads((converted("llama3", 1) / "tokenizer.json").read_text(encoding="utf-8"))
    theirs = conv.TikTokenConverter(
        vocab_file=str(meta("llama3", 1) / "tokenizer.model"), pattern=LLAMA3_PATTERN,
        additional_special_tokens=LLAMA3_SPECIALS,
    ).converted()  # fmt: skip
    theirs = json.loads(theirs.to_str())
    assert ours["model"]["vocab"] == theirs["model"]["vocab"]
    as_pairs = [m.split(" ") if isinstance(m, str) else m for m in theirs["model"]["merges"]]
    assert ours["model"]["merges"] == as_pairs


def test_dtype_option_casts_and_says_so(meta, tmp_path) -> None:
    out = tmp_path / "fp16-hf"
    convert.convert(convert.Request(meta("llama2", 1), out, dtype="fp16"))
    from safetensors import safe_open

    with safe_open(str(next(out.glob("*.safetensors"))), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "float16"


def _meta_state(folder: Path) -> list[dict[str, torch.Tensor]]:
    return [ckpt.load_file(p) for p in ckpt.list_shards(folder)]


@pytest.mark.parametrize("family", ["llama2", "llama3.1"])
def test_merge_then_split_round_trips_to_identical_tensors(meta, tmp_path, family) -> None:
    original = meta(family, 2)
    merged = convert.convert(convert.Request(original, tmp_path / "mp1", to="meta", shards=1)).out
    split = convert.convert(convert.Request(merged, tmp_path / "mp2", to="meta", shards=2)).out
    assert [p.name for p in ckpt.list_shards(split)] == ["consolidated.00.pth", "consolidated.01.pth"]
    for before, after in zip(_meta_state(original), _meta_state(split)):
        assert list(before) == list(after)
        for key in before:
            assert before[key].dtype == after[key].dtype and torch.equal(before[key], after[key]), key
    assert (split / "params.json").read_bytes() == (original / "params.json").read_bytes()
    assert (split / "tokenizer.model").read_bytes() == (original / "tokenizer.model").read_bytes()


def test_runner_gives_the_same_tokens_after_merge_and_split(meta, tmp_path) -> None:
    original = meta("llama2", 1)
    split = convert.convert(convert.Request(original, tmp_path / "mp2", to="meta", shards=2)).out
    merged = convert.convert(convert.Request(split, tmp_path / "mp1", to="meta", shards=1)).out
    tok = load_tokenizer(original / "tokenizer.model")
    prompt = tok.encode(PROMPT, bos=True, eos=False)

    def greedy(folder: Path) -> list[int]:
        gen = Generator(_ours(folder), max_batch_size=1, max_seq_len=64, stop_ids=frozenset())
        return gen.generate([prompt], Sampling(max_gen_len=16, temperature=0), Timings())[0]

    want = greedy(original)
    assert greedy(split) == want and greedy(merged) == want


def test_too_little_disk_refuses_before_writing(meta, tmp_path) -> None:
    out = tmp_path / "out"
    seen: list[Path] = []

    def full_disk(path: Path) -> int:
        seen.append(path)
        return 100_000

    with pytest.raises(convert.NotEnoughDisk) as err:
        convert.convert(convert.Request(meta("llama2", 1), out), free_bytes=full_disk)
    assert "this conversion writes" in err.value.message and "0.1 MB free" in err.value.message
    assert seen == [tmp_path]
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force_and_force_replaces_only_our_own(meta, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(convert.BadInput, match="already exists"):
        convert.convert(convert.Request(meta("llama2", 1), out))
    with pytest.raises(convert.BadInput, match="not written by llamadoctor"):
        convert.convert(convert.Request(meta("llama2", 1), out, force=True))
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    convert.convert(convert.Request(meta("llama2", 1), out, force=True))
    convert.convert(convert.Request(meta("llama2", 1), out, dtype="fp16", force=True))
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "float16"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"to": "hf", "shards": 2}, "--shards applies to Meta output"),
        ({"to": "meta"}, "--to meta needs --shards"),
        ({"to": "meta", "shards": 3}, "do not split over 3 shards"),
        ({"dtype": "int4"}, "unknown --dtype"),
    ],
)
def test_bad_requests_are_one_line(meta, tmp_path, request_kwargs, message) -> None:
    with pytest.raises(convert.BadInput, match=message):
        convert.convert(convert.Request(meta("llama2", 1), tmp_path / "out", **request_kwargs))
    assert not (tmp_path / "out").exists()


def test_hf_input_and_missing_folder_are_bad_input(converted, tmp_path) -> None:
    with pytest.raises(convert.BadInput, match="already in Hugging Face format"):
        convert.convert(convert.Request(converted("llama2", 1), tmp_path / "x"))
    with pytest.raises(convert.BadInput, match="not found"):
        convert.convert(convert.Request(tmp_path / "nope", tmp_path / "x"))


def test_peak_memory_is_about_one_layer_not_the_model(tmp_path) -> None:
    """Input pages are unmapped layer by layer: RSS growth stays far below the model size."""
    psutil = pytest.importorskip("psutil")
    args = llamas.tiny_args("llama2", vocab_size=4096, dim=512, n_layers=8)
    src = llamas.write_meta(tmp_path / "in", args, llamas.random_state(args, dtype=torch.bfloat16), "llama2")
    llamas.train_sentencepiece(src / "tokenizer.model")
    params = json.loads((src / "params.json").read_text())
    (src / "params.json").write_text(json.dumps({**params, "vocab_size": 4096}))  # wider than the tokenizer
    model_bytes = sum(p.stat().st_size for p in ckpt.list_shards(src))
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [0]

    def on_tensor(spec) -> None:
        peak[0] = max(peak[0], proc.memory_info().rss - base)

    convert.convert(convert.Request(src, tmp_path / "out"), on_tensor=on_tensor)
    assert peak[0] < model_bytes / 2, (peak[0], model_bytes)
