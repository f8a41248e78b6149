"""Tokenizers (SentencePiece trained here, tiktoken written here) and Meta's chat prompt layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamadoctor.runner import chat
from llamadoctor.runner import tokenizer as tk
from llamadoctor.runner.chat import Message
from llamadoctor.runner.errors import RunError


@pytest.fixture(scope="module")
def sp(tokenizer_files) -> tk.Tokenizer:
    return tk.load(tokenizer_files["sentencepiece"])


@pytest.fixture(scope="module")
def tt(tokenizer_files) -> tk.Tokenizer:
    return tk.load(tokenizer_files["tiktoken"])


def test_formats_are_told_apart_by_sniffing(tokenizer_files, tmp_path) -> None:
    assert tk.sniff(tokenizer_files["sentencepiece"]) == tk.SENTENCEPIECE
    assert tk.sniff(tokenizer_files["tiktoken"]) == tk.TIKTOKEN
    pointer = tmp_path / "tokenizer.model"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 499723\n")
    with pytest.raises(RunError, match="git lfs pull"):
        tk.load(pointer)


def test_sentencepiece_has_llama_ids_and_round_trips(sp) -> None:
    assert (sp.bos_id, sp.eos_id, sp.kind) == (1, 2, tk.SENTENCEPIECE)
    ids = sp.encode("Hello world, the Eiffel Tower!", bos=True, eos=True)
    assert ids[0] == 1 and ids[-1] == 2
    assert sp.decode(ids[1:-1]) == "Hello world, the Eiffel Tower!"


def test_tiktoken_has_llama3_specials_and_keeps_special_text_plain(tt) -> None:
    base = tt.n_words - 256
    assert tt.bos_id == base and tt.special_id("<|eot_id|>") == base + 9
    assert tt.stop_ids == {base + 1, base + 8, base + 9}
    ids = tt.encode("hi <|eot_id|> there", bos=False, eos=False)
    assert all(i < base for i in ids)
    assert tt.decode(ids) == "hi <|eot_id|> there"
    assert tt.decode(tt.encode("menthe poivrée 😀", bos=False, eos=False)) == "menthe poivrée 😀"


def test_llama2_dialog_encodes_each_turn_with_its_own_bos_eos(sp) -> None:
    dialog = [
        Message("system", "Be brief."),
        Message("user", " What? "),
        Message("assistant", "Paris."),
        Message("user", "And #1?"),
    ]
    expected = sp.encode(
        "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat? [/INST] Paris. ", bos=True, eos=True
    ) + sp.encode("[INST] And #1? [/INST]", bos=True, eos=False)
    got = chat.llama2_tokens(dialog, sp)
    assert got == expected
    assert got.count(sp.bos_id) == 2 and got.count(sp.eos_id) == 1
    # Encoding the concatenated string would lose the second turn's own dummy prefix: not the reference.
    assert got != sp.encode(
        "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat? [/INST] Paris. [INST] And #1? [/INST]", bos=True, eos=False
    )


def test_llama2_dialog_role_order_is_enforced(sp) -> None:
    with pytest.raises(RunError, match="alternating"):
        chat.llama2_tokens([Message("user", "a"), Message("user", "b")], sp)
    with pytest.raises(RunError, match="Last message must be from user"):
        chat.llama2_tokens([Message("user", "a"), Message("assistant", "b")], sp)


def test_llama3_dialog_layout(tt) -> None:
    s = tt.special_id
    dialog = [Message("system", "Always answer with Haiku"), Message("user", "I am going to Paris ")]

    def msg(role: str, content: str) -> list[int]:
        head = [s("<|start_header_id|>"), *tt.encode(role, bos=False, eos=False), s("<|end_header_id|>")]
        return head + tt.encode("\n\n", bos=False, eos=False) + tt.encode(content, bos=False, eos=False)

    expected = [
        s("<|begin_of_text|>"),
        *msg("system", "Always answer with Haiku"),
        s("<|eot_id|>"),
        *msg("user", "I am going to Paris"),
        s("<|eot_id|>"),
        *msg("assistant", ""),
    ]
    assert chat.dialog_tokens(dialog, tt) == expected


def test_reference_dialogs_and_special_tag_check() -> None:
    dialogs = chat.reference_dialogs(tk.SENTENCEPIECE)
    assert len(dialogs) == 6 and len(chat.reference_dialogs(tk.TIKTOKEN)) == 4
    assert [chat.has_special_tags(d) for d in dialogs] == [False] * 5 + [True]
    assert chat.has_special_tags([Message("system", "<<SYS>>"), Message("user", "hi")])
    assert chat.looks_like_chat_model("llama-2-7b-chat") and chat.looks_like_chat_model("Meta-Llama-3-8B-Instruct")
    assert not chat.looks_like_chat_model("llama-2-7b")


def test_dialog_printing_matches_meta_example() -> None:
    text = chat.format_dialog([Message("user", "hi")], Message("assistant", "hello"))
    assert text == "User: hi\n\n> Assistant: hello"


# ---- tokenizer files that are not what they say -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        pytest.param("tokenizer.model", b"\x00\x01garbage" * 50, "neither", id="garbage"),
        pytest.param("tokenizer.model", b"\n\x03abc\x0a\xff", "neither", id="sentencepiece-cut-short"),
        pytest.param("tokenizer.model", b"IQ== 0\n!!!not-base64!!! 1\n", "line 2", id="tiktoken-bad-base64"),
        pytest.param("tokenizer.model", b"IQ== 0\nIg== one\n", "line 2", id="tiktoken-rank-not-an-integer"),
        pytest.param("tokenizer.model", b"IQ== 0\nIg== 0\n", "line 2", id="tiktoken-repeated-rank"),
        pytest.param("tokenizer.json", b"not json", "tokenizer.json", id="json-garbage"),
        pytest.param("tokenizer.json", b"[1]", "tokenizer.json", id="json-not-an-object"),
        pytest.param("tokenizer.json", b"[" * 100_000 + b"]" * 100_000, "tokenizer.json", id="json-too-deep"),
        pytest.param("tokenizer.json", b'{"model": {"vocab": {"a": 0, "b": 0}}}', "tokenizer.json", id="json-panic"),
        pytest.param("tokenizer.json", b'{"model": {"vocab": {"\\u4e00": 0}}}', "tokenizer.json", id="json-bad-char"),
    ],
)
def test_a_garbage_tokenizer_is_one_run_error(tmp_path, name: str, content: bytes, expect: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RunError, match=expect):
        tk.load(path)


def test_a_symlink_loop_or_an_unreadable_tokenizer_is_one_run_error(tmp_path) -> None:
    import os

    loop = tmp_path / "loop" / "tokenizer.model"
    loop.parent.mkdir()
    loop.symlink_to(loop)
    with pytest.raises(RunError, match="cannot read"):
        tk.load(loop)
    if os.geteuid() != 0:
        locked = tmp_path / "tokenizer.model"
        locked.write_bytes(b"\n\x03abc")
        locked.chmod(0)
        with pytest.raises(RunError, match="cannot read"):
            tk.load(locked)


def test_a_sentencepiece_tokenizer_under_a_non_utf8_folder_loads(tokenizer_files, tmp_path) -> None:
    import os

    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    (folder / "tokenizer.model").write_bytes(tokenizer_files["sentencepiece"].read_bytes())
    assert tk.load(folder / "tokenizer.model").kind == "sentencepiece"
