"""Point the environment's torchrun launcher at the environment's own python."""

from __future__ import annotations

import re

from llamadoctor.facts import Facts, Launcher
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual, WriteFile
from llamadoctor.registry import fix
from llamadoctor.shebang import splits_at_space
from llamadoctor.shell import render_argv

# pip's header for interpreters a kernel cannot take from a #! line (spaces, over 127 bytes)
_EXEC_HEAD = re.compile(rb"^#![^\r\n]*\r?\n'''exec'[^\r\n]*\r?\n' '''\r?\n")
_FIRST_LINE = re.compile(rb"^[^\r\n]*(\r?\n|$)")


def header(facts: Facts, newline: bytes) -> bytes:
    """The #! header naming the target interpreter, as pip would write it for this OS."""
    python = facts.python.executable
    if facts.os == "windows":
        line = f'#!"{python}"' if " " in python else f"#!{python}"
        return line.encode("utf-8") + newline
    if " " not in python and len(python) < 127:
        return f"#!{python}".encode() + newline
    lines = ("#!/bin/sh", f'\'\'\'exec\' "{python}" "$0" "$@"', "' '''")
    return b"".join(line.encode("utf-8") + newline for line in lines)


def rewritten(data: bytes, facts: Facts) -> bytes:
    """The launcher's bytes with its header replaced; every other byte (and the line endings) kept."""
    first = _FIRST_LINE.match(data)
    newline = first.group(1) if first and first.group(1) else b"\n"
    if not data.startswith(b"#!"):
        return header(facts, newline) + data  # no header to replace: add one, lose nothing
    match = _EXEC_HEAD.match(data) or first
    return header(facts, newline) + data[match.end() if match else 0 :]


def _reinstall(facts: Facts, launcher: Launcher) -> Manual:
    command = render_argv(
        [facts.python.executable, "-m", "pip", "install", "--force-reinstall", "--no-deps", "torch"],
        facts.platform.shell,
    )
    return Manual(
        _(
            "{launcher} is a binary launcher; reinstalling torch writes a new one for {python} (same torch version, "
            "dependencies untouched)."
        ).format(launcher=launcher.path, python=facts.python.executable),
        (command,),
    )


@fix(
    id="rewrite-torchrun-shebang",
    summary="Rewrite torchrun's first line to the environment's python",
    applicability=Applicability.SAFE,
)
def rewrite_torchrun_shebang(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    """Plan the new launcher bytes from the script the probe read; reads and writes nothing."""
    launcher = facts.torchrun
    if launcher is None or (launcher.interpreter_exists and splits_at_space(launcher) is None):
        return ()
    if launcher.kind == "exe":
        return (_reinstall(facts, launcher),)
    before = launcher.content
    if before is None:
        return (
            Manual(
                _("Cannot read {launcher} whole: edit its first line to #!{python} by hand.").format(
                    launcher=launcher.path, python=facts.python.executable
                )
            ),
        )
    after = rewritten(before, facts)
    return () if after == before else (WriteFile(launcher.path, after, before),)
