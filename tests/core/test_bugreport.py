"""`llamadoctor report`: what a maintainer needs, on every OS the doctor describes, with nothing private in it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from llamadoctor import testing
from llamadoctor.bugreport import FIELD_LIBRARIES, build, describe_model, render_markdown
from llamadoctor.cli import app
from llamadoctor.engine import Report, run
from llamadoctor.facts import Cpu, Facts, Libraries, Network, OllamaServer, Stacks
from llamadoctor.privacy import Identity
from llamadoctor.registry import all_checks
from llamadoctor.report import SCHEMA
from llamadoctor.testing_files import hf_model, meta_model

runner = CliRunner()
ADA_LINUX = Identity("/home/ada", "ada", "ada-box", ("192.168.1.20",))
ADA_WINDOWS = Identity(r"C:\Users\ada", "ada", "ADA-PC", ("192.168.1.21",))
LIBRARIES = Libraries(
    installed={"transformers": "4.46.1", "tokenizers": "0.20.3", "nvidia-cudnn-cu12": "9.1.0.70", "numpy": "2.1.0"}
)


def _dressed(facts: Facts) -> Facts:
    """A fixture machine with what a report shows beyond check's summary: CPU, libraries, Ollama, a model."""
    folder = facts.path.join(facts.disk.path, "llama-2-7b")
    return dataclasses.replace(
        facts,
        cpu=Cpu("AMD Ryzen 9 7950X 16-Core Processor", ("AVX", "AVX2", "AVX-512F"), "/proc/cpuinfo"),
        libraries=LIBRARIES,
        stacks=Stacks(ollama=OllamaServer(running=True, version="0.5.7"), ollama_cli_version="0.5.7"),
        models=(meta_model(path=folder),),
        env={"HF_HOME": facts.path.join(facts.disk.path, ".cache", "hf"), "MASTER_ADDR": "192.168.1.20"},
        secrets_set=("HF_TOKEN",),
        network=Network(local_addresses=("127.0.0.1", "192.168.1.20"), hostname_resolves_to=("192.168.1.20",)),
    )


FIXTURES: dict[str, Callable[..., Facts]] = {
    "linux_gpu": testing.linux_gpu,
    "linux_cpu": testing.linux_cpu,
    "linux_cpu_only_torch": testing.linux_cpu_only_torch,
    "debian_system_python": testing.debian_system_python,
    "windows_conda": testing.windows_conda,
    "mac_arm": testing.mac_arm,
    "mac_arm_x86_python": testing.mac_arm_x86_python,
}


def _report(facts: Facts, identity: Identity = ADA_LINUX) -> dict[str, Any]:
    return build(run(facts, all_checks()), identity)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_report_on_every_fixture_os_says_what_a_maintainer_asks_and_hides_who(name: str) -> None:
    facts = _dressed(FIXTURES[name]())
    identity = ADA_WINDOWS if facts.os == "windows" else ADA_LINUX
    data = _report(facts, identity)
    text = render_markdown(data)
    for needed in (
        f"| OS | {facts.os} {facts.platform.release}",
        "AMD Ryzen 9 7950X 16-Core Processor, 8 logical cores; vector extensions: AVX, AVX2, AVX-512F",
        "| RAM | 32.0 GiB (24.0 GiB available) |",
        f"| Python | {facts.python.version} ({facts.python.machine}, {facts.python.kind})",
        "| cuDNN | 9.1.0.70 (nvidia-cudnn-cu12) |",
        "| transformers | 4.46.1 |",
        "| Ollama | server 0.5.7 running; client 0.5.7 |",
        "Llama 2 6.7B, Meta format, 1 weights file, 12.6 GiB (given with --model-dir)",
        data["summary"]["verdict"],
    ):
        assert needed in text, needed
    assert "numpy" not in text  # only the libraries of this field
    dumped = json.dumps(data)
    for private in ("/home/ada", "Users\\\\ada", "ada-box", "ADA-PC", "192.168.1.20"):
        assert private not in dumped and private.replace("\\\\", "\\") not in text, private
    assert "~" in text and "HF_TOKEN is set; values are never read" in text
    assert text.rstrip().endswith("Tokens and signed URLs never appear in a report._")


def test_each_os_shows_its_own_gpu_driver_and_cuda() -> None:
    rows = {
        name: render_markdown(_report(FIXTURES[name](libraries=Libraries())))
        for name in ("linux_gpu", "windows_conda", "mac_arm", "linux_cpu_only_torch")
    }
    assert "| GPU | NVIDIA GeForce RTX 3090 24.0 GiB (compute 8.6) |" in rows["linux_gpu"]
    assert "| Driver | 535.104.05 (CUDA ≤ 12.2) |" in rows["linux_gpu"]
    assert "| CUDA | torch built for CUDA 12.1 |" in rows["linux_gpu"]
    assert "| GPU | NVIDIA GeForce RTX 4070 12.0 GiB (compute 8.9) |" in rows["windows_conda"]
    assert "| GPU | Apple Silicon (MPS) |" in rows["mac_arm"] and "| Driver | none |" in rows["mac_arm"]
    assert "| CUDA | torch has no CUDA build |" in rows["linux_cpu_only_torch"]
    assert "`torch-cpu-only`" in rows["linux_cpu_only_torch"]  # the finding, with its remedy below
    assert "| Ollama | not installed |" in rows["linux_gpu"]
    assert "Not installed: " + ", ".join(FIELD_LIBRARIES) in rows["mac_arm"]  # read, and none there
    assert "The installed packages could not be read." not in rows["mac_arm"]


