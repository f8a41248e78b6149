"""A Hugging Face `tokenizer.json` behind the runner's Tokenizer interface, read by the `tokenizers` library.

Hugging Face's Llama folders may ship only tokenizer.json. Llama 1/2's is SentencePiece pieces ("▁" for a
space, <s> and </s>); Llama 3's is byte-level BPE with `<|begin_of_text|>` and the chat specials. Which one it
is decides the chat format, so `kind` answers as the matching tokenizer.model would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llamadoctor.i18n import N_, _
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.tokenizer import SENTENCEPIECE, TIKTOKEN, missing_special

LLAMA3_STOPS = ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")
INSTALL_TOKENIZERS = N_("pip install 'llamadoctor[run]' (or pip install tokenizers)")


def _read(path: Path) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise RunError(
            _("{path} needs the `tokenizers` library, which is not installed").format(path=path), _(INSTALL_TOKENIZERS)
        ) from None
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises its own Exception with serde's text
        raise RunError(
            # TRANSLATORS: {error} is the `tokenizers` library's own error message.
            _("{path} is not a tokenizer.json the `tokenizers` library can read ({error})").format(
                path=path, error=exc
            ),
            _("download tokenizer.json again, or pass --tokenizer-path to the model's tokenizer.model"),
        ) from exc


class HFTokenizer:
    def __init__(self, path: Path) -> None:
        self.tok = _read(path)
        # Meta's reference encodes special-token text typed by the user as plain text.
        self.tok.encode_special_tokens = True
        vocab: dict[str, int] = self.tok.get_vocab(with_added_tokens=True)
        self.n_words = int(self.tok.get_vocab_size(with_added_tokens=True))
        if "<|begin_of_text|>" in vocab and "<|end_of_text|>" in vocab:
            self.kind = TIKTOKEN
            self.bos_id, self.eos_id = vocab["<|begin_of_text|>"], vocab["<|end_of_text|>"]
            self.stop_ids = frozenset(vocab[t] for t in LLAMA3_STOPS if t in vocab)
        elif "<s>" in vocab and "</s>" in vocab:
            self.kind = SENTENCEPIECE
            self.bos_id, self.eos_id = vocab["<s>"], vocab["</s>"]
            self.stop_ids = frozenset({self.eos_id})
        else:
            raise RunError(
                _("{path} has neither Llama's <s>/</s> nor Llama 3's <|begin_of_text|> tokens").format(path=path),
                _("use the tokenizer that came with this model (--tokenizer-path)"),
            )
        self.vocab = vocab

    def encode(self, text: str, bos: bool, eos: bool) -> list[int]:
        ids: list[int] = self.tok.encode(text, add_special_tokens=False).ids
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids: list[int]) -> str:
        return str(self.tok.decode(ids, skip_special_tokens=False))

    def special_id(self, name: str) -> int:
        if name not in self.vocab:
            raise missing_special(name)
        return self.vocab[name]
