"""The packages probe on real site-packages folders, repo folders and tokenizer files written in tmp_path."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import pytest

from llamadoctor.gather import Request, gather
from llamadoctor.probes.packages import (
    hf_tokenizer_files,
    installed_distributions,
    normalise,
    parse_requirement,
    places,
    probe_libraries,
    repo_requirements,
)


def dist_info(site: Path, folder: str, name: str, version: str) -> None:
    (site / folder).mkdir(parents=True)
    (site / folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n")


def test_names_are_compared_as_pip_compares_them() -> None:
    assert normalise("Sentence_Piece") == normalise("sentence.piece") == "sentence-piece"
    assert normalise("PyYAML") == "pyyaml"


def test_a_distribution_installed_between_two_reads_is_seen(tmp_path: Path) -> None:
    """The two probes that read a folder in one check share its listing, never past a change to the folder."""
    site = tmp_path / "site-packages"
    dist_info(site, "vllm-0.6.3.dist-info", "vllm", "0.6.3")
    assert installed_distributions([str(site)]) == {"vllm": "0.6.3"}
    dist_info(site, "accelerate-0.33.0.dist-info", "accelerate", "0.33.0")
    assert installed_distributions([str(site)]) == {"vllm": "0.6.3", "accelerate": "0.33.0"}

    shutil.rmtree(site / "vllm-0.6.3.dist-info")
    assert installed_distributions([str(site)]) == {"accelerate": "0.33.0"}


def test_every_kind_of_metadata_is_read(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    dist_info(site, "transformers-4.40.2.dist-info", "transformers", "4.40.2")
    dist_info(site, "PyYAML-6.0.1.dist-info", "PyYAML", "6.0.1")
    (site / "fairscale-0.4.13-py3.11.egg-info").mkdir()
    (site / "fairscale-0.4.13-py3.11.egg-info" / "PKG-INFO").write_text("Name: fairscale\nVersion: 0.4.13\n")
    (site / "fire-0.5.0-py3.11.egg-info").write_text("Metadata-Version: 1.0\nName: fire\nVersion: 0.5.0\n")
    (site / "tiktoken-0.4.0.dist-info").mkdir()  # METADATA lost: the folder's name still says it
    (site / "transformers").mkdir()  # a package folder is not metadata
    assert installed_distributions([str(site)]) == {
        "transformers": "4.40.2",
        "pyyaml": "6.0.1",
        "fairscale": "0.4.13",
        "fire": "0.5.0",
        "tiktoken": "0.4.0",
    }


def test_pth_folders_are_read_and_the_first_place_wins(tmp_path: Path) -> None:
    site, shared = tmp_path / "venv-site", tmp_path / "shared-site"
    dist_info(site, "tokenizers-0.19.1.dist-info", "tokenizers", "0.19.1")
    dist_info(shared, "tokenizers-0.20.3.dist-info", "tokenizers", "0.20.3")
    dist_info(shared, "protobuf-5.28.3.dist-info", "protobuf", "5.28.3")
    (site / "shared.pth").write_text(f"# the shared packages\nimport os\n{shared}\n{tmp_path / 'gone'}\n")
    (site / "relative.pth").write_text("../shared-site\n")
    where = places([str(site)])
    assert where == (str(site), str(shared))
    assert installed_distributions(where) == {"tokenizers": "0.19.1", "protobuf": "5.28.3"}


def test_unreadable_places_give_nothing_never_an_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    assert installed_distributions([str(tmp_path / "missing"), str(tmp_path / "a-file")]) == {}
    assert places([str(tmp_path / "missing")]) == (str(tmp_path / "missing"),)


def test_agrees_with_importlib_metadata_on_this_interpreter() -> None:
    """What our own interpreter reports through importlib.metadata, read from the same folders."""
    sites = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    where = places(sites)
    found = installed_distributions(where)
    compared, seen = 0, set()
    for dist in importlib.metadata.distributions():
        folder = str(Path(str(dist.locate_file(""))))
        name = dist.metadata["Name"]
        # A project installed in two folders: the first on the path is the one Python imports, as here.
        if name and normalise(name) in seen:
            continue
        seen.add(normalise(name or ""))
        if name and folder in where and normalise(name) in found:
            assert found[normalise(name)] == dist.version, name
            compared += 1
    assert compared >= 5
    assert found.get("packaging") == importlib.metadata.version("packaging")


META_REQUIREMENTS = "torch\nfairscale\nfire\ntiktoken==0.4.0\nblobfile\n"


def test_meta_requirements_are_read(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(META_REQUIREMENTS)
    found = {r.name: r.specifier for r in repo_requirements(tmp_path)}
    assert found == {"torch": "", "fairscale": "", "fire": "", "tiktoken": "==0.4.0", "blobfile": ""}


def test_pyproject_and_setup_py_add_what_requirements_txt_does_not_name(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# comment\n-r other.txt\n--index-url https://example.invalid/simple\n"
        "sentencepiece==0.1.99  # pinned\ntorch @ https://example.invalid/torch.whl\n"
        "pywin32; sys_platform == 'win32'\nnot a requirement!\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "llama_models"\ndependencies = [\n    "PyYAML",\n    "jinja2>=3.1.6",\n'
        '    "sentencepiece>=0.2",\n]\n'
    )
    (tmp_path / "setup.py").write_text('setup(name="llama", install_requires=["fire", "fairscale"])\n')
    found = {r.name: (r.specifier, r.source) for r in repo_requirements(tmp_path)}
    assert found == {
        "sentencepiece": ("==0.1.99", "requirements.txt"),
        "pyyaml": ("", "pyproject.toml"),
        "jinja2": (">=3.1.6", "pyproject.toml"),
        "fire": ("", "setup.py"),
        "fairscale": ("", "setup.py"),
    }


@pytest.mark.parametrize("line", ["", "# x", "-e .", "git+https://example.invalid/x.git", "x; python_version<'3'"])
def test_lines_that_are_not_plain_requirements_are_skipped(line: str) -> None:
    assert parse_requirement(line) is None


def test_repo_without_requirement_files_requires_nothing(tmp_path: Path) -> None:
    assert repo_requirements(tmp_path) == ()


def hf_folder(root: Path, tokenizer_class: str = "PreTrainedTokenizerFast") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "num_attention_heads": 4}))
    (root / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class}))
    return root


def test_merges_written_by_the_installed_tokenizers_are_seen(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    tokenizer.train_from_iterator(["hello world, hello llama"] * 20, trainers.BpeTrainer(vocab_size=300))
    folder = hf_folder(tmp_path / "model")
    tokenizer.save(str(folder / "tokenizer.json"))
    files = hf_tokenizer_files(folder)
    # Releases from 0.20 write each merge as a pair; older ones as one string "a b".
    from packaging.version import Version

    expected = "pairs" if Version(tokenizers.__version__) >= Version("0.20") else "strings"
    assert files.merges == expected
    assert files.has_tokenizer_json and not files.has_tokenizer_model


def test_string_merges_class_names_and_bytes(tmp_path: Path) -> None:
    folder = hf_folder(tmp_path / "llama-7b-hf", "LLaMATokenizer")
    (folder / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {"merges": 5}, "merges": ["a b"]}}')
    (folder / "tokenizer.model").write_bytes(b"\n\x0e")
    files = hf_tokenizer_files(folder)
    assert (files.tokenizer_class, files.merges, files.has_tokenizer_model) == ("LLaMATokenizer", "strings", True)
    assert files.config_bytes == (folder / "tokenizer_config.json").read_bytes()


@pytest.mark.parametrize("config", [b"", b"<!DOCTYPE html><html>", b"[1, 2]", b'{"tokenizer_class": 7}', b"\xff\xfe"])
def test_bad_tokenizer_config_gives_no_class_never_an_error(tmp_path: Path, config: bytes) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_bytes(config)
    files = hf_tokenizer_files(folder)
    assert files.tokenizer_class is None and files.merges == "" and not files.has_tokenizer_json


def test_gather_reads_the_target_interpreters_packages_repo_and_hf_folder(tmp_path: Path) -> None:
    repo = tmp_path / "llama3"
    repo.mkdir()
    (repo / "requirements.txt").write_text(META_REQUIREMENTS)
    model = hf_folder(tmp_path / "Llama-3.1-8B-Instruct")
    facts = gather(Request(repo=repo, model_dirs=[model]), environ={"PATH": ""}, timeout=20.0)
    libraries = facts.libraries
    assert libraries is not None, facts.probe_errors
    assert "libraries" in facts.timings
    assert libraries.version("packaging") == importlib.metadata.version("packaging")
    assert {r.name for r in libraries.requirements} == {"torch", "fairscale", "fire", "tiktoken", "blobfile"}
    assert [t.folder for t in libraries.hf_tokenizers] == [str(model)]
    assert sys.prefix in " ".join(libraries.places)


def test_probe_libraries_without_a_repo(tmp_path: Path) -> None:
    libraries = probe_libraries([str(tmp_path)], None, ())
    assert libraries.installed == {} and libraries.requirements == () and libraries.hf_tokenizers == ()


def test_what_transformers_itself_requires_is_read_from_its_metadata(tmp_path: Path) -> None:
    site = tmp_path / "site"
    meta = site / "transformers-4.30.2.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: transformers\nVersion: 4.30.2\n"
        "Requires-Dist: tokenizers (!=0.11.3,<0.14,>=0.11.1)\n"
        "Requires-Dist: accelerate (>=0.20.2) ; extra == 'accelerate'\n"
        "Requires-Dist: protobuf (<=3.20.3) ; extra == 'sentencepiece'\n"
        "Requires-Dist: accelerate (>=0.1) ; extra == 'all'\n"
        "Requires-Dist: torch (!=1.12.0,>=1.9) ; extra == 'torch'\n"
        "\nRequires-Dist: protobuf>=9 (in the description, not a header)\n"
    )
    (site / "other-1.0.dist-info").mkdir()
    libraries = probe_libraries([str(site)], None, ())
    assert libraries.requires == {
        "transformers": {"tokenizers": "!=0.11.3,<0.14,>=0.11.1", "accelerate": ">=0.20.2", "protobuf": "<=3.20.3"}
    }
    assert probe_libraries([str(tmp_path / "none")], None, ()).requires == {}


def test_the_target_interpreter_names_every_folder_it_imports_packages_from(tmp_path: Path) -> None:
    """User site, dist-packages, .pth and PYTHONPATH folders count as site-packages does: a foreign
    interpreter is asked (a real subprocess), with an extra folder on its PYTHONPATH."""
    import os
    import subprocess

    from llamadoctor.probes.target import describe_interpreter

    extra = tmp_path / "extra"
    dist_info(extra, "fairscale-0.4.13.dist-info", "fairscale", "0.4.13")

    def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(extra)}
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env, check=False)

    folders = describe_interpreter(sys.executable, run)["site_packages"]
    assert str(extra) in folders
    packaging_home = str(Path(str(importlib.metadata.distribution("packaging").locate_file(""))))
    assert packaging_home in folders
    found = installed_distributions(places(folders))
    assert found["fairscale"] == "0.4.13" and found["packaging"] == importlib.metadata.version("packaging")


def test_bitsandbytes_library_files_are_listed_from_its_package_folder(tmp_path: Path) -> None:
    from llamadoctor.checks.bitsandbytes_build import bnb_cpu_only
    from llamadoctor.probes.packages import probe_libraries
    from llamadoctor.testing import windows_conda

    site = tmp_path / "site-packages"
    (site / "bitsandbytes-0.41.1.dist-info").mkdir(parents=True)
    (site / "bitsandbytes").mkdir()
    for name in ("__init__.py", "libbitsandbytes_cpu.so", "libbitsandbytes_cuda116.so", "cextension.py"):
        (site / "bitsandbytes" / name).write_bytes(b"")
    libraries = probe_libraries([str(site)], None, ())
    assert libraries.native == {"bitsandbytes": ("libbitsandbytes_cpu.so", "libbitsandbytes_cuda116.so")}
    # pip's wheel before Windows builds: nothing Windows can load, so bitsandbytes runs its CPU library
    (finding,) = bnb_cpu_only.func(dataclasses.replace(windows_conda(), libraries=libraries))
    assert "compiled without GPU support" in finding.message
    assert probe_libraries([str(tmp_path / "empty")], None, ()).native == {}