def test_a_machine_whose_packages_were_not_read_says_so() -> None:
    text = render_markdown(_report(testing.linux_cpu(libraries=None)))
    assert "The installed packages could not be read." in text


def test_the_json_is_checks_schema_plus_the_environment() -> None:
    facts = _dressed(testing.linux_gpu())
    data = _report(facts)
    check_keys = {"schema", "llamadoctor", "facts", "findings", "examined", "checks", "summary"}
    assert set(data) == check_keys | {"kind", "environment", "masked"}
    assert data["schema"] == SCHEMA and data["kind"] == "report"
    env = data["environment"]
    assert env["cpu"] == {"model": facts.cpu.model, "cores": 8, "extensions": ["AVX", "AVX2", "AVX-512F"]}
    assert env["gpus"] == [{"name": "NVIDIA GeForce RTX 3090", "memory": 24 * 1024**3, "compute_capability": "8.6"}]
    assert env["cuda"] == {"torch_build": "12.1", "rocm": None, "toolkit": None}
    assert env["libraries"]["transformers"] == "4.46.1" and env["libraries"]["vllm"] is None
    assert env["ollama"] == {"cli": "0.5.7", "server_running": True, "server": "0.5.7"}
    assert env["models"][0]["path"] == "~/llama-2-7b"
    assert env["python"]["executable"] == "~/llama/.venv/bin/python"
    assert data["facts"]["platform"]["hostname"] == "<host>"
    assert data["facts"]["env"]["MASTER_ADDR"] == "<ip>"
    masked = {item["what"]: item["count"] for item in data["masked"]}
    assert masked["home"] > 5 and masked["host"] == 1 and masked["ip"] >= 3


def test_a_folder_that_is_not_a_model_is_described_as_such() -> None:
    assert (
        describe_model(dataclasses.replace(hf_model(), format="unknown")) == "not a model folder llamadoctor recognises"
    )
    assert describe_model(meta_model(error="Permission denied")) == "unreadable: Permission denied"
    assert (
        describe_model(dataclasses.replace(meta_model(), format="parent", subdirs=("7B", "13B")))
        == "a folder of model folders (7B, 13B)"
    )


def test_a_signed_url_and_a_token_never_reach_the_report() -> None:
    secret_url = "https://download.llamameta.net/*?Policy=eyJzZWNyZXQ&Signature=c2lnbmVk&Key-Pair-Id=K1ABCDEF"
    facts = _dressed(testing.linux_gpu())
    facts = dataclasses.replace(
        facts,
        env={**facts.env, "HF_ENDPOINT": "https://ada:hunter2@mirror.corp/hf_abcdefghijklmnopqrstuvwxyz01"},
        options=dataclasses.replace(facts.options, url=secret_url),
    )
    data = _report(facts)
    dumped = json.dumps(data) + render_markdown(data)
    for secret in ("eyJzZWNyZXQ", "c2lnbmVk", "K1ABCDEF", "hunter2", "abcdefghijklmnopqrstuvwxyz01"):
        assert secret not in dumped
    assert any(item["what"] == "secret" for item in data["masked"])


# ---- the command ---------------------------------------------------------------------------------------------


def test_report_on_this_machine_markdown_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "--no-hash"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("### llamadoctor ") and "| CPU | " in result.stdout
    assert str(Path.home()) not in result.stdout or str(Path.home()) in ("/", "")
    result = runner.invoke(app, ["report", "--no-hash", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["kind"] == "report" and data["environment"]["python"]["executable"]
    assert data["environment"]["cpu"]["cores"] >= 1


def test_output_is_written_whole_and_replaces_an_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "report.md"
    target.write_text("an old report\n")
    result = runner.invoke(app, ["report", "--no-hash", "--output", str(target)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and f"wrote the report to {target}" in result.stderr
    assert target.read_text().startswith("### llamadoctor ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no temp file left beside it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--markdown"], "--json and --markdown cannot go together"),
        (["--output", "."], "--output . is a folder"),
        (["--output", "no/such/folder/r.md"], "does not exist"),
    ],
)
def test_bad_report_options_are_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_report_reuses_checks_one_gathering(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One gathering serves the verdict and the environment: the facts in both halves are the same facts."""
    import llamadoctor.doctor as doctor

    calls: list[Any] = []
    facts = _dressed(testing.linux_gpu())

    def fake_facts_for(diagnosis: Any, *, progress: bool = False) -> Facts:
        calls.append(diagnosis)
        return facts

    monkeypatch.setattr(doctor, "facts_for", fake_facts_for)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "--json"])
    assert result.exit_code == 0, result.stderr
    assert len(calls) == 1
    data = json.loads(result.stdout)
    assert data["environment"]["gpus"][0]["name"] == data["facts"]["gpu"]["gpus"][0]["name"]
    assert isinstance(run(facts, all_checks()), Report)
