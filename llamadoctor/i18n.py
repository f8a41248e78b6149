"""The language llamadoctor speaks to people: English, or Simplified Chinese where the user asks for it.

Messages are marked in the source with `_()` (and `ngettext()` where a count changes the words) and looked up in
gettext catalogues: `llamadoctor/locale/<language>/LC_MESSAGES/llamadoctor.po`, written by translators, compiled
to `.mo` when the package is built (setup.py) and shipped in the wheel. What a machine reads stays English
whatever the language: `--json` output, ids, commands, paths, and the error texts of other tools that messages
quote. A message with no translation, or a missing catalogue, shows in English: never an error.

The language is decided once per process, before the command line is built (its help texts are translated
too): `--lang` when given, else the POSIX locale variables in gettext's order, else, on Windows, the user's
display language.
"""

from __future__ import annotations

import gettext
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional

DOMAIN = "llamadoctor"
LOCALE_DIR = Path(__file__).parent / "locale"
ENGLISH = "en"
# The languages a user can ask for, by the code `--lang` takes, with the catalogue folder that holds each.
CATALOGUES = {ENGLISH: "", "zh": "zh_CN"}
LANGUAGE_NAMES = {ENGLISH: "English", "zh": "简体中文"}
# Locale names of Simplified Chinese. Traditional Chinese (zh_TW, zh_HK, zh_Hant) has no catalogue of its own:
# it falls through to the next language the user listed, then English, rather than being shown another script.
_SIMPLIFIED = ("zh", "zh_cn", "zh_sg", "zh_hans", "zh_hans_cn", "zh_hans_sg", "chinese (simplified)")
_POSIX_ORDER = ("LC_ALL", "LC_MESSAGES", "LANG")
# Chinese breaks a line between any two ideographs, except after opening punctuation or before closing
# punctuation. One "word" of rich's line wrapping: an ideograph or a run of other letters, with the punctuation
# that must stay on its line and the spaces after it.
_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_OPENING = "（《「『【“"
_CLOSING = "，。、：；！？）》」』】”"
_CJK_WORD = re.compile(
    rf"\s*(?:[{_OPENING}]*(?:[{_IDEOGRAPHS}]|[^\s{_IDEOGRAPHS}{_OPENING}{_CLOSING}]+)[{_CLOSING}]*"
    rf"|[{_OPENING}{_CLOSING}]+)\s*"
)


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is defined; `_()` translates it where it is shown."""
    return message


_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = ENGLISH
_translated = False  # whether help texts were ever shown in another language in this process


def _code(locale_name: str) -> Optional[str]:
    """The catalogue code for one locale name (`zh_CN.UTF-8`, `zh-Hans`, `en_US`), or None when we have none."""
    name = locale_name.split(".")[0].split("@")[0].replace("-", "_").strip().lower()
    if not name or name in ("c", "posix"):
        return None
    if name in _SIMPLIFIED or name.startswith("chinese (simplified)"):
        return "zh"
    if name.split("_")[0] == "en" or name.startswith("english"):
        return ENGLISH
    return None


def parse_lang(value: str) -> str:
    """The code for a `--lang` value; ValueError naming the choices when it is not one we speak."""
    code = value.strip().lower().replace("-", "_")
    if code in CATALOGUES:
        return code
    found = _code(value)
    if found:
        return found
    choices = ", ".join(CATALOGUES)
    raise ValueError(f"--lang {value!r} is not a language llamadoctor speaks (choose from {choices})")


def language_from(
    environ: Mapping[str, str],
    *,
    platform: str = sys.platform,
    system_locale: Callable[[], Optional[str]] = lambda: None,
) -> str:
    """The language the environment asks for, as gettext reads it.

    LANGUAGE is a list of preferences and wins, except when the locale is C/POSIX (gettext ignores it then);
    otherwise the first of LC_ALL, LC_MESSAGES and LANG that is set. Windows sets none of them, so there the
    user's display language (`system_locale`) decides when they are all unset.
    """
    locale_name = next((environ[key] for key in _POSIX_ORDER if environ.get(key)), "")
    if locale_name.split(".")[0] in ("C", "POSIX"):
        return ENGLISH
    for item in [*environ.get("LANGUAGE", "").split(":"), locale_name]:
        code = _code(item)
        if code:
            return code
    if not locale_name and platform == "win32":
        return _code(system_locale() or "") or ENGLISH
    return ENGLISH


def windows_display_locale() -> Optional[str]:
    """The locale name of the Windows user's display language (`zh-CN`), or None elsewhere or when unknown."""
    if sys.platform != "win32":
        return None
    try:
        import ctypes
        import locale

        lang_id = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined]
        return locale.windows_locale.get(lang_id)
    except (AttributeError, OSError):
        return None


def lang_in_argv(argv: Sequence[str]) -> Optional[str]:
    """The value of `--lang X` or `--lang=X` on a command line, read before the command line is parsed."""
    for n, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
        if arg == "--lang" and n + 1 < len(argv):
            return argv[n + 1]
    return None


