"""Facts: a frozen snapshot of the machine and the target Python, the only input checks get.

Probes (llamadoctor.probes) fill these; tests build them directly (llamadoctor.testing) for any platform.
Paths are plain strings because facts may describe another OS than the one reading them: join them with
`Facts.path` (posixpath or ntpath chosen by the described OS), never with pathlib.Path.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Optional

from llamadoctor.files import ModelDir, RepoFacts, Searched

# Variables worth showing in a report. Secrets are reduced to "is it set" (see SECRET_ENV).
ENV_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_HOME",
    "USE_LIBUV",
    "GLOO_SOCKET_IFNAME",
    "NCCL_P2P_DISABLE",
    "PYTORCH_ENABLE_MPS_FALLBACK",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TORCH_CUDA_ARCH_LIST",
    "BNB_CUDA_VERSION",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_ENDPOINT",
    "TRANSFORMERS_CACHE",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "VIRTUAL_ENV",
)
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN", "PRESIGNED_URL")


@dataclass(frozen=True)
class Platform:
    os: str  # "linux" | "darwin" | "windows"
    machine: str  # what the doctor's own interpreter reports (x86_64, arm64, AMD64)
    release: str = ""
    hardware_arm64: bool = False  # macOS: the CPU is Apple Silicon, whatever the interpreter is
    wsl: bool = False
    hostname: str = ""
    shell: str = "bash"  # "bash" | "zsh" | "powershell" | "cmd": the syntax manual fixes are printed in
    cpu_count: int = 1


@dataclass(frozen=True)
class PythonEnv:
    """The target interpreter: the one whose environment we diagnose (default: the one running us)."""

    executable: str
    version: str  # "3.11.7"
    machine: str  # the interpreter's architecture: "x86_64" under Rosetta on an arm64 Mac
    prefix: str
    scripts_dir: str  # <prefix>/bin, or <prefix>\Scripts on Windows
    kind: str = "system"  # "conda" | "venv" | "system"
    is_doctor: bool = True  # the target is the interpreter running llamadoctor
    site_packages: tuple[str, ...] = ()
    # PEP 668: pip refuses to install into this Python (a distribution's own, outside any venv)
    externally_managed: bool = False


@dataclass(frozen=True)
class TorchInfo:
    """What torch the target interpreter would import. `source` says how we know it."""

    installed: bool
    version: Optional[str] = None  # "2.3.1+cu121"
    cuda: Optional[str] = None  # CUDA the build targets, "12.1"; None for CPU/ROCm builds
    hip: Optional[str] = None
    location: Optional[str] = None
    nccl: Optional[bool] = None  # torch.distributed can use NCCL
    gloo: Optional[bool] = None
    libuv: Optional[bool] = None  # TCPStore's libuv backend is built in
    mps: Optional[bool] = None  # built with MPS support (macOS arm64)
    arch_list: tuple[str, ...] = ()  # "sm_80", ...; empty when unknown
    arch_list_source: str = ""  # "build table" (fast, inferred) or "torch" (deep, read from torch)
    broken: Optional[str] = None  # why importing it fails (a missing file, an import error line)
    source: str = "files"  # "files" (fast: metadata and installed files) or "import" (--deep)
    # Only from --deep (an import of torch in a subprocess):
    cuda_available: Optional[bool] = None
    device_count: Optional[int] = None
    mps_available: Optional[bool] = None
    matmul_ok: Optional[bool] = None
    matmul_device: Optional[str] = None
    deep_error: Optional[str] = None
    cudnn: Optional[str] = None  # the major version of the cuDNN library shipped inside torch/lib ("9")


@dataclass(frozen=True)
class Cpu:
    """The processor, for the kernels llama.cpp, torch and bitsandbytes pick by its vector extensions."""

    model: str = ""  # "AMD Ryzen 9 7950X 16-Core Processor", "Apple M2 Pro"
    extensions: tuple[str, ...] = ()  # "AVX2", "AVX-512F", "AMX-BF16", "NEON": the vector extensions it has
    source: str = ""  # where they were read: "/proc/cpuinfo", "sysctl", "windows"; empty when unknown


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total: int  # bytes
    memory_free: int
    compute_capability: Optional[tuple[int, int]] = None
    uuid: str = ""


@dataclass(frozen=True)
class GpuInfo:
    gpus: tuple[Gpu, ...] = ()
    driver_version: Optional[str] = None  # "535.104.05"
    driver_cuda: Optional[str] = None  # the highest CUDA this driver supports, "12.2"
    source: str = "none"  # "nvml" | "nvidia-smi" | "none"
    error: Optional[str] = None
    apple_silicon: bool = False  # an Apple GPU usable through MPS


@dataclass(frozen=True)
class Memory:
    ram_total: int
    ram_available: int
    swap_total: int = 0


@dataclass(frozen=True)
class Disk:
    path: str
    total: int
    free: int


@dataclass(frozen=True)
class Launcher:
    """A console-script launcher (torchrun) and the interpreter its first line names."""

    path: str
    kind: str  # "script" (#! file), "conda-script" (Scripts\\torchrun-script.py), "exe" (pip's .exe)
    interpreter: Optional[str]  # None when the launcher names none we could read
    interpreter_exists: bool = False
    line: str = ""  # the #! line as written
    # The whole script, for the fix that rewrites its first line; None for an .exe, or one too large to be a
    # launcher.
    content: Optional[bytes] = None


@dataclass(frozen=True)
class Tools:
    found: Mapping[str, str] = field(default_factory=dict)  # name -> path, for those on PATH
    bash_version: Optional[str] = None  # "3.2.57", "5.2.15"

    def has(self, name: str) -> bool:
        return name in self.found


@dataclass(frozen=True)
class Network:
    """Name resolution and ports for the distributed checks."""

    local_addresses: tuple[str, ...] = ("127.0.0.1", "::1")
    master_addr_resolves_to: Optional[tuple[str, ...]] = None  # None: MASTER_ADDR unset; (): no address
    hostname_resolves_to: tuple[str, ...] = ()
    master_port_in_use: Optional[bool] = None


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line: the run the checks judge."""

    nproc: Optional[int] = None
    max_seq_len: int = 512
    max_batch_size: int = 6
    dtype: Optional[str] = None
    url: Optional[str] = None
    no_hash: bool = False
    deep: bool = False
    now: Optional[float] = None  # the clock (epoch seconds) for checks that judge expiry; None: cannot judge


@dataclass(frozen=True)
class Facts:
    platform: Platform
    python: PythonEnv
    torch: TorchInfo
    gpu: GpuInfo
    memory: Memory
    disk: Disk
    tools: Tools = field(default_factory=Tools)
    env: Mapping[str, str] = field(default_factory=dict)
    secrets_set: tuple[str, ...] = ()
    torchrun: Optional[Launcher] = None  # the target environment's own launcher
    path_torchrun: Optional[Launcher] = None  # the torchrun a shell would run (first on PATH)
    network: Network = field(default_factory=Network)
    options: Options = field(default_factory=Options)
    repo: Optional[RepoFacts] = None
    models: tuple[ModelDir, ...] = ()
    searched: Searched = field(default_factory=Searched)
    timings: Mapping[str, float] = field(default_factory=dict)  # probe name -> seconds
    probe_errors: Mapping[str, str] = field(default_factory=dict)  # probe name -> why it gave no facts
    host_limits: HostLimits = field(default_factory=lambda: HostLimits())
    stacks: Stacks = field(default_factory=lambda: Stacks())
    libraries: Optional[Libraries] = None  # None: the installed packages were not read
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def os(self) -> str:
        return self.platform.os

    @property
    def path(self) -> ModuleType:
        """posixpath or ntpath, for the OS these facts describe."""
        return ntpath if self.platform.os == "windows" else posixpath

    def to_json(self) -> dict[str, Any]:
        from llamadoctor.jsonable import jsonable

        data = jsonable(self)
        assert isinstance(data, dict)
        return data


@dataclass(frozen=True)
class HostLimits:
    """What WSL adds to the machine's own figures: the memory its VM may use, the CUDA driver it borrows.

    Empty outside WSL. Paths are as Linux inside WSL sees them (`/mnt/c/Users/ada/.wslconfig`).
    """

    wslconfig: Optional[str] = None  # the Windows user's .wslconfig, when one was found
    wsl_memory: Optional[int] = None  # its [wsl2] memory= in bytes; None: unset (WSL gives half of Windows' RAM)
    wsl_swap: Optional[int] = None  # its [wsl2] swap= in bytes
    wsl_libcuda: tuple[str, ...] = ()  # libcuda.so* of the Windows driver, in /usr/lib/wsl/lib
    # libcuda.so* elsewhere that the dynamic loader may find first: a Linux driver installed in the distribution,
    # or the CUDA toolkit's stub on LD_LIBRARY_PATH
    other_libcuda: tuple[str, ...] = ()
    ld_library_path: tuple[str, ...] = ()  # LD_LIBRARY_PATH, split


# Serving stacks and the Hugging Face hub: the files and programs people run Llama with besides Meta's code.
@dataclass(frozen=True)
class ModelFile:
    """A GGUF or older GGML-family file, read from its header only."""

    path: str
    format: str  # "gguf" | "ggml" | "ggmf" | "ggjt" | "unknown"
    magic: str = ""  # the first four bytes, hex
    version: Optional[int] = None
    architecture: Optional[str] = None  # general.architecture
    pre_tokenizer: Optional[str] = None  # tokenizer.ggml.pre
    token_count: Optional[int] = None  # entries in tokenizer.ggml.tokens
    vocab_size: Optional[int] = None  # <architecture>.vocab_size, when the header declares one
    embedding_rows: Optional[int] = None  # token_embd.weight's rows: the tokens the weights have
    error: Optional[str] = None  # why the header could not be read to the end


@dataclass(frozen=True)
class OllamaServer:
    """The Ollama server on the loopback address, as its HTTP API answers."""

    address: str = "127.0.0.1:11434"
    running: bool = False
    version: Optional[str] = None
    models: Mapping[str, int] = field(default_factory=dict)  # model name -> bytes on disk
    error: Optional[str] = None  # why it did not answer


@dataclass(frozen=True)
class HubAccess:
    """What the hub said about one repository (only with --online)."""

    repo: str
    gated: Optional[bool] = None
    access: Optional[bool] = None  # the token (or no token) may download it
    error: Optional[str] = None


@dataclass(frozen=True)
class Stacks:
    model_files: tuple[ModelFile, ...] = ()
    packages: Mapping[str, str] = field(default_factory=dict)  # installed in the target: name -> version
    llama_cli_missing: tuple[str, ...] = ()  # modules the installed llama-models CLI imports but lacks
    hub_env: Mapping[str, str] = field(default_factory=dict)  # HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE, HF_ENDPOINT
    hf_repos: tuple[str, ...] = ()  # Hugging Face repositories the user named
    hf_cached: tuple[str, ...] = ()  # of those, the ones with a snapshot in the local hub cache
    hf_login: Optional[str] = None  # where a token was found ("HF_TOKEN", the token file), never its value
    hub: tuple[HubAccess, ...] = ()
    ollama_cli: Optional[str] = None  # the ollama program on PATH
    ollama_cli_version: Optional[str] = None
    ollama: Optional[OllamaServer] = None  # None: not asked (no ollama command)
    cuda_path: Optional[str] = None  # CUDA_PATH: the CUDA toolkit a Windows build would use
    # Windows: Visual Studio's BuildCustomizations folders -> the CUDA .props files in each
    vs_cuda_props: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Requirement:
    """One line of what the repo folder asks pip to install."""

    name: str  # normalised as pip compares names: "sentencepiece", "llama-models"
    specifier: str = ""  # "==0.1.99", ">=2.0"; empty for any release
    source: str = ""  # the file it is written in


@dataclass(frozen=True)
class HfTokenizerFiles:
    """What a Hugging Face folder's tokenizer files ask of the libraries that read them."""

    folder: str
    tokenizer_class: Optional[str] = None  # tokenizer_config.json's "tokenizer_class"
    config_bytes: Optional[bytes] = None  # tokenizer_config.json as read, for the fix that renames the class
    merges: str = ""  # tokenizer.json's BPE merges: "pairs" (written by tokenizers 0.20+), "strings", "" (none)
    has_tokenizer_json: bool = False
    has_tokenizer_model: bool = False


@dataclass(frozen=True)
class Libraries:
    """The target interpreter's installed distributions (read from their metadata, nothing imported), what the
    repo folder requires, and what the model folders' tokenizer files need."""

    installed: Mapping[str, str] = field(default_factory=dict)  # normalised name -> version
    places: tuple[str, ...] = ()  # the site-packages folders read
    requirements: tuple[Requirement, ...] = ()
    hf_tokenizers: tuple[HfTokenizerFiles, ...] = ()
    # What some installed distributions themselves require (transformers: accelerate, protobuf), as their
    # metadata states it for any extra: distribution -> required name -> specifier
    requires: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The native libraries some installed packages ship (bitsandbytes: libbitsandbytes_cuda121.so, ...), by
    # file name; a package absent here was not looked at
    native: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def version(self, name: str) -> Optional[str]:
        return self.installed.get(name)
