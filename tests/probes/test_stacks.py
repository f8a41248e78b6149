"""The serving-stack probe: installed metadata in a temp site-packages, the hub token and cache, a real Ollama
stand-in on 127.0.0.1, and the hub through a fake HTTP seam."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llamadoctor.probes.hub import ask_hub, token_value
from llamadoctor.probes.stacks import (
    StackRequest,
    cached_repos,
    installed_versions,
    missing_entry_modules,
    ollama_client_version,
    probe_ollama,
    probe_stacks,
    token_source,
)

SECRET = "hf_abcdefghijklmnopqrstuvwxyz012345"


def dist(site: Path, name: str, version: str, entry_points: str = "") -> Path:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if entry_points:
        (info / "entry_points.txt").write_text(entry_points)
    return info


def test_versions_come_from_dist_info_folders(tmp_path: Path) -> None:
    dist(tmp_path, "vllm", "0.6.3.post1")
    dist(tmp_path, "llama_cpp_python", "0.2.90")
    dist(tmp_path, "torch", "2.4.0")
    assert installed_versions([str(tmp_path), str(tmp_path / "absent")]) == {
        "vllm": "0.6.3.post1",
        "llama_cpp_python": "0.2.90",
    }


def test_a_console_script_whose_module_is_missing_is_named(tmp_path: Path) -> None:
    scripts = "[console_scripts]\nllama-model = llama_models.cli.model:main\nllama = llama_models.cli.llama:main\n"
    dist(tmp_path, "llama_models", "0.3.0", scripts)
    (tmp_path / "llama_models" / "cli").mkdir(parents=True)
    (tmp_path / "llama_models" / "cli" / "llama.py").write_text("def main(): pass\n")
    assert missing_entry_modules([str(tmp_path)], "llama_models") == ("llama_models.cli.model",)
    (tmp_path / "llama_models" / "cli" / "model.py").write_text("def main(): pass\n")
    assert missing_entry_modules([str(tmp_path)], "llama_models") == ()


def test_an_editable_install_is_read_where_its_pth_file_points(tmp_path: Path) -> None:
    """`pip install -e` of llama-models: metadata in site-packages, the code in the clone a .pth file adds."""
    site, clone = tmp_path / "site", tmp_path / "llama-models"
    dist(site, "llama_models", "0.3.0", "[console_scripts]\nllama = llama_models.cli.llama:main\n")
    (clone / "llama_models" / "cli").mkdir(parents=True)
    (clone / "llama_models" / "cli" / "llama.py").write_text("def main(): pass\n")
    (site / "__editable__.llama_models-0.3.0.pth").write_text(f"{clone}\n")
    facts = probe_stacks(
        StackRequest(),
        [str(site)],
        {},
        home=tmp_path,
        hub_cache=tmp_path / "hub",
        which=lambda name: None,
        fetch=lambda url, timeout: b"",
    )
    assert facts.packages == {"llama_models": "0.3.0"}
    assert facts.llama_cli_missing == ()


def test_the_token_is_found_but_never_read_into_facts(tmp_path: Path) -> None:
    assert token_source({}, tmp_path) is None
    assert token_source({"HF_TOKEN": SECRET}, tmp_path) == "HF_TOKEN"
    token = tmp_path / ".cache" / "huggingface" / "token"
    token.parent.mkdir(parents=True)
    token.write_text(SECRET)
    assert token_source({}, tmp_path) == str(token)
    assert token_source({"HF_HOME": str(tmp_path / "elsewhere")}, tmp_path) is None
    assert token_value({}, str(token)) == SECRET


def test_a_repo_is_cached_when_it_has_a_snapshot(tmp_path: Path) -> None:
    (tmp_path / "models--meta-llama--Llama-3.2-1B" / "snapshots" / "4e20de3").mkdir(parents=True)
    (tmp_path / "models--meta-llama--Llama-3.1-8B" / "blobs").mkdir(parents=True)
    repos = ["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B"]
    assert cached_repos(repos, tmp_path) == ("meta-llama/Llama-3.2-1B",)


class _Ollama(BaseHTTPRequestHandler):
    answers: Mapping[str, Any] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.answers[self.path]).encode() if self.path in self.answers else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ollama() -> Iterator[str]:
    _Ollama.answers = {
        "/api/version": {"version": "0.3.0"},
        "/api/tags": {"models": [{"name": "llama3.1:8b", "size": 4_920_753_328}, {"name": "odd"}]},
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_ollama_version_and_models_from_a_real_server(ollama: str) -> None:
    found = probe_ollama(address=ollama)
    assert (found.running, found.version, dict(found.models)) == (True, "0.3.0", {"llama3.1:8b": 4_920_753_328})


def test_nothing_listening_is_not_running() -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    found = probe_ollama(address=f"127.0.0.1:{port}")
    assert not found.running and found.error


def _done(stdout: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["ollama"], code, stdout, "")


@pytest.mark.parametrize(
    ("stdout", "version"),
    [
        ("ollama version is 0.3.0\nWarning: client version is 0.3.6\n", "0.3.6"),
        ("Warning: could not connect to a running Ollama instance\nWarning: client version is 0.5.7\n", "0.5.7"),
        ("ollama version is 0.5.7\n", "0.5.7"),
    ],
)
def test_the_client_version_is_the_commands_own(stdout: str, version: str) -> None:
    assert ollama_client_version("ollama", lambda argv, timeout: _done(stdout)) == version


def test_the_hub_says_gated_and_whether_the_token_may_read(tmp_path: Path) -> None:
    asked: list[tuple[str, Mapping[str, str]]] = []

    def get(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        asked.append((url, headers))
        if url.endswith("/api/models/meta-llama/Llama-3.2-1B"):
            return 200, json.dumps({"id": "meta-llama/Llama-3.2-1B", "gated": "manual"}).encode()
        if url.endswith("/api/models/TinyLlama/TinyLlama-1.1B"):
            return 200, json.dumps({"gated": False}).encode()
        if "/resolve/main/" in url:
            return 403, b""
        raise OSError("no route")

    found = ask_hub(["meta-llama/Llama-3.2-1B", "TinyLlama/TinyLlama-1.1B", "x/y"], SECRET, get=get)
    assert [(a.gated, a.access) for a in found] == [(True, False), (False, True), (None, None)]
    assert found[2].error == "no route"
    assert all(headers == {"Authorization": f"Bearer {SECRET}"} for _, headers in asked)
    assert SECRET not in repr(found)


def test_the_whole_probe_keeps_the_token_out_of_its_facts(tmp_path: Path, ollama: str) -> None:
    site = tmp_path / "site"
    dist(site, "vllm", "0.6.3")

    timeouts: list[float] = []

    def get(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        timeouts.append(timeout)
        return (200, b'{"gated": "auto"}') if "/api/models/" in url else (200, b"{}")

    def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return _done("ollama version is 0.3.6\n")

    facts = probe_stacks(
        StackRequest(hf_repos=("meta-llama/Llama-3.2-1B",), online=True),
        [str(site)],
        {"HF_TOKEN": SECRET, "HF_HUB_OFFLINE": "1"},
        home=tmp_path,
        hub_cache=tmp_path / "hub",
        which=lambda name: "/usr/bin/ollama",
        runner=run,
        fetch=lambda url, timeout: probe_ollama_fetch(ollama, url, timeout),
        hub_get=get,
    )
    assert facts.packages == {"vllm": "0.6.3"} and facts.hf_login == "HF_TOKEN"
    assert facts.hub_env == {"HF_HUB_OFFLINE": "1"} and facts.ollama_cli_version == "0.3.6"
    assert facts.hub[0].access is True and facts.ollama is not None and facts.ollama.version == "0.3.0"
    assert SECRET not in repr(facts)
    assert len(timeouts) == 2 and sum(timeouts) <= 7.0


def probe_ollama_fetch(address: str, url: str, timeout: float) -> bytes:
    """Send the default address's requests to the stand-in server."""
    from llamadoctor.probes.stacks import http_get

    return http_get(url.replace("127.0.0.1:11434", address), timeout)


def test_visual_studio_toolsets_with_and_without_cuda_files(tmp_path: Path) -> None:
    from llamadoctor.probes.msbuild import build_customizations

    vc = "MSBuild/Microsoft/VC/v170/BuildCustomizations"
    with_cuda = tmp_path / "pf" / "Microsoft Visual Studio" / "2022" / "Community" / vc
    without = tmp_path / "pf86" / "Microsoft Visual Studio" / "2022" / "BuildTools" / vc
    for folder in (with_cuda, without):
        folder.mkdir(parents=True)
        (folder / "masm.props").write_text("<Project/>")
    (with_cuda / "CUDA 12.4.props").write_text("<Project/>")
    found = build_customizations({"ProgramFiles": str(tmp_path / "pf"), "ProgramFiles(x86)": str(tmp_path / "pf86")})
    assert found == {str(with_cuda): ("CUDA 12.4.props",), str(without): ()}
    assert build_customizations({}) == {}
