"""download.sh checks and their fixes, on real files written to tmp_path and read by the probe."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from llamadoctor.facts import Facts
from llamadoctor.model import Chmod, Finding, WriteFile
from llamadoctor.probes.files import probe_repo
from llamadoctor.registry import CHECKS, FIXES, load_all, run_check
from llamadoctor.testing import linux_cpu, mac_arm, replace_in
from llamadoctor.testing_files import GITHUB_PAGE, LLAMA1_SCRIPT, LLAMA2_BIN_BASH_SCRIPT, LLAMA2_SCRIPT

load_all()
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="file modes")


def facts_for(tmp_path: Path, content: bytes, *, mode: int = 0o755, base: Facts | None = None) -> Facts:
    path = tmp_path / "download.sh"
    path.write_bytes(content)
    path.chmod(mode)
    return dataclasses.replace(base or linux_cpu(), repo=probe_repo(tmp_path))


def findings(check_id: str, facts: Facts) -> list[Finding]:
    return list(run_check(CHECKS[check_id], facts))


@pytest.mark.parametrize(
    ("content", "symptom"),
    [
        pytest.param(LLAMA2_SCRIPT, "/usr/bin/env: 'bash\\r': No such file or directory", id="env-bash"),
        pytest.param(LLAMA2_BIN_BASH_SCRIPT, "/bin/bash^M: bad interpreter", id="bin-bash"),
    ],
)
def test_crlf_script_names_the_symptom_of_its_shebang(tmp_path: Path, content: bytes, symptom: str) -> None:
    facts = facts_for(tmp_path, content.replace(b"\n", b"\r\n"))
    [finding] = findings("download-script-crlf", facts)
    assert symptom in finding.message
    assert "$'\\r': command not found" in finding.message  # `bash download.sh` gives this one


def test_lf_script_is_healthy(tmp_path: Path) -> None:
    assert findings("download-script-crlf", facts_for(tmp_path, LLAMA2_SCRIPT)) == []


@posix_only
def test_crlf_fix_writes_lf_bytes_and_x_bit(tmp_path: Path) -> None:
    crlf = LLAMA2_SCRIPT.replace(b"\n", b"\r\n")
    facts = facts_for(tmp_path, crlf, mode=0o644)
    [finding] = findings("download-script-crlf", facts)
    [action] = FIXES["convert-crlf-to-lf"].plan(finding, facts)
    assert isinstance(action, WriteFile)
    assert action.path == str(tmp_path / "download.sh")
    assert action.before == crlf and action.after == LLAMA2_SCRIPT
    assert action.mode == 0o755
    # the plan is pure: nothing changed on disk
    assert (tmp_path / "download.sh").read_bytes() == crlf


def test_crlf_fix_plans_nothing_for_a_healthy_script(tmp_path: Path) -> None:
    facts = facts_for(tmp_path, LLAMA2_SCRIPT)
    finding = Finding("download-script-crlf", CHECKS["download-script-crlf"].severity, "")
    assert FIXES["convert-crlf-to-lf"].plan(finding, facts) == ()


@posix_only
def test_not_executable_and_its_chmod_plan(tmp_path: Path) -> None:
    facts = facts_for(tmp_path, LLAMA2_SCRIPT, mode=0o640)
    [finding] = findings("download-script-not-executable", facts)
    assert "Permission denied" in finding.message
    assert FIXES["make-script-executable"].plan(finding, facts) == (Chmod(str(tmp_path / "download.sh"), 0o750),)
    assert findings("download-script-not-executable", facts_for(tmp_path, LLAMA2_SCRIPT)) == []


def test_saved_github_page_is_not_a_script(tmp_path: Path) -> None:
    facts = facts_for(tmp_path, GITHUB_PAGE, mode=0o644)
    [finding] = findings("download-script-is-html", facts)
    assert "allShortcutsEnabled" in finding.message
    # the page is the problem: no CRLF or permission noise about it
    assert findings("download-script-crlf", facts) == findings("download-script-not-executable", facts) == []


def test_html_page_with_crlf_is_reported_as_html(tmp_path: Path) -> None:
    facts = facts_for(tmp_path, b"\r\n<!DOCTYPE html>\r\n<html>\r\n", mode=0o644)
    assert findings("download-script-is-html", facts)
    assert findings("download-script-crlf", facts) == []


def test_llama1_script_on_macos_bash32(tmp_path: Path) -> None:
    base = replace_in(mac_arm(), "tools", bash_version="3.2.57")
    facts = facts_for(tmp_path, LLAMA1_SCRIPT, base=base)
    [finding] = findings("download-script-needs-bash4", facts)
    assert "3.2.57" in finding.message and "brew install bash" in finding.message
    assert findings("download-script-needs-bash4", facts_for(tmp_path, LLAMA2_SCRIPT, base=base)) == []


def test_unreadable_script_gives_facts_not_a_traceback(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    path = tmp_path / "download.sh"
    path.write_bytes(LLAMA2_SCRIPT)
    path.chmod(0)
    repo = probe_repo(tmp_path)
    assert repo is not None and repo.download_script is not None
    assert repo.download_script.error
    facts = linux_cpu(repo=repo)
    for check_id in (
        "download-script-crlf",
        "download-script-not-executable",
        "download-script-is-html",
        "download-script-needs-bash4",
    ):
        assert findings(check_id, facts) == []


def test_no_script_no_repo_facts(tmp_path: Path) -> None:
    assert probe_repo(tmp_path) is None
