"""md5 verification: correctness, checklist parsing, names that leave the folder, the cache, progress."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

import llamadoctor.probes.checksum as checksum
from llamadoctor.formats import inside, parse_checklist
from llamadoctor.probes.checksum import HashCache, hash_files, md5_file, verify_checklists


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_md5_file_matches_hashlib_across_chunk_boundaries(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    path = tmp_path / "f"
    path.write_bytes(data)
    seen: list[int] = []
    assert md5_file(path, seen.append, chunk=4096) == md5(data)
    assert sum(seen) == len(data)
    (tmp_path / "empty").write_bytes(b"")
    assert md5_file(tmp_path / "empty") == md5(b"")


def test_parse_checklist_accepts_md5sum_variants() -> None:
    data = (
        b"9a3757de7196d1840b551a85b82efbc8  params.json\r\n"
        b"EEEC4125E9C7560836B4873B6F8E3025 *tokenizer.model\n"
        b"daa8e3109935070df7fe8fc42d34525e  ./consolidated.00.pth\n\n"
        b"<html>oops</html>\n"
    )
    entries, bad = parse_checklist(data)
    assert entries == [
        ("9a3757de7196d1840b551a85b82efbc8", "params.json"),
        ("eeec4125e9c7560836b4873b6f8e3025", "tokenizer.model"),
        ("daa8e3109935070df7fe8fc42d34525e", "consolidated.00.pth"),
    ]
    assert bad == ["<html>oops</html>"]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("params.json", True),
        ("sub/x.pth", True),
        ("a/../b", True),
        ("../x", False),
        ("a/../../x", False),
        ("/etc/passwd", False),
        ("C:\\Windows\\x", False),
        ("..\\..\\x", False),
        ("", False),
    ],
)
def test_inside(name: str, ok: bool) -> None:
    assert inside(name) is ok


def test_verify_reports_each_status(tmp_path: Path) -> None:
    (tmp_path / "good").write_bytes(b"good")
    (tmp_path / "bad").write_bytes(b"bad")
    (tmp_path / "checklist.chk").write_text(
        f"{md5(b'good')}  good\n{md5(b'other')}  bad\n{md5(b'x')}  gone\n{md5(b'x')}  ../outside\n"
    )
    [chk] = verify_checklists([(tmp_path / "checklist.chk", tmp_path)], cache_path=None)
    assert chk.status == "ok"
    assert {e.name: e.status for e in chk.entries} == {
        "good": "ok",
        "bad": "mismatch",
        "gone": "missing",
        "../outside": "outside",
    }


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"", "empty"),
        (b"<?xml version='1.0'?><Error/>", "html"),
        (b"garbage line\n", "malformed"),
    ],
)
def test_broken_checklists(tmp_path: Path, content: bytes, status: str) -> None:
    (tmp_path / "checklist.chk").write_bytes(content)
    [chk] = verify_checklists([(tmp_path / "checklist.chk", tmp_path)])
    assert chk.status == status and chk.entries == ()


def test_cache_is_keyed_by_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"one")
    cache_path = tmp_path / "cache.json"
    assert hash_files([f], cache=HashCache(cache_path))[f] == (md5(b"one"), False, None)
    assert hash_files([f], cache=HashCache(cache_path))[f] == (md5(b"one"), True, None)
    f.write_bytes(b"three")  # another size: the cached hash no longer applies
    assert hash_files([f], cache=HashCache(cache_path))[f] == (md5(b"three"), False, None)
    cache_path.write_text("not json")  # a damaged cache is an empty cache
    assert hash_files([f], cache=HashCache(cache_path))[f][1] is False


def test_many_files_in_parallel_report_progress_to_the_total(tmp_path: Path) -> None:
    files = []
    for i in range(12):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([i]) * (100_000 + i))
        files.append(p)
    calls: list[tuple[int, int]] = []
    results = hash_files(files, progress=lambda d, t: calls.append((d, t)), workers=4)
    assert all(results[p][0] == md5(p.read_bytes()) for p in files)
    total = sum(p.stat().st_size for p in files)
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert hash_files([tmp_path / "missing"])[tmp_path / "missing"][0] is None


def test_hashing_stops_within_one_chunk_of_the_cancel_event(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 10 * 1024)
    cancel = threading.Event()
    chunks: list[int] = []

    def on_bytes(n: int) -> None:
        chunks.append(n)
        cancel.set()  # as Ctrl-C in the main thread does

    with pytest.raises(checksum.HashCancelled):
        checksum.md5_file(path, on_bytes, chunk=1024, cancel=cancel)
    assert chunks == [1024]


def test_cancelled_hashing_of_many_files_stops_every_thread(tmp_path: Path) -> None:
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"f{i}")
        paths[-1].write_bytes(bytes([i]) * 64 * 1024)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done:
            cancel.set()

    with pytest.raises(checksum.HashCancelled):
        checksum.hash_files(paths, progress=progress, workers=2, cancel=cancel, chunk=1024)
    assert max(seen) <= 2 * 1024 * 2  # each of the two threads read at most one chunk after the cancel
