"""Test as installed: the wheel, in a fresh venv without torch, from outside the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)])
    assert done.returncode == 0, done.stderr[-2000:]
    return next(out.glob("llamadoctor-*.whl"))


def test_wheel_installs_only_the_llamadoctor_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"llamadoctor"}
    for sub in ("checks", "fixes", "runner", "probes"):
        assert any(n.startswith(f"llamadoctor/{sub}/") for n in names), sub
    assert "llamadoctor/data/cuda_drivers.json" in names or not (ROOT / "llamadoctor/data").exists()
    assert "llamadoctor/locale/zh_CN/LC_MESSAGES/llamadoctor.mo" in names, "the build compiles the catalogues"


def test_installed_doctor_runs_without_torch(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    done = _run([str(python), "-m", "pip", "install", "-q", str(wheel)])
    assert done.returncode == 0, done.stderr[-2000:]
    show = _run([str(python), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"])
    assert show.stdout.strip() == "True", "installing the doctor must not pull in torch"
    imports = _run([str(python), "-c", "import llamadoctor.checks, llamadoctor.fixes; import checks"], cwd=tmp_path)
    assert "No module named 'checks'" in imports.stderr
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    done = _run(
        [str(bin_dir / "llamadoctor"), "check", "--json"],
        cwd=outside,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    data = json.loads(done.stdout)
    assert data["facts"]["torch"]["installed"] is False
    chinese = _run([str(bin_dir / "llamadoctor"), "--lang", "zh", "--help"], cwd=outside)
    assert "找出并修复" in chinese.stdout, chinese.stdout + chinese.stderr
    assert any(f["check"] == "torch-missing" for f in data["findings"]) or "torch-missing" not in done.stdout
    assert done.returncode == data["summary"]["exit_code"]
