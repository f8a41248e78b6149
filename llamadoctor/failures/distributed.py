"""Failures of torchrun and torch.distributed: the launcher, the rendezvous, the backend (NCCL or gloo) and the
GPUs each process is given."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Handling, Signature, Step

_CHILD_FAILED = (
    "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: 1) local_rank: 0 (pid: 18764) of binary:"
    " C:\\Users\\ada\\miniconda3\\envs\\llama\\python.exe\n"
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n"
    "============================================================\n"
    "example_chat_completion.py FAILED\n"
)
_WINDOWS_NOISE = (
    "NOTE: Redirects are currently not supported in Windows or MacOs.\n"
    "UserWarning: torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use"
    " torch.set_default_dtype() and torch.set_default_device() as alternatives.\n"
)
_HEALTHY_TORCHRUN = (
    "WARNING:torch.distributed.run:\n"
    "*****************************************\n"
    "Setting OMP_NUM_THREADS environment variable for each process to be 1 in default, to avoid your system being"
    " overloaded, please further tune the variable for optimal performance in your application as needed.\n"
    "*****************************************\n"
    "> initializing model parallel with size 2\n"
    "> initializing ddp with size 1\n"
    "> initializing pipeline with size 1\n"
    "Loaded in 14.27 seconds\n"
)

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="torchrun-failed-to-create-process",
        step=Step.DISTRIBUTED,
        title="torchrun.exe cannot start the Python it was installed for",
        signatures=(Signature(r"^\s*failed to create (?:a )?process\.?\s*$"),),
        cause=(
            "On Windows `torchrun.exe` is a small launcher that starts the `python.exe` written into it when torch"
            " was installed; that Python no longer exists at that path (the environment was moved or renamed, or"
            " its path has spaces)."
        ),
        fix=(
            "Run the same program through the environment's Python instead of the launcher, or recreate the"
            " environment (or reinstall torch in it) so the launcher is written again."
        ),
        commands=("python -m torch.distributed.run --nproc_per_node 1 example_chat_completion.py",),
        checks=("torchrun-launcher-broken",),
        fixes=("rewrite-torchrun-shebang",),
        matches=(
            "(llama) C:\\Users\\ada\\llama>torchrun --nproc_per_node 1 example_chat_completion.py --ckpt_dir"
            " llama-2-7b-chat/ --tokenizer_path tokenizer.model\n"
            "failed to create process.\n",
            "failed to create a process",
        ),
        ignores=(
            _HEALTHY_TORCHRUN,
            "RuntimeError: DataLoader worker (pid 4521) failed to create process group",
        ),
    ),
    Failure(
        id="dist-nccl-not-built",
        step=Step.DISTRIBUTED,
        title="Meta's code asks for NCCL, which this torch does not have",
        runner=Handling("uses gloo where torch has no NCCL", ("distributed:backend_for",)),
        signatures=(Signature(r"Distributed package doesn't have NCCL built in"),),
        cause=(
            'Meta\'s reference code calls `init_process_group("nccl")`, and this torch has no NCCL: it never does'
            " on Windows or macOS, nor in CPU-only builds."
        ),
        fix=(
            "Let the code fall back to the `gloo` backend where NCCL is missing, or run the model another way"
            " (`llamadoctor run`, the Hugging Face format, llama.cpp or Ollama); on Linux with an NVIDIA GPU,"
            " install a CUDA build of torch."
        ),
        commands=("llamadoctor check --repo .", "llamadoctor fix meta-code-hardcodes-nccl --repo . --unsafe"),
        checks=("nccl-unavailable", "meta-code-hardcodes-nccl"),
        fixes=("patch-meta-code-gloo",),
        matches=(
            _WINDOWS_NOISE + '  File "C:\\Users\\ada\\llama\\llama\\generation.py", line 85, in build\n'
            '    torch.distributed.init_process_group("nccl")\n'
            '  File "C:\\Users\\ada\\miniconda3\\envs\\llama\\lib\\site-packages\\torch\\distributed\\'
            'distributed_c10d.py", line 1268, in _new_process_group_helper\n'
            '    raise RuntimeError("Distributed package doesn\'t have NCCL " "built in")\n'
            "RuntimeError: Distributed package doesn't have NCCL built in\n" + _CHILD_FAILED,
        ),
        ignores=(
            _WINDOWS_NOISE + _CHILD_FAILED,
            '    raise RuntimeError("Distributed package doesn\'t have NCCL " "built in")',
        ),
    ),
    Failure(
        id="dist-c10d-hostname",
        step=Step.DISTRIBUTED,
        title="The rendezvous connects to a hostname that does not lead back to this machine",
        signatures=(
            Signature(
                r"client socket has failed to connect to \[(?P<host>[^\]]+)\]:(?P<port>\d+)",
                warning=True,
            ),
            Signature(
                r"client socket has timed out after \d+s while trying to connect to \((?P<host>[^,]+),"
                r" (?P<port>\d+)\)"
            ),
        ),
        cause=(
            "torch.distributed could not reach its rendezvous store at {host}:{port}. On Windows this is usually"
            " the machine's own name resolving, through a hosts-file entry that Docker Desktop or other software"
            " added or a corporate DNS name, to an address that does not lead back to it."
        ),
        fix=(
            "Point the rendezvous at the loopback address: set `MASTER_ADDR=127.0.0.1` and a free `MASTER_PORT`, or"
            " pass `--master_addr 127.0.0.1 --master_port 29500` (or `--standalone`) to torchrun; or remove the"
            " offending hosts-file entry."
        ),
        commands=("export MASTER_ADDR=127.0.0.1 MASTER_PORT={port}",),
        windows_commands=('$env:MASTER_ADDR = "127.0.0.1"; $env:MASTER_PORT = "{port}"',),
        checks=("distributed-env-invalid",),
        fixes=("set-distributed-env",),
        matches=(
            _WINDOWS_NOISE + "[W ..\\torch\\csrc\\distributed\\c10d\\socket.cpp:601] [c10d] The client socket has"
            " failed to connect to [kubernetes.docker.internal]:29500 (system error: 10049 - The requested address"
            " is not valid in its context.).\n",
            "[W socket.cpp:663] [c10d] The client socket has failed to connect to [IN31GFRRL143ZWD.ap.wkglobal.com]"
            ":29500 (system error: 10049 - unknown error).",
            "[W C:\\actions-runner\\_work\\pytorch\\pytorch\\builder\\windows\\pytorch\\torch\\csrc\\distributed\\"
            "c10d\\socket.cpp:601] [c10d] The client socket has failed to connect to [WIN-57PDHSNQNT2]:28133"
            " (system error: 10049 - 在其上下文中，该请求的地址无效。).",
            "[E ..\\torch\\csrc\\distributed\\c10d\\socket.cpp:860] [c10d] The client socket has timed out after"
            " 900s while trying to connect to (127.0.0.1, 29500).",
        ),
        ignores=(
            _WINDOWS_NOISE + _HEALTHY_TORCHRUN,
            "[W socket.cpp:464] [c10d] The server socket has failed to bind to [::]:29500 (errno: 98 - Address"
            " already in use).",
        ),
    ),
    Failure(
        id="dist-env-rank-missing",
        step=Step.DISTRIBUTED,
        title="torch.distributed was started without torchrun's environment",
        runner=Handling("runs as one process without torchrun's variables", ("distributed:from_env",)),
        signatures=(
            Signature(
                r"environment variable (?P<variable>RANK|WORLD_SIZE|MASTER_ADDR|MASTER_PORT|LOCAL_RANK) expected,"
                r" but not set"
            ),
            Signature(r"Loading a checkpoint for MP=\d+ but world size is None"),
        ),
        cause=(
            "The script expects the variables torchrun sets for each process, and {variable} was not set: it was"
            " started with plain `python` rather than `torchrun`."
        ),
        fix=(
            "Start it with `torchrun` (or `python -m torch.distributed.run`), or, for a single process, set"
            " `RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500`; do not export RANK"
            " globally in your shell profile."
        ),
        commands=("python -m torch.distributed.run --nproc_per_node 1 example_chat_completion.py",),
        checks=("distributed-env-invalid",),
        fixes=("set-distributed-env",),
        defaults={"variable": "WORLD_SIZE"},
        matches=(
            "(llama) C:\\Users\\ada\\llama>python example_chat_completion.py --ckpt_dir llama-2-7b-chat/"
            " --tokenizer_path tokenizer.model\n"
            '  File "C:\\Users\\ada\\miniconda3\\envs\\llama\\lib\\site-packages\\torch\\distributed\\'
            'rendezvous.py", line 246, in _env_rendezvous_handler\n'
            '    rank = int(_get_env_or_raise("RANK"))\n'
            "ValueError: Error initializing torch.distributed using env:// rendezvous: environment variable RANK"
            " expected, but not set",
            "AssertionError: Loading a checkpoint for MP=1 but world size is None",
        ),
        ignores=(
            _HEALTHY_TORCHRUN,
            "AssertionError: Loading a checkpoint for MP=1 but world size is 2",
        ),
    ),
    Failure(
        id="nproc-exceeds-gpus",
        step=Step.DISTRIBUTED,
        title="More processes than GPUs: a process was given a GPU that does not exist",
        runner=Handling("refuses a rank that has no GPU of its own", ("device:pick_device",)),
        signatures=(Signature(r"CUDA error: invalid device ordinal"),),
        cause=(
            "Meta's code gives each process its own GPU, and this machine (or `CUDA_VISIBLE_DEVICES`) has fewer"
            " GPUs than processes: the model's shard count asks for more GPUs than there are."
        ),
        fix=(
            'Use a model whose shard count fits your GPUs, the Hugging Face format with `device_map="auto"`, a'
            " quantized GGUF, or `llamadoctor run`, which merges the shards in one process. Forcing every process"
            " onto GPU 0 does not work."
        ),
        commands=("nvidia-smi -L",),
        checks=("shards-vs-nproc",),
        matches=(
            '  File "/home/ada/llama/llama/generation.py", line 68, in build\n'
            "    torch.cuda.set_device(local_rank)\n"
            "RuntimeError: CUDA error: invalid device ordinal\n"
            "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below"
            " might be incorrect.",
            "[rank1]: RuntimeError: CUDA error: invalid deviceRuntimeError ordinal: CUDA error: invalid device"
            " ordinal^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        ),
        ignores=(
            _HEALTHY_TORCHRUN,
            "RuntimeError: CUDA error: no kernel image is available for execution on the device",
        ),
    ),
    Failure(
        id="nccl-without-gpu",
        step=Step.DISTRIBUTED,
        title="NCCL was asked for on a machine with no usable GPU",
        runner=Handling("uses gloo unless it runs on CUDA", ("distributed:backend_for",)),
        signatures=(Signature(r"ProcessGroupNCCL is only supported with GPUs, no GPUs found!"),),
        cause=(
            "The code uses the NCCL backend, which needs CUDA GPUs, and torch sees none here (no NVIDIA GPU, no"
            " working driver, or `CUDA_VISIBLE_DEVICES` hides them)."
        ),
        fix=(
            "Meta's reference code needs a CUDA GPU. Without one, run the model on the CPU another way:"
            " `llamadoctor run`, llama.cpp or Ollama, or transformers in float32 or bfloat16."
        ),
        commands=("nvidia-smi", 'python -c "import torch; print(torch.cuda.is_available())"'),
        checks=("nccl-without-usable-gpu",),
        matches=(
            '  File "/home/ada/.venv/lib/python3.10/site-packages/torch/distributed/distributed_c10d.py", line'
            " 1013, in _new_process_group_helper\n"
            "    backend_class = ProcessGroupNCCL(backend_prefix_store, group_rank, group_size, pg_options)\n"
            "RuntimeError: ProcessGroupNCCL is only supported with GPUs, no GPUs found!",
            "ValueError: ProcessGroupNCCL is only supported with GPUs, no GPUs found!",
        ),
        ignores=(
            _HEALTHY_TORCHRUN,
            "RuntimeError: Distributed package doesn't have NCCL built in",
        ),
    ),
    Failure(
        id="win-libuv",
        step=Step.DISTRIBUTED,
        title="torchrun on Windows asks for libuv, which Windows builds of torch lack",
        signatures=(Signature(r"use_libuv was requested but PyTorch was buil[dt] without libuv support"),),
        cause=(
            "Since torch 2.4 the rendezvous store uses libuv by default, but torch for Windows is built without"
            " it, so torchrun stops before starting any process."
        ),
        fix=(
            "Turn libuv off for the store: set `USE_LIBUV=0` in the shell that runs torchrun (or add `use_libuv=0`"
            " to an explicit `init_method` URL); torch 2.3 does not have the problem."
        ),
        commands=("export USE_LIBUV=0",),
        windows_commands=('$env:USE_LIBUV = "0"',),
        checks=("windows-libuv",),
        fixes=("set-distributed-env",),
        matches=(
            _WINDOWS_NOISE + '  File "C:\\Users\\ada\\.venv\\lib\\site-packages\\torch\\distributed\\elastic\\'
            'rendezvous\\static_tcp_rendezvous.py", line 55, in next_rendezvous\n'
            "    self._store = TCPStore(  # type: ignore[call-arg]\n"
            "RuntimeError: use_libuv was requested but PyTorch was build without libuv support",
            '  File "C:\\Users\\ada\\fluxgym\\env\\lib\\site-packages\\torch\\distributed\\rendezvous.py", line'
            " 189, in _create_c10d_store\n"
            "    return TCPStore(\n"
            "RuntimeError: use_libuv was requested but PyTorch was build without libuv support",
        ),
        ignores=(
            _WINDOWS_NOISE + _HEALTHY_TORCHRUN,
            "RuntimeError: makeDeviceForHostname(): unsupported gloo device",
        ),
    ),
    Failure(
        id="win-gloo-device",
        step=Step.DISTRIBUTED,
        title="gloo finds no usable network device for this machine's name",
        runner=Handling("binds gloo to the loopback interface on one machine", ("distributed:gloo_loopback_env",)),
        signatures=(Signature(r"makeDeviceForHostname\(\): unsupported gloo device"),),
        cause=(
            "The gloo backend looks up this machine's name and cannot use the address it resolves to (the same"
            " hosts-file and DNS problem that breaks the rendezvous); torch 2.8 on Windows also has this fault."
        ),
        fix=(
            "Set `MASTER_ADDR=127.0.0.1`, a `MASTER_PORT`, and `GLOO_SOCKET_IFNAME` to the loopback interface; if it"
            " persists on Windows with torch 2.8, install torch 2.7.1."
        ),
        commands=("export MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 GLOO_SOCKET_IFNAME=lo",),
        windows_commands=('$env:MASTER_ADDR = "127.0.0.1"; $env:MASTER_PORT = "29500"',),
        checks=("distributed-env-invalid",),
        fixes=("set-distributed-env",),
        matches=(
            '  File "C:\\Users\\ada\\.venv\\lib\\site-packages\\torch\\distributed\\distributed_c10d.py", line'
            " 1858, in _new_process_group_helper\n"
            "    backend_class = ProcessGroupGloo(\n"
            "RuntimeError: makeDeviceForHostname(): unsupported gloo device",
            "[rank0]: RuntimeError: makeDeviceForHostname(): unsupported gloo device\n"
            "E0917 21:04:33.198000 9672 Lib\\site-packages\\torch\\distributed\\elastic\\multiprocessing\\api.py:"
            "874] failed (exitcode: 1) local_rank: 0 (pid: 9388) of binary: C:\\Users\\ada\\.venv\\Scripts\\python.exe",
        ),
        ignores=(
            _WINDOWS_NOISE + _HEALTHY_TORCHRUN,
            "RuntimeError: use_libuv was requested but PyTorch was build without libuv support",
        ),
    ),
    Failure(
        id="nccl-p2p-hang",
        step=Step.DISTRIBUTED,
        title="NCCL hangs or fails between consumer GPUs without peer-to-peer access",
        signatures=(
            Signature(r"NCCL error in: \S+ProcessGroupNCCL\.cpp:\d+, unhandled cuda error"),
            Signature(r"ncclUnhandledCudaError: Call to CUDA function failed"),
            Signature(
                r"Watchdog caught collective operation timeout: WorkNCCL\(SeqNum=\d+, OpType=(?P<op>\w+)",
                weak=True,
            ),
        ),
        cause=(
            "The GPUs exchange data directly (peer-to-peer), which many consumer cards and PCIe layouts do not"
            " support properly: NCCL then hangs at the first all-reduce, fails, or silently copies wrong data."
        ),
        fix=(
            "Disable peer-to-peer transfers with `NCCL_P2P_DISABLE=1` (and `NCCL_IB_DISABLE=1` on desktops);"
            " `nvidia-smi topo -m` shows how the GPUs are connected."
        ),
        commands=("export NCCL_P2P_DISABLE=1 NCCL_IB_DISABLE=1", "nvidia-smi topo -m"),
        checks=("nccl-p2p-consumer-gpus",),
        fixes=("set-distributed-env",),
        matches=(
            "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp"
            ":1333, unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.18.1\n"
            "ncclUnhandledCudaError: Call to CUDA function failed.\n"
            "Last error:\n"
            "Cuda failure 'peer access is not supported between these two devices'",
            "[rank1]:[E ProcessGroupNCCL.cpp:563] [Rank 1] Watchdog caught collective operation timeout:"
            " WorkNCCL(SeqNum=1, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600031"
            " milliseconds before timing out.",
        ),
        ignores=(
            _HEALTHY_TORCHRUN,
            "NCCL INFO Channel 00/02 :    0   1\n"
            "NCCL INFO Connected all rings\n"
            "NCCL INFO comm 0x55d8c0 rank 0 nranks 2 cudaDev 0 busId 1000 - Init COMPLETE",
        ),
    ),
)
