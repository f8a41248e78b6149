from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

# A suite started in the background by a non-interactive shell (CI's, say) inherits an ignored SIGINT, and so
# would every command a test starts: the Ctrl-C tests could never interrupt them. A Python handler here is
# reset to the default in each child at exec, where Python then installs its own.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test writes backups, journals or caches into the real user's state folder."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("LLAMADOCTOR_STATE_DIR", str(state))
    return state


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogues compiled as the build compiles them, from the .po files as they are now, once a session
    (the package's own .mo is compiled at install and may be stale in a working tree)."""
    from builders.catalogues import compile_catalogues

    return compile_catalogues(tmp_path_factory.mktemp("locale"))


@pytest.fixture
def catalogues(compiled: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The translations read from `compiled` for this test, and English again after it."""
    from llamadoctor import i18n

    monkeypatch.setattr(i18n, "LOCALE_DIR", compiled)
    yield compiled
    i18n.activate(i18n.ENGLISH)
