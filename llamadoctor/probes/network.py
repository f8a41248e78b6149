"""Name resolution and ports for torch.distributed's rendezvous (MASTER_ADDR, MASTER_PORT, the hostname)."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Mapping
from typing import Callable, Optional

from llamadoctor.facts import Network

Resolve = Callable[[str], tuple[str, ...]]


def resolve(name: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(sorted({str(info[4][0]) for info in infos}))


def local_addresses() -> tuple[str, ...]:
    addresses = {"127.0.0.1", "::1"}
    try:
        import psutil

        for entries in psutil.net_if_addrs().values():
            for entry in entries:
                if entry.family in (socket.AF_INET, socket.AF_INET6):
                    addresses.add(entry.address.split("%")[0])
    except Exception:  # noqa: S110 - loopback alone still lets the checks judge the common case
        pass
    return tuple(sorted(addresses))


def port_in_use(port: int) -> bool:
    """True if a TCP listener already holds the port (what torchrun's TCPStore would collide with)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1), errno.EACCES)
    return False


def probe_network(env: Mapping[str, str], hostname: str, *, resolver: Resolve = resolve) -> Network:
    master_addr = env.get("MASTER_ADDR")
    port: Optional[int] = None
    with contextlib.suppress(ValueError, TypeError):
        port = int(env["MASTER_PORT"]) if "MASTER_PORT" in env else None
    return Network(
        local_addresses=local_addresses(),
        master_addr_resolves_to=resolver(master_addr) if master_addr else None,
        hostname_resolves_to=resolver(hostname) if hostname else (),
        master_port_in_use=port_in_use(port) if port is not None and 0 < port < 65536 else None,
    )
