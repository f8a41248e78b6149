"""Fill Facts: every probe runs at once, each with its own deadline, and a probe that fails or hangs
costs only its own facts (its timing says why), never the report."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional, TypeVar

from llamadoctor.facts import (
    Cpu,
    Disk,
    Facts,
    GpuInfo,
    Memory,
    Network,
    Options,
    Platform,
    PythonEnv,
    Stacks,
    Tools,
    TorchInfo,
)
from llamadoctor.i18n import _
from llamadoctor.probes import gpu as gpu_probe
from llamadoctor.probes import launcher, network, stacks, system, target, torch_deep, torch_files
from llamadoctor.probes.cpu import probe_cpu
from llamadoctor.probes.host_limits import HostLimits, probe_host_limits
from llamadoctor.probes.proc import Run, run
from llamadoctor.probes.stacks import StackRequest

T = TypeVar("T")
FOREVER = 7 * 24 * 3600.0


@dataclass
class _Probe:
    """One probe on a daemon thread: a hung DNS lookup or driver call must not keep the process alive."""

    name: str
    func: Callable[[], Any]
    result: Any = None
    error: Optional[BaseException] = None
    seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> _Probe:
        threading.Thread(target=self._run, name=f"probe-{self.name}", daemon=True).start()
        return self

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self.result = self.func()
        except BaseException as exc:
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - started
            self.done.set()

    def get(self, default: T, timeout: float, timings: dict[str, float], errors: dict[str, str]) -> T:
        if not self.done.wait(timeout):
            errors[self.name] = f"timed out after {timeout:.1f} s"
            timings[self.name] = timeout
            return default
        timings[self.name] = self.seconds
        if self.error is not None:
            if isinstance(self.error, target.TargetError):
                raise self.error
            errors[self.name] = f"{type(self.error).__name__}: {self.error}"
            return default
        return self.result  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Request:
    """What to look at: the target interpreter, the folders, the run the user intends."""

    python: Optional[str] = None
    repo: Path = field(default_factory=Path.cwd)
    model_dirs: Sequence[Path] = ()
    options: Options = field(default_factory=Options)
    search_depth: int = 1  # folder levels under `repo` searched for model folders
    stacks: StackRequest = field(default_factory=StackRequest)


def _python_env(info: Mapping[str, Any], is_doctor: bool) -> PythonEnv:
    prefix = info["prefix"]
    if info.get("conda"):
        kind = "conda"
    elif prefix != info.get("base_prefix"):
        kind = "venv"
    else:
        kind = "system"
    return PythonEnv(
        info["executable"],
        info["version"],
        info["machine"],
        prefix,
        info["scripts"],
        kind,
        is_doctor,
        tuple(info.get("site_packages", ())),
        bool(info.get("externally_managed")),
    )


def _searched(request: Request) -> Any:
    from llamadoctor.probes.files import searched_places

    return searched_places(request.repo, request.search_depth)


def _files(
    request: Request, progress: Optional[Callable[[int, int], None]], cancel: threading.Event
) -> tuple[Any, tuple[Any, ...]]:
    from llamadoctor.probes.files import gather_files

    return gather_files(
        request.repo,
        request.model_dirs,
        request.options,
        hash_progress=progress,
        search_depth=request.search_depth,
        cancel=cancel,
    )


def gather(
    request: Request = Request(),
    *,
    environ: Mapping[str, str] = os.environ,
    runner: Run = run,
    nvml: Optional[ModuleType] = None,
    timeout: float = 10.0,
    hash_progress: Optional[Callable[[int, int], None]] = None,
) -> Facts:
    """All facts for `request`. Raises target.TargetError if --python is not a usable interpreter.

    Every probe has `timeout` seconds except the file probe, which hashes model files for as long as that
    takes (a progress bar shows it; Ctrl-C stops it).
    """
    cancel = threading.Event()
    try:
        return _gather(request, environ, runner, nvml, timeout, hash_progress, cancel)
    finally:
        # Ctrl-C lands here, in the main thread: the hashing threads stop within one chunk instead of the
        # interpreter waiting at exit for each to finish its file.
        cancel.set()


def _gather(
    request: Request,
    environ: Mapping[str, str],
    runner: Run,
    nvml: Optional[ModuleType],
    timeout: float,
    hash_progress: Optional[Callable[[int, int], None]],
    cancel: threading.Event,
) -> Facts:
    os_name = system.os_name()
    foreign = request.python is not None and not _same_path(request.python, sys.executable)
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}
    env, secrets = system.selected_env(environ)

    def describe() -> dict[str, Any]:
        if foreign:
            return target.describe_interpreter(str(request.python), runner)
        return target.describe()

    probes = {
        p.name: p.start()
        for p in (
            _Probe("python", describe),
            _Probe("platform", lambda: system.probe_platform(runner=runner)),
            _Probe("memory", system.probe_memory),
            _Probe("disk", lambda: system.probe_disk(request.repo)),
            _Probe("tools", lambda: system.probe_tools(environ.get("PATH"), runner=runner)),
            _Probe("files", lambda: _files(request, hash_progress, cancel)),
            _Probe("cpu", lambda: probe_cpu(os_name, runner=runner, env=environ)),
        )
    }
    platform = probes["platform"].get(None, timeout, timings, errors) or Platform(os_name, "unknown")
    probes["gpu"] = _Probe(
        "gpu",
        lambda: gpu_probe.probe_gpus(
            os_name=os_name, hardware_arm64=platform.hardware_arm64, nvml=nvml, runner=runner, root=Path("/")
        ),
    ).start()
    probes["network"] = _Probe("network", lambda: network.probe_network(env, platform.hostname)).start()
    probes["host_limits"] = _Probe(
        "host_limits", lambda: probe_host_limits(wsl=platform.wsl, environ=environ, root=Path("/"))
    ).start()

    info = probes["python"].get(None, max(timeout, 20.0), timings, errors)
    if info is None:
        failed = _("could not describe {python}: {error}")
        error = errors.get("python", _("no answer"))
        raise target.TargetError(failed.format(python=request.python or sys.executable, error=error))
    python = _python_env(info, not foreign)
    probes["stacks"] = _Probe("stacks", lambda: _stacks(request, python, environ, runner)).start()
    libraries = _Probe("libraries", lambda: _libraries(python, request)).start()
    started = time.perf_counter()
    torch = torch_files.torch_from_files(
        info["torch_dir"], os_name=os_name, machine=python.machine, find_error=info.get("torch_find_error")
    )
    if request.options.deep:
        torch = torch_deep.probe_torch_deep(python.executable, torch, runner=runner)
    timings["torch"] = time.perf_counter() - started

    tools = probes["tools"].get(Tools(), timeout, timings, errors)
    started = time.perf_counter()
    own_launcher = launcher.target_launcher(Path(python.scripts_dir), os_name)
    path_launcher = launcher.launcher_on_path(_which("torchrun", environ), os_name)
    timings["launchers"] = time.perf_counter() - started
    repo, models = probes["files"].get((None, ()), FOREVER, timings, errors)
    memory = probes["memory"].get(Memory(0, 0), timeout, timings, errors)
    disk = probes["disk"].get(Disk(str(request.repo), 0, 0), timeout, timings, errors)
    gpus = probes["gpu"].get(GpuInfo(error=errors.get("gpu")), timeout, timings, errors)
    net = probes["network"].get(Network(), timeout, timings, errors)
    host_limits = probes["host_limits"].get(HostLimits(), timeout, timings, errors)
    serving = probes["stacks"].get(Stacks(), timeout, timings, errors)
    libs = _with_tokenizer_files(libraries.get(None, timeout, timings, errors), models)
    cpu = probes["cpu"].get(Cpu(), timeout, timings, errors)
    if "gpu" in errors and gpus.error is None:
        gpus = replace(gpus, error=errors["gpu"])
    return Facts(
        platform=platform,
        python=python,
        torch=torch,
        gpu=gpus,
        memory=memory,
        disk=disk,
        tools=tools,
        env=env,
        secrets_set=secrets,
        torchrun=own_launcher,
        path_torchrun=path_launcher,
        network=net,
        options=request.options,
        repo=repo,
        models=models,
        timings=timings,
        probe_errors=errors,
        searched=_searched(request),
        host_limits=host_limits,
        stacks=serving,
        libraries=libs,
        cpu=cpu,
    )


def model_folder_facts(model_dir: Path, progress: Optional[Callable[[int, int], None]] = None) -> Facts:
    """The doctor's facts about this one folder, gathered as `check --model-dir` does (md5 verified against
    checklist.chk when there is one, remembered for next time). The machine facts are placeholders: the model
    checks never read them."""
    import platform

    from llamadoctor.probes.files import gather_files

    _, models = gather_files(None, [model_dir], hash_progress=progress)
    machine = platform.machine()
    return Facts(
        platform=Platform(system.os_name(), machine), python=PythonEnv(sys.executable, platform.python_version(),
        machine, sys.prefix, ""), torch=TorchInfo(installed=True), gpu=GpuInfo(), memory=Memory(0, 0),
        disk=Disk(str(model_dir), 0, 0), models=tuple(m for m in models if m.source == "given"),
    )  # fmt: skip


def _stacks(request: Request, python: PythonEnv, environ: Mapping[str, str], runner: Run) -> Any:
    from llamadoctor.probes.files import usual_places
    from llamadoctor.probes.gguf import probe_model_files

    folders = [*request.model_dirs, request.repo]
    _, hub_cache = usual_places(Path.home(), environ)
    return stacks.probe_stacks(
        request.stacks,
        python.site_packages,
        environ,
        home=Path.home(),
        hub_cache=hub_cache,
        which=lambda name: _which(name, environ),
        model_files=lambda: probe_model_files(request.stacks.model_files, folders),
        runner=runner,
        windows=system.os_name() == "windows",
    )


def _libraries(python: PythonEnv, request: Request) -> Any:
    from llamadoctor.probes.packages import probe_libraries

    return probe_libraries(python.site_packages, request.repo, ())


def _with_tokenizer_files(libraries: Any, models: Sequence[Any]) -> Any:
    """What the tokenizer files of the folders to run need: a few small reads, once the folders are known."""
    from llamadoctor.files import targets
    from llamadoctor.probes.packages import tokenizer_files_of

    return replace(libraries, hf_tokenizers=tokenizer_files_of(targets(models))) if libraries else None


def _which(name: str, environ: Mapping[str, str]) -> Optional[str]:
    import shutil

    return shutil.which(name, path=environ.get("PATH"))


def _same_path(a: str, b: str) -> bool:
    """The same interpreter *path*. Not samefile: a venv's python is a symlink to its base interpreter, and
    resolving it would diagnose our environment instead of the one asked for."""
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


__all__ = ["Request", "TorchInfo", "gather", "model_folder_facts"]


def tokenizer_facts(path: Path) -> Any:
    """What the doctor makes of a tokenizer file given on its own (`run --tokenizer-path`)."""
    from llamadoctor.probes.sniff import sniff_tokenizer_at

    return sniff_tokenizer_at(path)
