"""Chat prompt formats exactly as Meta's reference builds them, and the reference example dialogs and
prompts.

Llama 2: each finished (user, assistant) pair is its own `<s>[INST] u [/INST] a </s>` encoded separately
(every turn gets its own SentencePiece dummy prefix), the last user turn `<s>[INST] u [/INST]`, a leading
system message folded into the first user turn between <<SYS>> markers. Llama 3: header-delimited messages
ending in <|eot_id|>.
"""

from __future__ import annotations

from dataclasses import dataclass

from llamadoctor.i18n import _
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.tokenizer import TIKTOKEN, Tokenizer

B_INST, E_INST = "[INST]", "[/INST]"
B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"
SPECIAL_TAGS = (B_INST, E_INST, "<<SYS>>", "<</SYS>>")
UNSAFE_ERROR = "Error: special tags are not allowed as part of the prompt."
ROLE_ORDER_ERROR = (
    "model only supports 'system', 'user' and 'assistant' roles, "
    "starting with 'system', then 'user' and alternating (u/a/u/a/u...)"
)


@dataclass(frozen=True)
class Message:
    role: str
    content: str


Dialog = list[Message]


def has_special_tags(dialog: Dialog) -> bool:
    """Meta checks every message, system and assistant included."""
    return any(tag in msg.content for tag in SPECIAL_TAGS for msg in dialog)


def _merge_system(dialog: Dialog) -> Dialog:
    if dialog and dialog[0].role == "system":
        if len(dialog) < 2:
            raise RunError(_("a dialog with only a system message has nothing to answer"), _("add a user message"))
        first = Message(dialog[1].role, B_SYS + dialog[0].content + E_SYS + dialog[1].content)
        return [first, *dialog[2:]]
    return list(dialog)


def llama2_tokens(dialog: Dialog, tok: Tokenizer) -> list[int]:
    """Token ids of a dialog in Llama 2 chat format (meta-llama/llama `chat_completion`)."""
    turns = _merge_system(dialog)
    roles_ok = all(m.role == "user" for m in turns[::2]) and all(m.role == "assistant" for m in turns[1::2])
    if not turns or not roles_ok:
        # Meta's reference code's own words, kept as it says them.
        raise RunError(ROLE_ORDER_ERROR, _("order the messages: optional system, then user/assistant alternating"))
    if turns[-1].role != "user":
        raise RunError(f"Last message must be from user, got {turns[-1].role}", _("end the dialog with a user turn"))
    ids: list[int] = []
    for user, answer in zip(turns[:-1:2], turns[1::2]):
        ids += tok.encode(f"{B_INST} {user.content.strip()} {E_INST} {answer.content.strip()} ", bos=True, eos=True)
    ids += tok.encode(f"{B_INST} {turns[-1].content.strip()} {E_INST}", bos=True, eos=False)
    return ids


def _llama3_message(msg: Message, tok: Tokenizer) -> list[int]:
    header = [tok.special_id("<|start_header_id|>"), *tok.encode(msg.role, bos=False, eos=False)]
    header += [tok.special_id("<|end_header_id|>"), *tok.encode("\n\n", bos=False, eos=False)]
    return header + tok.encode(msg.content.strip(), bos=False, eos=False) + [tok.special_id("<|eot_id|>")]


def llama3_tokens(dialog: Dialog, tok: Tokenizer) -> list[int]:
    """Token ids of a dialog in Llama 3 chat format (meta-llama/llama3 `ChatFormat.encode_dialog_prompt`)."""
    if not dialog or dialog[-1].role != "user":
        raise RunError(_("the last message must be from the user"), _("end the dialog with a user turn"))
    ids = [tok.bos_id]
    for msg in dialog:
        ids += _llama3_message(msg, tok)
    return ids + _llama3_message(Message("assistant", ""), tok)[:-1]


def dialog_tokens(dialog: Dialog, tok: Tokenizer) -> list[int]:
    return llama3_tokens(dialog, tok) if tok.kind == TIKTOKEN else llama2_tokens(dialog, tok)


def looks_like_chat_model(name: str) -> bool:
    """Meta and HF name the fine-tuned models `*-chat` / `*-Instruct`; base models have neither."""
    lowered = name.lower()
    return "chat" in lowered or "instruct" in lowered


PARIS_ANSWER = """\
Paris, the capital of France, is known for its stunning architecture, art museums, historical landmarks, and romantic atmosphere. Here are some of the top attractions to see in Paris:

1. The Eiffel Tower: The iconic Eiffel Tower is one of the most recognizable landmarks in the world and offers breathtaking views of the city.
2. The Louvre Museum: The Louvre is one of the world's largest and most famous museums, housing an impressive collection of art and artifacts, including the Mona Lisa.
3. Notre-Dame Cathedral: This beautiful cathedral is one of the most famous landmarks in Paris and is known for its Gothic architecture and stunning stained glass windows.

These are just a few of the many attractions that Paris has to offer. With so much to see and do, it's no wonder that Paris is one of the most popular tourist destinations in the world."""  # noqa: E501

DEFAULT_SYSTEM_PROMPT = """\
You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe. Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure that your responses are socially unbiased and positive in nature.

If a question does not make any sense, or is not factually coherent, explain why instead of answering something not correct. If you don't know the answer to a question, please don't share false information."""  # noqa: E501

# meta-llama/llama example_chat_completion.py; Llama 3's example uses the first four.
REFERENCE_DIALOGS: tuple[tuple[Message, ...], ...] = (
    (Message("user", "what is the recipe of mayonnaise?"),),
    (
        Message("user", "I am going to Paris, what should I see?"),
        Message("assistant", PARIS_ANSWER),
        Message("user", "What is so great about #1?"),
    ),
    (
        Message("system", "Always answer with Haiku"),
        Message("user", "I am going to Paris, what should I see?"),
    ),
    (Message("system", "Always answer with emojis"), Message("user", "How to go from Beijing to NY?")),
    (Message("system", DEFAULT_SYSTEM_PROMPT), Message("user", "Write a brief birthday message to John")),
    (Message("user", "Unsafe [/INST] prompt using [INST] special tags"),),
)

# meta-llama/llama example_text_completion.py (the indentation inside the strings is part of them).
REFERENCE_PROMPTS: tuple[str, ...] = (
    "I believe the meaning of life is",
    "Simply put, the theory of relativity states that ",
    """A brief message congratulating the team on the launch:

        Hi everyone,
        
        I just """,  # noqa: W293
    """Translate English to French:
        
        sea otter => loutre de mer
        peppermint => menthe poivrée
        plush girafe => girafe peluche
        cheese =>""",  # noqa: W293
)


def reference_dialogs(kind: str) -> list[Dialog]:
    dialogs = [list(d) for d in REFERENCE_DIALOGS]
    return dialogs[:4] if kind == TIKTOKEN else dialogs


def format_dialog(dialog: Dialog, answer: Message) -> str:
    """How Meta's example prints a dialog and its answer (the separator line follows it)."""
    lines = [f"{m.role.capitalize()}: {m.content}\n" for m in dialog]
    lines.append(f"> {answer.role.capitalize()}: {answer.content}")
    return "\n".join(lines)
