"""`llamadoctor check`, `fix` and `undo` as a user runs them, on a real repo folder in tmp_path."""

from __future__ import annotations

import json
import stat
import sys
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from llamadoctor import doctor
from llamadoctor.apply import journal_dir
from llamadoctor.cli import app
from llamadoctor.fixing import PlannedFix, render_plan
from llamadoctor.model import Applicability, Finding, Fix, Manual, Severity, WriteFile
from llamadoctor.testing import linux_cpu, linux_cpu_only_torch
from llamadoctor.testing_files import generation_source, repo_with

CRLF_SCRIPT = (
    b"#!/usr/bin/env bash\r\n# Copyright (c) Meta Platforms, Inc.\r\nset -e\r\n"
    b'read -p "Enter the URL from email: " PRESIGNED_URL\r\necho ""\r\n'
)
runner = CliRunner()
WINDOWS = sys.platform == "win32"
# `fix` alone answers for every check, this machine's torch included; these tests are about download.sh.
FIX_SCRIPT = ["fix", "download-script-crlf", "download-script-not-executable"]


def findings(repo: Path) -> dict[str, str]:
    result = runner.invoke(
        app, ["check", "--repo", str(repo), "--json", "--only", "download-script-crlf,download-script-not-executable"]
    )
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

    done = runner.invoke(app, [*FIX_SCRIPT, "--repo", str(tmp_path), "--yes"])
    assert done.exit_code == 0, done.stdout
    assert "✓ fixed" in done.stdout and "still fails" not in done.stdout
    assert script.read_bytes() == CRLF_SCRIPT.replace(b"\r\n", b"\n")
    assert WINDOWS or script.stat().st_mode & stat.S_IXUSR
    assert findings(tmp_path) == {}

    again = runner.invoke(app, [*FIX_SCRIPT, "--repo", str(tmp_path), "--yes"])
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


def crlf_repo(tmp_path: Path, mode: int = 0o644) -> Path:
    script = tmp_path / "download.sh"
    script.write_bytes(CRLF_SCRIPT)
    script.chmod(mode)
    return script


def fixed_entry_id(tmp_path: Path) -> str:
    done = runner.invoke(app, [*FIX_SCRIPT, "--repo", str(tmp_path), "--yes"])
    assert done.exit_code == 0, done.stdout
    return done.stdout.split("undo: llamadoctor undo ")[1].split()[0]


def test_an_unusable_state_folder_stops_fix_before_anything_changes(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    script = crlf_repo(tmp_path / "repo")
    (tmp_path / "state").write_text("a regular file where the state folder should be")
    result = runner.invoke(
        app, ["fix", "--repo", str(script.parent), "--yes"], env={"LLAMADOCTOR_STATE_DIR": str(tmp_path / "state")}
    )
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "undo record" in result.stderr
    assert script.read_bytes() == CRLF_SCRIPT
    assert WINDOWS or stat.S_IMODE(script.stat().st_mode) == 0o644


def test_undo_without_its_backup_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    script = crlf_repo(tmp_path)
    entry_id = fixed_entry_id(tmp_path)
    for backup in (journal_dir() / entry_id).glob("backup-*"):
        backup.unlink()
    result = runner.invoke(app, ["undo"])
    assert result.exit_code == 1 and "backup" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert script.read_bytes() == CRLF_SCRIPT.replace(b"\r\n", b"\n")
    assert "[undone]" not in runner.invoke(app, ["undo", "--list"]).stdout


DAMAGES = {
    "not JSON": lambda entry: "{not json",
    "a list": lambda entry: "[]",
    "steps of the wrong type": lambda entry: json.dumps({**entry, "steps": "all of them"}),
    "a step without its fields": lambda entry: json.dumps({**entry, "steps": [{"path": 42}]}),
    "a step without its backup": lambda entry: json.dumps(
        {**entry, "steps": [{**step, "backup": None} for step in entry["steps"]]}
    ),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_journal_entry_is_listed_and_refused_never_a_crash(tmp_path: Path, damage: str) -> None:
    script = crlf_repo(tmp_path)
    entry_id = fixed_entry_id(tmp_path)
    record = journal_dir() / entry_id / "entry.json"
    record.write_text(DAMAGES[damage](json.loads(record.read_text())))
    listed = runner.invoke(app, ["undo", "--list"])
    assert listed.exit_code == 0 and entry_id in listed.stdout and "damaged" in listed.stdout
    for args in (["undo", entry_id], ["undo"]):
        result = runner.invoke(app, args)
        assert result.exit_code in (1, 2), result.output
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert script.read_bytes() == CRLF_SCRIPT.replace(b"\r\n", b"\n")


@pytest.mark.skipif(WINDOWS, reason="Windows keeps only a read-only flag")
def test_a_read_only_script_is_refused_with_the_way_to_proceed(tmp_path: Path) -> None:
    script = crlf_repo(tmp_path, 0o444)
    refused = runner.invoke(app, ["fix", "download-script-crlf", "--repo", str(tmp_path), "--yes"])
    assert refused.exit_code == 1 and "read-only" in refused.stdout and "--write-read-only" in refused.stdout
    assert script.read_bytes() == CRLF_SCRIPT
    asked = runner.invoke(app, ["fix", "download-script-crlf", "--repo", str(tmp_path), "--yes", "--write-read-only"])
    assert asked.exit_code == 0, asked.stdout
    assert script.read_bytes() == CRLF_SCRIPT.replace(b"\r\n", b"\n")
    assert not stat.S_IMODE(script.stat().st_mode) & 0o222


def test_fix_yes_exits_1_while_an_unsafe_fix_is_left_and_says_how_to_apply_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = linux_cpu(repo=repo_with(sources=(generation_source(path=str(tmp_path / "generation.py")),)))
    monkeypatch.setattr(doctor, "facts_for", lambda *args, **kwargs: facts)
    result = runner.invoke(app, ["fix", "--yes"])
    assert result.exit_code == 1, result.stdout
    left = result.stdout.split("Left to do")[1]
    assert "llamadoctor fix patch-meta-code-gloo --unsafe" in left
    assert not (tmp_path / "generation.py").exists()


def test_only_manual_steps_are_printed_without_asking_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "facts_for", lambda *args, **kwargs: linux_cpu_only_torch())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    for args in (["fix"], ["fix", "--yes"]):
        result = runner.invoke(app, args, input="y\n")
        assert result.exit_code == 1, result.stdout
        assert "Apply the fixes above?" not in result.stdout and "Re-run with --yes" not in result.stdout
        assert "reinstall-torch-cuda" in result.stdout.split("Left to do")[1]
