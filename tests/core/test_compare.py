"""`llamadoctor diff`: two reports (or check --json outputs), what differs, ranked by what it breaks."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamadoctor import testing
from llamadoctor.bugreport import build
from llamadoctor.cli import app
from llamadoctor.compare import compare, flatten, load
from llamadoctor.engine import run
from llamadoctor.facts import Facts, Libraries
from llamadoctor.privacy import Identity
from llamadoctor.registry import all_checks
from llamadoctor.report import to_data

runner = CliRunner()
ADA = Identity("/home/ada", "ada", "ada-box")


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _report(facts: Facts) -> dict[str, Any]:
    return build(run(facts, all_checks()), ADA)


def _check_json(facts: Facts) -> dict[str, Any]:
    return to_data(run(facts, all_checks()))


def test_the_changed_check_comes_first_then_the_facts_it_reads(tmp_path: Path) -> None:
    """A GPU machine whose torch is the CPU wheel, against the same machine with the CUDA wheel."""
    good = testing.linux_gpu(env={"HF_HOME": "/data/hf"})
    bad = testing.linux_cpu_only_torch(env={"HF_HOME": "/srv/hf"})
    result = compare(load(_write(tmp_path, "a.json", _report(good))), load(_write(tmp_path, "b.json", _report(bad))))
    first = result.checks[0]
    assert (first.check, first.a, first.b) == ("torch-cpu-only", "passed", "error")
    assert first.b_findings and "2.3.1+cpu" in first.b_findings[0]
    ranked = [(f.fact, bool(f.read_by)) for f in result.facts]
    assert ("torch.version", True) in ranked and ("torch.cuda", True) in ranked
    assert ("env.HF_HOME", False) in ranked
    read = [r for _, r in ranked]
    assert read == sorted(read, reverse=True)  # every fact a changed check reads comes before the others
    version = next(f for f in result.facts if f.fact == "torch.version")
    assert "torch-cpu-only" in version.read_by and (version.a, version.b) == ("2.3.1+cu121", "2.3.1+cpu")


def test_a_report_and_a_check_output_of_one_machine_agree(tmp_path: Path) -> None:
    """The report is masked, check --json is not: each is masked with its own host before comparing."""
    facts = testing.linux_gpu(platform=dataclasses.replace(testing.linux_gpu().platform, hostname="gpu-07"))
    a = load(_write(tmp_path, "report.json", _report(facts)))
    b = load(_write(tmp_path, "check.json", _check_json(facts)))
    assert (a.kind, b.kind) == ("report", "check")
    result = compare(a, b)
    assert result.same, (result.checks, result.facts)


def test_what_changes_on_every_run_is_left_out_unless_asked_or_it_changed_a_result(tmp_path: Path) -> None:
    facts = testing.linux_cpu()

    def later(available_gib: float) -> Path:
        memory = dataclasses.replace(facts.memory, ram_available=int(available_gib * 1024**3))
        changed = dataclasses.replace(facts, memory=memory, timings={"gpu": 0.2})
        return _write(tmp_path, f"{available_gib}.json", _check_json(changed))

    a = load(_write(tmp_path, "a.json", _check_json(facts)))
    assert compare(a, load(later(23))).same
    assert {f.fact for f in compare(a, load(later(23)), everything=True).facts} == {
        "memory.ram_available",
        "timings.gpu",
    }
    starved = compare(a, load(later(3)))
    assert [c.check for c in starved.checks] == ["ram-low"]
    assert [(f.fact, f.read_by) for f in starved.facts] == [("memory.ram_available", ("ram-low",))]


def test_list_items_are_matched_by_name_not_position() -> None:
    data = {"models": [{"path": "/m/b", "format": "hf"}, {"path": "/m/a", "format": "meta"}]}
    assert dict(flatten(data)) == {
        "models[/m/b].path": "/m/b",
        "models[/m/b].format": "hf",
        "models[/m/a].path": "/m/a",
        "models[/m/a].format": "meta",
    }


# ---- the command ---------------------------------------------------------------------------------------------


def test_exit_codes_and_json(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", _report(testing.linux_gpu()))
    b = _write(tmp_path, "b.json", _report(testing.linux_cpu_only_torch()))
    same = runner.invoke(app, ["diff", str(a), str(a)])
    assert same.exit_code == 0 and "agree" in same.stdout
    differ = runner.invoke(app, ["diff", str(a), str(b), "--json"])
    assert differ.exit_code == 1
    data = json.loads(differ.stdout)
    assert data["kind"] == "diff" and data["same"] is False
    assert data["checks"][0]["check"] == "torch-cpu-only"
    assert data["checks"][0]["a"] == "passed" and data["checks"][0]["b"] == "error"
    first_fact = data["facts"][0]
    assert first_fact["read_by"] and set(first_fact) == {"fact", "a", "b", "a_has", "b_has", "read_by"}
    table = runner.invoke(app, ["diff", str(a), str(b)])
    assert table.exit_code == 1
    assert "torch-cpu-only on B: torch 2.3.1+cpu has no CUDA" in " ".join(table.stdout.split())
    version_row = next(line for line in table.stdout.splitlines() if "torch.version" in line)
    assert "2.3.1+cu121" in version_row and "2.3.1+cpu" in version_row and "torch-cpu-only" in version_row
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert "--all" in runner.invoke(app, ["diff", "--help"]).stdout
    assert "1 they differ" in " ".join(runner.invoke(app, ["diff", "--help"]).stdout.split())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON (line 1, column 2)"),
        ('{"name": "some other tool"}', "is JSON, but not a llamadoctor report"),
        ("[1, 2]", "is JSON, but not a llamadoctor report"),
        ('{"schema": 2, "llamadoctor": "9.0"}', "has schema 2, newer than this llamadoctor reads (1)"),
        ('{"schema": 1, "llamadoctor": "0.1.0", "facts": {}, "checks": [{"check": 3}]}', "without facts and checks"),
        (b"\xff\xfe\x00binary", "is not text"),
        ("[" * 100_000, "is not JSON llamadoctor can read"),
    ],
)
def test_a_file_that_is_not_ours_is_one_line_and_exit_2(tmp_path: Path, content: Any, message: str) -> None:
    good = _write(tmp_path, "good.json", _check_json(testing.linux_cpu()))
    bad = tmp_path / "bad.json"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(app, ["diff", str(good), str(bad)])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_file_and_folder(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.json", _check_json(testing.linux_cpu()))
    for other, message in ((tmp_path / "none.json", "does not exist"), (tmp_path, "is a folder, not a report")):
        result = runner.invoke(app, ["diff", str(good), str(other)])
        assert result.exit_code == 2 and message in result.stderr


# ---- two real reports, from two environments that differ ---------------------------------------------------------


def _venv_with_transformers(root: Path, version: str) -> Path:
    """A venv without pip (fast), holding only transformers' metadata at `version`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    meta = Path(site) / f"transformers-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: transformers\nVersion: {version}\n")
    return python


