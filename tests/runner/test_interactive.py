"""`run chat -i` as a user drives it: in a real terminal (a pty: prompt_toolkit edits lines, Ctrl-C stops an
answer and keeps the chat) and piped (slash commands, multi-line messages)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from llamadoctor.runner import interactive, prompt
from llamadoctor.runner.chat import Message
from llamadoctor.runner.cli import app

GREEDY = ["--temperature", "0", "--device", "cpu"]
HOME, DELETE, UP, ALT_ENTER, CTRL_C = b"\x1b[H", b"\x1b[3~", b"\x1b[A", b"\x1b\r", b"\x03"


def _chat(*args: object, text: str) -> str:
    result = CliRunner().invoke(app, ["chat", "-i", *map(str, args), *GREEDY], input=text)
    assert result.exit_code == 0, result.output
    return result.stdout


def _answers(stdout: str) -> list[str]:
    return [part.split("\n")[0] for part in stdout.split("> Assistant: ")[1:]]


def test_help_reset_unknown_commands_and_multi_line_messages_piped(model_dir) -> None:
    folder = model_dir("llama2", "meta")
    turns = '/help\n/nope\n"""\nfirst line\nsecond line\n"""\n/reset\nfirst line\\\nsecond line\n\n/exit\nnot read\n'
    out = _chat("--model-dir", folder, "--max-gen-len", "6", "--max-seq-len", "1024", text=turns)
    assert "Ctrl-C while the model answers stops the answer" in out and '"""' in out
    assert "(unknown command /nope: /help lists them)" in out and "(conversation cleared)" in out
    block, continued = _answers(out)  # /exit ended the chat before the last line
    one = CliRunner().invoke(
        app, ["chat", "--model-dir", str(folder), "--prompt", "first line\nsecond line", "--max-gen-len", "6",
              "--max-seq-len", "1024", "--json", *GREEDY]
    )  # fmt: skip
    expected = json.loads(one.stdout)["results"][0]["generation"]["content"]
    # Both ways of writing two lines send the same two-line message as --prompt does.
    assert block == continued == expected.split("\n")[0]
    assert "tok/s" in out.strip().splitlines()[-1]


class Lines:
    def __init__(self, *lines: str | BaseException | None) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []

    def read(self, text: str) -> str | None:
        self.prompts.append(text)
        line = self.lines.pop(0)
        if isinstance(line, BaseException):
            raise line
        return line


