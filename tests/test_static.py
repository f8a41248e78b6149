"""The lint and type rules in pyproject hold for the whole tree: ruff everywhere, strict mypy on the package.

mypy cannot follow setuptools' package-dir mapping (checks/ installs as llamadoctor.checks), so it checks a copy of
the tree laid out as the wheel installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"checks": "checks", "fixes": "fixes", "runner": "runner"}  # repo folder -> subpackage of llamadoctor


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    pytest.importorskip("ruff")
    done = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    pytest.importorskip("ruff")
    done = _run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.slow
def test_mypy_strict_on_the_installed_layout(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "llamadoctor", tmp_path / "llamadoctor", ignore=ignore)
    for folder, sub in MAPPED.items():
        shutil.copytree(ROOT / folder, tmp_path / "llamadoctor" / sub, ignore=ignore)
    done = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "llamadoctor",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:]
