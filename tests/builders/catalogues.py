"""The translations compiled as the build compiles them, from the .po files of the working tree as they are now."""

from __future__ import annotations

from pathlib import Path

LOCALE = Path(__file__).resolve().parents[2] / "llamadoctor" / "locale"


def compile_catalogues(out: Path) -> Path:
    """Every language's catalogue compiled to `.mo` under `out`, laid out as `llamadoctor/locale` is."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in LOCALE.glob("*/LC_MESSAGES/*.po"):
        target = out / po.relative_to(LOCALE)
        target.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source, target.with_suffix(".mo").open("wb") as mo:
            write_mo(mo, read_po(source))
    return out
