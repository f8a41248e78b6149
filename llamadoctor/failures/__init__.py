"""The catalogue of failures people hit running Llama locally, as data: one module per step (loading has three:
the files, the versions of code and libraries, memory).

`FAILURES` holds them in the order of the afternoon (download, install, convert, load, run, distributed, serve);
`by_id` finds one by its public id.
"""

from __future__ import annotations

from llamadoctor.failures import convert, distributed, download, hub, install, load, memory, run, serve, versions
from llamadoctor.failures.model import Failure, Handling, Hit, Signature, Step, normalise, search

FAILURES: tuple[Failure, ...] = (
    *download.FAILURES,
    *hub.FAILURES,
    *install.FAILURES,
    *convert.FAILURES,
    *load.FAILURES,
    *versions.FAILURES,
    *memory.FAILURES,
    *run.FAILURES,
    *distributed.FAILURES,
    *serve.FAILURES,
)


def by_id() -> dict[str, Failure]:
    return {f.id: f for f in FAILURES}


__all__ = ["FAILURES", "Failure", "Handling", "Hit", "Signature", "Step", "by_id", "normalise", "search"]
