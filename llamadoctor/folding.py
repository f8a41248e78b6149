"""Fold prose written in Chinese to a terminal's width.

textwrap and rich break lines only at spaces and count characters, not the two columns a Chinese character
takes: a Chinese sentence is then one long word, cut wherever it overflows or moved whole to the next line.
Chinese breaks between any two characters, except before closing punctuation; the English words, `code`
spans and paths inside it are kept whole, as the English text keeps them.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.text import Text

# Punctuation that never starts a line, which stays with the character before it, and punctuation that never
# ends one, which goes with the character after it.
_CLOSING = "，。：；、！？）》」』”"
_OPENING = "（《「『“"
_WORD = r"`[^`]*`|[\u2e80-\uffff]|[^\s\u2e80-\uffff`]+"
_TOKEN = re.compile(rf"[{_OPENING}]*(?:{_WORD})[{_CLOSING}]*|\s+|.")


def is_wide(text: str) -> bool:
    """Whether `text` holds characters that take two columns (and so needs `fold`, not textwrap)."""
    return cell_len(text) != len(text)


def _lines(text: str, width: int) -> list[tuple[int, int]]:
    """(start, end) of each line of `text` folded to `width` columns, without the spaces at the break."""
    spans: list[tuple[int, int]] = []
    start = end = None
    for found in _TOKEN.finditer(text):
        if found.group().isspace():
            continue
        if start is None:
            start = found.start()
        elif cell_len(text[start : found.end()]) > width:
            spans.append((start, end or start))
            start = found.start()
        end = found.end()
    if start is not None:
        spans.append((start, end or start))
    return spans or [(0, 0)]


def fold(text: str, width: int, indent: str = "") -> str:
    """`text` in lines of at most `width` columns (a word or code span wider than that stands alone), each
    under `indent`, with no trailing spaces."""
    return "\n".join(indent + text[start:end] for start, end in _lines(text, width - cell_len(indent)))


def fold_text(text: Text, width: int) -> Text:
    """A styled `text` folded as `fold` folds its words, its styles kept."""
    return Text("\n").join(text[start:end] for start, end in _lines(text.plain, width))
