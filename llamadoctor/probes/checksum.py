"""Verify Meta's checklist.chk files: md5 in parallel threads, remembered by (path, size, mtime).

hashlib releases the GIL while it digests a large buffer, so one thread per file keeps several cores busy;
each thread reads 8 MB at a time into one reused buffer. A hash is remembered in the user's cache folder under
the file's resolved path with its size and mtime, so a second `llamadoctor check` of an untouched download is
instant. The cache forgets files that are gone and, past a few thousand, those least recently seen.

    results = verify_checklists([(model_dir / "checklist.chk", model_dir)], progress=callback)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from llamadoctor.files import Checklist, ChecksumEntry
from llamadoctor.formats import HEAD_BYTES, MAX_CHECKLIST, classify_head, inside, parse_checklist
from llamadoctor.progress import ProgressFn
from llamadoctor.reading import check_regular, open_regular, read_regular, reason

CHUNK = 8 * 1024 * 1024
MAX_CACHE = 64 * 1024 * 1024
MAX_PARAMS = 64 * 1024  # a params.json is a few hundred bytes; a bigger one is not Meta's
MAX_ENTRIES = 5000  # a model is a few dozen files: thousands of entries are years of downloads
SEEN_EVERY = 24 * 3600.0  # how stale an entry's last-seen time may get before a read refreshes it


def cache_file() -> Path:
    from llamadoctor.paths import cache_dir

    return cache_dir() / "checksums.json"


def _old_cache_file() -> Path:
    """Where earlier versions kept the cache, in the state folder."""
    from llamadoctor.paths import state_dir

    return state_dir() / "checksums.json"


class HashCancelled(Exception):
    """Hashing stopped because the `cancel` event was set (the user pressed Ctrl-C)."""


def md5_file(
    path: Path,
    on_bytes: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    cancel: threading.Event | None = None,
) -> str:
    """md5 of a regular file (anything else raises NotRegularFile); raises HashCancelled within one chunk of
    `cancel` being set."""
    digest = hashlib.md5(usedforsecurity=False)  # the checklists are md5; integrity, not security
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open_regular(path) as f:
        while True:
            if cancel is not None and cancel.is_set():
                raise HashCancelled(str(path))
            n = f.readinto(buf)  # type: ignore[attr-defined]
            if not n:
                break
            digest.update(view[:n])
            if on_bytes:
                on_bytes(n)
    return digest.hexdigest()


class HashCache:
    """md5 by resolved path, valid while size and mtime_ns are unchanged. Unreadable cache = empty cache."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self._lock = threading.Lock()
        if path is not None:
            with contextlib.suppress(OSError, ValueError, RecursionError):
                data = json.loads(read_regular(path, MAX_CACHE).decode("utf-8"))
                if isinstance(data, dict):
                    self.entries = {k: v for k, v in data.items() if isinstance(v, dict)}

    @staticmethod
    def _key(path: Path) -> tuple[str, int, int]:
        st = path.stat()
        return str(path.resolve()), st.st_size, st.st_mtime_ns

    def get(self, path: Path) -> str | None:
        key, size, mtime = self._key(path)
        entry = self.entries.get(key)
        if entry and entry.get("size") == size and entry.get("mtime_ns") == mtime:
            md5 = entry.get("md5")
            seen = entry.get("seen")
            if not isinstance(seen, (int, float)) or time.time() - seen > SEEN_EVERY:
                with self._lock:
                    entry["seen"] = time.time()
                    self.dirty = True
            return md5 if isinstance(md5, str) else None
        return None

    def put(self, path: Path, md5: str, stat_before: os.stat_result) -> None:
        key, size, mtime = self._key(path)
        if (size, mtime) != (stat_before.st_size, stat_before.st_mtime_ns):
            return  # the file changed while we read it: remember nothing
        with self._lock:
            self.entries[key] = {"size": size, "mtime_ns": mtime, "md5": md5, "seen": time.time()}
            self.dirty = True

    def prune(self) -> None:
        """Forget files that are gone, then all but the MAX_ENTRIES seen most recently."""
        self.entries = {k: v for k, v in self.entries.items() if os.path.isfile(k)}
        if len(self.entries) > MAX_ENTRIES:
            newest = sorted(self.entries, key=lambda k: _seen(self.entries[k]), reverse=True)[:MAX_ENTRIES]
            self.entries = {k: self.entries[k] for k in newest}

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.prune()
        if self.path == cache_file():
            with contextlib.suppress(OSError):
                _old_cache_file().unlink()
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries, indent=0, sort_keys=True), "utf-8")
            os.replace(tmp, self.path)


def _seen(entry: dict[str, Any]) -> float:
    seen = entry.get("seen")
    return float(seen) if isinstance(seen, (int, float)) else 0.0


