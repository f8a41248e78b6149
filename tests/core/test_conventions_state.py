"""Where llamadoctor keeps its files: the checksum cache in the user's cache folder, state in the state folder,
and neither grows without bound."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor import journal, paths
from llamadoctor.cli import app
from llamadoctor.probes import checksum
from llamadoctor.probes.checksum import HashCache, hash_files

runner = CliRunner()


def test_each_system_has_its_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LLAMADOCTOR_CACHE_DIR", "LLAMADOCTOR_STATE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(paths.sys, "platform", "linux")
    assert paths.cache_dir() == tmp_path / ".cache" / "llamadoctor"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "llamadoctor"
    monkeypatch.setattr(paths.sys, "platform", "darwin")
    assert paths.cache_dir() == tmp_path / "Library" / "Caches" / "llamadoctor"
    monkeypatch.setattr(paths.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert paths.cache_dir() == tmp_path / "Local" / "llamadoctor" / "Cache"
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(tmp_path / "portable"))
    assert paths.cache_dir() == tmp_path / "portable" / "cache"  # a portable install keeps it all together
    monkeypatch.setenv("LLAMADOCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert paths.cache_dir() == tmp_path / "mine"


def test_check_remembers_hashes_in_the_cache_folder_not_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_state_dir: Path
) -> None:
    from tests.builders.checkpoints import write_meta_model

    monkeypatch.setenv("LLAMADOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    old = _private_state_dir / "checksums.json"
    old.write_text("{}")  # where earlier versions kept it
    model = write_meta_model(tmp_path / "llama-2-7b")
    result = runner.invoke(app, ["check", "--model-dir", str(model), "--json", "--only", "checksum-mismatch"])
    assert result.exit_code == 0, result.stderr
    cached = json.loads((tmp_path / "cache" / "checksums.json").read_text())
    assert str((model / "params.json").resolve()) in cached
    assert not old.exists()


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(name.encode())
    return path


def test_the_cache_forgets_gone_files_and_the_least_recently_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_path = tmp_path / "checksums.json"
    files = [_file(tmp_path, f"f{n}") for n in range(4)]
    hash_files(files[:3], cache=HashCache(cache_path))
    files[0].unlink()
    monkeypatch.setattr(checksum, "MAX_ENTRIES", 2)
    later = time.time() + 10
    monkeypatch.setattr(checksum.time, "time", lambda: later)
    hash_files([files[3]], cache=HashCache(cache_path))
    kept = json.loads(cache_path.read_text())
    assert str(files[0].resolve()) not in kept  # gone
    assert len(kept) == 2 and str(files[3].resolve()) in kept  # the newest of the rest


def test_the_journal_drops_old_undone_records_and_keeps_the_way_back(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for n in range(2):
        (repo / f"s{n}").mkdir()
        (repo / f"s{n}" / "download.sh").write_bytes(b"#!/bin/bash\r\nset -e\r\n")
        fixed = runner.invoke(app, ["fix", "--repo", str(repo / f"s{n}"), "--no-hash", "--yes", "convert-crlf-to-lf"])
        assert fixed.exit_code == 0, fixed.stderr
    assert runner.invoke(app, ["undo"]).exit_code == 0  # the newer one is undone
    undone, applied = journal.read_all()
    assert journal.prune(now=time.time() + 3600) == []
    assert journal.prune(now=time.time() + journal.UNDONE_KEPT + 3600) == [undone.id]
    assert [e.id for e in journal.read_all()] == [applied.id]  # still undoable a year on, while among the newest
    assert journal.prune(now=time.time() + 365 * 24 * 3600) == []
    assert os.path.isdir(applied.folder)
