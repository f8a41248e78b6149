"""A Hugging Face folder's own chat template, rendered and tokenized the way transformers' `apply_chat_template`
does it, so a model fine-tuned with its template is prompted with exactly the tokens it was trained on.

Where the template comes from, first found wins: `chat_template.jinja`, then tokenizer_config.json's
`chat_template` (a string, or a list of named templates of which "default" is used). It renders in jinja2's
sandbox with the options transformers sets (trim_blocks, lstrip_blocks, loop controls, `raise_exception`, a
`tojson` that does not escape HTML), given `messages`, `add_generation_prompt=True` and the named special tokens
of tokenizer_config.json. The rendered text is tokenized as is: special-token text the template writes becomes
that token, and no BOS is added on top (a template that wants one writes `bos_token`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from llamadoctor.i18n import N_, _
from llamadoctor.reading import display, read_regular, reason
from llamadoctor.runner.chat import Message
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.tokenizer import Tokenizer

MAX_CONFIG = 16 * 1024 * 1024  # tokenizer_config.json with a long template and many added tokens is < 1 MB
NAMED_SPECIALS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
REDOWNLOAD = N_("download {name} again, or move it aside to chat in Meta's format")


@dataclass(frozen=True)
class ChatTemplate:
    text: str
    source: str  # the file it came from, for messages
    specials: tuple[tuple[str, str], ...]  # named special tokens the template sees (bos_token -> "<s>")
    control: tuple[str, ...]  # token texts the rendered prompt is split on, longest first


def _read_json(path: Path) -> Any:
    try:
        raw = read_regular(path, MAX_CONFIG + 1)
    except OSError as exc:
        raise _unreadable(path, reason(exc)) from None
    if len(raw) > MAX_CONFIG:
        raise RunError(_("{path} is too large to be a tokenizer config").format(path=display(path)), _redownload(path))
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RunError(
            # TRANSLATORS: {error} is Python's JSON parser's own message.
            _("{path} is not valid JSON ({error})").format(path=display(path), error=exc),
            _redownload(path),
        ) from None


def _redownload(path: Path) -> str:
    return _(REDOWNLOAD).format(name=path.name)


def _unreadable(path: Path, why: str) -> RunError:
    # TRANSLATORS: {reason} is the operating system's reason (e.g. permission denied).
    return RunError(_("cannot read {path}: {reason}").format(path=display(path), reason=why), _redownload(path))


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken dict with `content`."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _pick(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        if "default" not in named:
            raise RunError(
                _("{where} has several chat templates ({names}) and none named default").format(
                    where=where, names=", ".join(sorted(map(str, named)))
                ),
                _("name one of them default in tokenizer_config.json"),
            )
        chosen = named["default"]
        if isinstance(chosen, str):
            return chosen
    raise RunError(
        _("{where}'s chat_template is neither text nor a list of named templates").format(where=where),
        _("download it again"),
    )


def _controls(config: dict[str, Any], specials: dict[str, str]) -> tuple[str, ...]:
    texts = set(specials.values())
    added = config.get("added_tokens_decoder")
    if isinstance(added, dict):
        texts.update(t for t in map(_token_text, added.values()) if t)
    extra = config.get("additional_special_tokens")
    if isinstance(extra, list):
        texts.update(t for t in map(_token_text, extra) if t)
    return tuple(sorted((t for t in texts if t.strip()), key=lambda t: (-len(t), t)))


def find(model_dir: Path) -> ChatTemplate | None:
    """The folder's chat template, or None when it has none (the Meta format is used then)."""
    config_path = model_dir / "tokenizer_config.json"
    config = _read_json(config_path) if config_path.is_file() else {}
    if not isinstance(config, dict):
        raise RunError(_("{path} is not a JSON object").format(path=display(config_path)), _redownload(config_path))
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        try:
            text: str | None = read_regular(jinja, MAX_CONFIG).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = reason(exc) if isinstance(exc, OSError) else _("not UTF-8 text")
            raise _unreadable(jinja, why) from None
        source = jinja
    else:
        text, source = _pick(config.get("chat_template"), display(config_path)), config_path
    if not text:
        return None
    # Older folders name some special tokens only in special_tokens_map.json.
    map_path = model_dir / "special_tokens_map.json"
    names = _read_json(map_path) if map_path.is_file() and not all(k in config for k in NAMED_SPECIALS) else {}
    names = {**(names if isinstance(names, dict) else {}), **config}
    specials = {k: t for k in NAMED_SPECIALS if (t := _token_text(names.get(k))) is not None}
    return ChatTemplate(text, display(source), tuple(specials.items()), _controls(config, specials))


