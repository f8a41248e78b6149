"""The file probe on real folders in tmp_path: what it reports, and that bad input never raises."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

import llamadoctor.probes.checksum as checksum
from llamadoctor.facts import Facts, Options
from llamadoctor.files import ModelDir
from llamadoctor.formats import read_tensor_records
from llamadoctor.probes.files import gather_files, inspect_model_dir
from llamadoctor.registry import CHECKS, load_all, run_check
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import GITHUB_PAGE, LLAMA2_GENERATION, TINY, tiktoken_bytes

from builders.checkpoints import write_meta_model

load_all()
MODEL_CHECKS = (
    "model-dir-incomplete",
    "model-version-mismatch",
    "shard-corrupt",
    "checksum-mismatch",
    "params-known-bad",
    "shards-vs-nproc",
    "memory-insufficient",
    "disk-insufficient-for-conversion",
    "batch-size-too-small",
    "meta-code-hardcodes-nccl",
)
not_root = pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs a non-root POSIX user")


def gather(
    tmp_path: Path,
    repo: Path | None = None,
    dirs: tuple[Path, ...] = (),
    **options: Any,
) -> tuple[Any, tuple[ModelDir, ...]]:
    return gather_files(
        repo,
        dirs,
        Options(**options),
        home=tmp_path / "home",
        environ={},
        cache_path=tmp_path / "state" / "checksums.json",
    )


def facts_of(
    tmp_path: Path, repo: Path | None = None, dirs: tuple[Path, ...] = (), base: Facts | None = None, **options: Any
) -> Facts:
    repo_facts, models = gather(tmp_path, repo, dirs, **options)
    base = base or linux_gpu()
    return dataclasses.replace(
        base, repo=repo_facts, models=models, options=dataclasses.replace(base.options, **options)
    )


def messages(facts: Facts, only: tuple[str, ...] = MODEL_CHECKS) -> dict[str, list[str]]:
    out = {}
    for check_id in only:
        found = [f.message for f in run_check(CHECKS[check_id], facts)]
        if found:
            out[check_id] = found
    return out


def test_a_healthy_tiny_model_gives_no_findings(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-7b")
    facts = facts_of(tmp_path, dirs=(model,), nproc=1)
    [m] = facts.models
    assert m.format == "meta" and m.source == "given"
    assert m.tokenizer is not None and m.tokenizer.kind == "sentencepiece" and m.tokenizer.n_words == 40
    [shard] = m.shards
    assert shard.kind == "zip" and shard.layers == 2 and "bfloat16" in shard.dtypes
    assert shard.shapes["layers.0.feed_forward.w1.weight"] == (192, 64)
    assert {e.status for e in m.checklists[0].entries} == {"ok"}
    assert messages(facts) == {}


def test_zero_byte_lfs_and_html_shards(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m", n_shards=3)
    (model / "consolidated.00.pth").write_bytes(b"")
    (model / "consolidated.01.pth").write_bytes(
        b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 13476925163\n"
    )
    (model / "consolidated.02.pth").write_bytes(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>x</Message></Error>'
    )
    found = messages(facts_of(tmp_path, dirs=(model,), nproc=3))
    [text] = found["shard-corrupt"]
    assert "consolidated.00.pth is 0 bytes" in text and "Ran out of input" in text
    assert "Git LFS pointer" in text and "Unsupported operand 118" in text
    assert "AccessDenied" in text
    assert "FAILED the md5 check" in found["checksum-mismatch"][0]


def test_truncated_zip_has_no_central_directory(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    shard = model / "consolidated.00.pth"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    [m] = gather(tmp_path, dirs=(model,))[1]
    assert m.shards[0].kind == "truncated"
    assert "failed finding central directory" in messages(facts_of(tmp_path, dirs=(model,)))["shard-corrupt"][0]


def test_tiktoken_tokenizer_beside_llama2_params(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-7b", tokenizer=tiktoken_bytes())
    found = messages(facts_of(tmp_path, dirs=(model,)))
    assert "tiktoken" in found["model-version-mismatch"][0]
    assert "could not parse ModelProto" in found["model-version-mismatch"][0]


def test_llama2_tokenizer_in_the_parent_folder_is_found(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-7b", tokenizer_in_parent=True)
    [m] = gather(tmp_path, dirs=(model,))[1]
    assert m.tokenizer is not None and m.tokenizer.in_parent
    assert "model-dir-incomplete" not in messages(facts_of(tmp_path, dirs=(model,)))


def test_mp2_shards_against_one_process(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-13b", n_shards=2)
    found = messages(facts_of(tmp_path, dirs=(model,), nproc=1))
    assert "Loading a checkpoint for MP=2 but world size is 1" in found["shards-vs-nproc"][0]
    assert "shard-corrupt" not in found  # the halves have exactly the MP=2 shapes


def test_shapes_that_contradict_params(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    (model / "params.json").write_text(json.dumps({**TINY, "dim": 128}))
    text = messages(facts_of(tmp_path, dirs=(model,)))["shard-corrupt"][0]
    assert "params.json" in text and "[40, 64]" in text and "[40, 128]" in text


def test_checklist_lines_outside_the_folder_are_never_hashed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me")
    model = write_meta_model(tmp_path / "a" / "m")
    with (model / "checklist.chk").open("a") as f:
        f.write("0123456789abcdef0123456789abcdef  ../../secret.txt\nthis is not a checksum line\n")
        f.write(f"0123456789abcdef0123456789abcdef  {secret}\n")
    hashed: list[Path] = []
    real = checksum.md5_file
    monkeypatch.setattr(checksum, "md5_file", lambda p, *a, **k: hashed.append(p) or real(p, *a, **k))
    facts = facts_of(tmp_path, dirs=(model,))
    assert secret.resolve() not in {p.resolve() for p in hashed} and hashed
    text = messages(facts)["checksum-mismatch"][0]
    assert "outside the model folder" in text and "../../secret.txt" in text
    assert "this is not a checksum line" in text


def test_empty_checklist_is_a_finding(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    (model / "checklist.chk").write_bytes(b"")
    assert "nothing was ever verified" in messages(facts_of(tmp_path, dirs=(model,)))["checksum-mismatch"][0]


def test_no_hash_skips_hashing_but_not_the_checklist_shape(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = write_meta_model(tmp_path / "m")
    (model / "consolidated.00.pth").write_bytes(b"x" * 10)  # would fail its md5
    monkeypatch.setattr(checksum, "md5_file", lambda *a, **k: pytest.fail("hashed despite --no-hash"))
    facts = facts_of(tmp_path, dirs=(model,), no_hash=True)
    assert {e.status for e in facts.models[0].checklists[0].entries} == {"skipped"}
    assert "checksum-mismatch" not in messages(facts)


def test_second_check_uses_the_hash_cache(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    first = gather(tmp_path, dirs=(model,))[1][0].checklists[0].entries
    second = gather(tmp_path, dirs=(model,))[1][0].checklists[0].entries
    assert not any(e.cached for e in first) and all(e.cached for e in second)
    shard = model / "consolidated.00.pth"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = {e.name: e for e in gather(tmp_path, dirs=(model,))[1][0].checklists[0].entries}
    assert not third["consolidated.00.pth"].cached and third["consolidated.00.pth"].status == "mismatch"


def test_progress_reports_all_bytes(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m", n_shards=2)
    seen: list[tuple[int, int]] = []
    gather_files(
        None,
        (model,),
        Options(),
        home=tmp_path,
        environ={},
        hash_progress=lambda d, t: seen.append((d, t)),
        cache_path=None,
    )
    total = sum(p.stat().st_size for p in model.iterdir() if p.suffix in (".pth", ".json"))
    assert seen[-1] == (total, total)


def test_symlink_loops_and_broken_links_do_not_raise(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    (model / "loop-a").symlink_to(model / "loop-b")
    (model / "loop-b").symlink_to(model / "loop-a")
    (model / "consolidated.09.pth").symlink_to(model / "consolidated.09.pth")  # points at itself
    (tmp_path / "dir-loop").symlink_to(tmp_path / "dir-loop")
    facts = facts_of(tmp_path, repo=tmp_path, dirs=(model, tmp_path / "dir-loop"))
    found = messages(facts)
    assert "consolidated.09.pth" in found["shard-corrupt"][0]
    assert any("dir-loop" in text for text in found["model-dir-incomplete"])


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        pytest.param(b"", "is empty (0 bytes)", id="empty"),
        pytest.param(b'{"dim": 4096,', "is not valid JSON", id="invalid"),
        pytest.param(b'{"dim": "\xff\xfe"}', "is not UTF-8", id="not-utf8"),
        pytest.param(b"<html><title>403 Forbidden</title></html>", "403 Forbidden", id="html"),
        pytest.param(b"[1, 2]", "not an object", id="array"),
        pytest.param(b'{"dim": "wide", "n_layers": null, "n_heads": 4}', "", id="bad-types"),
    ],
)
def test_bad_params_json_becomes_a_finding(tmp_path: Path, content: bytes, expect: str) -> None:
    model = write_meta_model(tmp_path / "m", checklist=False)
    (model / "params.json").write_bytes(content)
    found = messages(facts_of(tmp_path, dirs=(model,)))  # never raises, whatever the bytes
    if expect:
        assert expect in found["model-dir-incomplete"][0]


@not_root
def test_unreadable_files_become_findings(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "m")
    (model / "consolidated.00.pth").chmod(0)
    (model / "checklist.chk").chmod(0)
    found = messages(facts_of(tmp_path, dirs=(model,)))
    assert "unreadable" in found["shard-corrupt"][0]
    assert "cannot be read" in found["checksum-mismatch"][0]


def test_repo_walk_finds_models_and_code(tmp_path: Path) -> None:
    repo = tmp_path / "llama"
    write_meta_model(repo / "llama-2-7b-chat", tokenizer_in_parent=True)
    (repo / "download.sh").write_bytes(GITHUB_PAGE)
    (repo / "llama").mkdir()
    (repo / "llama" / "generation.py").write_bytes(LLAMA2_GENERATION)
    (repo / "llama" / "tokenizer.py").write_text("from sentencepiece import SentencePieceProcessor\n")
    dialogs = ",\n".join("    [{'role': 'user', 'content': 'hi'}]" for _ in range(6))
    (repo / "example_chat_completion.py").write_text(f"def main():\n    dialogs: List[Dialog] = [\n{dialogs}\n]\n")
    (repo / ".venv" / "x").mkdir(parents=True)
    (repo / ".venv" / "x" / "params.json").write_text("{}")  # hidden folders are not walked
    facts = facts_of(tmp_path, repo=repo, base=linux_gpu(), max_batch_size=4)
    assert facts.repo is not None and facts.repo.flavour == "llama" and facts.repo.chat_dialogs == 6
    assert [m.source for m in facts.models] == ["repo"]
    assert facts.repo.sources[0].nccl_lines == (7,)
    assert "(6, 4)" in messages(facts)["batch-size-too-small"][0]


def test_hf_folders_lfs_pointers_truncation_and_index(tmp_path: Path) -> None:
    hf = tmp_path / "Llama-2-7b-hf"
    hf.mkdir()
    (hf / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 64,
                "intermediate_size": 192,
                "num_attention_heads": 4,
                "num_hidden_layers": 2,
                "vocab_size": 40,
            }
        )
    )
    (hf / "tokenizer.json").write_text("{}")
    (hf / "model-00001-of-00003.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    header = json.dumps({"w": {"dtype": "BF16", "shape": [64, 64], "data_offsets": [0, 8192]}}).encode()
    (hf / "model-00002-of-00003.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 100)
    index = {"weight_map": {f"w{i}": f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)}}
    (hf / "model.safetensors.index.json").write_text(json.dumps(index))
    found = messages(facts_of(tmp_path, dirs=(hf,)))
    assert "Git LFS pointer" in found["shard-corrupt"][0] and "cut short" in found["shard-corrupt"][0]
    assert "model-00003-of-00003.safetensors" in found["model-dir-incomplete"][0]


def test_hf_repo_with_original_handed_to_meta_code(tmp_path: Path) -> None:
    hf = tmp_path / "Meta-Llama-3-8B-Instruct"
    write_meta_model(hf / "original", tokenizer=tiktoken_bytes())
    (hf / "config.json").write_text('{"model_type": "llama", "vocab_size": 128256}')
    repo = tmp_path / "llama3"
    (repo / "llama").mkdir(parents=True)
    (repo / "llama" / "generation.py").write_bytes(LLAMA2_GENERATION)
    (repo / "llama" / "tokenizer.py").write_text("import tiktoken\n")
    facts = facts_of(tmp_path, repo=repo, dirs=(hf,))
    assert facts.models[0].format == "meta-in-hf"
    assert f"{hf}/original" in messages(facts)["model-dir-incomplete"][0]


def test_old_llama1_layout(tmp_path: Path) -> None:
    root = tmp_path / "LLaMA"
    write_meta_model(root / "7B", {**TINY, "norm_eps": 1e-06}, dtype="float16", tokenizer_in_parent=True)
    facts = facts_of(tmp_path, dirs=(root,))
    assert [m.format for m in facts.models] == ["parent", "meta"]
    assert "7B/" in messages(facts)["model-dir-incomplete"][0]
    assert "params-known-bad" not in messages(facts)  # Llama 1's 1e-06 is right: float16 shards


def test_llama2_chat_erratum_found_from_bf16_shards(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "chat", checklist=False)  # tiny bf16 shards; only params.json matters
    erratum = {"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-06, "vocab_size": -1}
    (model / "params.json").write_text(json.dumps(erratum))
    assert "1e-05" in messages(facts_of(tmp_path, dirs=(model,)))["params-known-bad"][0]


def test_usual_places_are_summarised_not_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    write_meta_model(home / ".llama" / "checkpoints" / "Llama3.1-8B", tokenizer=tiktoken_bytes())
    snap = home / ".cache" / "huggingface" / "hub" / "models--meta-llama--Llama-2-7b" / "snapshots" / "abc"
    write_meta_model(snap, checklist=False)  # the non -hf repo: Meta files, no config.json
    (home / ".cache" / "huggingface" / "hub" / "models--gpt2").mkdir()
    monkeypatch.setattr(checksum, "md5_file", lambda *a, **k: pytest.fail("hashed a usual-place folder"))
    facts = facts_of(tmp_path)
    assert sorted(m.source for m in facts.models) == ["hf-cache", "llama-home"]
    assert {e.status for m in facts.models for c in m.checklists for e in c.entries} == {"skipped"}
    assert "does not appear to have a file named config.json" in messages(facts)["model-dir-incomplete"][0]
    assert "memory-insufficient" not in messages(facts)  # usual places are not the run's target


def test_missing_model_dir(tmp_path: Path) -> None:
    found = messages(facts_of(tmp_path, dirs=(tmp_path / "nope",)))
    assert "does not exist" in found["model-dir-incomplete"][0]


def test_malicious_pickle_is_refused_never_run(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    payload = pickle.dumps({"tok_embeddings.weight": Evil()}, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        read_tensor_records(payload)
    shard = tmp_path / "m" / "consolidated.00.pth"
    shard.parent.mkdir()
    with zipfile.ZipFile(shard, "w") as z:
        z.writestr("archive/data.pkl", payload)
    assert inspect_model_dir(shard.parent).shards[0].kind == "unsafe"
    assert not (tmp_path / "pwned").exists()


def test_probe_reads_no_file_when_there_is_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy folder with no model is only listed: none of its files is opened, so the probe stays quick."""
    import builtins

    for i in range(40):  # many files and subfolders, no model
        sub = tmp_path / "work" / f"d{i}"
        sub.mkdir(parents=True)
        for j in range(50):
            (sub / f"f{j}.txt").write_text("x")
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(os.fsdecode(file) if isinstance(file, (str, bytes, os.PathLike)) else "")
        return real_open(file, *args, **kwargs)

    def spy_os_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(os.fsdecode(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    repo, models = gather(tmp_path, repo=tmp_path / "work")
    assert repo is None and models == ()
    assert [path for path in opened if path.endswith(".txt")] == []
