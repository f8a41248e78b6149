"""The checks' own words in Chinese (the download, GPU, memory, distributed and job checks): every finding,
remedy, passed text and reason reads in Chinese under `--lang zh`, with its commands and quoted errors intact,
and reads exactly as before in English."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor import i18n, testing
from llamadoctor.checks._requires import NVIDIA_GPU
from llamadoctor.cli import app
from llamadoctor.engine import CheckResult, left_out, run, run_one
from llamadoctor.job import JobBroken, JobCheck, JobHealthy, all_job_checks
from llamadoctor.job_report import JobResult, judge
from llamadoctor.model import Broken, Check, Healthy, Inapplicable, Status
from llamadoctor.registry import all_checks

from builders.checkpoints import write_meta_model

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
# What a translation must keep byte for byte: commands and paths in backticks, other tools' errors in “quotes”.
KEPT = re.compile(r"`[^`]+`|“[^”]*”")
MODULES = {
    f"llamadoctor.checks.{name}"
    for name in (
        *("bf16_unsupported", "bitsandbytes_build", "checksums", "convert_memory", "cuda_driver_too_old"),
        *("distributed_env", "download_script", "download_url", "gguf_files", "gpu_arch_unsupported"),
        *("gpu_platform", "headroom", "host_memory", "hub"),
        *("job_gpus", "job_network", "job_ranks", "job_shards", "job_versions"),
    )
}
runner = CliRunner()


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    yield
    i18n.activate(i18n.ENGLISH)


def _mine(spec: Check | JobCheck) -> bool:
    return spec.func.__module__ in MODULES


CHECKS = [c for c in all_checks() if _mine(c)]
JOB_CHECKS = [c for c in all_job_checks() if _mine(c)]
EXAMPLES = [(c, e) for c in CHECKS for e in c.examples]
JOB_EXAMPLES = [(c, e) for c in JOB_CHECKS for e in c.examples]


def _both(outcome: object, compiled: Path) -> tuple[CheckResult | JobResult, CheckResult | JobResult]:
    """The result of one example judged in English, then in Chinese."""
    spec, example = outcome  # type: ignore[misc]
    judged = (
        (lambda: judge(spec, example.job)) if isinstance(spec, JobCheck) else (lambda: run_one(spec, example.facts))
    )
    english = judged()
    i18n.activate("zh", compiled)
    chinese = judged()
    i18n.activate(i18n.ENGLISH)
    return english, chinese


def _assert_translated(english: str, chinese: str) -> None:
    assert chinese != english and CJK.search(chinese), chinese
    assert not CJK.search(english), english
    for kept in KEPT.findall(english):
        assert kept in chinese, (kept, chinese)


def test_the_examples_cover_both_halves_of_what_is_translated() -> None:
    assert len(CHECKS) >= 25 and len(JOB_CHECKS) == 9
    assert sum(isinstance(e, Broken) for _c, e in EXAMPLES) >= 80


@pytest.mark.parametrize(
    "outcome",
    [o for o in [*EXAMPLES, *JOB_EXAMPLES] if isinstance(o[1], (Broken, JobBroken))],
    ids=lambda o: o[0].id,
)
def test_a_finding_reads_in_chinese_with_its_commands_and_errors_intact(outcome: object, compiled: Path) -> None:
    english, chinese = _both(outcome, compiled)
    assert english.findings and len(chinese.findings) == len(english.findings)
    for en, zh in zip(english.findings, chinese.findings):
        _assert_translated(en.message, zh.message)
        assert (zh.check, zh.severity, zh.fixes, list(zh.evidence)) == (
            en.check,
            en.severity,
            en.fixes,
            list(en.evidence),
        )
        if en.remedy != zh.remedy:  # a remedy that is only commands stays as it is
            _assert_translated(en.remedy, zh.remedy)
        # Line by line: a command stays as it is, prose reads in Chinese.
        lines = list(zip(en.remedy.splitlines(), zh.remedy.splitlines()))
        assert len(lines) == len(en.remedy.splitlines()) == len(zh.remedy.splitlines())
        assert all(e == z or CJK.search(z) for e, z in lines), zh.remedy


@pytest.mark.parametrize(
    "outcome",
    [o for o in [*EXAMPLES, *JOB_EXAMPLES] if isinstance(o[1], (Healthy, JobHealthy, Inapplicable))],
    ids=lambda o: o[0].id,
)
def test_what_a_check_looked_at_or_why_it_did_not_reads_in_chinese(outcome: object, compiled: Path) -> None:
    english, chinese = _both(outcome, compiled)
    assert chinese.status is english.status
    said = "checked" if english.status is Status.PASSED else "reason"
    words_en, words_zh = getattr(english, said), getattr(chinese, said)
    if re.fullmatch(r"--dtype \S+|[A-Z_]+=\S*(, [A-Z_]+=\S*)*", words_en):  # options and variables alone
        assert words_zh == words_en
    else:
        _assert_translated(words_en, words_zh)


def test_one_example_word_for_word(compiled: Path) -> None:
    spec = next(c for c in CHECKS if c.id == "download-script-crlf")
    example = next(e for e in spec.examples if isinstance(e, Broken) and e.expect == "bash\\r")
    i18n.activate("zh", compiled)
    (finding,) = run_one(spec, example.facts).findings
    assert finding.message == (
        "/home/ada/llama/download.sh 使用 Windows（CRLF）换行符：`./download.sh` 会失败，报错 "
        "`/usr/bin/env: 'bash\\r': No such file or directory`；`bash download.sh` 会失败，报错 "
        "`line 2: $'\\r': command not found`。"
    )


def test_the_engine_says_why_a_check_did_not_run_in_chinese(compiled: Path) -> None:
    by_id = {c.id: c for c in all_checks()}
    facts = dataclasses.replace(testing.linux_gpu(), probe_errors={"gpu": "NVMLError_LibraryNotFound"})
    i18n.activate("zh", compiled)
    assert NVIDIA_GPU.probe_failed(facts) == "gpu 探测失败（NVMLError_LibraryNotFound）"
    skipped = run_one(by_id["bf16-unsupported"], facts)
    assert skipped.status is Status.SKIPPED and "NVMLError_LibraryNotFound" in skipped.reason
    only_mac = run_one(by_id["download-script-needs-bash4"], testing.windows_conda())
    assert only_mac.reason == "仅适用于 macOS 和 Linux"
    report = run(testing.linux_cpu(), all_checks(), skipped=left_out(all_checks(), ["ram-low"]))
    assert {r.reason for r in report.with_status(Status.SKIPPED)} == {"不在 --only 之列"}


def _fixture(tmp_path: Path) -> list[str]:
    """A repo whose download.sh has CRLF endings, and a model folder whose shard fails its md5."""
    repo = tmp_path / "llama"
    repo.mkdir()
    (repo / "download.sh").write_bytes(b"#!/usr/bin/env bash\r\nset -e\r\necho hi\r\n")
    model = write_meta_model(repo / "llama-2-7b")
    shard = model / "consolidated.00.pth"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the size stays; the md5 does not
    shard.write_bytes(bytes(data))
    only = ("download-script-crlf", "checksum-mismatch", "disk-low")
    return ["check", "--repo", str(repo), "--model-dir", str(model), *(a for c in only for a in ("--only", c))]


def test_check_in_chinese_on_a_broken_download(tmp_path: Path, compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")
    args = _fixture(tmp_path)
    chinese = runner.invoke(app, [*args, "--lang", "zh", "-v"])
    assert chinese.exit_code == 1, chinese.output
    shown = " ".join(chinese.stdout.split())
    assert "使用 Windows（CRLF）换行符：`./download.sh` 会失败，报错 `/usr/bin/env: 'bash\\r'" in shown
    assert "consolidated.00.pth 未通过 md5 校验（`md5sum: WARNING: 1 of 2 computed checksums did NOT match`）" in shown
    assert "可用" in shown and "（需要 20.0 GiB）" in shown  # what disk-low looked at, under -v
    english = runner.invoke(app, args, env={"LANG": "en_US.UTF-8", "LC_ALL": ""})
    said = " ".join(english.stdout.split())
    assert "has Windows (CRLF) line endings: `./download.sh` fails with `/usr/bin/env: 'bash\\r'" in said
    assert "FAILED the md5 check" in said and not CJK.search(english.stdout)
