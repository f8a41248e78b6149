"""`explain -- COMMAND`: what a command line says about the run it starts, and running it with its output live.

intended = parse_command(["torchrun", "--nproc_per_node", "1", "example_chat_completion.py",
                          "--ckpt_dir", "llama-2-7b-chat/", "--max_seq_len", "512"])
intended.nproc, intended.ckpt_dir, intended.max_seq_len      # 1, "llama-2-7b-chat/", 512
"""

from __future__ import annotations

import codecs
import os
import queue
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional

TAIL_CHARS = 4 << 20  # what is kept of a command's output for matching: its end, where failures are
READ_SIZE = 1 << 16
QUIET = 0.2  # seconds without output after which a line still being written is shown as it is
_PYTHON = re.compile(r"^(?:python(?:\d+(?:\.\d+)*)?w?|py)(?:\.exe)?$", re.IGNORECASE)
_LAUNCHER_MODULES = ("torch.distributed.run", "torch.distributed.launch")
# torchrun options that take no value: every other option before the script takes one.
_LAUNCHER_FLAGS = {"--standalone", "--no_python", "--no-python", "--run_path", "--run-path", "-m", "--module"}
_SCRIPT_VALUES = ("ckpt_dir", "tokenizer_path", "max_seq_len", "max_batch_size")


@dataclass(frozen=True)
class Intended:
    """The run a command line asks for, as far as the checks care."""

    python: Optional[str] = None  # the interpreter named on the command line
    launcher: Optional[str] = None  # torchrun, when the command starts with it
    script: Optional[str] = None
    nproc: Optional[int] = None
    ckpt_dir: Optional[str] = None
    tokenizer_path: Optional[str] = None
    max_seq_len: Optional[int] = None
    max_batch_size: Optional[int] = None

    @property
    def downloads(self) -> bool:
        return bool(self.script and self.script.endswith(".sh"))


def _program(word: str) -> str:
    return re.split(r"[\\/]", word)[-1]


def parse_command(argv: Sequence[str]) -> Intended:
    words = list(argv)
    python = launcher = None
    if words and _PYTHON.match(_program(words[0])):
        python, words = words[0], words[1:]
        while words and words[0].startswith("-") and words[0] not in ("-m", "-c"):
            words = words[2:] if words[0] in ("-X", "-W") else words[1:]
        if len(words) >= 2 and words[0] == "-m" and words[1] in _LAUNCHER_MODULES:
            launcher, words = words[1], _after_launcher_options(words[2:])
    elif words and _program(words[0]).lower() in ("torchrun", "torchrun.exe"):
        launcher, words = words[0], _after_launcher_options(words[1:])
    elif words and _program(words[0]) in ("bash", "sh", "zsh", "bash.exe"):
        words = words[1:]
    launcher_words = list(argv)[: len(argv) - len(words)]
    script = words[0] if words else None
    values = _options(words[1:])
    return Intended(
        python=python,
        launcher=launcher,
        script=script,
        nproc=_int(_options(launcher_words).get("nproc_per_node")),
        ckpt_dir=values.get("ckpt_dir"),
        tokenizer_path=values.get("tokenizer_path"),
        max_seq_len=_int(values.get("max_seq_len")),
        max_batch_size=_int(values.get("max_batch_size")),
    )


def _after_launcher_options(words: list[str]) -> list[str]:
    """The script and its arguments: what follows the launcher's own options."""
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 1 if ("=" in words[i] or words[i] in _LAUNCHER_FLAGS) else 2
    return words[i:]


def _options(words: Sequence[str]) -> dict[str, str]:
    """`--name value` and `--name=value` pairs, names written with `_` (fire takes `-` too)."""
    found: dict[str, str] = {}
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        name, eq, value = word[2:].partition("=")
        if not eq:
            value = words[i + 1] if i + 1 < len(words) else ""
        found.setdefault(name.replace("-", "_"), value)
    return found


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Finished:
    returncode: int  # the shell's way: 128 + N for a process ended by signal N
    tail: str  # the end of what it printed, at most TAIL_CHARS
    timed_out: bool = False


def run_streaming(argv: Sequence[str], show: Callable[[str], None], timeout: float) -> Finished:
    """Run `argv` (no shell; stdin is the user's), pass its output to `show` as it comes, keep its end.

    Complete lines are shown at once; a line still being written (a prompt, a progress bar) once the command
    has been quiet for a moment. Raises OSError when the program cannot be started."""
    process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    chunks: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process, chunks), daemon=True)
    reader.start()
    tail: deque[str] = deque()
    kept, pending = 0, ""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                _stop(process)
                return Finished(124, "".join(tail), timed_out=True)
            try:
                chunk = chunks.get(timeout=QUIET)
            except queue.Empty:
                if pending:
                    show(pending)
                    pending = ""
                continue
            text = decoder.decode(chunk, final=not chunk)
            tail.append(text)
            kept += len(text)
            while kept > TAIL_CHARS and len(tail) > 1:
                kept -= len(tail.popleft())
            pending += text
            cut = pending.rfind("\n") + 1
            if cut:
                show(pending[:cut])
                pending = pending[cut:]
            if not chunk:
                break
    except BaseException:
        _stop(process)
        raise
    if pending:
        show(pending)
    code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    return Finished(code if code >= 0 else 128 - code, "".join(tail))


def _pump(process: subprocess.Popen[bytes], chunks: queue.Queue[bytes]) -> None:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    while True:
        try:
            chunk = os.read(fd, READ_SIZE)
        except OSError:
            chunk = b""
        chunks.put(chunk)
        if not chunk:
            return


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
