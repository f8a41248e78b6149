"""`llamadoctor check`, `fix` and `undo` as a user runs them, on a real repo folder in tmp_path."""

from __future__ import annotations

import json
import stat
import sys
from io import StringIO
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.fixing import PlannedFix, render_plan
from llamadoctor.model import Applicability, Finding, Fix, Manual, Severity, WriteFile

CRLF_SCRIPT = (b"#!/usr/bin/env bash\r\n# Copyright (c) Meta Platforms, Inc.\r\nset -e\r\n"
               b"read -p \"Enter the URL from email: \" PRESIGNED_URL\r\necho \"\"\r\n")
runner = CliRunner()
WINDOWS = sys.platform == "win32"


def findings(repo: Path) -> dict[str, str]:
    result = runner.invoke(app, ["check", "--repo", str(repo), "--json", "--only",
                                 "download-script-crlf,download-script-not-executable"])
    return {f["check"]: f["message"] for f in json.loads(result.stdout)["findings"]}


def test_crlf_script_is_found_fixed_rechecked_and_undone(tmp_path: Path) -> None:
    script = tmp_path / "download.sh"
    script.write_bytes(CRLF_SCRIPT)
    script.chmod(0o644)
    # Windows has no execute bit: there only the line endings are a finding.
    expected = {"download-script-crlf"} | (set() if WINDOWS else {"download-script-not-executable"})
    assert set(findings(tmp_path)) == expected

    dry = runner.invoke(app, ["fix", "--repo", str(tmp_path), "--dry-run"])
    assert dry.exit_code == 0
    assert "-set -e␍" in dry.stdout and "+set -e" in dry.stdout
    assert script.read_bytes() == CRLF_SCRIPT  # a dry run changes nothing

    done = runner.invoke(app, ["fix", "--repo", str(tmp_path), "--yes"])
    assert done.exit_code == 0, done.stdout
    assert "✓ fixed" in done.stdout and "still fails" not in done.stdout
    assert script.read_bytes() == CRLF_SCRIPT.replace(b"\r\n", b"\n")
    assert WINDOWS or script.stat().st_mode & stat.S_IXUSR
    assert findings(tmp_path) == {}

    again = runner.invoke(app, ["fix", "--repo", str(tmp_path), "--yes"])
    assert again.exit_code == 0 and "Nothing to fix" in again.stdout

    listed = runner.invoke(app, ["undo", "--list"])
    assert "download.sh" in listed.stdout
    undone = runner.invoke(app, ["undo"])
    assert undone.exit_code == 0 and f"restored {script}" in undone.stdout
    assert script.read_bytes() == CRLF_SCRIPT
    assert WINDOWS or stat.S_IMODE(script.stat().st_mode) == 0o644


def test_fix_without_yes_and_without_a_terminal_changes_nothing(tmp_path: Path) -> None:
    script = tmp_path / "download.sh"
    script.write_bytes(CRLF_SCRIPT)
    result = runner.invoke(app, ["fix", "download-script-crlf", "--repo", str(tmp_path)])
    assert result.exit_code == 1 and "Re-run with --yes" in result.stdout
    assert script.read_bytes() == CRLF_SCRIPT


def test_fix_by_an_unknown_id_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fix", "no-such-fix", "--repo", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2 and "unknown check or fix id 'no-such-fix'" in result.stderr


def test_nothing_to_fix_says_why(tmp_path: Path) -> None:
    (tmp_path / "download.sh").write_bytes(CRLF_SCRIPT.replace(b"\r\n", b"\n"))
    (tmp_path / "download.sh").chmod(0o755)
    healthy = runner.invoke(app, ["fix", "download-script-crlf", "--repo", str(tmp_path), "--yes"])
    assert "Nothing to fix for download-script-crlf: no problem found." in healthy.stdout
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "params.json").write_text('{"dim": 4096}')  # broken, but nothing to repair by itself
    manual = runner.invoke(app, ["fix", "model-dir-incomplete", "--repo", str(tmp_path)])
    assert manual.exit_code == 1
    assert "Nothing llamadoctor can repair for model-dir-incomplete" in manual.stdout


def test_plans_keep_commands_whole_on_a_narrow_terminal() -> None:
    command = "/home/ada/miniconda3/envs/llama/bin/python -m pip install torch --index-url https://example.org/cu121"
    fix = Fix("demo-fix", "a demonstration", Applicability.MANUAL, lambda finding, facts: ())
    code = '    torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")\n'
    edit = WriteFile("/home/ada/llama/llama/generation.py", code.encode(), b'    init_process_group("nccl")\n')
    actions = (Manual("Run this:", (command,)), edit)
    planned = [PlannedFix(Finding("demo-check", Severity.ERROR, "broken"), fix, actions)]
    out = StringIO()
    render_plan(planned, Console(file=out, width=40, color_system=None), "bash")
    assert command in out.getvalue()
    assert "+" + code in out.getvalue()  # a diff line is not folded either
