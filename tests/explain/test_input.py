"""Input as it arrives: PowerShell's UTF-16, byte order marks, bad bytes, CRLF, colours, progress bars, size."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from llamadoctor.explaining import explain_bytes, explain_text
from llamadoctor.explaining.matching import Log, canonical, find
from llamadoctor.explaining.source import TooLarge, encoding_of, read_utf8
from llamadoctor.failures import FAILURES, search

LOGS = Path(__file__).parent / "logs"
NCCL = "RuntimeError: Distributed package doesn't have NCCL built in"


def ids(data: bytes) -> list[str]:
    return [m.failure.id for m in explain_bytes(read_utf8(io.BytesIO(data))).matches]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-16-le", b"\xff\xfe"), ("utf-16-le", b""), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"\xef\xbb\xbf")],
    ids=["powershell-utf16le-bom", "utf16le-no-bom", "utf16be-bom", "utf8-bom"],
)
def test_a_log_in_any_unicode_encoding_is_read(encoding: str, bom: bytes) -> None:
    text = (LOGS / "failed-to-create-process.log").read_text(encoding="utf-8").replace("\n", "\r\n")
    assert ids(bom + text.encode(encoding)) == ["torchrun-failed-to-create-process"]


def test_the_encoding_is_sniffed_from_the_bytes() -> None:
    assert encoding_of("hello".encode("utf-16-le")) == ("utf-16-le", 0)
    assert encoding_of(b"\xff\xfeh\x00") == ("utf-16-le", 2)
    assert encoding_of("héllo wörld".encode()) == ("utf-8", 0)
    assert encoding_of(b"") == ("utf-8", 0)


def test_invalid_bytes_are_replaced_not_fatal() -> None:
    data = b"\x80\x81 garbage \xff\n" + NCCL.encode() + b" \xc3(\n\xe2\x82\n"
    explanation = explain_bytes(read_utf8(io.BytesIO(data)))
    assert [m.failure.id for m in explanation.matches] == ["dist-nccl-not-built"]
    assert explanation.matches[0].first == 2


def test_colours_crlf_and_progress_bars_are_read_as_a_terminal_shows_them() -> None:
    bar = "Loading checkpoint shards:  50%|\u2588\u2588\u2588\u2588\u2588     | 1/2\r" * 3
    error = "\x1b[31m[rank0]: RuntimeError\x1b[0m: Distributed package doesn't have \x1b[1mNCCL\x1b[0m built in"
    text = f"{bar}\r\n{error}\r\n"
    explanation = explain_text(text)
    (match,) = explanation.matches
    assert match.lines == ((5, NCCL),)  # the bar's redraws are lines, as str.splitlines counts them
    hits = [(h.failure.id, h.line_number) for h in find(FAILURES, Log.of_text(text))]
    assert hits == [(h.failure.id, h.line_number) for h in search(FAILURES, text)]


def test_every_line_break_python_knows_breaks_a_line() -> None:
    text = "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i\r\nj\rk\n" + NCCL
    assert canonical(text.encode()).count(b"\n") == len(text.splitlines()) - 1
    assert explain_text(text).matches[0].first == len(text.splitlines())


def test_an_unterminated_colour_code_does_not_swallow_the_next_line() -> None:
    text = "\x1b]8;;http://example.com\n" + NCCL
    assert [m.first for m in explain_text(text).matches] == [2]


def test_input_past_the_limit_is_refused() -> None:
    with pytest.raises(TooLarge):
        read_utf8(io.BytesIO(b"x" * 1001), limit=1000)
    assert read_utf8(io.BytesIO(b"x" * 1000), limit=1000) == b"x" * 1000


def test_a_large_log_is_explained_in_linear_time() -> None:
    """Twice the log, about twice the time: no line is searched by every signature, none twice."""
    noise = "".join(f"[rank{i % 8}]: step {i} loss 1.{i % 97:02d} lr 3e-4 tokens/s 812\n" for i in range(20000))
    small, large = (noise * n + NCCL + "\n" for n in (10, 20))  # about 10 MB and 20 MB

    def seconds(text: str) -> float:
        data = text.encode()
        started = time.perf_counter()
        assert [m.failure.id for m in explain_bytes(data).matches] == ["dist-nccl-not-built"]
        return time.perf_counter() - started

    small_time, large_time = seconds(small), seconds(large)
    assert large_time < 4 * small_time + 0.5, (small_time, large_time)
    assert large_time < 20, "20 MB should take a second or two, not minutes"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_chunk_boundaries_change_nothing(monkeypatch: pytest.MonkeyPatch, encoding: str) -> None:
    from llamadoctor.explaining import source

    monkeypatch.setattr(source, "CHUNK", 997)  # odd: cuts through CRLFs, colour codes and UTF-16 pairs
    monkeypatch.setattr(source, "_LONGEST_LINE", 5000)
    lines = [
        f"\x1b[33mstep {i}\x1b[0m caf\u00e9 \u2588 {'x' * (i % 50)}\r\n[rank{i % 4}]: {NCCL if i % 97 == 0 else 'ok'}"
        for i in range(400)
    ]
    text = "\r\n".join(lines) + "\r\n" + "y" * 12000 + "\r\n" + NCCL  # and one line longer than any chunk
    data = read_utf8(io.BytesIO(text.encode(encoding)))
    hits = [(h.failure.id, h.line_number, h.line) for h in find(FAILURES, Log(data))]
    assert hits == [(h.failure.id, h.line_number, h.line) for h in search(FAILURES, text)]
    assert len(hits) == 6
