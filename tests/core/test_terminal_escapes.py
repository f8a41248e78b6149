"""A hostile file name is shown, never obeyed: no escape sequence, bell or control byte reaches the terminal raw."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.redact import SafeStream, escape_controls

HOSTILE = {
    "hyperlink": "r\x1b]8;;http:\u2215\u2215evil\x07click me\x1b]8;;\x07",  # a name holds no "/"
    "clear-screen": "r\x1b[2J\x1b[H",
    "colour-and-erase": "r\x1b[31m\x1b[1A\x1b[2Kred",
    "controls": "r\x01\x08\x0b\x0c\x7f\u202eevil",
}
# Anything a terminal acts on: C0 but newline and tab, DEL, C1, and undecodable bytes shown raw.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\ud800-\udfff]")

runner = CliRunner()


def invoke(*args: Any) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def _repo(tmp_path: Path, name: str) -> Path:
    repo = tmp_path / name
    repo.mkdir()
    (repo / "download.sh").write_bytes(b"#!/bin/bash\r\necho hi\r\n")  # a finding that names the file
    return repo


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("form", ["human", "--markdown", "-v"])
def test_check_shows_a_hostile_folder_name_escaped(name: str, form: str, tmp_path: Path) -> None:
    repo = _repo(tmp_path, name)
    args = ["check", "--only", "download-script-crlf", "--repo", repo] + ([] if form == "human" else [form])
    code, out, err = invoke(*args)
    assert code == 1 and "download-script-crlf" in out
    assert not RAW_CONTROL.search(out + err), repr(out)
    assert escape_controls(name) in out.replace("\n", "").replace(" ", "") or "\\u001b" in out


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_check_json_stays_valid_and_keeps_the_real_name(name: str, tmp_path: Path) -> None:
    repo = _repo(tmp_path, name)
    _, out, _ = invoke("check", "--json", "--only", "download-script-crlf", "--repo", repo)
    data = json.loads(out)
    assert any(name in f["message"] for f in data["findings"])


def test_undecodable_bytes_in_a_name_are_not_written_raw(tmp_path: Path) -> None:
    name = os.fsdecode(b"r\x9b2J\xff")  # 0x9b is a one-byte CSI on 8-bit terminals
    repo = _repo(tmp_path, name)
    result = runner.invoke(app, ["check", "--only", "download-script-crlf", "--repo", str(repo)])
    assert b"\x9b" not in result.stdout_bytes and "\\udc9b" in result.stdout.replace("\n", "")


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_errors_show_a_hostile_name_escaped(name: str, tmp_path: Path) -> None:
    folder = tmp_path / name
    folder.mkdir()
    for args in (
        ["run", "text", "--model-dir", folder, "--prompt", "x"],
        ["estimate", "--model-dir", folder],
        ["check", "--repo", folder / "missing"],
        ["convert", "--model-dir", folder, "--out", folder],
    ):
        code, out, err = invoke(*args)
        assert code in (1, 2) and err.strip(), args
        assert not RAW_CONTROL.search(out + err), repr(err)


def _tty_stream(**kwargs: Any) -> tuple[SafeStream, io.StringIO]:
    raw = io.StringIO()
    raw.isatty = lambda: True  # type: ignore[method-assign]
    return SafeStream(raw, **kwargs), raw


def test_on_a_terminal_only_colours_pass_on_stdout() -> None:
    stream, raw = _tty_stream()
    stream.write("\x1b[1;31mred\x1b[0m " + HOSTILE["clear-screen"] + HOSTILE["hyperlink"] + "\x1b[1A\r\n")
    assert raw.getvalue().startswith("\x1b[1;31mred\x1b[0m r\\u001b[2J")
    assert not RAW_CONTROL.search(raw.getvalue().replace("\x1b[1;31m", "").replace("\x1b[0m", ""))


def test_on_a_terminal_stderr_also_passes_a_progress_display_but_no_hyperlink_or_bell() -> None:
    stream, raw = _tty_stream(live=True)
    stream.write("\x1b[?25l\r\x1b[2K\x1b[1Ahashing 50%" + HOSTILE["hyperlink"] + "\n")
    assert raw.getvalue().startswith("\x1b[?25l\r\x1b[2K\x1b[1Ahashing 50%r\\u001b]8;;http:")
    assert "\\u0007click me" in raw.getvalue()


def test_the_human_report_escapes_names_even_for_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer lets rich's colours through on a terminal; a colour or erase in a name must not ride along."""
    monkeypatch.setattr(SafeStream, "isatty", lambda self: True)
    repo = _repo(tmp_path, HOSTILE["colour-and-erase"])
    _, out, _ = invoke("check", "--only", "download-script-crlf", "--repo", repo)
    assert "\x1b[1A" not in out and "\x1b[2K" not in out and "\x1b[31m\\u001b" not in out
    assert "r\\u001b[31m" in out.replace("\n", "")
