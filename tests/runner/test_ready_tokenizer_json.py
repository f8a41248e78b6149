"""Hugging Face folders whose only tokenizer is tokenizer.json: read with the `tokenizers` library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app as doctor
from llamadoctor.runner.chat import Message, dialog_tokens
from llamadoctor.runner.cli import app as runner
from llamadoctor.runner.tokenizer import LLAMA3_PATTERN, LLAMA3_SPECIALS, SENTENCEPIECE, TIKTOKEN, load

from builders import llamas as testing

CLI = CliRunner()


def run_text(folder: Path) -> tuple[int, str]:
    args = ["text", "--model-dir", str(folder), "--prompt", "hi", "--max-gen-len", "2", "--device", "cpu"]
    result = CLI.invoke(runner, args)
    return result.exit_code, result.output


@pytest.mark.parametrize("family", ["llama2", "llama3.1"])
def test_an_hf_folder_with_only_tokenizer_json_is_ready_and_runs(tmp_path: Path, family: str) -> None:
    folder = testing.make_hf_dir_with_tokenizer_json(tmp_path / f"{family}-hf", family)
    code, output = run_text(folder)
    assert code == 0, output
    assert "Traceback" not in output
    checked = CLI.invoke(doctor, ["check", "--model-dir", str(folder), "--json"])
    assert json.loads(checked.output)["summary"]["ready"] is True, checked.output


def test_llama2_tokenizer_json_reads_as_sentencepiece_does(tmp_path: Path) -> None:
    tok = load(testing.write_llama2_tokenizer_json(tmp_path / "tokenizer.json"))
    assert tok.kind == SENTENCEPIECE
    assert (tok.bos_id, tok.eos_id, tok.stop_ids) == (1, 2, frozenset({2}))
    ids = tok.encode("Paris is the capital", bos=True, eos=True)
    assert ids[0] == 1 and ids[-1] == 2
    assert tok.decode(ids[1:-1]) == "Paris is the capital"


def test_llama3_tokenizer_json_has_the_chat_specials_and_meta_chat_format(tmp_path: Path) -> None:
    tok = load(testing.write_llama3_tokenizer_json(tmp_path / "tokenizer.json"))
    assert tok.kind == TIKTOKEN
    base = tok.n_words - len(LLAMA3_SPECIALS)
    assert (tok.bos_id, tok.eos_id) == (base, base + 1)
    assert tok.stop_ids == {base + 1, tok.special_id("<|eom_id|>"), tok.special_id("<|eot_id|>")}
    # Special-token text typed by the user stays text, as in Meta's reference.
    assert tok.special_id("<|eot_id|>") not in tok.encode("<|eot_id|>", bos=False, eos=False)
    ids = dialog_tokens([Message("user", "Hello world")], tok)
    expected = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello world<|eot_id|>"
    expected += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    assert tok.decode(ids) == expected


def _byte_chars() -> dict[int, str]:
    """GPT-2's byte -> printable character table, the alphabet of byte-level tokenizer.json vocabularies."""
    from tokenizers import pre_tokenizers

    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(shifted)}
    assert set(table.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    return table


def tokenizer_json_from_tiktoken(ranks_file: Path, path: Path) -> Path:
    """The tokenizer.json Hugging Face derives from a Llama 3 tiktoken file: the same ranks as vocab ids,
    merges in rank order, and the 256 specials after them."""
    import base64

    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    table = _byte_chars()
    ranks = {base64.b64decode(t): int(r) for t, r in (line.split() for line in ranks_file.read_text().splitlines())}
    text = {tok: "".join(table[b] for b in tok) for tok in ranks}
    merges = sorted(
        ((ranks[tok], ranks[tok[:i]], ranks[tok[i:]]), (text[tok[:i]], text[tok[i:]]))
        for tok in ranks
        for i in range(1, len(tok))
        if tok[:i] in ranks and tok[i:] in ranks
    )
    vocab = {text[tok]: rank for tok, rank in ranks.items()}
    tok = Tokenizer(models.BPE(vocab, [pair for _, pair in merges], ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(LLAMA3_SPECIALS)
    tok.save(str(path))
    return path


def test_llama3_tokenizer_json_gives_the_tiktoken_ids(tokenizer_files: dict[str, Path], tmp_path: Path) -> None:
    tt = load(tokenizer_files["tiktoken"])
    from_json = load(tokenizer_json_from_tiktoken(tokenizer_files["tiktoken"], tmp_path / "tokenizer.json"))
    text = "I am going to Paris, what should I see? 1234 menthe poivrée <|eot_id|>"
    assert from_json.encode(text, bos=True, eos=True) == tt.encode(text, bos=True, eos=True)
    assert (from_json.n_words, from_json.stop_ids) == (tt.n_words, tt.stop_ids)
    assert from_json.decode(tt.encode(text, bos=False, eos=False)) == text
