"""`llamadoctor convert --out`: what `--force` may replace (only a folder llamadoctor wrote, never the source, a
folder holding it, the home folder or a root), and what a killed conversion leaves for the next run."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from llamadoctor.runner.conversion import convert
from llamadoctor.runner.conversion import output as place

from builders import llamas


def _tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) and its sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def src(tmp_path: Path, tokenizer_files: dict[str, Path]) -> Path:
    """A tiny Meta folder of this test's own (a test that fails must not delete a shared one)."""
    return llamas.make_model_dir(
        tmp_path / "P" / "llama-2-tiny", family="llama2", tokenizer=tokenizer_files["sentencepiece"]
    )


def _refused(request: convert.Request, match: str) -> None:
    """No free disk: a conversion that got past the guard stops there instead of touching anything."""
    with pytest.raises(convert.BadInput, match=match):
        convert.convert(request, free_bytes=lambda path: 0)


def test_force_never_replaces_the_folder_holding_the_source(src: Path, tmp_path: Path) -> None:
    parent = src.parent
    (parent / "notes.txt").write_text("mine")
    before = _tree(parent)
    _refused(convert.Request(src, parent, force=True), "holds the model being converted")
    assert _tree(parent) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["P"]


def test_force_never_replaces_the_source_or_a_link_to_its_parent(src: Path, tmp_path: Path) -> None:
    before = _tree(src.parent)
    _refused(convert.Request(src, src, force=True), "is the model being converted")
    link = tmp_path / "link"
    link.symlink_to(src.parent, target_is_directory=True)
    _refused(convert.Request(src, link, force=True), "holds the model being converted")
    _refused(convert.Request(src, src / "hf", force=True), "inside the model being converted")
    assert _tree(src.parent) == before and link.is_symlink()


def test_force_never_replaces_home_or_a_root(src: Path, tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export A=1\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    _refused(convert.Request(src, home, force=True), "home folder")
    assert (home / ".bashrc").read_text() == "export A=1\n"
    root = Path(Path.cwd().anchor)
    _refused(convert.Request(src, root, force=True), "root")


def test_force_replaces_only_a_folder_llamadoctor_wrote(src: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine")
    _refused(convert.Request(src, theirs, force=True), "not written by llamadoctor convert")
    assert (theirs / "keep.txt").read_text() == "mine"

    out = tmp_path / "hf"
    convert.convert(convert.Request(src, out))
    marker = json.loads((out / place.MARKER).read_text())
    assert marker["from"] == str(src.resolve()) and marker["to"] == "hf"
    convert.convert(convert.Request(src, out, dtype="fp16", force=True))
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "float16"
    (out / "notes.txt").write_text("the user's, added later")
    _refused(convert.Request(src, out, force=True), r"holds files convert did not write \(notes.txt\)")
    assert (out / "notes.txt").read_text() == "the user's, added later"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["P", "hf", "theirs"]


def test_an_empty_folder_may_be_replaced_with_force(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    convert.convert(convert.Request(src, out, force=True))
    assert (out / "config.json").is_file()


def test_a_file_is_never_replaced(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.bin"
    out.write_bytes(b"weights")
    _refused(convert.Request(src, out, force=True), "not written by llamadoctor convert")
    assert out.read_bytes() == b"weights"


def _dead_pid() -> int:
    """A pid no process has (a child that has exited and been reaped)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    return child.pid


def _fake_output(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(text)
    (folder / place.MARKER).write_text(json.dumps({"tool": "llamadoctor convert", "from": "x", "to": "hf"}))
    return folder


def test_next_run_puts_back_the_previous_output_when_the_new_one_never_arrived(src: Path, tmp_path: Path) -> None:
    pid = _dead_pid()
    out = tmp_path / "hf"
    old = _fake_output(tmp_path / f".hf.old-{pid}", "previous")
    partial = tmp_path / f".hf.partial-{pid}"
    partial.mkdir()
    (partial / "model-00001-of-00001.safetensors").write_bytes(b"half")
    restored = place.recover(out)
    assert (out / "config.json").read_text() == "previous"
    assert not old.exists() and not partial.exists()
    assert restored == [out]
    with pytest.raises(convert.BadInput, match="already exists"):
        convert.convert(convert.Request(src, out))
    assert (out / "config.json").read_text() == "previous"


def test_next_run_removes_the_old_output_once_the_new_one_is_complete(tmp_path: Path) -> None:
    pid = _dead_pid()
    out = _fake_output(tmp_path / "hf", "new")
    old = _fake_output(tmp_path / f".hf.old-{pid}", "previous")
    place.recover(out)
    assert (out / "config.json").read_text() == "new" and not old.exists()


def test_an_old_folder_beside_an_incomplete_output_is_kept(tmp_path: Path) -> None:
    pid = _dead_pid()
    out = tmp_path / "hf"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    old = _fake_output(tmp_path / f".hf.old-{pid}", "previous")
    place.recover(out)
    assert (old / "config.json").read_text() == "previous" and (out / "notes.txt").exists()


def test_a_live_conversions_folders_are_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "hf"
    partial = tmp_path / f".hf.partial-{os.getppid()}"
    partial.mkdir()
    old = _fake_output(tmp_path / f".hf.old-{os.getppid()}", "previous")
    place.recover(out)
    assert partial.exists() and old.exists() and not out.exists()


def test_meta_output_is_marked_and_replaceable(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "mp2"
    convert.convert(convert.Request(src, out, to="meta", shards=2, dtype="fp16"))
    assert json.loads((out / place.MARKER).read_text())["to"] == "meta"
    convert.convert(convert.Request(src, out, to="meta", shards=2, dtype="bf16", force=True))
    state = torch.load(out / "consolidated.00.pth", mmap=True, weights_only=True)
    assert state["norm.weight"].dtype == torch.bfloat16


def test_a_half_deleted_old_folder_is_neither_restored_nor_deleted(tmp_path: Path) -> None:
    pid = _dead_pid()
    old = tmp_path / f".hf.old-{pid}"
    old.mkdir()
    (old / "model-00001-of-00001.safetensors").write_bytes(b"what was left")
    place.recover(tmp_path / "hf")
    assert not (tmp_path / "hf").exists() and (old / "model-00001-of-00001.safetensors").exists()
