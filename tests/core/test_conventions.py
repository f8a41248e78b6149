"""The habits of a well-behaved command line: -h, completion, -q, JSON everywhere a list is printed, "did you
mean", refused contradictions, id prefixes, environment folders for --python, secrets kept out of history."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamadoctor.checks.download_url import EXAMPLE_POLICY, EXAMPLE_URL
from llamadoctor.cli import app
from llamadoctor.cli_input import URL_VARIABLE
from llamadoctor.probes.target import TargetError, interpreter_in
from llamadoctor.registry import FIXES, load_all

from builders.repos import CRLF_SCRIPT, crlf_repo

runner = CliRunner()
load_all()


def invoke(*args: str, **kw: Any) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), **kw)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repo folder whose download.sh has CRLF line endings and no executable bit: two safe fixes."""
    return crlf_repo(tmp_path / "repo")


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if hasattr(command, "commands"):
            found += _commands(command, (*prefix, name))
    return found


def test_dash_h_is_help_for_every_command() -> None:
    import typer.main

    commands = _commands(typer.main.get_command(app))
    assert ("run", "smoke") in commands and ("check",) in commands and ("convert",) in commands
    for command in [(), *commands]:
        code, out, err = invoke(*command, "-h")
        assert code == 0, (command, err)
        assert "Usage: llamadoctor" in out and "--help" in out and "-h" in out