def hash_files(
    paths: Sequence[Path],
    *,
    cache: HashCache | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    chunk: int = CHUNK,
) -> dict[Path, tuple[str | None, bool, str | None]]:
    """path -> (md5 or None, came from cache, error text). Files are hashed in parallel threads; only
    regular files are opened. Setting `cancel` makes every thread stop within one chunk (HashCancelled)."""
    results: dict[Path, tuple[str | None, bool, str | None]] = {}
    todo: list[tuple[Path, os.stat_result]] = []
    for path in dict.fromkeys(paths):
        try:
            st = check_regular(path)
            cached = cache.get(path) if cache else None
        except OSError as exc:
            results[path] = (None, False, reason(exc))
            continue
        if cached:
            results[path] = (cached, True, None)
        else:
            todo.append((path, st))
    total = sum(st.st_size for _, st in todo)
    done = 0
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            current = done
        if progress:
            progress(current, total)

    def one(item: tuple[Path, os.stat_result]) -> tuple[Path, tuple[str | None, bool, str | None]]:
        path, st = item
        try:
            md5 = md5_file(path, advance, chunk, cancel)
        except OSError as exc:
            return path, (None, False, reason(exc))
        if cache:
            with contextlib.suppress(OSError):
                cache.put(path, md5, st)
        return path, (md5, False, None)

    if progress:
        progress(0, total)
    if todo:
        count = workers or min(len(todo), max(2, os.cpu_count() or 2), 8)
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="md5") as pool:
            # biggest first, so one large shard does not start last and leave the other threads idle
            for path, result in pool.map(one, sorted(todo, key=lambda item: -item[1].st_size)):
                results[path] = result
    if cache:
        cache.save()
    return results


def read_checklist(path: Path) -> tuple[Checklist, list[tuple[str, str]]]:
    """The checklist's structure (status, bad lines) and its entries, before any hashing."""
    try:
        size = path.stat().st_size
        data = read_regular(path, MAX_CHECKLIST)
    except OSError:
        return Checklist(str(path), "unreadable"), []
    bad_head = classify_head(data[:HEAD_BYTES], size)
    if bad_head:
        status = "empty" if bad_head[0] == "empty" else "html"
        return Checklist(str(path), status, size=size), []
    entries, bad = parse_checklist(data)
    if not entries:
        status = "malformed" if bad else "empty"
        return Checklist(str(path), status, bad_lines=tuple(bad[:5]), size=size), []
    status = "malformed" if bad else "ok"
    return Checklist(str(path), status, bad_lines=tuple(bad[:5]), size=size), entries


def verify_checklists(
    checklists: Sequence[tuple[Path, Path]],
    *,
    do_hash: bool = True,
    progress: ProgressFn | None = None,
    cache_path: Path | None = None,
    workers: int | None = None,
    cancel: threading.Event | None = None,
) -> list[Checklist]:
    """Verify each (checklist file, folder its names are relative to); all files hashed in one parallel pass.

    Names that leave the folder are reported as "outside" and never opened. With do_hash False, entries are
    "skipped" (or "missing"), and only the checklists' own shape is judged.
    """
    parsed = [(root, *read_checklist(chk)) for chk, root in checklists]
    return verify_entries(
        parsed, do_hash=do_hash, progress=progress, cache_path=cache_path, workers=workers, cancel=cancel
    )


def verify_entries(
    parsed: Sequence[tuple[Path, Checklist, Sequence[tuple[str, str]]]],
    *,
    do_hash: bool = True,
    progress: ProgressFn | None = None,
    cache_path: Path | None = None,
    workers: int | None = None,
    cancel: threading.Event | None = None,
) -> list[Checklist]:
    """Verify (folder, checklist, its (md5, name) entries) triples, whether read from a checklist.chk or
    known from a published one; all files hashed in one parallel pass."""
    wanted: list[Path] = []
    for root, _, entries in parsed:
        wanted += [root / name for _, name in entries if inside(name)]
    hashed = (
        hash_files(
            wanted,
            cache=HashCache(cache_path) if cache_path else None,
            progress=progress,
            workers=workers,
            cancel=cancel,
        )
        if do_hash
        else {}
    )
    out = []
    for root, checklist, entries in parsed:
        results = tuple(_entry(root, md5, name, hashed, do_hash) for md5, name in entries)
        out.append(dataclasses.replace(checklist, entries=results))
    return out


def params_md5(folder: Path) -> str | None:
    """md5 of the folder's params.json (a few hundred bytes), None when it cannot be read."""
    try:
        data = read_regular(folder / "params.json", MAX_PARAMS)
    except OSError:
        return None
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _entry(
    root: Path,
    expected: str,
    name: str,
    hashed: dict[Path, tuple[str | None, bool, str | None]],
    do_hash: bool,
) -> ChecksumEntry:
    if not inside(name):
        return ChecksumEntry(name, expected, "outside")
    path = root / name
    try:
        size = check_regular(path).st_size
    except FileNotFoundError:
        return ChecksumEntry(name, expected, "missing")
    except OSError:  # a FIFO, a device, a folder, a symlink loop, no permission: never opened
        return ChecksumEntry(name, expected, "unreadable")
    if not do_hash:
        return ChecksumEntry(name, expected, "skipped", size=size)
    actual, cached, _error = hashed.get(path, (None, False, "not hashed"))
    if actual is None:
        return ChecksumEntry(name, expected, "unreadable", size=size)
    status = "ok" if actual == expected else "mismatch"
    return ChecksumEntry(name, expected, status, actual, size, cached)
