"""`llamadoctor explain LOG` and `list --failures` as a user meets them: output, JSON, exit codes, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.failures import FAILURES

LOGS = Path(__file__).parent / "logs"
runner = CliRunner()
SECRETS = (
    "eyJTdGF0ZW1lbnQiOlt7InVuaXF1ZV9oYXNoIjoiYWJj",  # the signed URL's Policy
    "Zm9vYmFyc2VjcmV0c2lnbmF0dXJl",  # its Signature
    "K15QRJLYKIFSLZ",  # its Key-Pair-Id
    "hf_QwErTyUiOpAsDfGhJkLzXcVbNm0123456789",
)


def invoke(*args: str, stdin: str | bytes | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_a_log_with_a_known_failure_is_explained_and_exits_1() -> None:
    code, out, err = invoke("explain", "--no-checks", str(LOGS / "c10d-then-nccl.log"))
    assert code == 1, err
    assert "2 known failures" in out and "the one that stopped the run first" in out
    assert out.index("dist-nccl-not-built") < out.index("dist-c10d-hostname")
    assert "export MASTER_ADDR=127.0.0.1" in out  # the fix as a command, unfolded
    assert "lines 3, 4, 5, 6:" in out  # a warning every rank printed, shown once
    assert "this machine:" not in out  # --no-checks


def test_json_has_the_promised_schema() -> None:
    code, out, _ = invoke("explain", "--json", "--no-checks", str(LOGS / "oom-new-wording.log"))
    data = json.loads(out)
    assert code == 1 and data["schema"] == 1
    (match,) = data["matches"]
    assert set(match) >= {"id", "title", "confidence", "cause", "fix", "commands", "checks", "lines"}
    assert match["id"] == "gpu-oom-model-too-big" and match["confidence"] == "high"
    assert match["lines"] == [{"number": 12, "text": match["lines"][0]["text"]}]
    assert match["lines"][0]["text"].startswith("torch.cuda.OutOfMemoryError: CUDA out of memory.")
    assert match["checks"] == [{"id": "memory-insufficient", "status": None}]
    assert data["last_exception"] is None


def test_json_checks_carry_their_status_here(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamadoctor.explaining import session
    from llamadoctor.testing import windows_conda

    monkeypatch.setattr(session, "_facts_here", lambda diagnosis=None: windows_conda())
    code, out, _ = invoke("explain", "--json", str(LOGS / "nccl-torchrun-windows.log"))
    (match,) = json.loads(out)["matches"]
    assert code == 1 and match["here"] == "confirmed here"
    assert {"id": "nccl-unavailable", "status": "warning"} in match["checks"]
    assert match["commands"] and all("export " not in c for c in match["commands"])


def test_commands_are_written_for_powershell_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamadoctor.explaining import session
    from llamadoctor.testing import windows_conda

    monkeypatch.setattr(session, "_facts_here", lambda diagnosis=None: windows_conda())
    _, out, _ = invoke("explain", "--json", str(LOGS / "crlf-git-bash.log"))
    (match,) = json.loads(out)["matches"]
    assert match["commands"][0].startswith("(Get-Content -Raw download.sh)")


def test_no_known_failure_says_so_shows_the_last_exception_and_exits_0() -> None:
    code, out, _ = invoke("explain", "--no-checks", str(LOGS / "unknown-failure.log"))
    assert code == 0
    assert "No known failure" in out
    assert "line 7" in out and "ZeroDivisionError: float division by zero" in out
    assert "llamadoctor check --markdown" in out
    code, out, _ = invoke("explain", "--json", "--no-checks", str(LOGS / "unknown-failure.log"))
    data = json.loads(out)
    assert data["matches"] == [] and data["last_exception"]["number"] == 7
    assert data["bug_report"] == "llamadoctor check --markdown"


@pytest.mark.parametrize("json_out", [False, True])
def test_secrets_in_a_pasted_log_never_reach_the_output(json_out: bool) -> None:
    args = [
        "explain",
        "--no-checks",
        *(["--json"] if json_out else []),
        str(LOGS / "download-403-then-empty-shards.log"),
    ]
    log = (LOGS / "download-403-then-empty-shards.log").read_text()
    assert all(secret in log for secret in SECRETS)
    code, out, err = invoke(*args)
    assert code == 1
    for secret in SECRETS:
        assert secret not in out and secret not in err


def test_piped_and_dash_stdin_are_read() -> None:
    log = (LOGS / "failed-to-create-process.log").read_text()
    for args in (("explain", "--no-checks"), ("explain", "--no-checks", "-")):
        code, out, _ = invoke(*args, stdin=log)
        assert code == 1 and "torchrun-failed-to-create-process" in out
    code, out, _ = invoke("explain", "--no-checks", stdin=log.encode("utf-16"))  # PowerShell's pipe to a file
    assert code == 1 and "torchrun-failed-to-create-process" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("explain", "/no/such/error.log"), "cannot read /no/such/error.log"),
        (("explain", "."), "is a folder"),
        (("explain", "a.log", "b.log"), "one log at a time"),
        (("explain", "a.log", "--", "true"), "not both"),
        (("explain", "--"), "no command after --"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2 and message in err and "Traceback" not in out + err


def test_list_failures_lists_every_catalogue_id_with_its_links() -> None:
    code, out, _ = invoke("list", "--failures")
    assert code == 0
    for failure in FAILURES:
        assert failure.id in out
    assert f"{len(FAILURES)} known failures" in out


def test_list_explains_a_failure_id() -> None:
    code, out, _ = invoke("list", "dist-nccl-not-built")
    assert code == 0
    assert "Distributed package doesn't have NCCL built in" in out
    assert "nccl-unavailable" in out and "patch-meta-code-gloo" in out


def test_help_documents_the_exit_codes() -> None:
    code, out, _ = invoke("explain", "--help")
    assert code == 0 and "Exit codes" in out and "-- COMMAND" in out


def test_an_interactive_terminal_is_told_how_to_end_the_paste(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import io
    import sys

    from llamadoctor.explaining import session

    class Terminal(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(io.BytesIO(b"failed to create process.\n")))
    data, source = session.read_log(None)
    assert data == b"failed to create process.\n" and source == "the pasted log"
    assert "Ctrl-D" in capsys.readouterr().err