def test_shell_completion_can_be_shown_and_completes_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    # Typer reads the shell named after --show-completion only with its shell detection off; otherwise it asks
    # the process tree, which under a launcher without a shell (a CI job, nohup) names none.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    code, out, _ = invoke("--show-completion", "bash")
    assert code == 0 and "_LLAMADOCTOR_COMPLETE" in out and "complete" in out
    code, out, _ = invoke("-h")
    assert "--install-completion" in out
    env = dict(os.environ, _LLAMADOCTOR_COMPLETE="complete_bash", COMP_CWORD="2")
    for words, expected in (("llamadoctor list convert-crlf", "convert-crlf-to-lf"), ("llamadoctor ch", "check")):
        done = subprocess.run(
            [sys.executable, "-m", "llamadoctor"],
            env={**env, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert expected in done.stdout.split(), done.stderr


def test_quiet_check_prints_only_errors_and_the_verdict(repo: Path) -> None:
    code, out, _ = invoke("check", "--repo", str(repo), "--no-hash", "-q")
    assert code == 1
    lines = out.strip().splitlines()
    assert "download-script-crlf" in out and lines[-1] == "1 problem blocks running Llama"
    assert "download-script-not-executable" not in out  # a warning
    assert "System" not in out and "checks passed" not in out
    code, quiet_before, _ = invoke("-q", "check", "--repo", str(repo), "--no-hash")
    assert quiet_before == out and code == 1


def test_quiet_fix_with_yes_prints_no_plan(repo: Path) -> None:
    code, out, _ = invoke("fix", "--repo", str(repo), "--no-hash", "--yes", "-q")
    assert code == 0 and "---" not in out and "rewrite download.sh" not in out
    assert (repo / "download.sh").read_bytes() == CRLF_SCRIPT.replace(b"\r\n", b"\n")
    code, out, _ = invoke("undo", "-q")
    assert code == 0 and out == ""
    assert (repo / "download.sh").read_bytes() == CRLF_SCRIPT


def _keys(value: Any, skip: tuple[str, ...] = ("evidence", "facts", "env")) -> set[str]:
    if isinstance(value, dict):
        return {k for k in value} | {n for k, v in value.items() if k not in skip for n in _keys(v, skip)}
    if isinstance(value, list):
        return {n for v in value for n in _keys(v, skip)}
    return set()


def _envelope(out: str, kind: str) -> dict[str, Any]:
    data = json.loads(out)
    assert data["schema"] == 1 and data["kind"] == kind and data["llamadoctor"]
    bad = [k for k in _keys(data) if not re.fullmatch(r"[a-z][a-z0-9_]*", k)]
    assert not bad, bad
    return data  # type: ignore[no-any-return]


def test_list_json_has_every_check_and_fix() -> None:
    code, out, _ = invoke("list", "--json")
    data = _envelope(out, "catalogue")
    assert code == 0
    assert {f["id"] for f in data["fixes"]} == set(FIXES)
    crlf = next(c for c in data["checks"] if c["id"] == "download-script-crlf")
    assert crlf["fixes"] == ["convert-crlf-to-lf"] and crlf["severity"] == "error"
    code, out, _ = invoke("list", "--failures", "--json")
    assert code == 0 and any(f["id"] == "dl-crlf-script" for f in _envelope(out, "failures")["failures"])


def test_check_json_shares_the_envelope(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, out, _ = invoke("check", "--json", "--only", "disk-low")
    assert _envelope(out, "check")["summary"]["checks_run"] == 1


def test_fix_dry_run_json_is_the_plan_and_changes_nothing(repo: Path) -> None:
    code, out, _ = invoke("fix", "--repo", str(repo), "--no-hash", "--dry-run", "--json")
    data = _envelope(out, "fix-plan")
    assert code == 0 and (repo / "download.sh").read_bytes() == CRLF_SCRIPT
    by_fix = {item["fix"]: item for item in data["plan"]}
    write = by_fix["convert-crlf-to-lf"]["actions"][0]
    assert write["action"] == "write" and write["mode"] == "-rwxr-xr-x" and "+set -e\n" in write["diff"]
    assert by_fix["make-script-executable"]["would_apply"] is True
    assert invoke("fix", "--repo", str(repo), "--json")[0] == 2  # JSON is for the plan only


def test_undo_list_json_and_a_unique_prefix(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "download.sh").write_bytes(CRLF_SCRIPT)
    for folder in (repo, other):
        assert invoke("fix", "convert-crlf-to-lf", "--repo", str(folder), "--no-hash", "--yes")[0] == 0
    code, out, _ = invoke("undo", "--list", "--json")
    entries = _envelope(out, "undo-list")["entries"]
    assert code == 0 and [e["state"] for e in entries] == ["applied", "applied"]
    ids = [e["id"] for e in entries]
    shared = next(ids[0][:n] for n in range(len(ids[0]), -1, -1) if ids[1].startswith(ids[0][:n]))
    code, _, err = invoke("undo", shared)
    assert code == 2 and "starts 2 journal entries" in err and all(i in err for i in ids)
    unique = ids[1][: len(shared) + 1]
    code, out, _ = invoke("undo", unique)
    assert code == 0 and f"undid {ids[1]}" in out
    assert (repo / "download.sh").read_bytes() == CRLF_SCRIPT  # the older of the two
    assert (other / "download.sh").read_bytes() == CRLF_SCRIPT.replace(b"\r\n", b"\n")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("check", "--only", "download-script-crfl"), "did you mean 'download-script-crlf'?"),
        (("fix", "convert-crlf-to-fl", "--no-hash"), "did you mean 'convert-crlf-to-lf'?"),
        (("list", "make-script-executabel"), "did you mean 'make-script-executable'?"),
        (("check", "--json", "--markdown"), "--json and --markdown cannot go together"),
        (("check", "--only", "disk-low,ram-low", "--skip", "ram-low"), "ram-low is given to both --only and --skip"),
        (("undo", "--json"), "use it with --list"),
        (("list", "disk-low", "--json"), "`llamadoctor list ID` explains one id"),
    ],
)
def test_mistakes_get_one_line_exit_2_and_a_suggestion(args: tuple[str, ...], words: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err + out


def test_list_id_explains_a_fix() -> None:
    code, out, _ = invoke("list", "make-script-executable")
    assert code == 0
    assert out.startswith("make-script-executable: make download.sh executable")
    assert "repairs what these checks find: download-script-not-executable" in out
    assert "llamadoctor fix make-script-executable --dry-run" in out


def test_python_accepts_an_environment_folder(tmp_path: Path) -> None:
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    code, out, err = invoke("check", "--python", str(env), "--json", "--only", "torch-missing")
    assert code in (0, 1), err
    assert json.loads(out)["facts"]["python"]["prefix"] == str(env)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = invoke("check", "--python", str(empty))
    assert code == 2 and "is a folder with no Python in it (looked for bin/python" in err


def test_an_environment_folder_of_each_kind_names_its_interpreter(tmp_path: Path) -> None:
    for layout in ("bin/python", "Scripts/python.exe", "python.exe"):
        folder = tmp_path / layout.replace("/", "_")
        (folder / layout).parent.mkdir(parents=True, exist_ok=True)
        (folder / layout).write_bytes(b"")
        assert interpreter_in(str(folder)) == str(folder / layout)
    assert interpreter_in("/usr/bin/python3") == "/usr/bin/python3"
    with pytest.raises(TargetError, match=re.escape("Scripts/python.exe")):
        interpreter_in(str(tmp_path))


def _url_result(out: str) -> dict[str, Any]:
    assert EXAMPLE_POLICY not in out and "Signature=abc" not in out
    return next(c for c in json.loads(out)["checks"] if c["check"] == "download-url-invalid")  # type: ignore[no-any-return]


def test_a_signed_url_from_stdin_or_the_environment_is_diagnosed_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ("check", "--only", "download-url-invalid", "--json")
    _, out, _ = invoke(*args, "--url", "-", input=f"\n{EXAMPLE_URL}\n")
    assert _url_result(out)["status"] not in ("not-applicable", "skipped")
    _, out, _ = invoke(*args, env={URL_VARIABLE: EXAMPLE_URL})
    assert _url_result(out)["status"] not in ("not-applicable", "skipped")
    _, out, _ = invoke(*args)
    assert _url_result(out)["status"] == "not-applicable"
    code, _, err = invoke(*args, "--url", "-", input="one\ntwo\n")
    assert code == 2 and "standard input held 2 lines, not one URL" in err


def test_quiet_and_colour_settings_end_with_their_command_line() -> None:
    from llamadoctor.output import SETTINGS

    assert invoke("-q", "--no-color", "list", "--json")[0] == 0
    assert invoke("list", "no-such-id", "--no-color")[0] == 2
    assert not SETTINGS.quiet and not SETTINGS.no_color
