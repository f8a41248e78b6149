"""Nothing secret and nothing hostile leaves llamadoctor: one pass over every string we print or write as JSON.

Signed download URLs carry their secret in the query (CloudFront's Policy, Signature, Key-Pair-Id; S3's
X-Amz-Signature/Credential); Hugging Face tokens start with `hf_`. The rest of a URL stays readable so the
user can still tell which link it was. A URL may arrive percent-encoded (a file saved under the URL's name, a
link pasted from a redirect) or wrapped over lines by a mail client: its secrets are found in those forms too.

File names and file contents are untrusted: an escape sequence in one would drive the user's terminal (clear
it, forge a hyperlink, hide a warning). `escape_controls` shows such characters as `\\uXXXX` instead.
`SafeStream` applies both to everything written to stdout and stderr, so no command can bypass them.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any, TextIO

MASK = "<redacted>"
# Names whose value is a credential wherever they appear; the short generic ones only inside a URL query.
_STRONG = r"Policy|Signature|Key-Pair-Id|Download-Request-ID|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token"
_WEAK = r"token|access_token|sig"
_SEP = r"[?&;]|&amp;|%3F|%26|%253F|%2526"
_EQ = r"=|%3D|%253D"
_VALUE_CHAR = r"(?:(?!%26|%2526)[^&\s'\"<>])"
# A value a mail client wrapped: the next line continues it when it is one long run of URL characters.
_VALUE = rf"{_VALUE_CHAR}+(?:\r?\n[ \t]*{_VALUE_CHAR}{{8,}})*"
_SECRET_PARAMS = re.compile(rf"(?i)((?:(?:^|{_SEP})(?:{_STRONG}|{_WEAK})|\b(?:{_STRONG}))(?:{_EQ})){_VALUE}")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")
_BEARER = re.compile(r"(?i)(authorization:\s*bearer\s+)\S+")
# The password of `user:password@host`, in a URL (a proxy setting, a git remote) or a bare proxy value after `=`;
# the user name stays so the setting can still be told apart.
_USERINFO = re.compile(
    r"(?i)((?:\b[a-z][a-z0-9+.-]*://|(?:^|(?<=[\s=\"']))(?=[^\s/@:'\"<>]+:[^\s/@'\"<>]+@[\w\[]))"
    r"[^\s/@:'\"<>]*:)[^\s/@'\"<>]+@"
)

# C0 and C1 controls, DEL, the bidirectional overrides that reorder what a terminal shows, and lone surrogates
# (a file name's undecodable bytes, which would reach the terminal raw: 0x9b is a C1 CSI).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
# What rich itself writes to a terminal: colours (SGR) and, on stderr, the cursor moves and line erases of a live
# progress display. Anything else (a screen clear, an OSC hyperlink or title, a bell) can only come from a hostile
# name, and the reporters escape untrusted text before rich sees it.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_LIVE = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[hl]|\x1b\[[0-9]*[ABCDGK]|\r")


def redact(text: str) -> str:
    text = _SECRET_PARAMS.sub(lambda m: m.group(1) + MASK, text)
    text = _HF_TOKEN.sub("hf_" + MASK, text)
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def redact_data(value: Any) -> Any:
    """Redact every string inside JSON-like data, keys included (a file name can be a signed URL)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value


def escape_controls(text: str) -> str:
    """`text` with every control character except newline and tab shown as `\\uXXXX` (also valid in JSON)."""
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def safe_text(text: str) -> str:
    """An untrusted string made fit for a terminal and for the logs: redacted, controls escaped."""
    return escape_controls(redact(text))


def _escape_keeping(text: str, allowed: re.Pattern[str]) -> str:
    pieces, last = [], 0
    for m in allowed.finditer(text):
        pieces += [escape_controls(text[last : m.start()]), m.group()]
        last = m.end()
    return "".join([*pieces, escape_controls(text[last:])])


class SafeStream(io.TextIOBase):
    """A text stream that redacts and escapes what is written to it before passing it on.

    Text is held until a write ends a line or the stream is flushed, so a secret written in pieces (`print`
    writes its arguments one by one) is seen whole.
    """

    _LIMIT = 1 << 16

    def __init__(self, raw: TextIO, *, live: bool = False) -> None:
        super().__init__()
        self.raw = raw
        self._allowed = _LIVE if live else _COLOUR
        self._held: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click probes with b"" whether a stream takes bytes
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._held.append(text)
        self._size += len(text)
        if text.endswith("\n") or self._size > self._LIMIT:
            self._pass_on()
        return len(text)

    def flush(self) -> None:
        self._pass_on()
        self.raw.flush()

    def _pass_on(self) -> None:
        if not self._held:
            return
        text = redact("".join(self._held))
        self._held, self._size = [], 0
        coloured = self.isatty() or _colour_forced()
        self.raw.write(_escape_keeping(text, self._allowed) if coloured else escape_controls(text))

    def close(self) -> None:
        """Pass on what is held; the wrapped stream stays open (it is the process's own)."""
        with contextlib.suppress(OSError, ValueError):
            self.flush()
        super().close()

    def isatty(self) -> bool:
        try:
            return bool(self.raw.isatty())
        except (ValueError, OSError):
            return False

    def fileno(self) -> int:
        return self.raw.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.raw, "errors", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _colour_forced() -> bool:
    """FORCE_COLOR asks for colours in a pipe too (`| less -R`), unless NO_COLOR says otherwise."""
    import os

    return bool(os.environ.get("FORCE_COLOR")) and "NO_COLOR" not in os.environ


def redacting_console(**options: Any) -> Any:
    """A rich Console that redacts each text before laying it out. Folded at the terminal's width, a secret's
    name can land on two lines, where the redaction of the written output no longer recognises it."""
    from rich.console import Console, ConsoleRenderable, RenderHook
    from rich.text import Text

    class Redact(RenderHook):
        def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
            return [_redacted_text(r) if isinstance(r, Text) else r for r in renderables]

    from llamadoctor.output import console_options

    console = Console(**{**console_options(), **options})
    console.push_render_hook(Redact())
    return console


def _redacted_text(text: Any) -> Any:
    plain = text.plain
    safe = redact(plain)
    if safe == plain:
        return text
    return type(text)(safe, style=text.style, justify=text.justify, overflow=text.overflow, end=text.end)
