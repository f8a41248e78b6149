from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test writes backups, journals or caches into the real user's state folder."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(state))
    return state
