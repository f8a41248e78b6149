"""The library checks on facts the probes read from real folders: a site-packages with old releases, an HF
model folder, Meta's repo; and the tokenizer-class fix end to end with undo."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.facts import Facts
from llamadoctor.files import RepoFacts
from llamadoctor.fixes.rename_tokenizer_class import renamed
from llamadoctor.llama.hf_support import transformers_needs
from llamadoctor.probes.files import inspect_model_dir
from llamadoctor.probes.packages import probe_libraries
from llamadoctor.registry import CHECKS, load_all, run_check
from llamadoctor.testing import linux_gpu, replace_in, windows_conda
from llamadoctor.wheels import has_wheel, pinned_release

load_all()
runner = CliRunner()

LLAMA31_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 256,
    "rope_scaling": {"factor": 8.0, "rope_type": "llama3", "original_max_position_embeddings": 8192},
}


def site_packages(root: Path, **versions: str) -> Path:
    for name, version in versions.items():
        meta = root / f"{name}-{version}.dist-info"
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


def hf_folder(root: Path, config: dict[str, object], tokenizer_config: dict[str, object]) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps(config))
    (root / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    (root / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    return root


def facts_for(site: Path, folder: Path, base: Facts | None = None, repo: Path | None = None) -> Facts:
    model = inspect_model_dir(folder)
    libraries = probe_libraries([str(site)], repo, (model,))
    repo_facts = RepoFacts(str(repo), flavour="llama3") if repo else None
    return dataclasses.replace(base or linux_gpu(), models=(model,), libraries=libraries, repo=repo_facts)


def messages(check_id: str, facts: Facts) -> list[str]:
    return [f.message for f in run_check(CHECKS[check_id], facts)]


def test_llama31_folder_with_transformers_4_42_is_found_and_4_43_is_healthy(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "Llama-3.1-8B", LLAMA31_CONFIG, {"tokenizer_class": "PreTrainedTokenizerFast"})
    old = facts_for(site_packages(tmp_path / "old", transformers="4.42.4"), folder)
    [message] = messages("transformers-too-old", old)
    assert "transformers 4.42.4" in message and "`llama3`" in message and "4.43.0" in message
    [finding] = run_check(CHECKS["transformers-too-old"], old)
    assert finding.remedy.endswith("-m pip install -U 'transformers>=4.43.0'")
    assert (
        messages("transformers-too-old", facts_for(site_packages(tmp_path / "new", transformers="4.43.0"), folder))
        == []
    )


def test_remedy_is_quoted_for_powershell(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "m", LLAMA31_CONFIG, {})
    facts = facts_for(site_packages(tmp_path / "s", transformers="4.40.0"), folder, base=windows_conda())
    [finding] = run_check(CHECKS["transformers-too-old"], facts)
    assert finding.remedy == r"C:\Users\ada\miniconda3\envs\llama\python.exe -m pip install -U 'transformers>=4.43.0'"


def test_every_need_of_a_config_is_named_newest_first() -> None:
    vision = {"model_type": "mllama", "text_config": {**LLAMA31_CONFIG, "model_type": "mllama_text_model"}}
    assert [n.version for n in transformers_needs(vision)] == ["4.45.0", "4.43.0", "4.31.0"]
    assert transformers_needs({"model_type": "mistral"}) == []
    assert transformers_needs({"rope_scaling": "llama3", "num_attention_heads": "32"}) == []


def test_misspelled_class_is_renamed_by_fix_and_undone(tmp_path: Path) -> None:
    tokenizer_config = {"bos_token": "", "tokenizer_class": "LLaMATokenizer", "unk_token": ""}
    folder = hf_folder(tmp_path / "llama-7b-hf", {"model_type": "llama", "num_attention_heads": 4}, tokenizer_config)
    config = folder / "tokenizer_config.json"
    original = config.read_bytes()
    args = ["--model-dir", str(folder), "--repo", str(tmp_path), "--no-hash"]

    found = runner.invoke(app, ["check", *args, "--json", "--only", "tokenizer-class-misspelled"])
    [finding] = json.loads(found.stdout)["findings"]
    assert "LLaMATokenizer" in finding["message"] and finding["fixes"] == ["rename-tokenizer-class"]

    done = runner.invoke(app, ["fix", "tokenizer-class-misspelled", *args, "--yes"])
    assert done.exit_code == 0, done.stdout
    assert "✓ fixed" in done.stdout
    assert config.read_bytes() == original.replace(b'"LLaMATokenizer"', b'"LlamaTokenizer"')
    again = runner.invoke(app, ["check", *args, "--json", "--only", "tokenizer-class-misspelled"])
    assert json.loads(again.stdout)["findings"] == []

    undone = runner.invoke(app, ["undo"])
    assert undone.exit_code == 0, undone.stdout
    assert config.read_bytes() == original


def test_renaming_keeps_every_other_byte() -> None:
    raw = b'{\r\n  "tokenizer_class" :  "LLaMATokenizerFast",\r\n  "x": "LLaMATokenizer"\r\n}'
    assert renamed(raw) == raw.replace(b'"LLaMATokenizerFast"', b'"LlamaTokenizerFast"')
    assert renamed(b'{"tokenizer_class": "LlamaTokenizer"}') == b'{"tokenizer_class": "LlamaTokenizer"}'


def test_meta_repo_requirements_against_a_real_site_packages(tmp_path: Path) -> None:
    repo = tmp_path / "llama3"
    repo.mkdir()
    (repo / "requirements.txt").write_text("torch\nfairscale\nfire\ntiktoken==0.4.0\nblobfile\n")
    folder = hf_folder(tmp_path / "m", LLAMA31_CONFIG, {})
    site = site_packages(tmp_path / "site", torch="2.5.1", fire="0.7.0", tiktoken="0.8.0")
    facts = facts_for(site, folder, repo=repo)
    [finding] = run_check(CHECKS["meta-requirements-missing"], facts)
    assert finding.evidence["missing"] == ["fairscale", "blobfile"]
    assert "No module named 'fairscale'" in finding.message
    assert finding.remedy.endswith("-m pip install fairscale blobfile")
    # tiktoken 0.4.0 has no wheel for 3.12, but 0.8.0 is installed: pip will not look for the pin until asked
    py312 = replace_in(facts, "python", version="3.12.3")
    [wheel] = run_check(CHECKS["no-wheel-for-python"], py312)
    assert "tiktoken==0.4.0" in wheel.message and "tiktoken>=0.5.2" in wheel.remedy
    assert list(run_check(CHECKS["no-wheel-for-python"], facts)) == []  # Python 3.11 has the wheel


@pytest.mark.parametrize(
    ("project", "pin", "python", "platform", "wheel"),
    [
        ("sentencepiece", "==0.1.99", (3, 11), "linux", True),
        ("sentencepiece", "==0.1.99", (3, 12), "windows", False),
        ("sentencepiece", "==0.2.0", (3, 13), "windows", False),
        ("torch", "==2.5.1", (3, 13), "linux", True),
        ("torch", "==2.5.1", (3, 13), "windows", False),
        ("torch", "==2.3.1", (3, 11), "darwin-x86_64", False),
        ("torch", "==2.3.1", (3, 11), "darwin-arm64", True),
        ("torch", "==2.13.0", (3, 14), "linux", None),  # a release the table does not know is not judged
    ],
)
def test_wheel_table(project: str, pin: str, python: tuple[int, int], platform: str, wheel: bool | None) -> None:
    release = pinned_release(pin)
    assert release is not None
    assert has_wheel(project, release, python, platform) is wheel


@pytest.mark.parametrize("spec", ["", ">=0.1.99", "==0.1.*", "~=0.1.99", "==0.1.99,<1"])
def test_only_exact_pins_are_judged(spec: str) -> None:
    assert pinned_release(spec) is None


def test_transformers_own_requirements_judge_accelerate_and_protobuf(tmp_path: Path) -> None:
    site = site_packages(tmp_path / "site", accelerate="0.20.3", protobuf="4.25.3")
    meta = site / "transformers-4.30.2.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: transformers\nVersion: 4.30.2\n"
        "Requires-Dist: accelerate (>=0.20.2) ; extra == 'accelerate'\n"
        "Requires-Dist: protobuf (<=3.20.3) ; extra == 'sentencepiece'\n"
    )
    folder = hf_folder(tmp_path / "Llama-2-7b-hf", {"model_type": "llama", "num_attention_heads": 4}, {})
    (folder / "tokenizer.model").write_bytes(b"\n\x0e\n\x05<unk>")
    facts = facts_for(site, folder)
    assert messages("accelerate-too-old", facts) == []  # 0.20.3 meets >=0.20.2
    [message] = messages("protobuf-too-new", facts)
    assert "protobuf 4.25.3" in message and "<=3.20.3" in message
    (folder / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {}, "merges": []}}')
    assert messages("protobuf-too-new", facts_for(site, folder)) == []  # nothing to convert


def test_accelerate_older_than_transformers_asks_is_found(tmp_path: Path) -> None:
    site = site_packages(tmp_path / "site", accelerate="0.20.3")
    meta = site / "transformers-4.46.3.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        'Name: transformers\nVersion: 4.46.3\nRequires-Dist: accelerate>=0.26.0; extra == "accelerate"\n'
    )
    folder = hf_folder(tmp_path / "m", LLAMA31_CONFIG, {})
    [finding] = run_check(CHECKS["accelerate-too-old"], facts_for(site, folder))
    assert "accelerate 0.20.3" in finding.message and finding.remedy.endswith("install -U 'accelerate>=0.26.0'")
