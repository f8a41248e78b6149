from __future__ import annotations

from llamadoctor.checks.headroom import MODELS, GiB, disk_low, largest_fitting, ram_low
from llamadoctor.facts import Disk, Facts, Memory
from llamadoctor.model import Check, Finding
from llamadoctor.registry import run_check
from llamadoctor.testing import linux_gpu, mac_arm


def findings(spec: Check, facts: Facts) -> list[Finding]:
    return list(run_check(spec, facts))


def test_ram_message_names_numbers_and_what_fits() -> None:
    (finding,) = findings(ram_low, linux_gpu(memory=Memory(16 * GiB, 5 * GiB, 2 * GiB)))
    assert finding.message == (
        "Only 5.0 GiB of 16.0 GiB RAM is available (plus 2.0 GiB swap): loading a 7B Llama takes about "
        "12.6 GiB in bf16; the largest Llama that fits is Llama 3.2 1B (2.3 GiB in bf16)."
    )
    assert finding.evidence["ram_available"] == 5 * GiB


def test_largest_fitting() -> None:
    assert largest_fitting(7 * GiB) == "the largest Llama that fits is Llama 3.2 3B (6.0 GiB in bf16)"
    assert largest_fitting(1 * GiB) == "not even Llama 3.2 1B (2.3 GiB in bf16) fits"


def test_ram_threshold_is_available_not_total() -> None:
    assert findings(ram_low, linux_gpu(memory=Memory(64 * GiB, 7 * GiB)))
    assert findings(ram_low, linux_gpu(memory=Memory(8 * GiB, 8 * GiB))) == []


def test_mac_mentions_unified_memory() -> None:
    (finding,) = findings(ram_low, mac_arm(memory=Memory(8 * GiB, 3 * GiB)))
    assert finding.message.endswith("On Apple Silicon this is also the GPU's memory.")


def test_disk_message() -> None:
    (finding,) = findings(disk_low, linux_gpu(disk=Disk("/home/ada", 256 * GiB, 9 * GiB)))
    assert finding.message.startswith("Only 9.0 GiB free on /home/ada (of 256.0 GiB): a 7B Llama is 12.6 GiB")
    assert finding.remedy.startswith("free space on /home/ada")
    assert findings(disk_low, linux_gpu(disk=Disk("/home/ada", 256 * GiB, 20 * GiB))) == []


def test_sizes_are_the_published_releases_in_bf16() -> None:
    published = {
        "Llama 3.2 1B": 1_235_814_400,
        "Llama 3.2 3B": 3_212_749_824,
        "Llama 2 7B": 6_738_415_616,
        "Llama 3 8B": 8_030_261_248,
        "Llama 2 13B": 13_015_864_320,
    }
    assert dict(MODELS) == {name: 2 * params for name, params in published.items()}
