"""The translations as the build compiles them, from the .po files as they are now, for tests that read Chinese."""

from __future__ import annotations

from pathlib import Path

LOCALE = Path(__file__).resolve().parents[2] / "llamadoctor" / "locale"


def compile_locale(out: Path) -> Path:
    """`out` as a locale folder holding every catalogue compiled to .mo (the package's own may be stale)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in LOCALE.glob("*/LC_MESSAGES/*.po"):
        target = out / po.relative_to(LOCALE).with_suffix(".mo")
        target.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source, target.open("wb") as mo:
            write_mo(mo, read_po(source))
    return out
