"""`llamadoctor check` as a user reads it: a ✓ only for what was looked at, and the folders it looked at."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app

from builders.checkpoints import write_meta_model

runner = CliRunner()
DOWNLOAD_CHECKS = (
    "download-script-crlf",
    "download-script-is-html",
    "download-script-needs-bash4",
    "download-script-not-executable",
)
MODEL_CHECKS = (
    "batch-size-too-small",
    "checksum-mismatch",
    "disk-insufficient-for-conversion",
    "memory-insufficient",
    "model-dir-incomplete",
    "model-version-mismatch",
    "params-known-bad",
    "shard-corrupt",
    "shards-vs-nproc",
)


@pytest.fixture(autouse=True)
def _no_usual_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~/.llama and the Hugging Face cache of the machine running the tests are not the test's business."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")  # paths stay on one line
    for name in ("HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)


def check(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.stdout


def check_json(*args: str) -> dict[str, Any]:
    _, out = check("--json", *args)
    return json.loads(out)  # type: ignore[no-any-return]


def statuses(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["check"]: c for c in data["checks"]}


def corrupt_one_byte(shard: Path) -> None:
    """Flip a byte inside the tensor data: the file still looks like a checkpoint, only its md5 tells."""
    data = bytearray(shard.read_bytes())
    at = data.index(b"\0" * 64, len(data) // 4) + 32
    data[at] ^= 0xFF
    shard.write_bytes(bytes(data))


def test_an_empty_folder_shows_no_tick_for_download_url_or_model_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _, out = check()
    for check_id in (*DOWNLOAD_CHECKS, "download-url-invalid", *MODEL_CHECKS):
        assert check_id not in out, f"{check_id} shown although there was nothing to check"
    assert "not applicable (-v shows them)" in out


def test_verbose_and_json_say_why_each_check_was_not_applicable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    by_id = statuses(check_json())
    for check_id in DOWNLOAD_CHECKS:
        assert by_id[check_id]["status"] == "not-applicable"
        assert by_id[check_id]["reason"].startswith("no download.sh found")
    assert by_id["download-url-invalid"] == {
        **by_id["download-url-invalid"],
        "status": "not-applicable",
        "reason": "no --url given",
    }
    for check_id in MODEL_CHECKS:
        assert by_id[check_id]["status"] == "not-applicable", check_id
        assert by_id[check_id]["reason"].startswith("no model folder"), check_id
    _, out = check("-v")
    assert "download-script-crlf  not applicable: no download.sh found" in out
    assert "download-url-invalid  not applicable: no --url given" in out


def test_a_passed_check_says_what_it_looked_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "download.sh").write_bytes(b"#!/usr/bin/env bash\necho hi\n")
    (tmp_path / "download.sh").chmod(0o755)
    by_id = statuses(check_json())
    assert by_id["download-script-crlf"]["status"] == "passed"
    assert by_id["download-script-crlf"]["checked"] == "download.sh: LF line endings"
    _, out = check("-v")
    assert "✓ download-script-crlf  download.sh: LF line endings" in out


def test_torch_is_not_ticked_as_importing_unless_it_was_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _, out = check()
    assert "✓ torch-broken" not in out
    torch_broken = statuses(check_json())["torch-broken"]
    assert torch_broken["status"] == "skipped" and "--deep" in torch_broken["reason"]


def test_a_model_without_checklist_is_not_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = write_meta_model(tmp_path / "elsewhere" / "llama-2-7b", checklist=False)
    data = check_json("--model-dir", str(model))
    checksum = statuses(data)["checksum-mismatch"]
    assert checksum["status"] == "not-applicable"
    assert "not verified: no checklist.chk" in checksum["reason"]
    assert "not verified" in data["summary"]["verdict"]
    _, out = check("--model-dir", str(model))
    assert "✓ checksum-mismatch" not in out


def test_no_hash_leaves_a_corrupt_shard_unverified_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = write_meta_model(tmp_path / "m" / "llama-2-7b")
    corrupt_one_byte(model / "consolidated.00.pth")
    hashed = statuses(check_json("--model-dir", str(model)))["checksum-mismatch"]
    assert hashed["status"] == "error"
    data = check_json("--model-dir", str(model), "--no-hash")
    unhashed = statuses(data)["checksum-mismatch"]
    assert unhashed == {**unhashed, "status": "not-applicable", "reason": "not verified: --no-hash"}
    verdict = data["summary"]["verdict"]
    assert "no problem found" not in verdict and "not verified: checksum-mismatch (--no-hash)" in verdict
    _, out = check("--model-dir", str(model), "--no-hash")
    assert "✓ checksum-mismatch" not in out and "not verified: checksum-mismatch (--no-hash)" in out


def test_only_folders_at_depth_one_are_searched_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / "old-runs" / "run-7" / "llama-2-7b"
    broken.mkdir(parents=True)
    (broken / "params.json").write_text("")  # an old test's half-written model, three levels down
    data = check_json()
    assert data["facts"]["models"] == [] and data["summary"]["errors"] == 0
    deeper = check_json("--search-depth", "3")
    assert [m["path"] for m in deeper["facts"]["models"]] == [str(broken)]
    assert "model-dir-incomplete" in {f["check"] for f in deeper["findings"]}


def test_the_report_names_the_folders_it_examined_and_how_each_was_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_meta_model(tmp_path / "llama-2-7b")
    given = write_meta_model(tmp_path / "elsewhere" / "llama-2-13b")
    write_meta_model(tmp_path / "home" / ".llama" / "checkpoints" / "Llama3.1-8B")
    _, out = check("--model-dir", str(given))
    flat = " ".join(out.split())
    assert f"Repo {tmp_path}" in flat
    assert f"{given} (given with --model-dir)" in flat
    assert f"{tmp_path / 'llama-2-7b'} (found in the subfolders of {tmp_path})" in flat
    assert f"{tmp_path / 'home' / '.llama' / 'checkpoints' / 'Llama3.1-8B'} (found in ~/.llama/checkpoints)" in flat
    examined = check_json("--model-dir", str(given))["examined"]
    assert examined["repo"] == str(tmp_path)
    assert {m["path"]: m["found"] for m in examined["models"]}[str(given)] == "given with --model-dir"
    assert examined["python"]


def test_with_no_model_the_report_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, plain = check()
    assert f"none found in {tmp_path} and its subfolders" in " ".join(plain.split())
    _, deeper = check("--search-depth", "0")
    assert f"none found in {tmp_path}," in " ".join(deeper.split())
