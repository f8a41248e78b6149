"""The CPU's column-major output layer: same values, and no second copy of a memory-mapped checkpoint kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from llamadoctor.runner import cpu, layout, loader
from llamadoctor.runner.distributed import SINGLE

from builders import llamas

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps and madvise")


def _rss_of_mapping(path: Path) -> int:
    """Resident bytes of this process's mappings of `path` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            inside = line.rstrip().endswith(str(path))
        elif inside and head[0] == "Rss:":
            total += int(head[1]) * 1024
    return total


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_column_major_keeps_shape_and_values(dtype, monkeypatch) -> None:
    monkeypatch.setattr(layout, "CHUNK_BYTES", 1000)  # many chunks, the last one short
    weight = torch.randn(301, 24, dtype=torch.bfloat16)
    out = layout.column_major(weight, dtype)
    assert out.shape == (301, 24) and out.stride() == (1, 301) and out.dtype == dtype
    assert torch.equal(out, weight.to(dtype))


def test_an_anonymous_tensor_is_not_file_mapped_and_keeps_its_values() -> None:
    weight = torch.randn(4096, 64)
    kept = weight.clone()
    assert not layout.is_file_mapped(weight)
    layout.column_major(weight, torch.float32)
    assert torch.equal(weight, kept)  # madvise on anonymous memory would have zeroed it


@linux_only
def test_the_mapped_pages_of_the_copied_weight_are_handed_back(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(layout, "CHUNK_BYTES", 1 << 20)
    path = tmp_path / "w.pth"
    torch.save({"w": torch.randn(8192, 256)}, path)  # 8 MiB
    weight = torch.load(path, mmap=True, weights_only=True)["w"]
    assert layout.is_file_mapped(weight)
    expected = weight.sum().item()  # touches every page
    assert _rss_of_mapping(path) >= 8 << 20

    out = layout.column_major(weight, torch.float32)

    assert _rss_of_mapping(path) < 1 << 20  # at most the pages shared with the zip's headers
    assert out.sum().item() == pytest.approx(expected, rel=1e-4)
    assert weight.sum().item() == expected  # the original still reads right: its pages come back from the file


def test_a_cpu_load_has_a_column_major_output_unless_it_is_tied(model_dir, tmp_path) -> None:
    untied = loader.load(model_dir("llama2", "meta"), SINGLE, torch.device("cpu"), torch.float32)
    assert untied.output.weight.stride() == (1, untied.output.weight.shape[0])

    args = llamas.tiny_args("llama3", vocab_size=300)
    state = llamas.random_state(args)
    del state["output.weight"]  # Llama 3.2 1B/3B: the output layer is the embedding table
    tied = loader.load(llamas.write_hf(tmp_path / "tied", args, state), SINGLE, torch.device("cpu"), torch.float32)
    assert tied.output.weight.data_ptr() == tied.tok_embeddings.weight.data_ptr()
    assert tied.output.weight.is_contiguous()


@pytest.mark.parametrize("half_kernel", [True, False])
def test_a_bf16_cpu_load_keeps_the_checkpoint_layout(model_dir, monkeypatch, half_kernel) -> None:
    """bf16 products on a CPU run on fbgemm's fp16 product where it works; elsewhere fastest as the checkpoint
    lays them out: no column-major output, no split."""
    if half_kernel and not cpu.half_kernel_works():
        pytest.skip(f"torch {torch.__version__} has no working fbgemm fp16 product here")
    monkeypatch.setattr(cpu, "half_kernel_works", lambda: half_kernel)
    model = loader.load(model_dir("llama2", "meta"), SINGLE, torch.device("cpu"), torch.bfloat16)
    projections = {type(m) for m in model.modules() if hasattr(m, "in_features")}
    if half_kernel:
        assert projections == {cpu.HalfLinear}
        return
    assert model.output.weight.is_contiguous() and model.output.weight.dtype == torch.bfloat16
    assert projections == {torch.nn.Linear}
