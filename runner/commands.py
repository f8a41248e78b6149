"""What `run text` and `run chat` do, and how they print (Meta's example layout, a stats line, or JSON).

Only rank 0 prints under torchrun; every rank runs the same generation.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

from llamadoctor.runner import chat as chats
from llamadoctor.runner.chat import Dialog, Message
from llamadoctor.runner.session import RunOptions, Session, stats_line
from llamadoctor.runner.stream import Streamer


def _say(session: Session, text: str = "", end: str = "\n", err: bool = False) -> None:
    if session.par.rank == 0:
        stream = sys.stderr if err else sys.stdout
        stream.write(text + end)
        stream.flush()


def _load(session: Session) -> None:
    """Load the weights, with a status line for the person watching (rank 0, a terminal) while it takes."""
    from llamadoctor.output import status

    with status(f"Loading {session.opts.model_dir} onto {session.device}...", enabled=session.par.rank == 0):
        session.load()


def _streamer(session: Session) -> Streamer | None:
    return Streamer(session.tok.decode, sys.stdout) if session.par.rank == 0 else None


def run_text(opts: RunOptions, prompts: list[str], max_gen_len: int, as_json: bool) -> None:
    texts = prompts or list(chats.REFERENCE_PROMPTS)
    session = Session.prepare(opts)
    ids = [session.tok.encode(t, bos=True, eos=False) for t in texts]
    session.check_prompts(ids, texts)
    _load(session)
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


def _warn_if_base_model(session: Session) -> None:
    name = session.opts.model_dir.resolve().name
    if not chats.looks_like_chat_model(name):
        _say(
            session,
            f"warning: {name} looks like a base model (no -chat/-Instruct in its name); "
            "base models continue text rather than answer. Use `run text` or a chat model.",
            err=True,
        )


def run_chat(opts: RunOptions, prompt: str | None, system: str | None, max_gen_len: int | None, as_json: bool) -> None:
    session = Session.prepare(opts)
    if prompt is not None:
        dialogs = [([Message("system", system)] if system else []) + [Message("user", prompt)]]
    else:
        dialogs = chats.reference_dialogs(session.tok.kind)
    ids = [chats.dialog_tokens(d, session.tok) for d in dialogs]
    session.check_prompts(ids, [d[-1].content for d in dialogs])
    _warn_if_base_model(session)
    _load(session)
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


def _format_chat(result: dict[str, Any]) -> str:
    dialog = [Message(**m) for m in result["dialog"]]
    return chats.format_dialog(dialog, Message(**result["generation"]))


def _print_results(session: Session, results: list[dict[str, Any]], as_json: bool, streamed: bool, fmt: Any) -> None:
    stats = session.stats()
    if as_json:
        _say(session, json.dumps({"results": results, "stats": stats}, indent=2, ensure_ascii=False))
        return
    if streamed:
        _say(session)
    else:
        for r in results:
            _say(session, fmt(r))
            _say(session, "\n==================================\n")
    if streamed:
        _say(session, "\n==================================\n")
    _say(session, stats_line(stats))


def _read_user(session: Session) -> str | None:
    from llamadoctor.runner.distributed import broadcast_object

    line = _ask(session) if session.par.rank == 0 else None
    value = broadcast_object(session.par, line)
    return value if isinstance(value, str) else None


def _ask(session: Session) -> str | None:
    """The user's next line; None at the end of input (Ctrl-D, or no stdin at all)."""
    # Undecodable bytes become surrogates the check below catches, instead of an error that drops the buffer.
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    while sys.stdin is not None:
        try:
            line = input("User: ")
        except EOFError:
            return None
        except UnicodeDecodeError:
            line = "\udcff"
        if is_utf8(line):
            return line
        _say(session, "(that line is not valid UTF-8 text: type it again)", err=True)
    return None


def is_utf8(text: str) -> bool:
    """False for text holding undecodable bytes (as surrogates): no tokenizer can encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run_interactive(opts: RunOptions, system: str | None, max_gen_len: int | None) -> None:
    session = Session.prepare(opts)
    _warn_if_base_model(session)
    _load(session)
    _say(session, "Chat with the model; an empty line, /exit or Ctrl-D ends, /reset starts over.")
    start: Dialog = [Message("system", system)] if system else []
    dialog = list(start)
    try:
        while True:
            line = _read_user(session)
            if line is None or line.strip() in ("", "/exit"):
                break
            if line.strip() == "/reset":
                dialog = list(start)
                _say(session, "(conversation cleared)")
                continue
            if chats.has_special_tags([Message("user", line)]):
                # Meta's answer for such a dialog; the turn is dropped so it does not poison the ones after it.
                _say(session, f"> Assistant: {chats.UNSAFE_ERROR}\n")
                continue
            dialog.append(Message("user", line))
            ids = chats.dialog_tokens(dialog, session.tok)
            if len(ids) >= opts.max_seq_len:
                _say(session, f"(the conversation is {len(ids)} tokens, past --max-seq-len; starting over)")
                dialog = [*start, Message("user", line)]
                ids = chats.dialog_tokens(dialog, session.tok)
                session.check_prompts([ids], [line])
            _say(session, "> Assistant: ", end="")
            out = session.generate([ids], max_gen_len or opts.max_seq_len - len(ids), _streamer(session))
            dialog.append(Message("assistant", session.tok.decode(out[0])))
            _say(session, "\n")
        _say(session, stats_line(session.stats()))
    finally:
        session.close()
