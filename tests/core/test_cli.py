"""The command line as a user meets it: exit codes, one-line errors, JSON, help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor import __version__
from llamadoctor.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_json_on_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke("check", "--json")
    data = json.loads(out)
    assert data["schema"] == 1 and data["llamadoctor"] == __version__
    assert code == data["summary"]["exit_code"] == (0 if data["summary"]["ready"] else 1)
    assert data["facts"]["python"]["executable"]
    assert {c["check"] for c in data["checks"]} >= {f["check"] for f in data["findings"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "--only", "no-such-check"), "unknown check id 'no-such-check'"),
        (("check", "--python", "/no/such/python"), "--python: /no/such/python does not exist"),
        (("check", "--repo", "/no/such/folder"), "--repo /no/such/folder does not exist"),
        (("check", "--dtype", "int3"), "--dtype must be one of bf16, fp16, fp32"),
        (("list", "no-such-check"), "unknown check, fix or failure id"),
        (("undo", "20990101-000000-0000"), "no journal entry"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_unreadable_folder_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    if os.access(locked, os.R_OK):  # root reads anything: deny it the way a plain user is denied
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and real(p, mode, **kw))
    try:
        code, _, err = invoke("check", "--repo", str(locked))
        assert code == 2 and "--repo" in err and "cannot be read (permission denied)" in err
        assert len(err.strip().splitlines()) == 1
    finally:
        locked.chmod(0o755)


def test_check_offers_a_repair_only_where_a_fix_plans_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "params.json").write_text('{"dim": 4096}')  # nothing to re-download, nothing to convert
    (tmp_path / "download.sh").write_bytes(b"#!/bin/bash\r\necho hi\r\n")  # CRLF: convert-crlf-to-lf applies
    code, out, _ = invoke("check", "--json", "--only", "model-dir-incomplete,download-script-crlf")
    fixes = {f["check"]: f["fixes"] for f in json.loads(out)["findings"]}
    assert code == 1
    assert fixes["model-dir-incomplete"] == []
    assert "convert-crlf-to-lf" in fixes["download-script-crlf"]
    _, human, _ = invoke("check", "--only", "model-dir-incomplete,download-script-crlf")
    assert "repair: llamadoctor fix download-script-crlf" in human
    assert "repair: llamadoctor fix model-dir-incomplete" not in human


def test_usage_errors_from_typer_are_exit_2() -> None:
    code, _, _ = invoke("check", "--max-seq-len", "zero")
    assert code == 2


def test_version_and_help() -> None:
    assert invoke("--version")[1].strip() == f"llamadoctor {__version__}"
    code, out, _ = invoke("--help")
    assert code == 0 and "check" in out and "fix" in out and "undo" in out


def test_list_prints_the_catalogue() -> None:
    code, out, _ = invoke("list")
    assert code == 0 and "checks," in out


def test_fix_with_nothing_to_fix_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke("fix", "--dry-run", "--only-this-is-not-an-option")
    assert code == 2
    code, out, _ = invoke("undo", "--list")
    assert code == 0 and "No fixes have been applied." in out


def test_python_dash_m_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llamadoctor", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == f"llamadoctor {__version__}"


def test_a_folder_without_permission_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != tmp_path and real(p, mode, **kw))
    code, _, err = invoke("check", "--repo", str(tmp_path))
    assert code == 2 and "cannot be read (permission denied)" in err
