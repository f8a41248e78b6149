"""Failures of the serve step."""

from __future__ import annotations

from llamadoctor.failures.model import Failure

FAILURES: tuple[Failure, ...] = ()
