"""Open and read files that anyone could have put in a model folder, without ever blocking on them.

Opening a FIFO for reading waits for a writer that may never come, and a device or a socket has no end, so
only regular files are opened: checked with stat first, opened non-blocking (a FIFO that appears in between
then opens at once instead of hanging) and checked again with fstat on the open descriptor. Every read has
a size cap.

    with open_regular(path) as f:
        head = f.read(512)
    data = read_regular(path, limit=1024 * 1024)   # at most `limit` bytes
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class NotRegularFile(OSError):
    """The path is a FIFO, socket, device or folder: never opened for reading."""


def file_type(mode: int) -> str:
    """What a stat mode is, in words, for messages: "a FIFO", "a socket", "a folder", ..."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file" if not stat.S_ISREG(mode) else "a regular file"


def _refuse(mode: int) -> NotRegularFile:
    what = file_type(mode)
    return NotRegularFile(f"is {what}, not a regular file" if what != "not a regular file" else f"is {what}")


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """stat of `path` (symlinks followed); raises NotRegularFile for anything but a regular file."""
    try:
        st = os.stat(path)
    except ValueError:  # a NUL byte in a name read from a file: no file can have that name
        raise FileNotFoundError(errno.ENOENT, "no file can have a name holding a NUL byte", os.fspath(path)) from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(st.st_mode)
    return st


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """A binary file object for a regular file; raises NotRegularFile (an OSError) for anything else."""
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _BINARY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO or a device since the stat above
            raise _refuse(st.st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """At most `limit` bytes from the start of a regular file (ask for limit + 1 to tell "too large")."""
    with open_regular(path) as f:
        return f.read(limit)


def reason(exc: OSError) -> str:
    """Why a file could not be read, in a few words ("is a FIFO (named pipe), not a regular file")."""
    return exc.strerror or str(exc)


def display(path: str | os.PathLike[str] | Path) -> str:
    """A path as text that can always be printed: bytes that are not UTF-8 shown as \\xNN escapes."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def is_interruption(exc: BaseException) -> bool:
    """Ctrl-C, an exit or a generator closing, as opposed to a library failing on a bad file: Rust libraries
    (tiktoken, tokenizers, safetensors) panic with pyo3's PanicException, which derives from BaseException."""
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))
