"""The Ollama server on this machine's loopback address: running, as new as its command, room for its models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from llamadoctor.estimate import gib
from llamadoctor.facts import Facts, OllamaServer
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.serving import older
from llamadoctor.testing import GiB, gpu, linux_cpu, linux_gpu, mac_arm, nvidia, replace_in, windows_conda

OLLAMA_CLI = Requires(lambda f: f.stacks.ollama_cli, N_("the ollama command is not on PATH"), probe="stacks")
OLLAMA_UP = Requires(
    lambda f: f.stacks.ollama and f.stacks.ollama.running, N_("no Ollama server answers on 127.0.0.1"), probe="stacks"
)
PROGRAMS = {
    "linux": "/usr/local/bin/ollama",
    "darwin": "/usr/local/bin/ollama",
    "windows": r"C:\Users\ada\AppData\Local\Programs\Ollama\ollama.exe",
}
UP = OllamaServer(running=True, version="0.3.6", models={"llama3.1:8b": int(4.7 * GiB)})
DOWN = OllamaServer(running=False, error="[Errno 111] Connection refused")


def _ollama(facts: Facts, server: OllamaServer | None = UP, cli_version: str | None = "0.3.6") -> Facts:
    return replace_in(facts, "stacks", ollama_cli=PROGRAMS[facts.os], ollama_cli_version=cli_version, ollama=server)


def _start(facts: Facts) -> str:
    if facts.os == "linux":
        return "sudo systemctl start ollama\n" + _("(or, without the service: ollama serve)")
    if facts.os == "darwin":
        return "open -a Ollama\n" + _("(or, in a terminal of its own: ollama serve)")
    return _("Start Ollama from the Start menu, or in a terminal of its own: ollama serve")


def _restart(facts: Facts) -> str:
    if facts.os == "linux":
        return "sudo systemctl restart ollama"
    return _("Quit Ollama from its menu-bar or tray icon and start it again (or stop the old `ollama serve`).")


@check(
    id="ollama-server-down",
    summary="The ollama command is installed but no Ollama server answers",
    severity=Severity.WARNING,
    group=Group.SYSTEM,
    requires=(OLLAMA_CLI,),
    checked=lambda f: _("Ollama {version} answers at {address}").format(
        version=f.stacks.ollama.version if f.stacks.ollama else "",
        address=f.stacks.ollama.address if f.stacks.ollama else "127.0.0.1:11434",
    ),
    examples=[
        Healthy(_ollama(linux_cpu())),
        Inapplicable(linux_cpu(), expect="ollama command is not on PATH"),
        Broken(_ollama(linux_cpu(), DOWN), expect="could not connect to ollama app, is it running?"),
        Broken(_ollama(linux_cpu(), DOWN), expect="Connection refused"),
        Broken(_ollama(windows_conda(), DOWN), expect="127.0.0.1:11434"),
    ],
)
def ollama_server_down(facts: Facts) -> Iterator[Finding]:
    """The `ollama` command is on PATH, but nothing answers at 127.0.0.1:11434.

    What it checks: a GET of Ollama's /api/version on the loopback address (half a second, never another
    host), when the ollama command is installed.
    Why it matters: every `ollama run` and `ollama pull` then stops with `could not connect to ollama app, is
    it running?`.
    How to fix: start the server (the Ollama app, `systemctl start ollama`, or `ollama serve`); if it runs on
    another port, set the same OLLAMA_HOST for the server and the command.
    """
    server = facts.stacks.ollama
    if server is None or server.running:
        return
    yield ollama_server_down.finding(
        _(
            "{command} is installed but no Ollama server answers at {address} ({error}): ollama commands stop "
            "with “could not connect to ollama app, is it running?”."
        ).format(command=facts.stacks.ollama_cli, address=server.address, error=server.error or _("no answer")),
        remedy=_start(facts),
        address=server.address,
        error=server.error,
    )


@check(
    id="ollama-server-outdated",
    summary="The Ollama server running is older than the ollama command",
    severity=Severity.WARNING,
    group=Group.SYSTEM,
    requires=(OLLAMA_CLI, OLLAMA_UP),
    checked=lambda f: _("the Ollama server {server} against the command {client}").format(
        server=f.stacks.ollama.version if f.stacks.ollama else "",
        client=f.stacks.ollama_cli_version or _("(version unknown)"),
    ),
    examples=[
        Healthy(_ollama(mac_arm())),
        Healthy(_ollama(linux_cpu(), cli_version=None)),
        Inapplicable(_ollama(linux_cpu(), DOWN), expect="no Ollama server answers"),
        Broken(
            _ollama(linux_cpu(), replace(UP, version="0.3.0")),
            expect="server 0.3.0 is older than the ollama command 0.3.6",
        ),
        Broken(_ollama(mac_arm(), replace(UP, version="0.3.0")), expect="412"),
    ],
)
def ollama_server_outdated(facts: Facts) -> Iterator[Finding]:
    """An upgrade replaced the `ollama` command but the old server is still the one running.

    What it checks: the version /api/version reports against the version `ollama --version` gives for the
    command itself.
    Why it matters: newer models need the newer server: pulls stop with `pull model manifest: 412` (“requires
    a newer version of Ollama”) and `ollama --version` warns `client version is ...`.
    How to fix: restart the server so the upgraded one runs.
    """
    server, client = facts.stacks.ollama, facts.stacks.ollama_cli_version
    if server is None or not server.version or not client or not older(server.version, client):
        return
    yield ollama_server_outdated.finding(
        _(
            "The Ollama server {server} is older than the ollama command {client}: the old server is still "
            "running, and models that need the new one fail with “pull model manifest: 412”."
        ).format(server=server.version, client=client),
        remedy=_restart(facts),
        server=server.version,
        client=client,
    )


def _room(facts: Facts) -> tuple[int, str]:
    """Bytes Ollama can load a model into, and how that was reckoned."""
    vram = sum(g.memory_total for g in facts.gpu.gpus)
    if vram:
        described = _("{ram} RAM and {vram} of GPU memory").format(ram=gib(facts.memory.ram_total), vram=gib(vram))
        return facts.memory.ram_total + vram, described
    return facts.memory.ram_total, _("{ram} of RAM").format(ram=gib(facts.memory.ram_total))


@check(
    id="ollama-model-too-big",
    summary="An Ollama model is larger than this machine's memory",
    severity=Severity.WARNING,
    group=Group.SYSTEM,
    requires=(OLLAMA_UP,),
    checked=lambda f: _("{count} Ollama models against the memory").format(
        count=len(f.stacks.ollama.models) if f.stacks.ollama else 0
    ),
    examples=[
        Healthy(_ollama(linux_cpu())),
        Healthy(
            _ollama(
                linux_gpu(gpu=nvidia(gpu(vram_gib=48), gpu(vram_gib=48, index=1))),
                replace(UP, models={"llama3.1:70b": int(40 * GiB)}),
            )
        ),
        Inapplicable(linux_cpu(), expect="no Ollama server answers"),
        Broken(
            _ollama(linux_cpu(), replace(UP, models={"llama3.1:70b": int(40 * GiB)})),
            expect="llama3.1:70b needs 40.00 GiB",
        ),
        Broken(
            _ollama(linux_cpu(), replace(UP, models={"llama3.1:405b": int(229 * GiB)})),
            expect="model requires more system memory",
        ),
    ],
)
def ollama_model_too_big(facts: Facts) -> Iterator[Finding]:
    """A model Ollama has pulled is larger than the RAM and GPU memory of this machine together.

    What it checks: the size of each model `/api/tags` lists against RAM plus the memory of every NVIDIA GPU
    (Apple's GPU shares the RAM); the context and the system need more on top.
    Why it matters: Ollama cannot load it: `model requires more system memory ... than is available` or
    `llama runner process has terminated`.
    How to fix: pull a smaller model or quantization (`llama3.1:8b`, a `q4` tag), or run on a larger machine.
    """
    server = facts.stacks.ollama
    assert server is not None
    room, described = _room(facts)
    big = {name: size for name, size in sorted(server.models.items()) if size > room}
    if not big:
        return
    names = ", ".join(_("{name} needs {size}").format(name=name, size=gib(size)) for name, size in big.items())
    yield ollama_model_too_big.finding(
        # TRANSLATORS: {models} is a list of "llama3.1:70b needs 40.00 GiB"; {room} says which memory it has.
        _(
            "Ollama's {models} for its weights alone, more than this machine's {room}: loading stops with “model "
            "requires more system memory than is available” or “llama runner process has terminated”."
        ).format(models=names, room=described),
        remedy=_(
            "Pull a smaller model or quantization (for example `ollama pull llama3.1:8b`), then remove this one: "
            "{commands}"
        ).format(commands=" ; ".join(f"ollama rm {name}" for name in big)),
        models=big,
        room=room,
    )
