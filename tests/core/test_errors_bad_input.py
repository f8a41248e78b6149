"""Input no run could use is one line naming it and exit 2, never an internal error."""

from __future__ import annotations

import errno
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app

runner = CliRunner()


def invoke(*args: Any) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return result.exit_code, lines[0]


@pytest.mark.parametrize(
    "answer",
    [
        "[]",
        "{}",
        "not json at all",
        '{"executable": 5, "version": null}',
        '{"executable": "/x", "version": "3.11", "machine": "x86_64", "prefix": "/x", '
        '"base_prefix": "/x", "scripts": "/x/bin", "site_packages": "oops"}',
    ],
    ids=["list", "empty", "garbage", "mistyped", "bad-site-packages"],
)
def test_a_python_that_answers_the_wrong_json_is_named_and_exit_2(
    answer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\necho {shlex.quote(answer)}\n")
    fake.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    code, line = invoke("check", "--python", fake)
    assert code == 2 and line.startswith(f"llamadoctor: error: --python: {fake} ")


@pytest.mark.parametrize("url", ["http://[::1", "https://x.llamameta.net:99999/*?Policy=a", "https://[zz]/x"])
def test_a_url_that_cannot_be_parsed_is_exit_2(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, line = invoke("check", "--url", url, "--only", "download-url-invalid")
    assert code == 2 and line.startswith("llamadoctor: error: --url is not a URL")


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--repo", "{p}"),
        ("check", "--model-dir", "{p}"),
        ("fix", "--model-dir", "{p}"),
        ("estimate", "--model-dir", "{p}"),
        ("run", "chat", "--model-dir", "{p}"),
        ("convert", "--model-dir", "{p}", "--out", "{t}/out"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
@pytest.mark.parametrize("kind", ["too-long", "loop"])
def test_paths_the_system_refuses_are_one_line_and_exit_2(args: tuple[str, ...], kind: str, tmp_path: Path) -> None:
    if kind == "loop":
        path = tmp_path / "loop"
        path.symlink_to(tmp_path / "loop2")
        (tmp_path / "loop2").symlink_to(path)
    else:
        path = tmp_path / ("a" * 300) / ("b" * 300)
    code, line = invoke(*[a.format(p=path, t=tmp_path) for a in args])
    assert code == 2 and line.startswith(
        f"llamadoctor: error: --model-dir {path}" if "--model-dir" in args else f"llamadoctor: error: --repo {path}"
    )


def test_an_over_long_path_met_inside_a_command_is_bad_input_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def too_long(*_: Any, **__: Any) -> Any:
        raise OSError(errno.ENAMETOOLONG, "File name too long", "/x/" + "a" * 300)

    monkeypatch.setattr("llamadoctor.catalogue.render_catalogue", too_long)
    code, line = invoke("list")
    assert code == 2 and "is too long for this system" in line


def test_the_interpreter_is_named_even_when_it_prints_to_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\n{shlex.quote(sys.executable)} -c 'import sys; sys.exit(\"boom \" * 500)'\n")
    fake.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    code, line = invoke("check", "--python", fake)
    assert code == 2 and str(fake) in line and len(line) < 600
