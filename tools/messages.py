"""The translators' tool: what llamadoctor says to people, and which of it each language's catalogue still lacks.

    python tools/messages.py update   # add new messages to every catalogue (untranslated), drop vanished ones
    python tools/messages.py check    # list messages without a translation, or whose placeholders differ

Messages come from four places: strings marked with `_()`, `N_()` or `ngettext()` in the package (found by
Babel, with `# TRANSLATORS:` comments kept for the translator), the help texts of every command and option, read
from the command tree as `--help` shows it, the summaries and documentation of the checks and fixes, read from
the registry as `llamadoctor list` shows them, and the texts of the catalogue of known failures, read from its
data, paragraph by paragraph (the last three stay plain English strings where they are declared).
Needs Babel (a dev dependency). The tests run `check` too: a message without a translation fails them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "llamadoctor" / "locale"
SOURCES = ("llamadoctor", "checks", "fixes", "runner")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
# What must survive translation unchanged (as a set: order may change): `{name}` placeholders, rich markup tags,
# `code` spans (commands, paths, ids) and the “quoted” error texts of other tools, which users search for.
_PLACEHOLDER = re.compile(
    r"\{[^{}]*\}|\[/?(?:bold|dim|italic|underline|red|green|yellow|blue|magenta|cyan)?\]|`[^`]+`|“[^”]*”"
)


def marked() -> Iterator[tuple[str | tuple[str, str], list[str], str]]:
    """(message, translator comments, where) for every marked string in the package's source."""
    from babel.messages.extract import extract_from_dir

    for source in SOURCES:
        for filename, lineno, message, comments, _context in extract_from_dir(
            ROOT / source, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
        ):
            yield message, comments, f"{source}/{filename}:{lineno}"


def help_texts() -> Iterator[tuple[str, list[str], str]]:
    """(text, [], command path) for every help text of the command tree, as written in English."""
    import typer.main

    from llamadoctor.cli import app

    def walk(command: object, path: str) -> Iterator[tuple[str, list[str], str]]:
        for owner in [command, *getattr(command, "params", ())]:
            for field in ("help", "short_help", "epilog"):
                text = getattr(owner, field, None)
                if isinstance(text, str) and text:
                    yield text, [], path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    yield from walk(typer.main.get_command(app), "llamadoctor")


def failure_texts() -> Iterator[tuple[str, list[str], str]]:
    """(paragraph, [what it is], where) for every text of every known failure that people read.

    Signatures and commands are not among them: the signatures match English logs, the commands are typed. The
    defaults of placeholders are, where they are words (`the GPU`) rather than names (`download.sh`)."""
    from llamadoctor.failures import FAILURES
    from llamadoctor.failures.model import in_words, paragraphs

    for failure in FAILURES:
        fields = {
            "title": failure.title,
            "cause": failure.cause,
            "fix": failure.fix,
            "why only a log shows it": failure.log_only,
            "what llamadoctor run does about it": failure.runner.does if failure.runner else "",
        }
        for name, default in failure.defaults.items():
            if in_words(default):
                fields[f"what {{{name}}} says when the log does not tell"] = default
        for field, text in fields.items():
            for paragraph in paragraphs(text):
                yield paragraph, [f"failure {failure.id}: {field}"], "llamadoctor/failures"


def registry_texts() -> Iterator[tuple[str, list[str], str]]:
    """(text, [], page) for every check's and fix's summary and each paragraph of its documentation.

    They stay plain English where the checks and fixes are declared; `llamadoctor list` translates them
    paragraph by paragraph, split by the same function as here.
    """
    from llamadoctor.catalogue import doc_paragraphs, fix_doc
    from llamadoctor.registry import FIXES, all_checks

    for spec in all_checks():
        for text in [spec.summary, *doc_paragraphs(spec.doc)]:
            yield text, [], f"llamadoctor list {spec.id}"
    for fix in FIXES.values():
        for text in [fix.summary, *doc_paragraphs(fix_doc(fix))]:
            yield text, [], f"llamadoctor list {fix.id}"


def template():  # type: ignore[no-untyped-def]
    """Every message, as a Babel catalogue with no translations."""
    from babel.messages.catalog import Catalog

    catalog = Catalog(project="llamadoctor", charset="utf-8")
    for message, comments, where in [*marked(), *help_texts(), *registry_texts(), *failure_texts()]:
        path, _, line = where.rpartition(":") if ":" in where else (where, "", "0")
        catalog.add(message, locations=[(path, int(line) if line.isdigit() else 0)], auto_comments=comments)
    return catalog


def catalogues() -> list[Path]:
    return sorted(LOCALE.glob("*/LC_MESSAGES/llamadoctor.po"))


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def problems(po: Path, expected=None) -> list[str]:  # type: ignore[no-untyped-def]
    """What is wrong with one language's catalogue: missing, untranslated, or placeholders that differ."""
    from babel.messages.pofile import read_po

    expected = expected if expected is not None else template()
    with po.open("rb") as source:
        catalog = read_po(source)
    found = []
    for message in expected:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        have = catalog.get(message.id)
        strings = () if have is None else (have.string if isinstance(have.string, tuple) else (have.string,))
        if have is None or not all(strings):
            found.append(f"untranslated: {ids[0]!r}")
            continue
        for text in strings:
            if placeholders(text) != placeholders(ids[-1]):
                found.append(f"placeholders differ: {ids[0]!r} -> {text!r}")
    return found


def update() -> None:
    from babel.messages.pofile import read_po, write_po

    expected = template()
    for po in catalogues():
        with po.open("rb") as source:
            catalog = read_po(source)
        catalog.update(expected, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po.open("wb") as target:
            write_po(target, catalog, width=120, sort_output=False, omit_header=False)
        print(f"updated {po.relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    if argv[:1] == ["check"]:
        expected = template()
        bad = [f"{po.parent.parent.name}: {p}" for po in catalogues() for p in problems(po, expected)]
        print("\n".join(bad) or "every message has its translation")
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
