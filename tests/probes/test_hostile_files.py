"""Files a user or an attacker can put in a model folder: each is a finding about that file, never a crash,
a hang or a silent gap in the report."""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
from pathlib import Path
from typing import Callable, TypeVar

import pytest

from llamadoctor.probes.files import inspect_model_dir
from llamadoctor.probes.sniff import sniff_tokenizer
from llamadoctor.reading import NotRegularFile, read_regular
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import sentencepiece_bytes, tiktoken_bytes

from .test_files import facts_of, gather, messages
from builders.checkpoints import write_meta_model

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and byte paths are POSIX")
T = TypeVar("T")


def _within(seconds: float, body: Callable[[], T], unblock: Path) -> T:
    """body() on a thread; fails the test if it is still blocked after `seconds` (then frees the thread by
    opening the FIFO `unblock` for writing, so the run can go on)."""
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(body()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        fd = os.open(unblock, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail(f"still blocked after {seconds} s on {unblock.name}")
    assert out, "the body raised (see the thread's traceback above)"
    return out[0]


def _safetensors(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


def _hf_folder(folder: Path, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}')
    (folder / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b'{"w": [1, 2]}', id="entry-not-an-object"),
        pytest.param(b'{"w": {"dtype": "F16", "shape": 7, "data_offsets": [0, 2]}}', id="shape-not-a-list"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
    ],
)
def test_malformed_safetensors_header_is_a_finding_about_that_file(tmp_path: Path, header: bytes) -> None:
    bad = _hf_folder(tmp_path / "bad-hf", _safetensors(header))
    broken = write_meta_model(tmp_path / "llama-2-7b")
    (broken / "consolidated.00.pth").write_bytes(b"")
    found = messages(facts_of(tmp_path, dirs=(bad, broken)))
    texts = found["shard-corrupt"]
    assert any("bad-hf" in t and "model.safetensors" in t for t in texts)
    assert any("llama-2-7b" in t and "consolidated.00.pth is 0 bytes" in t for t in texts)


def test_params_json_nested_too_deep_is_a_finding(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m", checklist=False)
    (model / "params.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    found = messages(facts_of(tmp_path, dirs=(model,)))
    assert "params.json" in found["model-dir-incomplete"][0] and "deep" in found["model-dir-incomplete"][0]


def test_a_folder_whose_probe_crashes_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llamadoctor.probes.files as files_probe

    good = write_meta_model(tmp_path / "good")
    bad = write_meta_model(tmp_path / "bad")
    real = files_probe.inspect_model_dir

    def crash_on_bad(path: Path, source: str = "given") -> object:
        if path.name == "bad":
            raise ZeroDivisionError("a bug")
        return real(path, source)

    monkeypatch.setattr(files_probe, "inspect_model_dir", crash_on_bad)
    facts = facts_of(tmp_path, dirs=(good, bad))
    assert [m.path for m in facts.models] == [str(good), str(bad)]
    [text] = messages(facts)["model-dir-incomplete"]
    assert str(bad) in text and "ZeroDivisionError" in text


def test_a_crash_of_the_whole_file_probe_is_an_error() -> None:
    from llamadoctor import engine
    from llamadoctor.registry import all_checks

    report = engine.run(linux_gpu(probe_errors={"files": "ZeroDivisionError: a bug"}), all_checks())
    findings = [f for r in report.results for f in r.findings if "ZeroDivisionError" in f.message]
    assert findings and findings[0].severity.value == "error"
    assert not report.ready and report.exit_code() == 1


# ---- files that are not regular files ------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("name", ["consolidated.00.pth", "params.json", "tokenizer.model", "checklist.chk"])
def test_a_fifo_is_never_opened(tmp_path: Path, name: str) -> None:
    model = write_meta_model(tmp_path / "m")
    (model / name).unlink(missing_ok=True)
    os.mkfifo(model / name)
    found = _within(60, lambda: messages(facts_of(tmp_path, dirs=(model,))), unblock=model / name)
    assert any(name in text for texts in found.values() for text in texts)


@posix_only
def test_a_fifo_listed_in_the_checklist_is_not_hashed(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    (model / "checklist.chk").write_text(f"{'0' * 32}  pipe.pth\n")
    os.mkfifo(model / "pipe.pth")
    [m] = _within(60, lambda: gather(tmp_path, dirs=(model,))[1], unblock=model / "pipe.pth")
    [entry] = m.checklists[0].entries
    assert entry.status == "unreadable"


@posix_only
def test_read_regular_refuses_fifos_folders_and_devices(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    for path in (tmp_path / "pipe", tmp_path, Path("/dev/zero")):
        with pytest.raises(NotRegularFile):
            read_regular(path, 10)
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert read_regular(tmp_path / "f", 10) == b"x" * 10


# ---- paths taken from model files ----------------------------------------------------------------------


def test_an_index_entry_outside_the_folder_is_a_finding_and_never_opened(tmp_path: Path) -> None:
    model = _hf_folder(tmp_path / "hf", _safetensors(b"{}"))
    index = {"weight_map": {"model.embed_tokens.weight": "../../../../etc/passwd", "x": "model.safetensors"}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    [m] = gather(tmp_path, dirs=(model,))[1]
    assert m.details["index_outside"] == ["../../../../etc/passwd"]
    [text] = messages(facts_of(tmp_path, dirs=(model,)))["model-dir-incomplete"]
    assert "../../../../etc/passwd" in text and "outside" in text


# ---- names that are not UTF-8 --------------------------------------------------------------------------


@posix_only
def test_a_healthy_model_under_a_non_utf8_path_is_healthy(tmp_path: Path) -> None:
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    model = write_meta_model(folder)
    facts = facts_of(tmp_path, dirs=(model,), nproc=1)
    [m] = facts.models
    assert m.shards[0].kind == "zip" and m.tokenizer is not None and m.tokenizer.kind == "sentencepiece"
    assert {e.status for e in m.checklists[0].entries} == {"ok"}
    assert messages(facts) == {}


# ---- tokenizer files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00\x01garbage" * 50, id="garbage"),
        pytest.param(b"IQ== 0\n!!!not-base64!!! 1\n", id="bad-base64"),
        pytest.param(b"IQ== 0\nIg== one\n", id="rank-not-an-integer"),
        pytest.param(b"\n\x03abc\x0a\xff", id="sentencepiece-cut-short"),
    ],
)
def test_a_garbage_tokenizer_model_is_a_finding(tmp_path: Path, content: bytes) -> None:
    model = write_meta_model(tmp_path / "m", tokenizer=content, checklist=False)
    found = messages(facts_of(tmp_path, dirs=(model,)))
    assert "tokenizer.model is neither SentencePiece nor tiktoken" in found["shard-corrupt"][0]


def test_good_tokenizers_still_pass(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.model"
    for data, kind in ((sentencepiece_bytes(), "sentencepiece"), (tiktoken_bytes(), "tiktoken")):
        path.write_bytes(data)
        assert sniff_tokenizer(path, len(data)).kind == kind


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"not json at all", id="not-json"),
        pytest.param(b"[1]", id="not-an-object"),
        pytest.param(b'{"model": {"type": "BPE", "vocab": 7}}', id="vocab-not-a-map"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
    ],
)
def test_a_garbage_tokenizer_json_is_a_finding(tmp_path: Path, content: bytes) -> None:
    model = _hf_folder(tmp_path / "hf", _safetensors(b"{}"))
    (model / "tokenizer.json").write_bytes(content)
    [text] = messages(facts_of(tmp_path, dirs=(model,)))["model-dir-incomplete"]
    assert "tokenizer.json" in text


def test_a_symlink_loop_as_tokenizer_is_a_finding(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m", checklist=False)
    (model / "tokenizer.model").unlink()
    (model / "tokenizer.model").symlink_to(model / "tokenizer.model")
    found = messages(facts_of(tmp_path, dirs=(model,)))
    assert any("tokenizer.model" in text and "read" in text for texts in found.values() for text in texts), found
    assert inspect_model_dir(model).tokenizer is not None


def test_meta_code_nested_too_deep_for_the_parser_costs_only_its_own_fact(tmp_path: Path) -> None:
    repo = tmp_path / "llama"
    (repo / "llama").mkdir(parents=True)
    (repo / "llama" / "generation.py").write_text("import torch\n")
    (repo / "example_chat_completion.py").write_text("dialogs = 1" + "+1" * 20_000 + "\n")
    model = write_meta_model(repo / "llama-2-7b")
    (model / "consolidated.00.pth").write_bytes(b"")
    facts = facts_of(tmp_path, repo=repo, dirs=(model,))
    assert facts.repo is not None and facts.repo.chat_dialogs is None
    assert "consolidated.00.pth is 0 bytes" in messages(facts)["shard-corrupt"][0]


@posix_only
def test_a_fifo_in_the_torch_install_is_never_opened(tmp_path: Path) -> None:
    from llamadoctor.probes.torch_files import torch_from_files

    root = tmp_path / "torch"
    root.mkdir()
    os.mkfifo(root / "version.py")
    info = _within(
        60, lambda: torch_from_files(str(root), os_name="linux", machine="x86_64"), unblock=root / "version.py"
    )
    assert info.broken and "version.py" in info.broken
