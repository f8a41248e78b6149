"""Failures while installing what runs Llama: Python and its architecture, torch, CUDA, native libraries."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Handling, Signature, Step

# Words a log uses only on WSL: its kernel's name, its driver folder, the launcher.
_WSL = r"(?i)microsoft-standard|WSL2?\b|/usr/lib/wsl/"

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="mac-x86-python-on-arm",
        step=Step.INSTALL,
        title="An Intel (x86_64) Python and arm64 libraries are mixed on an Apple Silicon Mac",
        signatures=(
            Signature(
                r"incompatible architecture \(have '(?P<have>x86_64|arm64e?)', need '(?P<need>x86_64|arm64e?)'\)"
            ),
            Signature(r"has no wheels with a matching platform tag \(e\.g\., `(?P<tag>macosx_\w+_x86_64)`\)"),
        ),
        cause=(
            "A native library built for `{have}` was loaded into a Python running as `{need}`: on an Apple"
            " Silicon Mac an Intel Python (Homebrew under /usr/local, an old Anaconda, a terminal opened with"
            " Rosetta) mixes the two architectures."
        ),
        fix=(
            "Install an arm64 Python (Miniforge for arm64, or Homebrew under /opt/homebrew), recreate the"
            " environment with it and reinstall the packages."
        ),
        commands=('python3 -c "import platform; print(platform.machine())"', 'file "$(command -v python3)"'),
        checks=("python-arch-mismatch",),
        defaults={"have": "x86_64", "need": "arm64"},
        matches=(
            'Traceback (most recent call last):\n  File "<stdin>", line 1, in <module>\nOSError:'
            " dlopen(/Users/ada/miniconda3/lib/python3.10/site-packages/llama_cpp/libllama.dylib, 0x0006): tried:"
            " '/Users/ada/miniconda3/lib/python3.10/site-packages/llama_cpp/libllama.dylib' (mach-o file, but is"
            " an incompatible architecture (have 'x86_64', need 'arm64'))",
            "ImportError: dlopen(/opt/homebrew/lib/python3.11/site-packages/mlx/core.cpython-311-darwin.so, 0x0002):"
            " tried: '...' (mach-o file, but is an incompatible architecture (have 'arm64', need 'x86_64'))",
            "  × No solution found when resolving dependencies:\n  ╰─▶ Because vllm-metal==0.1.0 has no wheels with"
            " a matching platform tag (e.g., `macosx_26_0_x86_64`) and you require vllm-metal==0.1.0, we can"
            " conclude that your requirements are unsatisfiable.",
        ),
        ignores=(
            "Successfully installed torch-2.5.1 numpy-2.1.3\n>>> import platform; platform.machine()\n'arm64'",
            "OSError: dlopen(/usr/local/lib/libomp.dylib, 0x0001): tried: '/usr/local/lib/libomp.dylib' (no such file)",
        ),
    ),
    Failure(
        id="env-wrong-interpreter",
        step=Step.INSTALL,
        title="The packages were installed into another Python than the one running the code",
        signatures=(
            Signature(
                r"ModuleNotFoundError: No module named"
                r" '(?P<module>fairscale|fire|llama|sentencepiece|tiktoken|blobfile|termcolor)'"
            ),
        ),
        cause=(
            "Python could not import `{module}`: the packages were most likely installed into another environment"
            " than the one whose `torchrun` or `python` ran the code (a system Python, conda's base, another venv)."
        ),
        fix=(
            "Install and run with the same interpreter: `python -m pip` instead of `pip`, and"
            " `python -m torch.distributed.run` instead of `torchrun`, after activating the environment."
        ),
        commands=("command -v python pip torchrun", "python -m pip install -e ."),
        windows_commands=("Get-Command python, pip, torchrun", "python -m pip install -e ."),
        checks=("torchrun-wrong-interpreter", "meta-requirements-missing"),
        fixes=("install-missing-packages",),
        matches=(
            "$ pip install fairscale\nRequirement already satisfied: fairscale in"
            " /Users/ada/.pyenv/versions/3.11.4/lib/python3.11/site-packages (0.4.13)\n"
            "$ torchrun --nproc_per_node 1 example_text_completion.py --ckpt_dir llama-2-7b/\nTraceback (most"
            ' recent call last):\n  File "/Users/ada/llama/example_text_completion.py", line 4, in <module>\n'
            '    import fire\n  File "/Users/ada/llama/llama/__init__.py", line 4, in <module>\n'
            "    from .generation import Llama\nModuleNotFoundError: No module named 'fairscale'",
            "[rank0]: ModuleNotFoundError: No module named 'llama'",
        ),
        ignores=(
            "Requirement already satisfied: fairscale in ./.venv/lib/python3.11/site-packages (0.4.13)\n"
            "Successfully installed llama-0.0.1",
            "ModuleNotFoundError: No module named 'llama_models.cli.model'",
        ),
    ),
    Failure(
        id="install-sentencepiece-build",
        step=Step.INSTALL,
        title="sentencepiece has no wheel for this Python and building it failed",
        signatures=(
            Signature(r"Failed to build '?sentencepiece'?\b"),
            Signature(r"Failed building wheel for sentencepiece\b"),
            Signature(r"Could not build wheels for sentencepiece\b"),
            Signature(r"Compatibility with CMake < 3\.5 has been removed from CMake", near=r"sentencepiece"),
        ),
        cause=(
            "pip found no ready-made sentencepiece wheel for this Python (old pins such as 0.1.99 have none for"
            " Python 3.12 and newer) and building it from source failed."
        ),
        fix=(
            "Install sentencepiece 0.2.0 or newer, which has wheels for current Pythons, or use Python 3.10 or"
            " 3.11; when CMake 4 refuses the old source, setting CMAKE_POLICY_VERSION_MINIMUM=3.5 lets it build."
        ),
        commands=("python -m pip install 'sentencepiece>=0.2.0'",),
        windows_commands=('python -m pip install "sentencepiece>=0.2.0"',),
        checks=("no-wheel-for-python",),
        matches=(
            "Collecting sentencepiece==0.1.99\n  Downloading sentencepiece-0.1.99.tar.gz (2.6 MB)\n"
            "  Installing build dependencies ... done\n  Getting requirements to build wheel ... error\n"
            "  error: subprocess-exited-with-error\n\n  × Getting requirements to build wheel did not run"
            " successfully.\n  │ exit code: 1\n\nERROR: Failed to build 'sentencepiece' when getting requirements"
            " to build wheel",
            "  CMake Error at CMakeLists.txt:15 (cmake_minimum_required):\n    Compatibility with CMake < 3.5 has"
            " been removed from CMake.\n  error: subprocess-exited-with-error\n  Building wheel for sentencepiece"
            " (pyproject.toml) ... error\n  ERROR: Failed building wheel for sentencepiece",
        ),
        ignores=(
            "Collecting sentencepiece\n  Downloading sentencepiece-0.2.0-cp312-cp312-win_amd64.whl (991 kB)\n"
            "Successfully installed sentencepiece-0.2.0",
            "ERROR: Failed building wheel for llama-cpp-python\nFailed to build llama-cpp-python",
        ),
    ),
    Failure(
        id="install-no-torch-wheel",
        step=Step.INSTALL,
        title="pip finds no torch wheel for this Python",
        signatures=(
            Signature(r"No matching distribution found for (?P<package>torch(?:vision|audio)?)\b"),
            Signature(
                r"Could not find a version that satisfies the requirement (?P<package>torch(?:vision|audio)?)\b"
                r"[^(]*\(from versions: (?P<versions>[^)]*)\)"
            ),
        ),
        cause=(
            "pip found no {package} build for this Python and platform: each torch release publishes wheels only"
            " for the Python versions current when it came out, so an old pin has none for a new Python."
        ),
        fix=(
            "Use a Python that the pinned torch supports (3.10 to 3.12 for most 2023–2024 pins), or relax the pin"
            " to a torch release that has wheels for this Python."
        ),
        commands=("python --version", "python -m pip index versions torch"),
        checks=("no-wheel-for-python",),
        matches=(
            "Collecting torch==2.3.1\nERROR: Could not find a version that satisfies the requirement torch==2.3.1"
            " (from versions: none)\nERROR: No matching distribution found for torch==2.3.1",
            "ERROR: Could not find a version that satisfies the requirement torch==2.0.1 (from versions: 2.2.0, 2.2.1)",
        ),
        ignores=(
            "Collecting torch==2.5.1\n  Downloading torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl (906.5 MB)\n"
            "Successfully installed torch-2.5.1",
            "ERROR: No matching distribution found for fairscale",
        ),
    ),
    Failure(
        id="torch-cpu-only-build",
        step=Step.INSTALL,
        title="torch was installed without CUDA",
        runner=Handling(
            "--device auto runs on the CPU; --device cuda refuses naming the build", ("device:pick_device",)
        ),
        signatures=(Signature(r"Torch not compiled with CUDA enabled"),),
        cause=(
            "This torch is a CPU-only build, so code that asks for the GPU stops: plain `pip install torch` on"
            " Windows and conda's default package are CPU builds, and macOS has no CUDA at all."
        ),
        fix=(
            "Reinstall torch from PyTorch's index for the CUDA version the NVIDIA driver supports; on a Mac, use"
            " the `mps` device or the CPU instead."
        ),
        commands=(
            'python -c "import torch; print(torch.__version__, torch.version.cuda)"',
            "python -m pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu121",
        ),
        checks=("torch-cpu-only",),
        fixes=("reinstall-torch-cuda",),
        matches=(
            '  File "C:\\Users\\ada\\miniconda3\\lib\\site-packages\\torch\\cuda\\__init__.py", line 239, in'
            ' _lazy_init\n    raise AssertionError("Torch not compiled with CUDA enabled")\n'
            "AssertionError: Torch not compiled with CUDA enabled",
            "$ python run.py --device cuda\nTraceback (most recent call last):\n  File"
            ' "/Users/ada/llama2.c/run.py", line 22, in <module>\n    model.to("cuda")\n  File'
            ' "/Users/ada/.venv/lib/python3.11/site-packages/torch/cuda/__init__.py", line 284, in _lazy_init\n'
            '    raise AssertionError("Torch not compiled with CUDA enabled")',
        ),
        ignores=(
            ">>> torch.cuda.is_available()\nTrue\n>>> torch.version.cuda\n'12.1'",
            "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and"
            " installed a driver from http://www.nvidia.com/Download/index.aspx",
        ),
    ),
    Failure(
        id="driver-too-old",
        step=Step.INSTALL,
        title="The NVIDIA driver is older than the CUDA the program was built with",
        signatures=(
            Signature(r"^(?!.*UserWarning).*The NVIDIA driver on your system is too old \(found version \d+\)"),
            Signature(r"UserWarning: CUDA initialization: The NVIDIA driver on your system is too old", warning=True),
            Signature(r"CUDA driver version is insufficient for CUDA runtime version"),
            Signature(r"your nvidia driver is too old or missing", warning=True),
            Signature(r"the provided PTX was compiled with an unsupported toolchain"),
        ),
        cause=(
            "The NVIDIA driver supports an older CUDA than the one torch (or llama.cpp, Ollama) was built with,"
            " so CUDA cannot start."
        ),
        fix=(
            "Update the NVIDIA driver (on WSL, the Windows driver), or install a build made for the CUDA version"
            " `nvidia-smi` reports."
        ),
        commands=("nvidia-smi", 'python -c "import torch; print(torch.version.cuda)"'),
        checks=("cuda-driver-too-old",),
        fixes=("reinstall-torch-cuda",),
        matches=(
            "RuntimeError: The NVIDIA driver on your system is too old (found version 11040). Please update your"
            " GPU driver by downloading and installing a new version from the URL:"
            " http://www.nvidia.com/Download/index.aspx Alternatively, go to: https://pytorch.org to install a"
            " PyTorch version that has been compiled with your version of the CUDA driver.",
            "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py:138: UserWarning: CUDA initialization:"
            " The NVIDIA driver on your system is too old (found version 11000). Please update your GPU driver",
            "CUDA error 35 at /tmp/pip-install/vendor/llama.cpp/ggml-cuda.cu:493: CUDA driver version is"
            " insufficient for CUDA runtime version",
            'time=2024-08-30T10:00:00.000+02:00 level=WARN source=gpu.go:224 msg="your nvidia driver is too old or'
            ' missing.  If you have a CUDA GPU please upgrade to run ollama"',
        ),
        ignores=(
            "| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |",
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 86.00 MiB.",
        ),
    ),
    Failure(
        id="wsl-libcuda",
        step=Step.INSTALL,
        title="WSL cannot find the CUDA driver library that Windows provides",
        signatures=(
            Signature(r"libcuda\.so(?:\.1)?: cannot open shared object file: No such file or directory", near=_WSL),
            Signature(r"libcuda\.so(?:\.1)?: cannot open shared object file: No such file or directory", weak=True),
            Signature(r"Unexpected error from cudaGetDeviceCount\(\)", near=_WSL),
        ),
        cause=(
            "In WSL the CUDA driver library comes from Windows, in /usr/lib/wsl/lib: it was not found there, or a"
            " Linux NVIDIA driver installed inside the distribution shadows it."
        ),
        fix=(
            "Put /usr/lib/wsl/lib first on the library path; remove any Linux NVIDIA driver from the distribution"
            " and update the driver in Windows instead."
        ),
        commands=("ls -l /usr/lib/wsl/lib/libcuda.so*", "export LD_LIBRARY_PATH=/usr/lib/wsl/lib:$LD_LIBRARY_PATH"),
        checks=("wsl-libcuda-unusable",),
        matches=(
            "$ uname -r\n5.15.133.1-microsoft-standard-WSL2\n$ python -c 'import bitsandbytes'\n"
            "OSError: libcuda.so: cannot open shared object file: No such file or directory",
            "UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda"
            " functions before calling NumCudaDevices() that might have already set an error? Error 2: out of"
            " memory\n$ ls /usr/lib/wsl/lib\nlibcuda.so  libcuda.so.1  libd3d12.so",
        ),
        ignores=(
            "/sbin/ldconfig.real: /usr/lib/wsl/lib/libcuda.so.1 is not a symbolic link\n"
            ">>> torch.cuda.is_available()\nTrue",
        ),
    ),
    Failure(
        id="bnb-no-gpu-windows",
        step=Step.INSTALL,
        title="bitsandbytes loaded its CPU-only library, so 8-bit and 4-bit loading cannot use the GPU",
        signatures=(
            Signature(r"The installed version of bitsandbytes was compiled without GPU support", warning=True),
            Signature(r"function 'cadam32bit_grad_fp32' not found"),
            Signature(r"CUDA Setup failed despite GPU being available"),
            Signature(r"CUDA SETUP: Required library version not found: (?P<library>libbitsandbytes_\w+\.so)"),
            Signature(
                r"Could not find the bitsandbytes CUDA binary at \S*?(?P<library>libbitsandbytes_\w+\.(?:so|dll))"
            ),
        ),
        cause=(
            "bitsandbytes fell back to its CPU-only library: releases before Windows CUDA builds existed had"
            " none for Windows, and on Linux it did not find the CUDA runtime its library was built for."
        ),
        fix=(
            "Upgrade bitsandbytes (current releases ship CUDA builds for Windows and Linux); `python -m"
            " bitsandbytes` shows which library it loads and why. A GGUF quantization with llama.cpp or Ollama"
            " avoids it altogether."
        ),
        commands=("python -m pip install -U bitsandbytes", "python -m bitsandbytes"),
        checks=("bnb-cpu-only",),
        matches=(
            "C:\\Users\\ada\\venv\\lib\\site-packages\\bitsandbytes\\cextension.py:34: UserWarning: The installed"
            " version of bitsandbytes was compiled without GPU support. 8-bit optimizers, 8-bit multiplication,"
            ' and GPU quantization are unavailable.\n  warn("The installed version of bitsandbytes was compiled'
            " without GPU support. \"\nAttributeError: function 'cadam32bit_grad_fp32' not found",
            "RuntimeError:\n        CUDA Setup failed despite GPU being available. Please run the following"
            " command to get more information:\n\n        python -m bitsandbytes",
            "CUDA SETUP: Required library version not found: libbitsandbytes_cuda121_nocublaslt.so. Maybe you need"
            " to compile it from source?",
            "WARNING:bitsandbytes.cextension:Could not find the bitsandbytes CUDA binary at PosixPath('/home/ada/.venv"
            "/lib/python3.12/site-packages/bitsandbytes/libbitsandbytes_cuda128.so')\nWARNING:bitsandbytes.cextension"
            ":The installed version of bitsandbytes was compiled without GPU support. 8-bit optimizers, 8-bit"
            " multiplication, and GPU quantization are unavailable.",
        ),
        ignores=(
            "Loading checkpoint shards: 100%|██████████| 2/2 [00:05<00:00,  2.71s/it]\n"
            "model.get_memory_footprint() = 3.87 GB (load_in_4bit)",
        ),
    ),
    Failure(
        id="llamacpp-win-cuda-build",
        step=Step.INSTALL,
        title="Building llama.cpp with CUDA on Windows: CMake finds no CUDA toolset",
        signatures=(Signature(r"No CUDA toolset found\."),),
        cause=(
            "CMake found the CUDA Toolkit but not its Visual Studio integration in the Visual Studio it chose:"
            " CUDA was installed before Visual Studio, or into another edition (Build Tools or the full IDE)."
        ),
        fix=(
            'Reinstall the CUDA Toolkit with its "Visual Studio Integration" component after Visual Studio, or'
            " copy the files of `extras\\visual_studio_integration\\MSBuildExtensions` into Visual Studio's"
            " `MSBuild\\Microsoft\\VC\\v170\\BuildCustomizations`; or install a prebuilt CUDA build instead."
        ),
        windows_commands=(
            'Get-ChildItem "$env:CUDA_PATH\\extras\\visual_studio_integration\\MSBuildExtensions"',
            'Get-ChildItem "C:\\Program Files*\\Microsoft Visual Studio\\*\\*\\MSBuild\\Microsoft\\VC\\*'
            '\\BuildCustomizations"',
        ),
        checks=("llamacpp-cuda-toolset-missing",),
        matches=(
            "  -- CUDA Toolkit found\n  CMake Error at C:/Program Files/CMake/share/cmake-3.19/Modules/"
            "CMakeDetermineCompilerId.cmake:412 (message):\n    No CUDA toolset found.\n  Call Stack (most recent"
            " call first):",
            'PS C:\\Users\\ada> $env:CMAKE_ARGS="-DGGML_CUDA=on"; pip install llama-cpp-python --no-cache-dir\n'
            "  *** Configuring CMake...\n  -- Found CUDAToolkit: C:/Program Files/NVIDIA GPU Computing"
            ' Toolkit/CUDA/v12.6/include (found version "12.6.20")\n  CMake Error at C:/Program'
            " Files/CMake/share/cmake-3.30/Modules/CMakeDetermineCompilerId.cmake:614 (message):\n"
            "    No CUDA toolset found.\n  *** CMake configuration failed",
        ),
        ignores=(
            "-- Found CUDAToolkit: C:/Program Files/NVIDIA GPU Computing Toolkit/CUDA/v12.4/include (found version"
            ' "12.4.131")\n-- CUDA found\n-- Using CUDA architectures: 52;61;70;75\n-- Build files have been'
            " written to: C:/Users/ada/llama.cpp/build",
        ),
    ),
)
