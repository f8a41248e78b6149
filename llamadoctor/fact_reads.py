"""Which facts a check reads, learnt by watching it judge its own examples.

Every check carries example Facts (healthy, broken, not applicable). Run over a recording stand-in for Facts,
each attribute, mapping key and property it touches is noted as a dotted path (`torch.version`,
`libraries.installed.transformers`, `platform.os`). `diff` ranks the facts two reports disagree on by these:
a fact a changed check reads comes before one nothing reads. Declaring the reads by hand would drift from the
code; watching cannot.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from llamadoctor.model import Check


class _Recorder:
    """Stands in for one dataclass inside Facts, noting the path of each field read through it."""

    __slots__ = ("_log", "_path", "_real")

    def __init__(self, real: Any, path: str, log: set[str]) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_log", log)

    def __getattr__(self, name: str) -> Any:
        real, path = object.__getattribute__(self, "_real"), object.__getattribute__(self, "_path")
        log = object.__getattribute__(self, "_log")
        here = f"{path}.{name}" if path else name
        found = getattr(type(real), name, None)
        if isinstance(found, property) and found.fget is not None:
            return found.fget(self)  # a property reads other fields: note those, not the property's name
        if callable(found) and not dataclasses.is_dataclass(found):
            return functools.partial(found, self)  # a method: what it reads is read through us
        value = getattr(real, name)
        return _wrap(value, here, log)

    def __bool__(self) -> bool:
        return bool(object.__getattribute__(self, "_real"))


class _MappingRecorder(Mapping[str, Any]):
    """A mapping fact (env, installed libraries): a key looked up is one fact, a walk over it reads them all."""

    def __init__(self, real: Mapping[str, Any], path: str, log: set[str]) -> None:
        self._real, self._path, self._log = real, path, log

    def __getitem__(self, key: str) -> Any:
        self._log.add(f"{self._path}.{key}")
        return self._real[key]

    def __contains__(self, key: object) -> bool:
        self._log.add(f"{self._path}.{key}")
        return key in self._real

    def get(self, key: str, default: Any = None) -> Any:
        self._log.add(f"{self._path}.{key}")
        return self._real.get(key, default)

    def __iter__(self) -> Any:
        self._log.add(self._path)
        return iter(self._real)

    def __len__(self) -> int:
        self._log.add(self._path)
        return len(self._real)


def _wrap(value: Any, path: str, log: set[str]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _Recorder(value, path, log)
    if isinstance(value, Mapping):
        return _MappingRecorder(value, path, log)
    log.add(path)  # a value read whole: a string, a number, a tuple of folders
    return value


def reads_of(check: Check) -> frozenset[str]:
    """The fact paths `check` reads when judging its examples; empty for a check without examples.

    A check that trips over the stand-in (an isinstance or a dataclasses.replace on Facts) still counts what it
    read until then.
    """
    log: set[str] = set()
    for example in check.examples:
        facts = _Recorder(example.facts, "", log)
        try:
            for requirement in check.requires:
                requirement.holds(facts)  # type: ignore[arg-type]
            for _ in check.func(facts):  # type: ignore[arg-type]
                pass
        except Exception:  # noqa: S112 - see the docstring: a partial record is still a record
            continue
    return frozenset(path for path in log if path)


def reads_by_check(checks: Iterable[Check]) -> dict[str, frozenset[str]]:
    return {check.id: reads_of(check) for check in checks}


def is_read(fact: str, reads: Iterable[str]) -> bool:
    """Whether the flattened fact path `fact` (`gpu.gpus[0].name`) is, or lies inside, one of `reads`."""
    return any(fact == r or fact.startswith(r + ".") or fact.startswith(r + "[") for r in reads)