def activate(code: str, localedir: Optional[Path] = None) -> None:
    """Speak `code` from now on in this process (English when its catalogue is missing)."""
    global _translation, _language
    folder = CATALOGUES.get(code, "")
    if folder:
        where = localedir or LOCALE_DIR
        _translation = gettext.translation(DOMAIN, where, languages=[folder], fallback=True)
    else:
        _translation = gettext.NullTranslations()
    # gettext's fallback is a bare NullTranslations: the catalogue is missing, so the words are English.
    _language = code if not folder or type(_translation) is not gettext.NullTranslations else ENGLISH
    _break_lines_between_ideographs(_language != ENGLISH)


def _break_lines_between_ideographs(chinese: bool) -> None:
    """Let rich wrap Chinese text where Chinese wraps, not only at spaces.

    rich breaks lines at spaces alone: a Chinese sentence is one long word to it, moved whole to the next line
    (leaving the line before half empty) or cut where the width ends. Its word pattern is swapped for one that
    ends a word after each ideograph; English text keeps rich's own pattern, so its output never changes.
    """
    if not chinese and "rich._wrap" not in sys.modules:
        return
    from rich import _wrap

    english = _wrap.__dict__.setdefault("_english_re_word", _wrap.re_word)
    _wrap.re_word = _CJK_WORD if chinese else english


def current() -> str:
    """The code of the language messages are shown in."""
    return _language


def choose(argv: Sequence[str], environ: Optional[Mapping[str, str]] = None) -> str:
    """Decide and activate this process's language from a command line and the environment.

    `--json` output is for machines and stays English, whatever was asked. A `--lang` value we don't speak
    raises ValueError (a usage error for the command line).
    """
    environ = os.environ if environ is None else environ
    options = list(argv[: list(argv).index("--")] if "--" in argv else argv)
    asked = lang_in_argv(options)
    code = parse_lang(asked) if asked is not None else None
    if "--json" in options:
        code = ENGLISH
    elif code is None:
        code = language_from(environ, system_locale=windows_display_locale)
    activate(code)
    return code


def _(message: str) -> str:
    """`message` in the current language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a counted message for `count`, in the current language."""
    return _translation.ngettext(singular, plural, count)


def paragraphs(text: str, starts: Sequence[str] = ()) -> list[str]:
    """A long English text as the messages a translator gets: one per paragraph, its lines joined by spaces.

    A paragraph ends at a blank line, and before a line that begins with one of `starts` (labels such as
    "How to fix:"). The words are the text's own, so the extraction of messages and the page that shows them
    call this alike and agree on every message; re-wrapping the source's lines changes none of them.
    """
    blocks: list[list[str]] = [[]]
    for line in text.strip().splitlines():
        words = line.strip()
        if not words or words.startswith(tuple(starts)):
            blocks.append([])
        if words:
            blocks[-1].append(words)
    return [" ".join(block) for block in blocks if block]


def strip_lang(argv: Sequence[str]) -> list[str]:
    """The command line without its `--lang` option (which may stand anywhere before `--`)."""
    kept: list[str] = []
    skip = False
    for n, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--":
            return [*kept, *argv[n:]]
        elif arg == "--lang":
            skip = True
        elif not arg.startswith("--lang="):
            kept.append(arg)
    return kept


_HELP_FIELDS = ("help", "short_help", "epilog")
# The words typer's help screens put around ours, by the name typer keeps each under.
_TYPER_WORDS = {
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "DEFAULT_STRING": N_("[default: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
}


def translate_commands(command: object) -> None:
    """Show a click command tree's help texts in the current language.

    The English texts stay in the source, where the commands are declared; each object keeps its original on
    first use, so a second call (another language, in tests) translates from English again. In English, before
    any other language was shown, there is nothing to do, and typer's help module (a tenth of a second to
    import) is left for the help screen to import.
    """
    global _translated
    if _language == ENGLISH and not _translated:
        return
    _translated = True
    _translate_tree(command)
    try:
        from typer import rich_utils
    except ImportError:  # typer without rich: its plain help screens have no titles of their own
        return
    for name, english in _TYPER_WORDS.items():
        if hasattr(rich_utils, name):
            setattr(rich_utils, name, _(english))
    _fold_help_text(rich_utils)


def _translate_tree(command: object) -> None:
    for owner in [command, *getattr(command, "params", ())]:
        originals = owner.__dict__.setdefault("_english_help", {})
        for field in _HELP_FIELDS:
            english = originals.setdefault(field, getattr(owner, field, None))
            if isinstance(english, str) and english:
                setattr(owner, field, _(english))
    for sub in getattr(command, "commands", {}).values():
        _translate_tree(sub)


def _fold_help_text(rich_utils: Any) -> None:
    """Let help texts break between any two characters in languages written without spaces.

    rich breaks lines only at spaces, and cuts a longer run with an ellipsis in a table's cell: a Chinese help
    text would lose its end in typer's option table. Folded, it breaks where the cell ends, as Chinese does.
    """
    make = getattr(rich_utils, "_make_rich_text", None)
    if make is None or getattr(make, "folds", False) or _language == ENGLISH:
        return

    def folding(*args: object, **kwargs: object) -> object:
        text = make(*args, **kwargs)
        if hasattr(text, "overflow") and _language != ENGLISH:
            text.overflow = "fold"
        return text

    folding.folds = True  # type: ignore[attr-defined]
    rich_utils._make_rich_text = folding
