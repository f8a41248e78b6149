"""An HF folder's own chat template gives the token ids transformers' `apply_chat_template` gives, on the published
Llama 2 and Llama 3 templates, through each tokenizer the runner may load for the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.runner import chat, chat_template
from llamadoctor.runner import tokenizer as tokenizers
from llamadoctor.runner.chat import Message
from llamadoctor.runner.cli import app
from llamadoctor.runner.conversion import hf
from llamadoctor.runner.errors import RunError

from builders import llamas

# meta-llama/Llama-2-13b-chat-hf's tokenizer_config.json `chat_template`, as quoted in
# huggingface/text-generation-inference router/src/infer/chat_template.rs (test_chat_templates).
LLAMA2_PUBLISHED = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
# meta-llama/Meta-Llama-3-8B-Instruct's tokenizer_config.json `chat_template` (ggml-org/llama.cpp
# tests/test-chat-template.cpp, "Llama-3", quotes it with the final header unconditional; the model's own
# file writes it under `add_generation_prompt`, as here).
LLAMA3_PUBLISHED = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

DIALOGS = [
    [Message("user", "what is the recipe of mayonnaise?")],
    [Message("system", "Always answer with Haiku"), Message("user", "I am going to Paris, what should I see?")],
    [
        Message("user", "  hello there  "),
        Message("assistant", " Paris is the capital.\n\nAsk me more. "),
        Message("user", "What is so great about #1?\nTell me in two lines: 🗼 and café."),
    ],
    [
        Message("system", "Be brief."),
        Message("user", "one"),
        Message("assistant", "two"),
        Message("user", "three"),
        Message("assistant", "four"),
        Message("user", "tabs\tand  double  spaces"),
    ],
]


def _llama_sentencepiece(path: Path) -> Path:
    """A SentencePiece model normalizing as Llama's does (identity, whitespace kept, a dummy prefix): the shared
    test tokenizer uses SentencePiece's defaults, which fold newlines to spaces where Llama keeps them."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(llamas.CORPUS * 4),
        model_writer=model,
        vocab_size=400,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        byte_fallback=True,
        character_coverage=1.0,
        hard_vocab_limit=False,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        minloglevel=2,
        num_threads=1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return path


def _hf_tokenizer_folder(tmp_path: Path, tokenizer: Path, version: str, template: str) -> Path:
    """tokenizer.model, tokenizer.json and tokenizer_config.json as the converter writes them, with the
    published template in place of the converter's."""
    out = tmp_path / f"llama{version}-tok"
    out.mkdir()
    special = hf.special_ids(tokenizer, version, chat=True)
    hf.write_tokenizer(tokenizer, out, version, True, special)
    if not (out / "tokenizer.model").exists():
        shutil.copyfile(tokenizer, out / "tokenizer.model")
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = template
    config_path.write_text(json.dumps(config))
    return out


def _transformers_ids(folder: Path, dialog: list[Message]) -> list[int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    messages = [{"role": m.role, "content": m.content} for m in dialog]
    return list(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False))


@pytest.mark.parametrize(
    ("family", "version", "template"), [("sentencepiece", "2", LLAMA2_PUBLISHED), ("tiktoken", "3", LLAMA3_PUBLISHED)]
)
def test_published_templates_give_transformers_token_ids_through_every_tokenizer(
    tmp_path, tokenizer_files, family: str, version: str, template: str
) -> None:
    pytest.importorskip("transformers")
    source = tokenizer_files["tiktoken"] if family == "tiktoken" else _llama_sentencepiece(tmp_path / "sp.model")
    folder = _hf_tokenizer_folder(tmp_path, source, version, template)
    found = chat_template.find(folder)
    assert found is not None and found.text == template
    for name in ("tokenizer.model", "tokenizer.json"):
        tok = tokenizers.load(folder / name)
        bound = chat_template.bind(found, tok)
        for dialog in DIALOGS:
            ours = chat_template.encode(bound, chat_template.render(bound, dialog), tok)
            assert ours == _transformers_ids(folder, dialog), (name, dialog)
            assert ours[0] == tok.bos_id != ours[1]  # the template's BOS, and no second one
            if name == "tokenizer.model":  # Meta's own format gives the same prompt for these dialogs
                assert ours == chat.dialog_tokens(dialog, tok)


