"""The checks' own words in Chinese: findings, remedies, healthy and not-applicable texts, and the fix plans.

Covers the second half of the checks (models, memory, tokenizers, launchers, serving stacks, torch installs)
and every fix: each Broken example is run in English and in Chinese, and the Chinese must be Chinese while
the commands, code spans and quoted error texts users search for stay exactly as the English has them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor import i18n, testing
from llamadoctor.cli import app
from llamadoctor.engine import judge, run_one
from llamadoctor.facts import Launcher
from llamadoctor.files import ScriptFile
from llamadoctor.model import Broken, Check, Finding, Healthy, Inapplicable, Manual, Requires, Severity, Status
from llamadoctor.registry import FIXES, all_checks
from llamadoctor.testing_files import HOME, LLAMA2_7B, LLAMA2_GENERATION, generation_source, meta_model, repo_with

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
# What a translation keeps byte for byte: `code spans` and “quoted” error texts.
KEPT = re.compile(r"`[^`]+`|“[^”]*”")
MODULES = [
    "library_versions",
    "llamacpp_windows",
    "memory_fit",
    "meta_code",
    "missing_tools",
    "model_dir",
    "mps_fallback",
    "nccl_unavailable",
    "ollama",
    "python_arch_mismatch",
    "repo_requirements",
    "run_settings",
    "serving_stacks",
    "shards",
    "tokenizer",
    "torch_cpu_only",
    "torch_install",
    "torchrun_launcher",
    "transformers_deps",
    "vllm_kv_cache",
    "windows_libuv",
]
# Healthy texts that are data only (names, versions, a variable's value): nothing in them to translate.
DATA_ONLY = {"mps-fallback-unset", "tokenizer-library-missing", "tokenizer-class-misspelled"}


def _ours() -> list[Check]:
    return [c for c in all_checks() if c.func.__module__.rsplit(".", 1)[-1] in MODULES]


def _examples(kind: type) -> list[tuple[Check, object]]:
    return [(c, e) for c in _ours() for e in c.examples if isinstance(e, kind)]


def _label(item: tuple[Check, object]) -> str:
    return item[0].id


@pytest.fixture
def chinese(compiled: Path):  # type: ignore[no-untyped-def]
    """Runs a callable in English, then in Chinese; gives both results."""

    def both(make):  # type: ignore[no-untyped-def]
        i18n.activate(i18n.ENGLISH)
        english = make()
        i18n.activate("zh", compiled)
        try:
            return english, make()
        finally:
            i18n.activate(i18n.ENGLISH)

    return both


def assert_translated(english: str, chinese: str) -> None:
    """Chinese words around the very code spans and quoted errors of the English."""
    assert chinese != english and CJK.search(chinese), chinese
    for kept in KEPT.findall(english):
        assert kept in chinese, (kept, chinese)


def assert_remedy_translated(english: str, chinese: str) -> None:
    """Each prose line in Chinese, each command line exactly as in English."""
    assert len(chinese.splitlines()) == len(english.splitlines()), chinese
    for en_line, zh_line in zip(english.splitlines(), chinese.splitlines()):
        if zh_line != en_line:
            assert_translated(en_line, zh_line)


@pytest.mark.parametrize("item", _examples(Broken), ids=_label)
def test_every_broken_example_reads_in_chinese(item: tuple[Check, Broken], chinese) -> None:  # type: ignore[no-untyped-def]
    spec, example = item
    english, zh = chinese(lambda: judge(spec, example.facts).findings)
    assert english and len(zh) == len(english)
    for en_finding, zh_finding in zip(english, zh):
        assert_translated(en_finding.message, zh_finding.message)
        assert_remedy_translated(en_finding.remedy, zh_finding.remedy)
        assert zh_finding.evidence == en_finding.evidence  # what machines and fixes read stays the same


def test_remedies_translate_their_prose_and_keep_their_commands(chinese) -> None:  # type: ignore[no-untyped-def]
    nccl = next(c for c in _ours() if c.id == "nccl-unavailable")
    english, zh = chinese(lambda: judge(nccl, testing.windows_conda()).findings[0].remedy)
    assert zh.startswith("使用 gloo 后端：运行 `llamadoctor run`")
    assert (
        zh.splitlines()[1]
        == english.splitlines()[1]
        == ('init_process_group("nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo")')
    )


@pytest.mark.parametrize("item", _examples(Healthy), ids=_label)
def test_healthy_results_say_what_they_looked_at_in_chinese(item: tuple[Check, Healthy], chinese) -> None:  # type: ignore[no-untyped-def]
    spec, example = item
    english, zh = chinese(lambda: judge(spec, example.facts))
    assert zh.status == english.status
    if zh.status is Status.PASSED and english.checked and spec.id not in DATA_ONLY:
        assert_translated(english.checked, zh.checked)


def _unmet(spec: Check, facts: object) -> Requires | None:
    return next((r for r in spec.requires if r.unmet(facts)), None)  # type: ignore[arg-type]


def _declared_here(requirement: Requires) -> bool:
    """A requirement declared in this half's modules (the shared ones are translated with the other half)."""
    return requirement.holds.__module__.rsplit(".", 1)[-1] in MODULES


@pytest.mark.parametrize("item", _examples(Inapplicable), ids=_label)
def test_not_applicable_reasons_read_in_chinese(item: tuple[Check, Inapplicable], chinese) -> None:  # type: ignore[no-untyped-def]
    spec, example = item
    english, zh = chinese(lambda: judge(spec, example.facts))
    requirement = _unmet(spec, example.facts)
    if example.facts.os in spec.platforms and requirement is not None and _declared_here(requirement):
        assert english.status is zh.status is Status.NOT_APPLICABLE
        assert_translated(english.reason, zh.reason)


