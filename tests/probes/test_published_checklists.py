"""A Meta folder without checklist.chk is identified by its params.json and verified against the md5s Meta's
published checklist lists for that release."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from llamadoctor.facts import Options
from llamadoctor.llama.releases import PARAMS_JSON, identify, published_checklists
from llamadoctor.probes.files import gather_files
from llamadoctor.registry import CHECKS, load_all, run_check
from llamadoctor.testing import linux_gpu

from builders.checkpoints import write_meta_model

load_all()

# params.json as Meta wrote it: Python's json.dumps, with a newline at the end for Llama 2 and none for LLaMA.
LLAMA2_7B_PARAMS = json.dumps(PARAMS_JSON["Llama 2 7B"]) + "\n"
LLAMA1_7B_PARAMS = json.dumps(PARAMS_JSON["Llama 1 7B"])


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def checksum_messages(tmp_path: Path, model: Path, **options: bool) -> list[str]:
    _, models = gather_files(
        None, (model,), Options(**options), home=tmp_path / "home", environ={}, cache_path=tmp_path / "cache.json"
    )
    facts = linux_gpu(models=models, options=Options(**options))
    return [f.message for f in run_check(CHECKS["checksum-mismatch"], facts)]


def test_the_shipped_md5s_are_well_formed_and_sourced() -> None:
    checklists = published_checklists()
    assert checklists
    for known in checklists:
        assert "https://" in known.source, known.name
        assert known.variant in ("base", "chat") and re.fullmatch(r"llama-\d", known.release)
        assert "params.json" in known.files and any(n.startswith("consolidated.") for n in known.files)
        assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in known.files.values()), known.name
    params = [k.files["params.json"] for k in checklists]
    assert len(set(params)) == len(params), "two releases share a params.json: it could not tell them apart"


def test_the_published_params_md5s_are_those_of_the_params_meta_published() -> None:
    """Two independent records agree: Meta's params.json (in releases.py) hashes to the checklist's md5."""
    assert identify(md5(LLAMA2_7B_PARAMS)).name == "Llama 2 7B"  # type: ignore[union-attr]
    assert identify(md5(LLAMA1_7B_PARAMS)).name == "LLaMA 7B"  # type: ignore[union-attr]
    assert identify(md5(LLAMA2_7B_PARAMS.strip())) is None  # one byte off is another file


def test_a_folder_without_checklist_is_verified_against_the_release(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-7b", checklist=False)
    (model / "params.json").write_text(LLAMA2_7B_PARAMS)
    [message] = checksum_messages(tmp_path, model)
    assert "published md5s of Llama 2 7B" in message
    assert "consolidated.00.pth FAILED the md5 check" in message  # a tiny shard is not Meta's 13 GB one
    assert "1 of 2 computed checksums did NOT match" in message  # params.json itself matched


def test_no_hash_names_the_release_but_verifies_nothing(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-7b", checklist=False)
    (model / "params.json").write_text(LLAMA1_7B_PARAMS)
    assert checksum_messages(tmp_path, model, no_hash=True) == []
    _, [found] = gather_files(
        None, (model,), Options(no_hash=True), home=tmp_path / "home", environ={}, cache_path=None
    )
    [checklist] = found.checklists
    assert checklist.known == "LLaMA 7B" and {e.status for e in checklist.entries} == {"skipped"}


def test_an_unknown_or_checklisted_folder_is_left_to_its_own_checklist(tmp_path: Path) -> None:
    unknown = write_meta_model(tmp_path / "tiny", checklist=False)
    _, [found] = gather_files(None, (unknown,), Options(), home=tmp_path / "home", environ={}, cache_path=None)
    assert found.checklists == ()
    listed = write_meta_model(tmp_path / "listed")
    (listed / "params.json").write_text(LLAMA2_7B_PARAMS)  # edited after its checklist was written
    _, [found] = gather_files(None, (listed,), Options(), home=tmp_path / "home", environ={}, cache_path=None)
    assert [c.known for c in found.checklists] == [""]
