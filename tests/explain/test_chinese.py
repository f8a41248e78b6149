"""`list --failures`, `list FAILURE-ID` and `explain` in Chinese: the catalogue's words translated, the commands,
ids and quoted errors left as they are, the machine outputs and the README's table still English."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from llamadoctor import i18n
from llamadoctor.catalogue import explain_failure
from llamadoctor.cli import app
from llamadoctor.failures import FAILURES, by_id

LOGS = Path(__file__).parent / "logs"
CJK = re.compile(r"[\u4e00-\u9fff]")


pytestmark = pytest.mark.usefixtures("catalogues")


def invoke(*args: str, columns: int = 200) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})
    return result.exit_code, result.stdout


def test_the_failure_table_in_chinese_keeps_ids_and_commands() -> None:
    code, out = invoke("list", "--failures", "--lang", "zh")
    assert code == 0
    assert "发生了什么，由什么来处理" in out
    assert "download.sh 的行尾是 Windows 格式（CRLF）" in out
    assert "检查：download-script-crlf" in out and "修复：convert-crlf-to-lf" in out
    caught = len([f for f in FAILURES if f.checks])
    assert f"事先就能发现：{len(FAILURES)} 种中的 {caught} 种；" in out
    assert "`llamadoctor list ID` 解释其中一种；`llamadoctor explain LOG` 在日志中找出它们。" in out
    for failure in FAILURES:
        assert failure.id in out
        assert failure.title not in out, failure.id


def test_the_chinese_table_folds_between_characters_within_80_columns() -> None:
    code, out = invoke("list", "--failures", "--lang", "zh", columns=80)
    assert code == 0 and "…" not in out
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    cells = "".join(line.split("│")[1].strip() for line in out.splitlines() if "│" in line)
    assert "批量生成需要填充token，而Llama的分词器没有" in cells.replace(" ", "")


def test_one_failure_in_chinese_quotes_its_commands_and_log_lines_exactly() -> None:
    code, out = invoke("list", "dl-403-expired-url", "--lang", "zh")
    assert code == 0
    assert "dl-403-expired-url: 签名下载链接被拒绝（403 Forbidden）" in out
    assert "发生在下载步骤的故障，`llamadoctor explain` 能在日志中识别它" in out
    assert "原因：Meta 的服务器拒绝了这个签名链接" in out
    assert "修复方法：到 https://www.llama.com/llama-downloads 申请一个新链接" in out
    assert "    bash download.sh" in out
    assert "在日志中的样子：" in out and "ERROR 403: Forbidden." in out
    assert "检查：download-url-invalid" in out


def test_placeholder_defaults_written_in_words_are_translated_and_names_are_not() -> None:
    _, oom = invoke("list", "gpu-oom-model-too-big", "--lang", "zh")
    assert "GPU 编号未知（共 容量未知）在申请额外 若干内存 时显存耗尽" in oom
    assert "the GPU" not in oom and "`max_batch_size` x `max_seq_len`" in oom
    _, crlf = invoke("list", "dl-crlf-script", "--lang", "zh")
    assert "`download.sh` 是以 Windows 行尾（CRLF）保存的" in crlf


def test_every_failure_is_explained_in_chinese() -> None:
    i18n.activate("zh", i18n.LOCALE_DIR)
    for failure in FAILURES:
        console = Console(width=100, record=True, color_system=None)
        explain_failure(failure, console)
        shown = console.export_text()
        assert CJK.search(shown), failure.id
        for english in (failure.title, failure.cause, failure.fix, failure.log_only):
            assert not english or failure.fill(english, {}) not in shown.replace("\n", " "), failure.id
        assert all(failure.fill(command, {}) in shown for command in failure.commands), failure.id
        assert max(cell_len(line) for line in shown.splitlines() if not line.startswith("    ")) <= 100


def test_explain_in_chinese_ranks_and_quotes_the_log() -> None:
    code, out = invoke("explain", "--no-checks", "--lang", "zh", str(LOGS / "c10d-then-nccl.log"))
    assert code == 1
    assert "中有 2 种已知故障，导致运行中止的排在最前" in out
    assert out.index("dist-nccl-not-built") < out.index("dist-c10d-hostname")
    assert "1. dist-nccl-not-built: Meta 的代码要求使用 NCCL，而这个 torch 没有 NCCL  （置信度：高）" in out
    assert '原因：Meta 的参考代码调用了 `init_process_group("nccl")`' in out
    assert "export MASTER_ADDR=127.0.0.1" in out
    assert re.search(r"第 3, 4, 5, 6 行：\S", out)  # the line the log printed, as it printed it
    assert "本机：" not in out


def test_explain_in_chinese_says_what_this_machine_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamadoctor.explaining import session
    from llamadoctor.testing import windows_conda

    monkeypatch.setattr(session, "_facts_here", lambda diagnosis=None: windows_conda())
    code, out = invoke("explain", "--lang", "zh", str(LOGS / "nccl-torchrun-windows.log"))
    assert code == 1
    assert "本机：已确认存在" in out
    assert "日志可能来自另一台机器：上面标为本机的结论只针对当前这台机器。" in out


def test_explain_in_chinese_without_a_known_failure() -> None:
    code, out = invoke("explain", "--no-checks", "--lang", "zh", str(LOGS / "unknown-failure.log"))
    assert code == 0
    assert "中没有已知故障。" in out and "其中最后一个错误，在第" in out
    assert "请提交一个 issue，附上日志和 `llamadoctor check --markdown` 的报告。" in out


def test_json_and_the_readme_table_stay_english_in_chinese() -> None:
    _, data = invoke("explain", "--json", "--no-checks", "--lang", "zh", str(LOGS / "oom-new-wording.log"))
    (match,) = json.loads(data)["matches"]
    assert match["title"] == by_id()["gpu-oom-model-too-big"].title and not CJK.search(data)
    for args in (("--json",), ("--markdown",)):
        code, out = invoke("list", "--failures", *args, "--lang", "zh")
        assert code == 0 and not CJK.search(out), args


def test_english_is_unchanged() -> None:
    _, table = invoke("list", "--failures")
    assert "what happens, and what deals with it" in table and not CJK.search(table)
    assert "Caught before it bites: " in table
    _, explained = invoke("explain", "--no-checks", str(LOGS / "c10d-then-nccl.log"))
    assert "2 known failures in" in explained and not CJK.search(explained)
    assert "   cause: Meta's reference code calls" in explained