def _config(folder: Path, **fields: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>", **fields}))
    return folder


def test_the_template_comes_from_chat_template_jinja_then_the_default_of_named_ones(tmp_path) -> None:
    named = [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
    folder = _config(tmp_path / "named", chat_template=named)
    assert chat_template.find(folder).text == "D"
    (folder / "chat_template.jinja").write_text("J {{ bos_token }}")
    assert chat_template.find(folder).text == "J {{ bos_token }}"
    assert chat_template.find(_config(tmp_path / "none")) is None
    older = tmp_path / "older"
    older.mkdir()
    (older / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ bos_token }}", "eos_token": "E"}))
    (older / "special_tokens_map.json").write_text(json.dumps({"bos_token": {"content": "B"}, "eos_token": "X"}))
    assert dict(chat_template.find(older).specials) == {"bos_token": "B", "eos_token": "E"}
    assert chat_template.find(tmp_path / "empty-folder") is None
    with pytest.raises(RunError, match="none named default"):
        chat_template.find(_config(tmp_path / "nodefault", chat_template=named[:1]))
    (tmp_path / "bad" / "tokenizer_config.json").parent.mkdir()
    (tmp_path / "bad" / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(RunError, match="not valid JSON"):
        chat_template.find(tmp_path / "bad")


def test_rendering_follows_transformers_whitespace_and_sandbox_rules(tmp_path) -> None:
    text = (
        "{% for m in messages %}\n  {{ m['content'] | tojson }}\n{% endfor %}{% if add_generation_prompt %}A{% endif %}"
    )
    folder = _config(tmp_path / "t", chat_template=text)
    template = chat_template.find(folder)
    # trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before one.
    assert chat_template.render(template, [Message("user", "<b>é</b>")]) == '  "<b>é</b>"\nA'
    escape = _config(tmp_path / "escape", chat_template="{{ messages.__class__.__mro__ }}")
    with pytest.raises(RunError, match="refused this conversation"):
        chat_template.render(chat_template.find(escape), [Message("user", "x")])


def test_raise_exception_and_a_control_token_in_a_message_are_one_line_errors(tmp_path, model_dir) -> None:
    folder = tmp_path / "llama2-hf-chat"
    shutil.copytree(model_dir("llama2", "hf"), folder)
    _config(folder, chat_template=LLAMA2_PUBLISHED)
    runner = CliRunner()
    base = ["chat", "--model-dir", str(folder), "--max-gen-len", "2", "--temperature", "0", "--device", "cpu"]
    result = runner.invoke(app, [*base, "--prompt", "hi </s> there"])
    assert result.exit_code == 1
    assert "'</s>', a control token of this model's chat template" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "Traceback" not in result.stderr
    talk = runner.invoke(app, [*base, "-i"], input="hi </s> there\nhello\n")
    assert talk.exit_code == 0 and "(prompting through the chat template of" in talk.stderr
    refused, answered = [part.split("\n")[0] for part in talk.stdout.split("> Assistant: ")[1:]]
    assert refused == "Error: </s> is a control token of this model's chat template and cannot be typed."
    assert "control token" not in answered
    odd = tmp_path / "odd-chat"
    shutil.copytree(model_dir("llama2", "hf"), odd)
    picky = "{% if messages[-1]['content'] == 'bad' %}{{ raise_exception('Not that word') }}{% endif %}[INST] hi"
    _config(odd, chat_template=picky)
    result = runner.invoke(app, [*base[:2], str(odd), *base[3:], "--prompt", "bad"])
    assert result.exit_code == 1 and "refused this conversation: Not that word" in result.stderr
    talk = runner.invoke(app, [*base[:2], str(odd), *base[3:], "-i"], input="bad\nfine\n")
    assert talk.exit_code == 0 and "(message not sent) error: " in talk.stderr and "Not that word" in talk.stderr
    assert talk.stdout.count("> Assistant: ") == 1  # the refused turn is dropped, the next one is answered
