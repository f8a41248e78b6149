"""llamadoctor: find and fix what stops Meta's Llama from running on this machine."""

from __future__ import annotations

__version__ = "0.1.0"