def test_diff_of_two_real_reports_from_two_venvs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    reports = []
    for name, version in (("old", "4.30.2"), ("new", "4.46.1")):
        python = _venv_with_transformers(tmp_path / name, version)
        made = runner.invoke(app, ["report", "--json", "--no-hash", "--python", str(python)])
        assert made.exit_code == 0, made.stderr
        assert json.loads(made.stdout)["environment"]["libraries"]["transformers"] == version
        reports.append(_write(tmp_path, f"{name}.json", made.stdout))
    result = runner.invoke(app, ["diff", *map(str, reports), "--json"])
    assert result.exit_code == 1, result.stderr
    facts = {f["fact"]: (f["a"], f["b"]) for f in json.loads(result.stdout)["facts"]}
    assert facts["libraries.installed.transformers"] == ("4.30.2", "4.46.1")
    assert any(fact.startswith("python.executable") for fact in facts)
    assert not any(fact.startswith(("timings", "memory.ram_available")) for fact in facts)
    assert runner.invoke(app, ["diff", str(reports[0]), str(reports[0])]).exit_code == 0


def test_libraries_facts_flatten_to_one_row_per_library() -> None:
    facts = testing.linux_cpu(libraries=Libraries(installed={"transformers": "4.46.1"}))
    flat = dict(flatten(_check_json(facts)["facts"]))
    assert flat["libraries.installed.transformers"] == "4.46.1"


def test_what_a_check_reads_is_learnt_from_its_examples() -> None:
    from llamadoctor.fact_reads import is_read, reads_of

    checks = {c.id: c for c in all_checks()}
    torch_cpu = reads_of(checks["torch-cpu-only"])
    assert {"torch.version", "torch.cuda", "gpu.gpus"} <= torch_cpu
    assert "memory.ram_available" not in torch_cpu
    assert "libraries.installed.transformers" in reads_of(checks["transformers-too-old"])  # a mapping key
    assert "platform.os" in reads_of(checks["ollama-server-down"])  # through the Facts.os property
    assert is_read("gpu.gpus[NVIDIA GeForce RTX 3090].name", torch_cpu)
    assert not is_read("torch.version_extra", {"torch.version"})
