"""Builds the gettext catalogues: each `llamadoctor/locale/*/LC_MESSAGES/*.po` (written by translators, kept in the
repository) is compiled into the `.mo` file that gettext reads, before the package's files are collected, so the
wheel (and an editable install) ships them. Everything else about the build is in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path(__file__).parent / "llamadoctor" / "locale"


def compile_catalogues(locale: Path = LOCALE) -> list[Path]:
    """Compile every .po under `locale` into the .mo beside it; returns the .mo files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(locale.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as target:
            write_mo(target, catalog)
        written.append(mo)
    return written


class BuildPyWithCatalogues(build_py):
    def run(self) -> None:
        compile_catalogues()
        super().run()


setup(cmdclass={"build_py": BuildPyWithCatalogues})
