"""`llamadoctor list` in Chinese: the catalogue table and the pages of checks and fixes, read from the registry."""

from __future__ import annotations

import gettext
import importlib.util
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from llamadoctor import i18n
from llamadoctor.catalogue import doc_paragraphs, explain, fix_doc, render_catalogue
from llamadoctor.cli import app
from llamadoctor.registry import CHECKS, FIXES, all_checks

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def english_after() -> object:
    yield
    i18n.activate(i18n.ENGLISH)


def _list(*args: str) -> str:
    done = runner.invoke(app, ["list", *args], env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    return done.output


def _flat(text: str) -> str:
    """Output with its line breaks undone, to find a command the terminal's width folded."""
    return " ".join(text.split())


def test_paragraphs_split_at_blank_lines_and_labels_and_join_lines() -> None:
    doc = "First line\ncontinues.\n\nWhat it checks: one\n  thing.\nWhy it matters: `a`\nb.\n\n\nLast."
    labels = ("What it checks:", "Why it matters:")
    assert i18n.paragraphs(doc, labels) == [
        "First line continues.",
        "What it checks: one thing.",
        "Why it matters: `a` b.",
        "Last.",
    ]
    assert i18n.paragraphs(doc) == [
        "First line continues.",
        "What it checks: one thing. Why it matters: `a` b.",
        "Last.",
    ]
    assert i18n.paragraphs("  \n") == []


def test_the_catalogue_in_chinese_at_80_columns(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    shown = _list("--lang", "zh")
    packed = re.sub(r"\s+", "", shown)  # a summary folded onto two lines of its cell, read as one
    assert "概述" in shown and "有NVIDIAGPU，但torch编译时未启用CUDA（错误，仅限Linux，Windows）" in packed
    assert f"{len(CHECKS)} 项检查，{len(FIXES)} 个修复。`llamadoctor list ID` 可查看其中一项的说明。" in shown
    for line in shown.splitlines():
        assert len(line.rstrip()) <= 80
    ids = {line.split()[0] for line in shown.splitlines() if line[:1].strip()}
    assert set(CHECKS) | set(FIXES) <= ids, "every id stands whole at the start of its row"
    assert "…" not in shown


def test_a_check_page_in_chinese_keeps_commands_and_errors(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    shown = _list("torch-cpu-only", "--lang", "zh")
    flat = _flat(shown)
    assert shown.startswith("torch-cpu-only: 有 NVIDIA GPU，但 torch 编译时未启用 CUDA\n")
    assert "严重程度：错误；分组：GPU 与 CUDA；平台：Linux，Windows" in shown
    for label in ("检查内容：", "为何重要：", "如何修复："):
        assert label in shown
    assert "python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu121" in flat
    assert "AssertionError: Torch not compiled with CUDA enabled" in flat
    assert "修复 reinstall-torch-cuda（手动）：" in shown
    assert "What it checks" not in shown and all(len(line.rstrip()) <= 80 for line in shown.splitlines())


def test_a_fix_page_in_chinese(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    flat = _flat(_list("install-missing-packages", "--lang", "zh"))
    assert flat.startswith("install-missing-packages: 用目标解释器的 pip 安装缺失或过旧的包（无法撤销）")
    assert "修复（不安全）：会修改你的代码：只在 `llamadoctor fix --unsafe` 时应用" in flat
    assert "`llamadoctor undo` 无法撤回安装" in flat
    assert "可修复这些检查发现的问题：accelerate-too-old," in flat
    assert "`llamadoctor fix install-missing-packages --dry-run` 可显示它会在本机改动什么。" in flat


def test_section_labels_are_bold_in_chinese_too(compiled: Path) -> None:
    i18n.activate("zh", compiled)
    console = Console(width=80, record=True, color_system="standard", highlight=False, file=io.StringIO())
    explain("disk-low", console)
    styled = console.export_text(styles=True)
    for label in ("检查内容", "为何重要", "如何修复"):
        assert f"\x1b[1m{label}\x1b[0m：" in styled


def test_english_pages_and_json_stay_english(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    page = _flat(_list("torch-cpu-only"))
    assert not CJK.search(page)
    assert "What it checks: an NVIDIA GPU was found (NVML or nvidia-smi)" in page
    assert "fix reinstall-torch-cuda (manual): Install the torch build this machine runs" in page
    assert "severity error; group GPU & CUDA; platforms Linux, Windows" in page
    table = _list()
    assert "(error, Linux, Windows only)" in _flat(table) and not CJK.search(table)
    assert f"{len(CHECKS)} checks, {len(FIXES)} fixes. `llamadoctor list ID` explains one." in table
    as_json = _list("--json", "--lang", "zh")
    assert not CJK.search(as_json) and "An NVIDIA GPU is present but torch was built without CUDA" in as_json


class _Recording(gettext.NullTranslations):
    """English, noting every message asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def gettext(self, message: str) -> str:
        self.asked.add(message)
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self.asked.add(singular)
        return singular if n == 1 else plural


def test_every_message_the_pages_show_is_in_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("messages", ROOT / "tools" / "messages.py")
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    catalogue = {m.id[0] if isinstance(m.id, tuple) else m.id for m in tool.template() if m.id}
    recording = _Recording()
    monkeypatch.setattr(i18n, "_translation", recording)
    console = Console(width=80, file=io.StringIO())
    render_catalogue(console)
    for page in [*(c.id for c in all_checks()), *FIXES]:
        explain(page, console)
    documentation = {p for c in all_checks() for p in doc_paragraphs(c.doc)}
    documentation |= {p for f in FIXES.values() for p in doc_paragraphs(fix_doc(f))}
    assert documentation <= recording.asked, "every paragraph of every page goes through the translator"
    assert recording.asked - catalogue == set()


def test_chinese_wraps_between_characters_and_english_as_before(compiled: Path) -> None:
    sentence = "只打印 pip 命令，从不执行：它会替换用户环境中数 GB 的包，所以需要你自己决定何时运行。"
    english = "Print the pip command; never run it: it replaces gigabytes of packages in the user's environment."

    def lines(text: str) -> list[str]:
        console = Console(width=30, record=True, color_system=None, file=io.StringIO())
        console.print(Text(text))
        return console.export_text().rstrip("\n").splitlines()

    before = lines(english)
    i18n.activate("zh", compiled)
    wrapped = [line.rstrip() for line in lines(sentence)]
    assert len(wrapped) > 2
    assert all(Text(line).cell_len >= 26 for line in wrapped[:-1]), wrapped  # no half-empty line before the last
    assert not any(line.startswith(("，", "：", "。")) for line in wrapped), "closing punctuation never starts a line"
    i18n.activate(i18n.ENGLISH)
    assert lines(english) == before