@pytest.mark.parametrize(
    ("check_id", "facts", "english"),
    [
        ("nccl-unavailable", testing.replace_in(testing.linux_gpu(), "torch", nccl=None), "has NCCL is unknown"),
        ("windows-libuv", testing.replace_in(testing.windows_conda(), "torch", version=None), "version is unknown"),
        ("torch-broken", testing.linux_gpu(), "not imported without --deep"),
    ],
)
def test_skip_reasons_read_in_chinese(check_id: str, facts: object, english: str, chinese) -> None:  # type: ignore[no-untyped-def]
    spec = next(c for c in _ours() if c.id == check_id)
    en_result, zh_result = chinese(lambda: run_one(spec, facts))  # type: ignore[arg-type]
    assert en_result.status is zh_result.status is Status.SKIPPED
    assert english in en_result.reason
    assert_translated(en_result.reason, zh_result.reason)


def _plans() -> list[tuple[str, Check, Broken]]:
    """(fix id, check, example) for every fix a Broken example's finding offers."""
    return [(fix_id, c, e) for c in all_checks() for e in c.examples if isinstance(e, Broken) for fix_id in c.fixes]


@pytest.mark.parametrize("plan", _plans(), ids=lambda p: f"{p[0]}<-{p[1].id}")
def test_fix_plans_read_in_chinese_with_their_commands_intact(plan, chinese) -> None:  # type: ignore[no-untyped-def]
    fix_id, spec, example = plan
    fix = FIXES[fix_id]
    i18n.activate(i18n.ENGLISH)
    findings = judge(spec, example.facts).findings
    english, zh = chinese(lambda: [fix.plan(f, example.facts) for f in findings])
    assert [[type(a) for a in p] for p in zh] == [[type(a) for a in p] for p in english]
    for en_plan, zh_plan in zip(english, zh):
        for en_action, zh_action in zip(en_plan, zh_plan):
            if isinstance(en_action, Manual):
                assert_translated(en_action.text, zh_action.text)
                assert len(zh_action.commands) == len(en_action.commands)
                for en_command, zh_command in zip(en_action.commands, zh_action.commands):
                    if zh_command != en_command:  # a comment line among the commands
                        assert_translated(en_command, zh_command)
            else:
                assert zh_action == en_action  # files, modes and commands do not depend on the language


def _refusals() -> list[tuple[str, object]]:
    """(fix id, facts) where the fix cannot act and tells the user what to do by hand."""
    broken_source = dataclasses.replace(generation_source(), content=b"\xff" + LLAMA2_GENERATION)
    huge_script = ScriptFile(f"{HOME}/download.sh", 2 << 20, b"#!/bin/bash\r\n", crlf=True, executable=True)
    binary = Launcher(f"{HOME}/llama/.venv/bin/torchrun", "exe", "/gone/python", False)
    return [
        ("patch-meta-code-gloo", testing.windows_conda(repo=repo_with(sources=(broken_source,)))),
        ("convert-crlf-to-lf", testing.linux_gpu(repo=repo_with(huge_script))),
        ("convert-to-hf", testing.linux_gpu(models=(meta_model(disk_free=1),))),
        ("rewrite-torchrun-shebang", testing.linux_gpu(torchrun=binary)),
    ]


@pytest.mark.parametrize(("fix_id", "facts"), _refusals(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_fixes_refusals_read_in_chinese(fix_id: str, facts: object, chinese) -> None:  # type: ignore[no-untyped-def]
    finding = Finding("model-dir-incomplete", Severity.ERROR, "", evidence={"path": meta_model().path})
    english, zh = chinese(lambda: FIXES[fix_id].plan(finding, facts))  # type: ignore[arg-type]
    assert len(english) == len(zh) == 1 and isinstance(zh[0], Manual)
    assert zh[0].commands == english[0].commands
    assert_translated(english[0].text, zh[0].text)


def _broken_model(root: Path) -> Path:
    """A Meta download gone wrong: params.json, an empty shard, and no tokenizer.model anywhere."""
    folder = root / "llama-2-7b"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps(LLAMA2_7B))
    (folder / "consolidated.00.pth").write_bytes(b"")
    return folder


def _unwrapped(text: str) -> str:
    return "".join(text.split())


def test_check_lang_zh_on_a_broken_download(tmp_path: Path, compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    monkeypatch.chdir(tmp_path)
    folder = _broken_model(tmp_path)
    args = ["check", "--model-dir", str(folder), "--only", "model-dir-incomplete,shard-corrupt"]
    runner = CliRunner()
    zh = runner.invoke(app, [*args, "--lang", "zh"])
    en = runner.invoke(app, args)
    assert zh.exit_code == en.exit_code == 1, zh.output
    shown = _unwrapped(zh.output)  # the report wraps long lines, Chinese between any two characters
    assert _unwrapped("文件夹内和旁边都没有 tokenizer.model（`AssertionError: tokenizer.model`）") in shown
    assert _unwrapped("consolidated.00.pth 为 0 字节（过期的链接会截断文件）：`EOFError: Ran out of input`") in shown
    assert _unwrapped("tokenizer.model is neither in it nor beside it") in _unwrapped(en.output)
    assert not CJK.search(en.output)
    machine = runner.invoke(app, [*args, "--lang", "zh", "--json"])
    messages = [f["message"] for f in json.loads(machine.stdout)["findings"]]
    assert messages and not any(CJK.search(m) for m in messages)
