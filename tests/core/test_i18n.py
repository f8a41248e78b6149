"""The Chinese interface: who asks for it, what it changes, and what it must leave alone."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from llamadoctor import i18n, testing
from llamadoctor.cli import app
from llamadoctor.engine import run
from llamadoctor.registry import all_checks
from llamadoctor.report import render_human, render_json, render_markdown

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
CJK = re.compile(r"[\u4e00-\u9fff]")


def _messages_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("messages", ROOT / "tools" / "messages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def english_after() -> object:
    yield
    i18n.activate(i18n.ENGLISH)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.utf8"}, "zh"),
        ({"LC_ALL": "C", "LANGUAGE": "zh_CN"}, "en"),  # gettext ignores LANGUAGE under the C locale
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh"),
        ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "en_GB:zh"}, "en"),
        ({"LANG": "zh_TW.UTF-8"}, "en"),  # Traditional: no catalogue, not another script
        ({"LANG": "zh_TW.UTF-8", "LANGUAGE": "zh_TW:zh_CN"}, "zh"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "zh-Hans"}, "zh"),
    ],
)
def test_the_locale_variables_choose_as_gettext_does(environ: dict[str, str], expected: str) -> None:
    assert i18n.language_from(environ, platform="linux") == expected


def test_windows_without_locale_variables_asks_the_display_language() -> None:
    assert i18n.language_from({}, platform="win32", system_locale=lambda: "zh_CN") == "zh"
    assert i18n.language_from({}, platform="win32", system_locale=lambda: "en_US") == "en"
    assert i18n.language_from({"LANG": "en_US"}, platform="win32", system_locale=lambda: "zh_CN") == "en"


def test_lang_anywhere_before_the_double_dash_and_only_there() -> None:
    argv = ["check", "--lang", "zh", "--json", "--", "torchrun", "--lang=en"]
    assert i18n.lang_in_argv(argv) == "zh"
    assert i18n.strip_lang(argv) == ["check", "--json", "--", "torchrun", "--lang=en"]
    assert i18n.strip_lang(["--lang=zh", "list"]) == ["list"]


def test_every_message_has_a_translation_with_the_same_placeholders() -> None:
    tool = _messages_tool()
    expected = tool.template()
    assert len([m for m in expected if m.id]) > 100, "the help texts and marked messages are all found"
    for po in tool.catalogues():
        assert tool.problems(po, expected) == [], po


def test_chinese_help_from_the_option_and_from_the_locale(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    by_option = runner.invoke(app, ["check", "--help", "--lang", "zh"], terminal_width=200)
    assert by_option.exit_code == 0, by_option.output
    assert "诊断本机、目标 Python 环境和你的 Llama 文件。" in by_option.output
    assert "--model-dir" in by_option.output and "选项" in by_option.output
    by_locale = runner.invoke(app, ["--help"], env={"LANG": "zh_CN.UTF-8", "LC_ALL": ""}, terminal_width=200)
    assert "找出并修复" in by_locale.output
    english = runner.invoke(app, ["--help"], env={"LANG": "en_US.UTF-8", "LC_ALL": ""}, terminal_width=200)
    assert "Find and fix" in english.output and not CJK.search(english.output)


def test_an_unknown_language_is_bad_input() -> None:
    done = runner.invoke(app, ["--lang", "klingon", "list"])
    assert done.exit_code == 2
    assert "--lang 'klingon' is not a language llamadoctor speaks (choose from en, zh)" in done.output


@pytest.mark.parametrize(
    "facts",
    [
        testing.linux_gpu(),
        testing.linux_cpu(),
        testing.windows_conda(),
        testing.mac_arm(),
        testing.debian_system_python(),
    ],
    ids=["linux-gpu", "linux-cpu", "windows", "macos", "debian"],
)
def test_check_renders_in_chinese_on_every_platform(facts: object, compiled: Path) -> None:
    report = run(facts, all_checks())  # type: ignore[arg-type]
    i18n.activate("zh", compiled)
    console = Console(width=100, record=True, color_system=None)
    render_human(report, console)
    shown = console.export_text()
    assert "系统" in shown and "项检查通过" in shown
    assert report.verdict() in shown and CJK.search(report.verdict())
    assert "### llamadoctor" in render_markdown(report)


def test_machine_output_stays_english_whatever_the_language(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    i18n.choose(["check", "--json"], {"LANG": "zh_CN.UTF-8"})
    assert i18n.current() == "en"
    report = run(testing.linux_cpu(), all_checks())
    assert not CJK.search(render_json(report))
    assert i18n.choose(["check"], {"LANG": "zh_CN.UTF-8"}) == "zh"


def test_a_missing_catalogue_shows_english(tmp_path: Path) -> None:
    i18n.activate("zh", tmp_path)
    assert i18n.current() == "en"
    assert i18n._("System") == "System"
