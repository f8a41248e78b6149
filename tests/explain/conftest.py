from __future__ import annotations

from pathlib import Path

import pytest

LOGS = Path(__file__).parent / "logs"


@pytest.fixture
def logs() -> Path:
    return LOGS
