"""What `run text` and `run chat` do, and how they print (Meta's example layout, a stats line, or JSON).

Only rank 0 prints under torchrun; every rank runs the same generation.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llamadoctor.i18n import _
from llamadoctor.jsonable import document
from llamadoctor.output import SETTINGS
from llamadoctor.runner import chat as chats
from llamadoctor.runner import quantized_folder
from llamadoctor.runner.chat import Dialog, Message
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.session import RunOptions, Session, stats_line
from llamadoctor.runner.stream import Streamer


def _say(session: Session, text: str = "", end: str = "\n", err: bool = False) -> None:
    if session.par.rank == 0:
        stream = sys.stderr if err else sys.stdout
        stream.write(text + end)
        stream.flush()


def load_with_status(session: Session) -> None:
    """Load the weights, with a status line for the person watching (rank 0, a terminal) while it takes."""
    from llamadoctor.output import status

    loading = _("Loading {path} onto {device}...").format(path=session.opts.model_dir, device=session.device)
    with status(loading, enabled=session.par.rank == 0):
        session.load()


def _streamer(session: Session) -> Streamer | None:
    return Streamer(session.tok.decode, sys.stdout) if session.par.rank == 0 else None


def run_text(opts: RunOptions, prompts: list[str], max_gen_len: int, as_json: bool) -> None:
    texts = prompts or list(chats.REFERENCE_PROMPTS)
    session = Session.prepare(opts)
    ids = [session.tok.encode(t, bos=True, eos=False) for t in texts]
    session.check_prompts(ids, texts)
    load_with_status(session)
    try:
        single = len(texts) == 1 and not as_json
        if single:
            _say(session, texts[0])
            _say(session, "> ", end="")
        out = session.generate(ids, max_gen_len, _streamer(session) if single else None)
        results = [{"prompt": t, "generation": session.tok.decode(o)} for t, o in zip(texts, out)]
        _print_results(session, results, as_json, single, lambda r: f"{r['prompt']}\n> {r['generation']}")
    finally:
        session.close()


def _answer(dialog: Dialog, generated: str) -> Message:
    # Meta still generates for a dialog with special tags, then replaces the answer.
    return Message("assistant", chats.UNSAFE_ERROR if chats.has_special_tags(dialog) else generated)


def warn_if_base_model(session: Session) -> None:
    name = session.opts.model_dir.resolve().name
    if (
        not chats.looks_like_chat_model(name)
        and not quantized_folder.converted_from_chat(session.opts.model_dir)
        and not SETTINGS.quiet
    ):
        warning = _(
            "warning: {name} looks like a base model (no -chat/-Instruct in its name); "
            "base models continue text rather than answer. Use `run text` or a chat model."
        )
        _say(session, warning.format(name=name), err=True)


def run_chat(opts: RunOptions, prompt: str | None, system: str | None, max_gen_len: int | None, as_json: bool) -> None:
    session = Session.prepare(opts)
    if prompt is not None:
        dialogs = [([Message("system", system)] if system else []) + [Message("user", prompt)]]
    else:
        dialogs = chats.reference_dialogs(session.tok.kind)
    _refuse_control_text(session, dialogs)
    ids = [session.dialog_tokens(d) for d in dialogs]
    session.check_prompts(ids, [d[-1].content for d in dialogs])
    warn_if_base_model(session)
    load_with_status(session)
    try:
        single = len(dialogs) == 1 and not as_json and not chats.has_special_tags(dialogs[0])
        if single:
            for m in dialogs[0]:
                _say(session, f"{m.role.capitalize()}: {m.content}\n")
            _say(session, "> Assistant: ", end="")
        out = session.generate(ids, max_gen_len or opts.max_seq_len - 1, _streamer(session) if single else None)
        results = [
            {"dialog": [m.__dict__ for m in d], "generation": _answer(d, session.tok.decode(o)).__dict__}
            for d, o in zip(dialogs, out)
        ]
        _print_results(session, results, as_json, single, _format_chat)
    finally:
        session.close()


def _refuse_control_text(session: Session, dialogs: list[Dialog]) -> None:
    """A message holding the chat template's control-token text would be read as that token: refused."""
    if session.chat_template is None:
        return
    from llamadoctor.runner.chat_template import control_text_in

    for dialog in dialogs:
        text = control_text_in(session.chat_template, dialog)
        if text is not None:
            raise RunError(
                _("the message holds {text}, a control token of this model's chat template").format(text=repr(text)),
                _("leave the model's special tokens out of --prompt and --system"),
            )


def _format_chat(result: dict[str, Any]) -> str:
    dialog = [Message(**m) for m in result["dialog"]]
    return chats.format_dialog(dialog, Message(**result["generation"]))


def _print_results(session: Session, results: list[dict[str, Any]], as_json: bool, streamed: bool, fmt: Any) -> None:
    stats = session.stats()
    if as_json:
        _say(session, json.dumps(document("run", {"results": results, "stats": stats}), indent=2, ensure_ascii=False))
        return
    if streamed:
        _say(session)
    else:
        for r in results:
            _say(session, fmt(r))
            _say(session, "\n==================================\n")
    if streamed:
        _say(session, "\n==================================\n")
    if not SETTINGS.quiet:
        _say(session, stats_line(stats))
