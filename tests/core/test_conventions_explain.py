"""`explain -q` says the diagnosis in one line, as `check -q` does; every `--json` output carries one envelope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamadoctor import testing
from llamadoctor.cli import app
from llamadoctor.engine import run
from llamadoctor.output import QUIET_HELP
from llamadoctor.registry import all_checks
from llamadoctor.report import to_data
from llamadoctor.testing_files import LLAMA2_7B

LOGS = Path(__file__).resolve().parents[1] / "explain" / "logs"
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.stdout, result.stderr


def test_quiet_explain_prints_the_verdict_alone() -> None:
    log = str(LOGS / "c10d-then-nccl.log")
    code, out, _ = invoke("explain", "-q", "--no-checks", log)
    assert code == 1
    assert out.splitlines() == [
        f"2 known failures in {log}, the first stopped the run: dist-nccl-not-built, dist-c10d-hostname"
    ]
    code, before, _ = invoke("-q", "explain", "--no-checks", log)
    assert (code, before) == (1, out)  # given before the command, it counts as well


def test_quiet_explain_of_a_log_without_known_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamadoctor.explaining import session

    def no_probing(diagnosis: object = None) -> object:
        raise AssertionError("quiet output shows no confirmation: the machine is not probed for one")

    monkeypatch.setattr(session, "_facts_here", no_probing)
    log = str(LOGS / "unknown-failure.log")
    code, out, _ = invoke("explain", "--quiet", log)
    assert (code, out) == (0, f"No known failure in {log}.\n")
    code, out, _ = invoke("explain", "-q", str(LOGS / "oom-new-wording.log"))
    assert (code, out.strip()) == (1, f"1 known failure in {LOGS / 'oom-new-wording.log'}: gpu-oom-model-too-big")


def test_quiet_explain_has_check_quiet_help() -> None:
    import typer.main

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    quiet = {name: next(p for p in commands[name].params if p.name == "quiet") for name in ("check", "explain")}
    assert quiet["explain"].opts == quiet["check"].opts == ["--quiet", "-q"]
    assert quiet["explain"].help == quiet["check"].help == QUIET_HELP


def test_json_wins_over_quiet_in_explain() -> None:
    code, out, _ = invoke("explain", "-q", "--json", "--no-checks", str(LOGS / "oom-new-wording.log"))
    assert code == 1 and _envelope(out, "explain")["matches"][0]["id"] == "gpu-oom-model-too-big"


def _envelope(out: str, kind: str) -> dict[str, Any]:
    data = json.loads(out)
    assert list(data)[:3] == ["schema", "llamadoctor", "kind"]
    assert data["schema"] == 1 and data["kind"] == kind and data["llamadoctor"]
    return data  # type: ignore[no-any-return]


def test_explain_estimate_and_diff_json_share_checks_envelope(tmp_path: Path) -> None:
    _, out, _ = invoke("explain", "--json", "--no-checks", str(LOGS / "unknown-failure.log"))
    assert _envelope(out, "explain")["matches"] == []
    model = tmp_path / "llama-2-7b"
    model.mkdir()
    (model / "params.json").write_text(json.dumps(LLAMA2_7B))
    code, out, err = invoke("estimate", "--model-dir", str(model), "--device", "cpu", "--json")
    assert code == 0, err
    assert _envelope(out, "estimate")["parameters"] == 6_738_415_616
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(to_data(run(testing.linux_gpu(), all_checks()))))
    b.write_text(json.dumps(to_data(run(testing.linux_cpu_only_torch(), all_checks()))))
    code, out, _ = invoke("diff", str(a), str(b), "--json")
    data = _envelope(out, "diff")
    assert code == 1 and data["same"] is False and data["checks"][0]["check"] == "torch-cpu-only"


def test_quiet_explain_of_a_command_shows_its_output_and_the_verdict_only() -> None:
    import sys

    script = (
        "import sys; print('torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB'); sys.exit(3)"
    )
    code, out, _ = invoke("explain", "-q", "--", sys.executable, "-c", script)
    assert code == 3  # the command's own exit code
    assert out.splitlines() == [
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        f"1 known failure in the output of {sys.executable} (exit code 3): gpu-oom-model-too-big",
    ]