@lru_cache(maxsize=4)
def _compile(template: ChatTemplate) -> Any:
    try:
        import jinja2
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise RunError(
            _("{source} has a chat template, and rendering it needs jinja2").format(source=template.source),
            _("pip install 'llamadoctor[run]' (or pip install jinja2)"),
        ) from None

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
    ) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template.text)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise RunError(
            # TRANSLATORS: {error} is jinja2's own description of the syntax error.
            _("the chat template in {source} is not valid Jinja (line {line}: {error})").format(
                source=template.source, line=exc.lineno, error=exc.message
            ),
            _redownload(Path(template.source)),
        ) from None


def render(template: ChatTemplate, dialog: Sequence[Message]) -> str:
    """The prompt text for `dialog`, ending where the assistant's answer starts."""
    import jinja2

    compiled = _compile(template)
    messages = [{"role": m.role, "content": m.content} for m in dialog]
    try:
        return str(
            compiled.render(
                messages=messages, tools=None, documents=None, add_generation_prompt=True, **dict(template.specials)
            )
        )
    except jinja2.exceptions.TemplateError as exc:
        # raise_exception's message, or what the sandbox refused: the template's own words for what is wrong.
        raise RunError(
            # TRANSLATORS: {error} is the template's own words, as the model's authors wrote them.
            _("the model's chat template ({source}) refused this conversation: {error}").format(
                source=template.source, error=exc
            ),
            _("order the messages as the model expects (e.g. system first, then user and assistant alternating)"),
        ) from None
    except Exception as exc:  # a template bug (undefined attribute, bad arithmetic) on this input
        raise RunError(
            _("the model's chat template ({source}) failed on this conversation: {error}").format(
                source=template.source, error=exc
            ),
            _("move chat_template aside to chat in Meta's format"),
        ) from None


def bind(template: ChatTemplate, tok: Tokenizer) -> ChatTemplate:
    """The template with the tokenizer's own special tokens added to the texts a rendered prompt is split on:
    a tokenizer_config.json without `added_tokens_decoder` still has its template's header tokens read as such."""
    texts = set(template.control) | set(_tokenizer_controls(tok))
    return replace(template, control=tuple(sorted((t for t in texts if t.strip()), key=lambda t: (-len(t), t))))


def _tokenizer_controls(tok: Tokenizer) -> list[str]:
    specials = getattr(tok, "specials", None)  # tiktoken: Llama 3's 256 named specials
    if isinstance(specials, dict):
        return list(specials)
    hf = getattr(tok, "tok", None)  # a tokenizer.json: its added tokens
    if hf is not None and hasattr(hf, "get_added_tokens_decoder"):
        return [t.content for t in hf.get_added_tokens_decoder().values()]
    sp = getattr(tok, "sp", None)  # SentencePiece: its control pieces (<s>, </s>)
    if sp is not None:
        return [sp.id_to_piece(i) for i in range(int(sp.get_piece_size())) if sp.is_control(i)]
    return []


def control_text_in(template: ChatTemplate, dialog: Sequence[Message]) -> str | None:
    """The first special-token text a message holds: rendered, it would become that control token."""
    for msg in dialog:
        for text in template.control:
            if text in msg.content:
                return text
    return None


@lru_cache(maxsize=8)
def _splitter(control: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first: at one position the alternation takes the longest token text, as the tokenizers do.
    return re.compile("(" + "|".join(map(re.escape, control)) + ")")


def encode(template: ChatTemplate, text: str, tok: Tokenizer) -> list[int]:
    """Token ids of rendered text: control-token text becomes its id, the stretches between are plain text."""
    if not template.control:
        return tok.encode(text, bos=False, eos=False)
    ids: list[int] = []
    for i, part in enumerate(_splitter(template.control).split(text)):
        if i % 2:
            ids.append(_special_id(tok, part))
        elif part:
            ids += tok.encode(part, bos=False, eos=False)
    return ids


def _special_id(tok: Tokenizer, text: str) -> int:
    try:
        return tok.special_id(text)
    except (KeyError, RunError):
        raise RunError(
            _("the chat template writes {text}, which this tokenizer does not know as a token").format(text=repr(text)),
            _("use the tokenizer that came with this model (--tokenizer-path)"),
        ) from None
