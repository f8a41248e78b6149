"""A device's memory bandwidth, the ceiling of batch-1 decode: tokens/s <= bandwidth / weight bytes read per token.

CUDA: the memory clock and bus width torch reports for the device (double data rate), else the vendor's figure
for a known GPU by name. CPU: measured, the fastest of a few passes of a torch sum over 256 MB.
"""

from __future__ import annotations

import time

# Vendors' peak memory bandwidth in GB/s, by a name fragment as torch reports it; more specific names first.
KNOWN_GPUS = (
    ("H100 SXM", 3350),
    ("H100 NVL", 3900),
    ("H100", 2000),
    ("H200", 4800),
    ("A100-SXM4-80GB", 2039),
    ("A100 80GB PCIe", 1935),
    ("A100", 1555),
    ("L40S", 864),
    ("L40", 864),
    ("L4", 300),
    ("A10G", 600),
    ("A10", 600),
    ("T4", 320),
    ("V100", 900),
    ("RTX 6000 Ada", 960),
    ("RTX A6000", 768),
    ("RTX 4090", 1008),
    ("RTX 4080", 717),
    ("RTX 4070", 504),
    ("RTX 4060 Ti", 288),
    ("RTX 3090", 936),
    ("RTX 3080", 760),
    ("RTX 3060", 360),
    ("RTX 2080 Ti", 616),
)


def from_clock(clock_khz: int, bus_bits: int) -> float:
    """Bytes/s of a memory bus: two transfers a clock cycle, bus_bits / 8 bytes each."""
    return 2 * clock_khz * 1e3 * bus_bits / 8


def gpu_by_name(name: str) -> float:
    for fragment, gb_s in KNOWN_GPUS:
        if fragment.lower() in name.lower():
            return gb_s * 1e9
    return 0.0


def cuda_bytes_per_second(index: int = 0) -> tuple[float, str]:
    import torch

    props = torch.cuda.get_device_properties(index)
    clock, bus = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
    if clock and bus:
        return from_clock(clock, bus), f"{props.name}: {clock / 1e6:.2f} GHz memory clock x {bus}-bit bus"
    known = gpu_by_name(props.name)
    return known, f"{props.name}: vendor figure" if known else f"{props.name}: unknown, fraction not computed"


def cpu_bytes_per_second(megabytes: int = 256, passes: int = 5) -> tuple[float, str]:
    import torch

    x = torch.ones(megabytes * 1024 * 1024 // 4)
    x.sum()
    best = min(_timed(x.sum) for _ in range(passes))
    return x.numel() * 4 / best, f"measured: torch sum over {megabytes} MB, {torch.get_num_threads()} threads"


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bytes_per_second(device: str) -> tuple[float, str]:
    return cuda_bytes_per_second() if device == "cuda" else cpu_bytes_per_second()
