"""The GitHub workflow is valid (GitHub's schema; actionlint too where it is installed) and runs what CI needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def test_workflow_matches_githubs_schema() -> None:
    pytest.importorskip("check_jsonschema")
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed here")
def test_workflow_passes_actionlint() -> None:
    done = subprocess.run(["actionlint", str(WORKFLOW)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_matrix_covers_three_oses_and_the_oldest_and_newest_python() -> None:
    text = WORKFLOW.read_text()
    for os_name in ("ubuntu-latest", "macos-latest", "windows-latest"):
        assert os_name in text
    assert '"3.9"' in text and '"3.13"' in text
    assert "llamadoctor check --json" in text and "python -m pytest" in text


def test_ci_script_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pip install -e ".[dev]"' in readme and "python -m pytest" in readme
    assert 'python -m pip install -q -e ".[dev]"' in ci and "python -m pytest" in ci