def test_messages_join_their_lines_and_ctrl_c_inside_one_cancels_it() -> None:
    assert prompt.read_message(Lines('"""one"""')) == "one"
    assert prompt.read_message(Lines('  """', "a", "  b  ", 'c """')) == "a\n  b  \nc "
    two = Lines("a\\", "b\\", "c")
    assert prompt.read_message(two) == "a\nb\nc" and two.prompts == [prompt.PROMPT, prompt.MORE, prompt.MORE]
    assert prompt.read_message(Lines('"""', "open", None)) == "open"  # the end of input closes a block
    assert prompt.read_message(Lines(None)) is None
    with pytest.raises(prompt.Cancelled):
        prompt.read_message(Lines("a\\", KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        prompt.read_message(Lines(KeyboardInterrupt()))


def test_a_stopped_answer_stays_as_what_was_said_unless_nothing_was() -> None:
    start = [Message("system", "s")]
    user = Message("user", "u")
    kept = interactive.after_answer(start, user, "partial", stopped=True)
    assert kept.dialog == [*start, user, Message("assistant", "partial")] and kept.note == "(stopped)"
    dropped = interactive.after_answer(start, user, "", stopped=True)
    assert dropped.dialog == start and "dropped" in dropped.note
    assert interactive.after_answer(start, user, "", stopped=False).dialog == [*start, user, Message("assistant", "")]


def test_history_is_bounded_and_skips_what_it_cannot_read(tmp_path) -> None:
    pytest.importorskip("prompt_toolkit")
    path = tmp_path / "state" / prompt.HISTORY_NAME
    history = prompt._history_class()(path, limit=3)
    for entry in ("a", "b\nmulti", "c", "d"):
        history.store_string(entry)
    with path.open("a") as f:
        f.write("not json\n")
    assert list(history.load_history_strings()) == ["d", "c", "b\nmulti"]
    assert prompt.read_history(path) == ["b\nmulti", "c", "d"]  # trimmed on disk too
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0  # private: it holds what the user typed


def _endless_model(tmp_path: Path, source: Path) -> Path:
    """A tiny Llama 2 whose final norm is zero: every logit is 0, greedy picks token 0 forever, never a stop."""
    folder = tmp_path / "endless-chat"
    folder.mkdir()
    for item in source.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    weights = folder / "consolidated.00.pth"
    state = torch.load(weights, weights_only=True)
    state["norm.weight"] = torch.zeros_like(state["norm.weight"])
    torch.save(state, weights)
    return folder


class Terminal:
    """A child process on a pseudo-terminal it has as its controlling terminal, so Ctrl-C is a real SIGINT."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import pty

        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # a test runner may start with SIGINT ignored
            os.execve(argv[0], argv, env)
        self.pid, self.fd, self.seen = pid, fd, b""

    def expect(self, text: str, timeout: float = 180) -> None:
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            assert time.monotonic() < deadline, f"no {text!r} in {self.seen[-2000:]!r}"
            if select.select([self.fd], [], [], 1)[0]:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    assert wanted in self.seen, f"ended without {text!r}: {self.seen[-2000:]!r}"
        self.seen = self.seen[self.seen.index(wanted) + len(wanted) :]

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.5)[0]:
                with contextlib.suppress(OSError):  # the child closed the terminal
                    self.seen += os.read(self.fd, 65536)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the chat did not end")


@pytest.mark.slow
def test_in_a_terminal_lines_edit_ctrl_c_stops_an_answer_and_the_chat_goes_on(tmp_path, model_dir) -> None:
    pytest.importorskip("prompt_toolkit")
    pytest.importorskip("pty")  # POSIX terminals
    folder = _endless_model(tmp_path, model_dir("llama2", "meta"))
    state = tmp_path / "state"
    env = {**os.environ, "LLAMADOCTOR_STATE_DIR": str(state), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    argv = [sys.executable, "-m", "llamadoctor", "run", "chat", "-i", "--model-dir", str(folder), "--max-seq-len",
            "4096", *GREEDY]  # fmt: skip
    term = Terminal(argv, env)
    term.expect("User:")
    term.send(b"xhelo" + HOME + DELETE + b"\x1b[C\x1b[C\x1b[Cl\r")  # typed "xhelo", fixed to "hello"
    term.expect("> Assistant: ")
    term.expect("\u2047")  # SentencePiece's text for token 0: the answer is streaming
    term.send(CTRL_C)
    term.expect("[stopped]")
    term.expect("(stopped)")
    term.expect("User:")
    term.send(b"first" + ALT_ENTER + b"second" + CTRL_C)  # Ctrl-C on a half-typed message clears it
    term.send(b"/help\r")
    term.expect("Ctrl-C while the model answers")
    term.expect("User:")
    term.send(UP + UP + b"\r")  # history: the message before /help
    term.expect("> Assistant: ")
    term.expect("\u2047")
    term.send(CTRL_C)
    term.expect("(stopped)")
    term.expect("User:")
    term.send(b"/reset\r")
    term.expect("(conversation cleared)")
    term.expect("User:")
    term.send(b"one" + ALT_ENTER + b"two\r")  # Alt-Enter: a message of two lines
    term.expect("> Assistant: ")
    term.expect("\u2047")
    term.send(CTRL_C)
    term.expect("(stopped)")
    term.expect("User:")
    term.send(CTRL_C)  # at an empty prompt: the chat ends, as Ctrl-D does
    assert term.wait() == 0
    assert b"tok/s" in term.seen
    assert prompt.read_history(state / prompt.HISTORY_NAME) == ["hello", "/help", "hello", "/reset", "one\ntwo"]
