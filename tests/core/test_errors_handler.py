"""Every command fails the same way: one line, the same wording, the same exit codes, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.errors import CRASH_LOGS_KEPT, run_guarded, write_crash_log

runner = CliRunner()


def invoke(*args: Any) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str, out: str = "") -> str:
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _bug(*_: Any, **__: Any) -> Any:
    raise ZeroDivisionError("a bug of ours")


def _ctrl_c(*_: Any, **__: Any) -> Any:
    raise KeyboardInterrupt


# (command line, the function inside it that the test makes fail); {d} is an existing folder.
COMMANDS = [
    (("check",), "llamadoctor.doctor.diagnose"),
    (("list",), "llamadoctor.catalogue.render_catalogue"),
    (("fix", "--yes"), "llamadoctor.doctor.diagnose"),
    (("undo", "--list"), "llamadoctor.apply.read_all"),
    (("estimate", "--model-dir", "{d}"), "llamadoctor.estimate.estimate_for_model_dir"),
    (("run", "text", "--model-dir", "{d}", "--prompt", "x"), "llamadoctor.runner.session.Session.prepare"),
    (("run", "chat", "--model-dir", "{d}", "--prompt", "x"), "llamadoctor.runner.session.Session.prepare"),
    (("run", "chat", "-i", "--model-dir", "{d}"), "llamadoctor.runner.session.Session.prepare"),
    (("run", "smoke", "--device", "cpu"), "llamadoctor.runner.smoke.run_smoke"),
    (("convert", "--model-dir", "{d}", "--out", "{d}/out"), "llamadoctor.runner.conversion.convert.convert"),
]
IDS = [" ".join(a for a in args if not a.startswith("{")) for args, _ in COMMANDS]


def _args(args: tuple[str, ...], folder: Path) -> list[str]:
    return [a.format(d=folder) for a in args]


@pytest.mark.parametrize(("args", "target"), COMMANDS, ids=IDS)
def test_a_bug_in_any_command_is_one_line_a_crash_log_and_exit_3(
    args: tuple[str, ...], target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_state_dir: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(target, _bug)
    code, out, err = invoke(*_args(args, tmp_path))
    line = one_line(err, out)
    assert code == 3
    assert line.startswith("llamadoctor: internal error: ZeroDivisionError: a bug of ours (details in ")
    logs = list((_private_state_dir / "crashes").glob("crash-*.log"))
    assert len(logs) == 1 and "ZeroDivisionError" in logs[0].read_text() and str(logs[0]) in line


@pytest.mark.parametrize(("args", "target"), COMMANDS, ids=IDS)
def test_ctrl_c_in_any_command_is_exit_130(
    args: tuple[str, ...], target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(target, _ctrl_c)
    code, out, err = invoke(*_args(args, tmp_path))
    assert code == 130 and "interrupted" in one_line(err, out)


MISSING = [
    ("check", "--model-dir", "{m}"),
    ("fix", "--model-dir", "{m}"),
    ("estimate", "--model-dir", "{m}"),
    ("run", "text", "--model-dir", "{m}", "--prompt", "x"),
    ("run", "chat", "--model-dir", "{m}", "--prompt", "x"),
    ("convert", "--model-dir", "{m}", "--out", "{o}"),
]


@pytest.mark.parametrize("args", MISSING, ids=[" ".join(a[:2]) for a in MISSING])
def test_a_missing_folder_is_the_same_line_and_exit_2_everywhere(args: tuple[str, ...], tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, out, err = invoke(*[a.format(m=missing, o=tmp_path / "out") for a in args])
    assert code == 2
    assert one_line(err, out).startswith(f"llamadoctor: error: --model-dir {missing} does not exist")


BAD_VALUES = [
    ("check", "--max-seq-len", "0"),
    ("check", "--max-batch-size", "-1"),
    ("check", "--max-batch-size", str(2**40)),
    ("check", "--nproc", "0"),
    ("estimate", "--model-dir", "{d}", "--max-seq-len", "0"),
    ("estimate", "--model-dir", "{d}", "--max-batch-size", str(2**40)),
    ("estimate", "--model-dir", "{d}", "--nproc", "-3"),
    ("run", "text", "--model-dir", "{d}", "--top-p", "2"),
    ("run", "text", "--model-dir", "{d}", "--top-p", "0"),
    ("run", "text", "--model-dir", "{d}", "--top-p", "nan"),
    ("run", "text", "--model-dir", "{d}", "--temperature", "-1"),
    ("run", "text", "--model-dir", "{d}", "--temperature", "inf"),
    ("run", "text", "--model-dir", "{d}", "--temperature", "nan"),
    ("run", "text", "--model-dir", "{d}", "--temperature", "1e-300"),
    ("run", "text", "--model-dir", "{d}", "--seed", "-1"),
    ("run", "text", "--model-dir", "{d}", "--seed", str(2**64)),
    ("run", "text", "--model-dir", "{d}", "--max-gen-len", "0"),
    ("run", "text", "--model-dir", "{d}", "--max-gen-len", str(2**40)),
    ("run", "chat", "--model-dir", "{d}", "--max-gen-len", "-5"),
    ("run", "chat", "--model-dir", "{d}", "--max-seq-len", "0"),
    ("run", "smoke", "--tokens", "0"),
    ("run", "smoke", "--tokens", "abc"),
    ("check", "--no-such-option"),
]


@pytest.mark.parametrize("args", BAD_VALUES, ids=[" ".join(a) for a in BAD_VALUES])
def test_a_bad_option_value_is_one_line_and_exit_2(args: tuple[str, ...], tmp_path: Path) -> None:
    code, out, err = invoke(*_args(args, tmp_path))
    line = one_line(err, out)
    assert code == 2 and line.startswith("llamadoctor: error: ") and "  fix: " in line
    assert args[-2] in line or args[-1] in line
    assert "╭" not in err and "Usage:" not in err


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`llamadoctor list | head -1`: the reader left; no message, no crash log, SIGPIPE's status."""
    env = {**os.environ, "LLAMADOCTOR_STATE_DIR": str(tmp_path)}
    for args in (["list"], ["check", "--json", "--only", "download-script-crlf"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "llamadoctor", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 141, err
        assert err == b""
    assert not (tmp_path / "crashes").exists()


def test_ctrl_c_at_a_question_is_130_and_no_answer_is_1(capsys: pytest.CaptureFixture[str]) -> None:
    def answer(exc: BaseException) -> Any:
        def body() -> None:
            try:
                raise exc
            except BaseException:
                raise typer.Abort() from None  # as click.prompt does

        return body

    assert run_guarded(answer(KeyboardInterrupt())) == 130
    assert run_guarded(answer(EOFError())) == 1
    assert "no answer" in capsys.readouterr().err


def test_crash_logs_are_kept_one_per_crash_and_bounded(tmp_path: Path) -> None:
    for n in range(CRASH_LOGS_KEPT + 5):
        try:
            raise ValueError(f"crash {n} at https://x.llamameta.net/*?Policy=SECRETPOLICY&Signature=SECRETSIG")
        except ValueError as exc:
            assert write_crash_log(exc, tmp_path)
    logs = sorted(tmp_path.glob("crash-*.log"))
    assert len(logs) == CRASH_LOGS_KEPT
    texts = [p.read_text() for p in logs]
    assert "crash 24 " in texts[-1] and not any("crash 4 " in t for t in texts)  # the newest are kept
    assert not any("SECRET" in t for t in texts)
