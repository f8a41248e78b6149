"""`check --distributed` on the job's own engine: torch.distributed under torchrun.

Every rank joins torchrun's store (a TCPStore: CPU and TCP only, so it works where NCCL is the problem),
posts a heartbeat and then its facts there; rank 0 waits for each rank until it has answered or has been
silent for the timeout, so a node that never starts is named instead of hanging the job. When every rank
answered, the ranks form a gloo process group (and an NCCL one where every rank has a GPU) for a barrier, the
clock reading and a timed all_reduce. Rank 0 judges and prints; every rank exits with the code it posts.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Callable, Optional

import torch
import torch.distributed as dist

from llamadoctor.doctor import Diagnosis
from llamadoctor.job import Collective, Identity, JobFacts, RankFacts
from llamadoctor.job_rank import gather_rank, identity
from llamadoctor.runner.distributed import gloo_loopback_env

REDUCE_BYTES = 4 << 20
REPEATS = 3
POLL = 0.1


@dataclass(frozen=True)
class Settings:
    timeout: float = 60.0  # seconds a rank may stay silent before it counts as not answering
    hash_shards: bool = False
    nodes: Optional[int] = None  # the nodes the job should have; None: what the launcher was asked for
    launcher: Optional[tuple[str, ...]] = None  # the command line of the torchrun agent that started this rank


def _tcp_store(host: str, port: int, hosts: bool, wait: timedelta) -> Any:
    return dist.TCPStore(host, port, None, hosts, wait, wait_for_workers=False)  # type: ignore[attr-defined]


def _prefix(prefix: str, store: Any) -> Any:
    return dist.PrefixStore(prefix, store)  # type: ignore[attr-defined]


class _Board:
    """The job's TCPStore under a prefix of this run, with a heartbeat thread on its own connection."""

    def __init__(self, env: Mapping[str, str], me: Identity, timeout: float) -> None:
        self.me, self.timeout = me, timeout
        # An elastic job restarts its ranks when a late node arrives, without counting a restart: the world size
        # tells that attempt's keys from the last one's.
        attempt = f"{env.get('TORCHELASTIC_RESTART_COUNT', '0')}/{me.world}"
        run = f"llamadoctor/{env.get('TORCHELASTIC_RUN_ID', 'job')}/{attempt}/"
        host, port = env["MASTER_ADDR"], int(env.get("MASTER_PORT", "29500"))
        # Under torchrun the agent hosts the store at MASTER_PORT; a hand-made launch has rank 0 host it.
        hosts = me.rank == 0 and env.get("TORCHELASTIC_USE_AGENT_STORE", "False") != "True"
        wait = timedelta(seconds=timeout)
        self.store = _prefix(run, _tcp_store(host, port, hosts, wait))
        self._beat_store = _prefix(run, _tcp_store(host, port, False, wait))
        self._stop = threading.Event()
        self._alive_until = float("inf")
        threading.Thread(target=self._beat, name="llamadoctor-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(0.5):
            if time.monotonic() > self._alive_until:
                continue  # stuck: let the silence show
            try:
                self._beat_store.add(f"alive/{self.me.rank}", 1)
            except Exception:  # the store went away with rank 0: the waits below give up on their own
                return

    def busy(self, *_: object) -> None:
        """Gathering is under way: beat for another timeout's worth (hashing calls this as it reads)."""
        self._alive_until = time.monotonic() + self.timeout

    def waiting(self) -> None:
        """Waiting on others, whose own silence bounds the wait: beat until told otherwise."""
        self._alive_until = float("inf")

    def close(self) -> None:
        self._stop.set()

    def has(self, key: str) -> bool:
        return bool(self.store.check([key]))

    def put(self, key: str, value: Any) -> None:
        self.store.set(key, pickle.dumps(value))  # type: ignore[arg-type]  # the store takes bytes too

    def get(self, key: str) -> Any:
        return pickle.loads(self.store.get(key))  # noqa: S301 - written by the job's own ranks

    def _alive(self, rank: int) -> int:
        key = f"alive/{rank}"
        return int(self.store.add(key, 0)) if self.has(key) else -1

    def wait_for(self, keys: Mapping[int, str]) -> list[int]:
        """Wait until each rank's key is posted or the rank has been silent for the timeout; the silent ranks."""
        pending = dict(keys)
        last = {rank: (self._alive(rank), time.monotonic()) for rank in pending}
        while pending:
            for rank, key in list(pending.items()):
                if self.has(key):
                    del pending[rank]
                    continue
                beat, since = last[rank]
                now_beat = self._alive(rank)
                if now_beat != beat:
                    last[rank] = (now_beat, time.monotonic())
                elif time.monotonic() - since > self.timeout:
                    return sorted(pending)
            time.sleep(POLL)
        return []


def _cuda_runtime(me: Identity) -> dict[str, Any]:
    """What the live torch says about NCCL and this rank's GPU."""
    found: dict[str, Any] = {}
    if dist.is_nccl_available():
        found["nccl"] = ".".join(str(p) for p in torch.cuda.nccl.version())  # type: ignore[no-untyped-call]
    if torch.cuda.is_available():
        found["cuda_devices"] = torch.cuda.device_count()
        if me.local_rank < torch.cuda.device_count():
            uuid = getattr(torch.cuda.get_device_properties(me.local_rank), "uuid", None)
            found["cuda_device_uuid"] = f"GPU-{uuid}" if uuid is not None else None
    return found


def _timed_all_reduce(backend: str, group: Any, device: str, timeout: float) -> tuple[Optional[float], str]:
    tensor = torch.ones(REDUCE_BYTES // 4, dtype=torch.float32, device=device)
    best: Optional[float] = None
    for _ in range(REPEATS):
        started = time.perf_counter()
        work = dist.all_reduce(tensor, group=group, async_op=True)
        try:
            work.wait(timeout=timedelta(seconds=timeout))
            if device != "cpu":
                torch.cuda.synchronize()
        except Exception as exc:
            return None, _one_line(exc)
        took = time.perf_counter() - started
        best = took if best is None else min(best, took)
    return best, ""


def _measure(board: _Board, me: Identity, nccl: bool, timeout: float) -> None:
    """Every rank: the barrier, the clock reading, the timed all_reduce(s), each posted to the board."""
    os.environ.update(gloo_loopback_env(os.environ, _interfaces()))
    store = _prefix("pg/", board.store)
    dist.init_process_group("gloo", store=store, rank=me.rank, world_size=me.world, timeout=timedelta(seconds=timeout))
    try:
        dist.barrier()
        board.put(f"clock/{me.rank}", time.time())
        backends: list[tuple[str, Any, str]] = [("gloo", None, "cpu")]
        if nccl:
            torch.cuda.set_device(me.local_rank)
            nccl_group = dist.new_group(backend="nccl", timeout=timedelta(seconds=timeout))
            backends.append(("nccl", nccl_group, f"cuda:{me.local_rank}"))
        for backend, group, device in backends:
            board.put(f"reduce/{backend}/{me.rank}", _timed_all_reduce(backend, group, device, timeout))
    finally:
        dist.destroy_process_group()


def _interfaces() -> dict[str, list[str]]:
    from llamadoctor.runner.distributed import _interfaces as interfaces

    return interfaces()


def _collect(board: _Board, me: Identity, mine: RankFacts, settings: Settings) -> JobFacts:
    """Rank 0: every rank's facts, then the measurements when all of them answered."""
    missing = board.wait_for({r: f"facts/{r}" for r in range(1, me.world)})
    ranks = tuple(mine if r == 0 else board.get(f"facts/{r}") for r in range(me.world) if r not in missing)
    joined, expected = _node_count(settings)
    job = JobFacts(
        me.world, ranks, tuple(missing), timeout=settings.timeout, nodes_joined=joined, nodes_expected=expected
    )
    # NCCL only where every rank has a GPU of its own and an NCCL build: decided here, once, for all ranks.
    nccl = all(r.runtime.cuda_device_uuid and r.runtime.nccl for r in ranks)
    board.put("plan", "stop" if missing else ("gloo+nccl" if nccl else "gloo"))
    if missing:
        return job
    try:
        _measure(board, me, nccl, settings.timeout)
    except Exception as exc:  # a rank that died since it answered: the group cannot form, the report still can
        failed = Collective("gloo", REDUCE_BYTES, dict.fromkeys(range(me.world)), _one_line(exc), settings.timeout)
        return replace(job, collectives=(failed,))
    silent = board.wait_for({r: f"clock/{r}" for r in range(me.world)})
    clocks = {r: board.get(f"clock/{r}") for r in range(me.world) if r not in silent}
    collectives = []
    for backend in ("gloo", "nccl"):
        if not board.has(f"reduce/{backend}/0"):
            continue
        board.wait_for({r: f"reduce/{backend}/{r}" for r in range(me.world)})
        seconds, errors = {}, []
        for r in range(me.world):
            took, error = board.get(f"reduce/{backend}/{r}") if board.has(f"reduce/{backend}/{r}") else (None, "")
            seconds[r] = took
            errors += [error] if error else []
        collectives.append(Collective(backend, REDUCE_BYTES, seconds, errors[0] if errors else "", settings.timeout))
    return replace(job, clocks=clocks, collectives=tuple(collectives))


def _node_count(settings: Settings, env: Mapping[str, str] = os.environ) -> tuple[Optional[int], Optional[int]]:
    """The nodes that joined, and those the job was launched for (check's --nnodes, else torchrun's own)."""
    from llamadoctor.runner.job_launcher import expected_nodes

    joined = env.get("GROUP_WORLD_SIZE", "")
    expected = settings.nodes or expected_nodes(settings.launcher)
    return (int(joined) if joined.isdigit() else None), expected


def run_job(
    diagnosis: Diagnosis, settings: Settings, judge: Callable[[JobFacts], int], env: Mapping[str, str] = os.environ
) -> int:
    """This rank's part of the job; `judge` (rank 0 only) prints the report and returns the exit code."""
    me = identity(env)
    board = _Board(env, me, settings.timeout)
    try:
        board.busy()  # a gathering that stops making progress falls silent after the timeout
        mine = gather_rank(diagnosis, me, hash_shards=settings.hash_shards, env=env, progress=board.busy)
        mine = _with_cuda(mine, me)
        board.waiting()
        if me.rank != 0:
            board.put(f"facts/{me.rank}", mine)
            plan = None if board.wait_for({0: "plan"}) else board.get("plan")
            if plan in ("gloo", "gloo+nccl"):
                with contextlib.suppress(Exception):  # rank 0 reports what did not complete
                    _measure(board, me, plan == "gloo+nccl", settings.timeout)
            return _verdict(board)
        code = judge(_collect(board, me, mine, settings))
        board.put("verdict", code)
        return code
    finally:
        board.close()


def _with_cuda(mine: RankFacts, me: Identity) -> RankFacts:
    try:
        extra = _cuda_runtime(me)
    except Exception:  # a broken CUDA is the checks' business: the rank still reports
        return mine
    return replace(mine, runtime=replace(mine.runtime, **extra)) if extra else mine


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _verdict(board: _Board) -> int:
    """Rank 0's exit code, or 1 when rank 0 fell silent."""
    if board.wait_for({0: "verdict"}):
        return 1
    return int(board.get("verdict"))
