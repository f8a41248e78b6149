"""`fix`, `undo`, `report`, `diff` and the usage errors in Chinese: words translated, commands, ids, paths and
diffs exactly as they are, English unchanged, JSON English whatever the language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor import i18n, testing
from llamadoctor.cli import app
from llamadoctor.engine import run
from llamadoctor.privacy import masked_sentence
from llamadoctor.probes import system
from llamadoctor.registry import all_checks
from llamadoctor.report import to_data

from builders.repos import CRLF_SCRIPT, crlf_repo

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "tests" / "explain" / "logs"
CJK = re.compile(r"[\u4e00-\u9fff]")
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("catalogues")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repo folder whose download.sh has CRLF line endings and no executable bit: two safe fixes."""
    return crlf_repo(tmp_path / "repo")


def invoke(*args: str, lang: str = "zh") -> tuple[int, str, str]:
    result = runner.invoke(app, ["--lang", lang, *args], terminal_width=200, env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_fix_dry_run_plan_in_chinese_with_the_diff_and_commands_intact(repo: Path) -> None:
    script = repo / "download.sh"
    code, out, _ = invoke("fix", "--repo", str(repo), "--no-hash", "--dry-run")
    assert code == 0
    assert "convert-crlf-to-lf，修复 download-script-crlf（安全）" in out
    assert f"编辑 {script}（权限 -rwxr-xr-x）" in out
    assert "-#!/bin/bash␍" in out and '+wget "$URL"' in out  # the diff as it is
    assert f"chmod 755 {script}  (-rwxr-xr-x)" in out  # a command to copy, untranslated
    assert script.read_bytes() == CRLF_SCRIPT
    code, english, _ = invoke("fix", "--repo", str(repo), "--no-hash", "--dry-run", lang="en")
    assert "convert-crlf-to-lf for download-script-crlf (safe)" in english
    assert f"edit {script} (mode -rwxr-xr-x)" in english and not CJK.search(english)


def test_fix_applied_then_undone_in_chinese(repo: Path) -> None:
    code, out, _ = invoke("fix", "--repo", str(repo), "--no-hash", "--yes")
    assert code == 0
    entry = re.search(r"撤销：llamadoctor undo (\S+)", out)
    assert entry and "✓ 已修复  convert-crlf-to-lf (download-script-crlf)" in out
    code, listed, _ = invoke("undo", "--list")
    assert code == 0 and listed.startswith(entry.group(1)) and "[" not in listed
    code, undone, _ = invoke("undo")
    assert code == 0 and undone.splitlines() == [
        f"已恢复 {repo / 'download.sh'}",
        f"已撤销 {entry.group(1)}（convert-crlf-to-lf）",
    ]
    assert (repo / "download.sh").read_bytes() == CRLF_SCRIPT
    code, listed, _ = invoke("undo", "--list")
    assert listed.rstrip().endswith("[已撤销]")
    code, _, err = invoke("undo")
    assert code == 2 and "没有可撤销的已应用修复（参见 `llamadoctor undo --list`）" in err
    code, data, _ = invoke("undo", "--list", "--json")
    assert json.loads(data)["entries"][0]["state"] == "undone" and not CJK.search(data)


def test_fix_without_a_terminal_and_nothing_to_fix_in_chinese(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # disk-low reads the disk the repo is on: give it room, whatever this machine's disk holds today.
    monkeypatch.setattr(system, "disk_usage", lambda path: (1 << 40, 1 << 39))
    code, out, _ = invoke("fix", "--repo", str(repo), "--no-hash")
    assert code == 1 and out.rstrip().endswith("没有做任何改动。加上 --yes 重新运行即可应用。")
    code, out, _ = invoke("fix", "--repo", str(repo), "--no-hash", "disk-low")
    assert code == 0 and out.strip() == "disk-low 无需修复：没有发现问题。"


@pytest.mark.parametrize(
    ("args", "chinese", "english"),
    [
        (
            ("fix", "download-script-crl"),
            "未知的检查或修复 id 'download-script-crl'（你是不是想输入 'download-script-crlf'？）"
            "（参见 `llamadoctor list`）",
            "unknown check or fix id 'download-script-crl' (did you mean 'download-script-crlf'?) "
            "(see `llamadoctor list`)",
        ),
        (
            ("check", "--only", "disk-low", "--skip", "disk-low"),
            "disk-low 同时出现在 --only 和 --skip 中  解决办法：只保留在其中一个里",
            "disk-low is given to both --only and --skip  fix: keep it in one of them",
        ),
        (
            ("check", "--python", "/no/such/python3"),
            "--python: /no/such/python3 不存在",
            "--python: /no/such/python3 does not exist",
        ),
        (
            ("check", "--repo", "/no/such/repo"),
            "--repo /no/such/repo 不存在",
            "--repo /no/such/repo does not exist",
        ),
    ],
)
def test_usage_errors_in_chinese_and_english(args: tuple[str, ...], chinese: str, english: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2 and err.strip() == f"llamadoctor: error: {chinese}"
    code, _, err = invoke(*args, lang="en")
    assert code == 2 and err.strip() == f"llamadoctor: error: {english}"


def test_report_markdown_in_chinese_keeps_ids_commands_and_facts(repo: Path) -> None:
    code, out, _ = invoke("report", "--repo", str(repo), "--no-hash")
    assert code == 0
    assert out.startswith("### llamadoctor ") and "报告：" in out.splitlines()[0]
    for heading in ("#### 目标 Python 中的库", "#### 模型文件夹", "#### 发现的问题"):
        assert heading in out
    assert "| 操作系统 |" in out and "| 驱动 |" in out
    assert "- **error** `download-script-crlf`:" in out  # the finding's id and severity stay as in JSON
    assert re.search(r"<summary>运行了 \d+ 项检查：\d+ 项通过，1 个错误", out)
    assert out.rstrip().endswith("令牌和签名链接绝不会出现在报告中。_")
    code, data, _ = invoke("report", "--repo", str(repo), "--no-hash", "--json")
    assert code == 0 and not CJK.search(data)
    assert json.loads(data)["masked"][0]["shown_as"] == "home folders shown as ~"


def test_what_was_masked_in_both_languages() -> None:
    masked = [{"what": "home", "shown_as": "home folders shown as ~", "count": 2}]
    assert masked_sentence(masked, ["HF_TOKEN"]) == (
        "Masked for privacy: home folders shown as ~ (2). HF_TOKEN is set; values are never read into a report. "
        "Tokens and signed URLs never appear in a report."
    )
    i18n.activate("zh")
    assert masked_sentence(masked, ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]) == (
        "为保护隐私已隐去：主目录显示为 ~（2 处）。已设置 HF_TOKEN, HUGGING_FACE_HUB_TOKEN；其值绝不会被读入报告。"
        "令牌和签名链接绝不会出现在报告中。"
    )


def _reports(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(to_data(run(testing.linux_gpu(), all_checks()))))
    b.write_text(json.dumps(to_data(run(testing.linux_cpu_only_torch(), all_checks()))))
    return a, b


def test_diff_in_chinese(tmp_path: Path) -> None:
    a, b = _reports(tmp_path)
    code, out, _ = invoke("diff", str(a), str(b))
    assert code == 1
    assert "结果不同的检查" in out and "读取它的检查" in out and "A: a.json" in out
    assert re.search(r"torch-cpu-only（B）：torch 2\.3\.1\+cpu", out)
    assert re.search(r"\d+ 项检查结果和 \d+ 项事实不同；其中 \d+ 项事实被结果有变化的检查读取。", out)
    code, out, _ = invoke("diff", str(a), str(a))
    assert (code, out.strip()) == (0, "a.json 与 a.json 一致：检查结果和事实都相同。")
    code, _, err = invoke("diff", str(a), str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json 不存在" in err
    assert "请给出 `llamadoctor report --json` 或 `llamadoctor check --json` 的输出" in err
    code, english, _ = invoke("diff", str(a), str(b), lang="en")
    assert "check whose result differs" in english and "torch-cpu-only on B: torch 2.3.1+cpu" in english


def test_quiet_explain_in_chinese() -> None:
    log = LOGS / "c10d-then-nccl.log"
    code, out, _ = invoke("explain", "-q", "--no-checks", str(log))
    assert code == 1
    assert out.strip() == (
        f"{log} 中有 2 个已知故障（最先中止运行的排在最前）：dist-nccl-not-built，dist-c10d-hostname"
    )
