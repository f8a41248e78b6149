"""A weight copied into another layout without holding a second copy of it (the CPU's column-major output
layer: `cpu`).

The copy is made in chunks from the memory-mapped checkpoint, and on Linux the file pages of each chunk are
handed back as soon as it is copied, so loading peaks at the weights' size, not at it plus the copied weight.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

CHUNK_BYTES = 16 << 20
MADV_DONTNEED = 4  # Linux: a private file mapping re-reads dropped pages from the file if touched again


def column_major(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`weight` (2-D) as `dtype` with the same shape and values, stored column-major (strides (1, rows))."""
    rows, cols = weight.shape
    out = torch.empty_strided((rows, cols), (1, rows), dtype=dtype, device=weight.device)
    step = max(1, CHUNK_BYTES // (cols * weight.element_size()))
    mapped = is_file_mapped(weight)
    for start in range(0, rows, step):
        chunk = weight[start : start + step]
        out[start : start + step].copy_(chunk)
        if mapped:
            release_pages(chunk)
    return out


def is_file_mapped(tensor: torch.Tensor, maps: Path = Path("/proc/self/maps")) -> bool:
    """Whether the tensor's bytes lie in one mapping of a file (a memory-mapped checkpoint). Linux only: False
    where /proc/self/maps cannot tell, which only means no pages are handed back early."""
    if tensor.device.type != "cpu" or not tensor.is_contiguous() or not sys.platform.startswith("linux"):
        return False
    start, end = _byte_range(tensor)
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue  # anonymous memory: no inode and no path
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if low <= start and end <= high:
            return fields[4] != "0" and fields[5].startswith("/")
    return False


def release_pages(tensor: torch.Tensor) -> None:
    """Hand back to the OS the whole pages inside a file-mapped tensor's bytes (callers check
    `is_file_mapped` first: on anonymous memory this would zero them). Its values stay readable: a page
    touched again is read back from the file."""
    page = os.sysconf("SC_PAGE_SIZE")
    start, end = _byte_range(tensor)
    first, last = -(-start // page) * page, end // page * page
    if last > first:
        # A failure (an old kernel, a seccomp filter) only leaves the pages where they are: nothing to report.
        _madvise()(ctypes.c_void_p(first), ctypes.c_size_t(last - first), MADV_DONTNEED)


def _byte_range(tensor: torch.Tensor) -> tuple[int, int]:
    """First and one-past-last address of a contiguous tensor's bytes."""
    start = tensor.data_ptr()
    return start, start + tensor.numel() * tensor.element_size()


@lru_cache(maxsize=1)
def _madvise() -> Any:
    fn = ctypes.CDLL(None, use_errno=True).madvise
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def return_freed_heap() -> None:
    """Hand back to the OS the heap memory freed so far. glibc keeps freed blocks for reuse, and quantizing
    frees each chunk's temporaries between the codes it keeps: without this the holes stayed resident and
    raised the int4 load peak from about 1.08x to 1.2-1.3x the quantized weights. A no-op off glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None).malloc_trim  # glibc's; musl has none
    except AttributeError:
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn
