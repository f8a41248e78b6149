"""Build llama.cpp from the llama-cpp-python source distribution, as a benchmark peer.

Nothing here is vendored or committed: the sdist is downloaded with pip into a cache folder outside the
repository, unpacked there, and only the two programs the benchmarks need are built (`llama-bench`,
`llama-quantize`). Running it again reuses what is already built.

    python benchmarks/peers/llama_cpp.py            # build (minutes on 2 cores) and print the paths
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("LLAMADOCTOR_BENCH_CACHE", Path.home() / ".cache" / "llamadoctor-bench"))
TARGETS = ("llama-bench", "llama-quantize")


@dataclass(frozen=True)
class LlamaCpp:
    source: Path  # vendor/llama.cpp inside the unpacked sdist
    bench: Path
    quantize: Path

    @property
    def converter(self) -> Path:
        return self.source / "convert_hf_to_gguf.py"

    @property
    def gguf_py(self) -> Path:
        """Folder to put on PYTHONPATH so the converter imports the matching `gguf` package."""
        return self.source / "gguf-py"


def _run(cmd: list[str], timeout: float, cwd: Path | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, timeout=timeout, cwd=cwd)


def _sdist(cache: Path) -> Path:
    found = sorted((cache / "dl").glob("llama_cpp_python-*.tar.gz"))
    if found:
        return found[-1]
    (cache / "dl").mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    _run([*pip, "-d", str(cache / "dl"), "llama-cpp-python"], timeout=900)
    return sorted((cache / "dl").glob("llama_cpp_python-*.tar.gz"))[-1]


def _unpack(sdist: Path, cache: Path) -> Path:
    name = sdist.name[: -len(".tar.gz")]
    root = cache / "src" / name
    source = root / "vendor" / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    (cache / "src").mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(name + "/")]
        tar.extractall(cache / "src", members=members)
    return source


def ensure_built(cache: Path = CACHE, jobs: int = 2) -> LlamaCpp:
    source = _unpack(_sdist(cache), cache)
    build = source / "build"
    tools = LlamaCpp(source, build / "bin" / "llama-bench", build / "bin" / "llama-quantize")
    if tools.bench.is_file() and tools.quantize.is_file():
        return tools
    configure = ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"]
    configure += ["-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DBUILD_SHARED_LIBS=OFF"]
    _run(configure, timeout=600)
    targets = [arg for t in TARGETS for arg in ("--target", t)]
    _run(["cmake", "--build", str(build), "--config", "Release", "--parallel", str(jobs), *targets], timeout=5400)
    return tools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    tools = ensure_built(args.cache, args.jobs)
    for name in ("source", "bench", "quantize"):
        print(f"{name}: {getattr(tools, name)}")
    print(f"converter: {tools.converter}")


if __name__ == "__main__":
    main()
