from __future__ import annotations

import shlex
import subprocess

import pytest

from llamadoctor.shell import (
    comment,
    continuation,
    env_commands,
    flavour,
    join_lines,
    quote,
    render_argv,
    set_env,
    unset_env,
)


@pytest.mark.parametrize(
    ("shell", "kind"),
    [
        ("bash", "posix"),
        ("zsh", "posix"),
        ("sh", "posix"),
        ("", "posix"),
        ("powershell", "powershell"),
        ("pwsh", "powershell"),
        ("cmd", "cmd"),
    ],
)
def test_flavour(shell: str, kind: str) -> None:
    assert flavour(shell) == kind


@pytest.mark.parametrize(
    ("arg", "shell", "quoted"),
    [
        pytest.param("plain", "bash", "plain", id="posix-plain"),
        pytest.param("a b", "bash", "'a b'", id="posix-space"),
        pytest.param("it's", "zsh", "'it'\"'\"'s'", id="posix-single-quote"),
        pytest.param(r"C:\Users\ada\python.exe", "powershell", r"C:\Users\ada\python.exe", id="ps-path"),
        pytest.param(
            r"C:\Program Files\Py\python.exe", "powershell", r"'C:\Program Files\Py\python.exe'", id="ps-space"
        ),
        pytest.param("ada's", "powershell", "'ada''s'", id="ps-single-quote"),
        pytest.param("$HOME", "powershell", "'$HOME'", id="ps-dollar"),
        pytest.param("a,b", "powershell", "'a,b'", id="ps-comma-is-an-array"),
        pytest.param(r"C:\Program Files\x", "cmd", r'"C:\Program Files\x"', id="cmd-space"),
        pytest.param('say "hi"', "cmd", '"say ""hi"""', id="cmd-double-quote"),
        pytest.param("a&b", "cmd", '"a&b"', id="cmd-ampersand"),
        pytest.param("", "cmd", '""', id="cmd-empty"),
        pytest.param("--index-url", "cmd", "--index-url", id="cmd-option"),
    ],
)
def test_quote(arg: str, shell: str, quoted: str) -> None:
    assert quote(arg, shell) == quoted


def test_posix_quoting_round_trips_through_bash() -> None:
    argv = ["printf", "%s\\n", "a b", "it's", "$HOME", "`x`", "--flag=1"]
    command = render_argv(argv, "bash")
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == argv[2:]
    assert shlex.split(render_argv(argv, "bash")) == argv


def test_powershell_calls_a_quoted_program_with_the_call_operator() -> None:
    argv = [r"C:\Program Files\Python311\python.exe", "-m", "pip", "install", "torch"]
    assert render_argv(argv, "powershell") == (r"& 'C:\Program Files\Python311\python.exe' -m pip install torch")
    assert render_argv([r"C:\py\python.exe", "-V"], "powershell") == r"C:\py\python.exe -V"
    assert render_argv(argv, "cmd") == r'"C:\Program Files\Python311\python.exe" -m pip install torch'
    assert render_argv([], "bash") == ""


@pytest.mark.parametrize(
    ("shell", "set_line", "unset_line"),
    [
        ("bash", "export MASTER_ADDR=127.0.0.1", "unset RANK"),
        ("zsh", "export MASTER_ADDR=127.0.0.1", "unset RANK"),
        ("powershell", '$env:MASTER_ADDR = "127.0.0.1"', "Remove-Item Env:RANK"),
        ("cmd", "set MASTER_ADDR=127.0.0.1", "set RANK="),
    ],
)
def test_env_lines(shell: str, set_line: str, unset_line: str) -> None:
    assert set_env("MASTER_ADDR", "127.0.0.1", shell) == set_line
    assert unset_env("RANK", shell) == unset_line
    assert env_commands(shell, unset=["RANK"], assign={"MASTER_ADDR": "127.0.0.1"}) == (unset_line, set_line)


def test_env_values_that_need_quoting() -> None:
    assert set_env("X", "a b", "bash") == "export X='a b'"
    assert set_env("X", "$a", "powershell") == "$env:X = '$a'"
    assert set_env("X", "a&b", "cmd") == 'set "X=a&b"'
    assert set_env("USE_LIBUV", "0", "powershell") == '$env:USE_LIBUV = "0"'


@pytest.mark.parametrize(("shell", "mark"), [("bash", " \\"), ("zsh", " \\"), ("powershell", " `"), ("cmd", " ^")])
def test_multiline_commands(shell: str, mark: str) -> None:
    assert continuation(shell) == mark
    text = join_lines(["torchrun --nproc_per_node 1 example_chat_completion.py", "--ckpt_dir llama-2-7b-chat/"], shell)
    first, second = text.splitlines()
    assert first.endswith(mark) and second == "    --ckpt_dir llama-2-7b-chat/"


def test_multiline_bash_command_runs() -> None:
    text = join_lines(["printf '%s-'", "a", "b"], "bash")
    out = subprocess.run(["bash", "-c", text], capture_output=True, text=True, check=True)
    assert out.stdout == "a-b-"


def test_comment() -> None:
    assert comment("then run", "cmd") == "REM then run"
    assert comment("then run", "powershell") == "# then run"
