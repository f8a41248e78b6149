"""Token-by-token printing that stays correct for SentencePiece spaces and multi-byte characters.

Decoding ids one at a time loses SentencePiece's leading spaces and splits UTF-8 characters over byte
tokens, so the whole answer is decoded each time and only the new, complete suffix is written.
"""

from __future__ import annotations

from typing import Callable, TextIO


class Streamer:
    def __init__(self, decode: Callable[[list[int]], str], out: TextIO) -> None:
        self.decode, self.out = decode, out
        self.ids: list[int] = []
        self.shown = 0

    def __call__(self, token: int) -> None:
        self.ids.append(token)
        text = self.decode(self.ids)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for its next byte
            return
        self.out.write(text[self.shown :])
        self.out.flush()
        self.shown = len(text)
