"""`run chat -i`: a conversation turn by turn, with slash commands and Ctrl-C that stops an answer.

Only rank 0 reads the terminal under torchrun; each message is broadcast so every rank generates the same turn.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from llamadoctor.i18n import N_, _
from llamadoctor.output import SETTINGS
from llamadoctor.paths import state_dir
from llamadoctor.runner import chat as chats
from llamadoctor.runner import prompt
from llamadoctor.runner.chat import Dialog, Message
from llamadoctor.runner.chat_template import control_text_in
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.session import RunOptions, Session, stats_line
from llamadoctor.runner.stream import Streamer

# TRANSLATORS: keep the command column aligned; {continue_mark} is a backslash, {block} three double quotes.
HELP = N_("""\
Type a message and press Enter; the answer streams below it.
  /help     this text
  /reset    forget the conversation (the --system message stays)
  /exit     end the chat (so do Ctrl-D, and Ctrl-C at an empty prompt)
Several lines: end a line with {continue_mark} to go on to the next, or put the message between two lines of
{block}; in a terminal Alt-Enter (or Esc, Enter) starts a new line too.
Ctrl-C while the model answers stops the answer; what it said so far stays in the conversation.
Up/Down recall earlier messages, Ctrl-R searches them.""")
GREETING = N_("Chat with the model; /help lists the keys and commands, /exit or Ctrl-D ends.")
STOPPED = N_(" [stopped]")
ANSWER = N_("> Assistant: ")


def help_text() -> str:
    return _(HELP).format(continue_mark=prompt.CONTINUE, block=prompt.BLOCK)


@dataclass(frozen=True)
class Turn:
    """What a finished or stopped answer leaves in the conversation."""

    dialog: Dialog
    note: str = ""


def after_answer(dialog: Dialog, user: Message, answer: str, stopped: bool) -> Turn:
    """The conversation after an answer. A stopped answer is kept as what was said, for the user saw it and will
    refer to it; one stopped before its first token leaves no turn at all."""
    if stopped and not answer:
        return Turn(dialog, _("(stopped before the answer began; that message was dropped)"))
    return Turn([*dialog, user, Message("assistant", answer)], _("(stopped)") if stopped else "")


class Chat:
    def __init__(self, session: Session, system: str | None, max_gen_len: int | None) -> None:
        self.session, self.max_gen_len = session, max_gen_len
        self.start: Dialog = [Message("system", system)] if system else []
        self.dialog: Dialog = list(self.start)

    def say(self, text: str = "", end: str = "\n", err: bool = False) -> None:
        if self.session.par.rank == 0:
            stream = sys.stderr if err else sys.stdout
            stream.write(text + end)
            stream.flush()

    def command(self, line: str) -> bool | None:
        """Handle a slash command: True to go on, False to end, None when the line is a message."""
        word = line.strip()
        if word == "/exit":
            return False
        if word == "/reset":
            self.dialog = list(self.start)
            self.say(_("(conversation cleared)"))
            return True
        if word in ("/help", "/?"):
            self.say(help_text())
            return True
        if word.startswith("/") and " " not in word and "\n" not in word:
            self.say(_("(unknown command {command}: /help lists them)").format(command=word))
            return True
        return None

    def refusal(self, user: Message) -> str | None:
        """Meta's answer to [INST]/<<SYS>> text, and ours to a chat template's control-token text."""
        if chats.has_special_tags([user]):
            return chats.UNSAFE_ERROR
        if self.session.chat_template is not None:
            text = control_text_in(self.session.chat_template, [user])
            if text is not None:
                return _("Error: {text} is a control token of this model's chat template and cannot be typed.").format(
                    text=text
                )
        return None

    def prompt_ids(self, user: Message) -> list[int]:
        ids = self.session.dialog_tokens([*self.dialog, user])
        if len(ids) >= self.session.opts.max_seq_len:
            self.say(
                _("(the conversation is {tokens} tokens, past --max-seq-len; starting over)").format(tokens=len(ids))
            )
            self.dialog = list(self.start)
            ids = self.session.dialog_tokens([*self.dialog, user])
            self.session.check_prompts([ids], [user.content])
        return ids

    def answer(self, line: str) -> None:
        user = Message("user", line)
        refused = self.refusal(user)
        if refused is not None:
            # The turn is dropped so it does not poison the ones after it.
            self.say(f"{_(ANSWER)}{refused}\n")
            return
        try:
            ids = self.prompt_ids(user)
        except RunError as exc:  # the template refused the turn, or it is too long alone: the chat goes on
            self.say(_("(message not sent) {error}").format(error=exc.one_line()), err=True)
            return
        limit = self.session.opts.max_seq_len
        self.say(_(ANSWER), end="")
        streamer = Streamer(self.session.tok.decode, sys.stdout) if self.session.par.rank == 0 else None
        counted = self.session.timings.decode_tokens
        try:
            out = self.session.generate([ids], self.max_gen_len or limit - len(ids), streamer)
            said, stopped = self.session.tok.decode(out[0]), False
        except KeyboardInterrupt:
            if self.session.par.is_parallel or streamer is None:
                raise  # the other ranks are mid-step: the run ends as a whole, as Ctrl-C does elsewhere
            said, stopped = self.session.tok.decode(streamer.ids), True
            # Its decode time was never added up: the stopped answer stays out of the tok/s figure.
            self.session.timings.decode_tokens = counted
        turn = after_answer(self.dialog, user, said, stopped)
        self.dialog = turn.dialog
        self.say(_(STOPPED) if stopped else "")
        if turn.note:
            self.say(turn.note)
        self.say()


def _read(chat: Chat, lines: prompt.Lines | None) -> str | None:
    """The next message on rank 0, shared with every rank; None ends the chat."""
    from llamadoctor.runner.distributed import broadcast_object

    text: str | None = None
    if lines is not None:
        while True:
            try:
                text = prompt.read_message(lines)
            except prompt.Cancelled:
                chat.say(_("(cancelled)"))
                continue
            except KeyboardInterrupt:
                chat.say()
                text = None
            break
    value = broadcast_object(chat.session.par, text)
    return value if isinstance(value, str) else None


def run_interactive(opts: RunOptions, system: str | None, max_gen_len: int | None) -> None:
    session = Session.prepare(opts)
    from llamadoctor.runner.commands import load_with_status, warn_if_base_model

    warn_if_base_model(session)
    chat = Chat(session, system, max_gen_len)
    template = session.chat_template  # read, or refused, before the weights load
    if template is not None and not SETTINGS.quiet:
        chat.say(_("(prompting through the chat template of {source})").format(source=template.source), err=True)
    load_with_status(session)
    lines = prompt.open_lines(state_dir(), lambda text: chat.say(text, err=True)) if session.par.rank == 0 else None
    chat.say(_(GREETING))
    try:
        while True:
            line = _read(chat, lines)
            if line is None:
                break
            if not line.strip():
                continue
            handled = chat.command(line)
            if handled is False:
                break
            if handled is None:
                chat.answer(line)
        if not SETTINGS.quiet:
            chat.say(stats_line(session.stats()))
    finally:
        session.close()
