"""The command line in a real terminal (a pty) 80 and 200 columns wide: what fits, what never wraps, colours and
status lines only where a person is watching."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from llamadoctor.engine import run
from llamadoctor.model import Check, Finding, Group, Severity
from llamadoctor.registry import all_checks
from llamadoctor.report import render_human
from llamadoctor.testing import linux_cpu
from llamadoctor.wrapping import is_command, remedy_lines

from builders.repos import crlf_repo

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-7](;[0-9]+)*m|\x1b\[[0-9;]*38;[0-9;]+m")


def in_terminal(args: list[str], columns: int, env: dict[str, str] | None = None, timeout: float = 240) -> str:
    """What a terminal `columns` wide receives from `llamadoctor ARGS` on stdout and stderr, escapes kept."""
    primary, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llamadoctor", *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**base, "TERM": "xterm-256color", **(env or {})},
        close_fds=True,
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
    return seen.decode("utf-8", "replace").replace("\r\n", "\n")


def plain(text: str) -> list[str]:
    """The lines a person reads: escapes gone, a status line's redraws reduced to what was last drawn."""
    return [ANSI.sub("", line).split("\r")[-1].rstrip() for line in text.split("\n")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return crlf_repo(tmp_path / "repo")


@pytest.mark.parametrize("columns", [80, 200])
def test_list_shows_ids_whole_and_summaries_in_the_width(columns: int) -> None:
    lines = plain(in_terminal(["list"], columns))
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    starts = {line.split()[0] for line in lines if line and not line.startswith(" ")}
    assert {c.id for c in all_checks()} <= starts  # every id on a line of its own, never broken
    assert "convert-crlf-to-lf" in starts and "make-script-executable" in starts
    row = next(line for line in lines if line.startswith("disk-low "))
    assert "Little free disk space" in row  # the summary beside its id, not in a strip of its own
    if columns == 200:
        assert "(warning)" in row  # the whole summary on one line


def test_check_in_80_columns_keeps_commands_whole(repo: Path) -> None:
    out = in_terminal(["check", "--repo", str(repo), "--no-hash"], 80)
    lines = plain(out)
    assert "     repair: llamadoctor fix download-script-crlf" in lines
    too_long = [line for line in lines if len(line) > 80]
    assert all(is_command(line.strip()) for line in too_long), too_long  # only commands, left to the terminal


def test_modes_read_as_ls_shows_them(repo: Path) -> None:
    out = "\n".join(plain(in_terminal(["fix", "--repo", str(repo), "--no-hash", "--dry-run"], 80)))
    assert f"chmod 755 {repo / 'download.sh'}  (-rwxr-xr-x)" in out and "(mode -rwxr-xr-x)" in out
    assert "?rw" not in out and "0o" not in out
    verbose = "\n".join(plain(in_terminal(["check", "--repo", str(repo), "--no-hash", "-v"], 200)))
    assert "download.sh: mode" not in verbose or "mode -rw-r--r--" in verbose


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        ([], {}, True),
        (["--no-color"], {}, False),
        ([], {"NO_COLOR": "1"}, False),
        (["--no-color"], {"FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_follows_the_flag_then_the_environment(
    repo: Path, args: list[str], env: dict[str, str], coloured: bool
) -> None:
    out = in_terminal(["check", "--repo", str(repo), "--no-hash", *args], 120, env)
    assert "download-script-crlf" in out
    assert bool(COLOUR.search(out)) is coloured


def test_force_color_colours_a_pipe(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    args = [sys.executable, "-m", "llamadoctor", "check", "--repo", str(repo), "--no-hash"]
    piped = subprocess.run(args, capture_output=True, text=True, timeout=240, env=env)
    forced = subprocess.run(args, capture_output=True, text=True, timeout=240, env={**env, "FORCE_COLOR": "1"})
    assert not COLOUR.search(piped.stdout) and COLOUR.search(forced.stdout)


def test_deep_check_says_what_it_does_only_on_a_terminal(repo: Path) -> None:
    args = ["check", "--repo", str(repo), "--no-hash", "--deep", "--only", "torch-missing"]
    assert "Importing torch in" in "\n".join(plain(in_terminal(args, 80)))
    assert "Importing torch in" not in in_terminal([*args, "--json"], 80)
    assert "Importing torch in" not in in_terminal([*args, "-q"], 80)


def test_run_smoke_shows_a_status_line_while_it_works() -> None:
    out = in_terminal(["run", "smoke", "--device", "cpu", "--tokens", "4"], 80)
    assert "Smoke test: a small random Llama on cpu" in out
    assert "Smoke test" not in in_terminal(["run", "smoke", "--device", "cpu", "--tokens", "4", "--json"], 80)


def _long_remedy(facts: object) -> Iterator[Finding]:
    yield Finding(
        "long-remedy",
        Severity.ERROR,
        "broken",
        remedy=(
            "close other programs or add swap; or run Llama 3.2 1B/3B, or a quantized GGUF (llama.cpp, Ollama), "
            "then run `llamadoctor run --model-dir /home/ada/llama/llama-2-7b` again\n"
            "or add 3 GiB of swap: "
            "sudo fallocate -l 3G /swapfile && sudo chmod 600 /swapfile && sudo mkswap /swapfile\n"
            "/home/ada/llama/.venv/bin/python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu121"
        ),
    )


@pytest.mark.parametrize("width", [80, 200])
def test_prose_remedies_wrap_at_words_under_their_indent_and_commands_never(width: int) -> None:
    spec = Check("long-remedy", "a remedy of prose and commands", Severity.ERROR, Group.SYSTEM, _long_remedy)
    console = Console(file=io.StringIO(), width=width, color_system=None)
    render_human(run(linux_cpu(), [spec]), console)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    pip = next(line for line in lines if "-m pip install" in line)
    assert (
        pip
        == "     /home/ada/llama/.venv/bin/python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu121"
    )
    quoted = next(line for line in lines if "`llamadoctor run" in line)
    assert "`llamadoctor run --model-dir /home/ada/llama/llama-2-7b`" in quoted  # quoted commands stay whole
    swap = next(line for line in lines if "fallocate" in line)
    assert "sudo fallocate -l 3G /swapfile && sudo chmod 600 /swapfile && sudo mkswap /swapfile" in swap
    prose = [line for line in lines if line.startswith("     ") and line not in (pip, quoted, swap)]
    assert all(len(line) <= width for line in prose)
    if width == 80:
        assert any(line.startswith("     close other programs") for line in prose) and len(prose) >= 2


def test_what_counts_as_a_command() -> None:
    for line in ("export X=1", '$env:X = "1"', "Remove-Item Env:RANK", "C:\\py\\python.exe -m pip", "wsl --install"):
        assert is_command(line), line
    for line in ("close other programs or add swap", "Run vLLM inside WSL2 instead:", "pin torch==2.2.2 in it"):
        assert not is_command(line), line
    assert remedy_lines("", 80) == []


def test_fix_shows_its_hashing_as_check_does(tmp_path: Path) -> None:
    from tests.builders.checkpoints import write_meta_model

    model = write_meta_model(tmp_path / "llama-2-7b")
    args = ["fix", "--model-dir", str(model), "--dry-run"]
    env = {"LLAMADOCTOR_CACHE_DIR": str(tmp_path / "cache")}
    assert "Verifying checksums" in in_terminal(args, 80, env)
    assert "Verifying checksums" not in in_terminal(args, 80, env)  # remembered: nothing to read the second time
