"""The Hugging Face side of a conversion: which Llama it is, config.json, generation_config.json, tokenizer files.

Values follow transformers' `convert_llama_weights_to_hf.py` (context per version, bos/eos, 3.1 rope_scaling,
3.2 tied embeddings), except that the dtype written is the one the tensors really have. The Llama 3 tokenizer
(tiktoken ranks) becomes a byte-level BPE `tokenizer.json` built here from the ranks, so neither transformers
nor tokenizers is needed to convert; chat models get the chat template in tokenizer_config.json.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from llamadoctor.formats import MAX_TOKENIZER, parse_tiktoken_ranks
from llamadoctor.i18n import _
from llamadoctor.llama import CONTEXT, Evidence, context_length, detect_version
from llamadoctor.llama.version import dtype_names, hf_rope_factor
from llamadoctor.reading import display, read_regular
from llamadoctor.runner.args import ModelArgs, to_hf_config
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.tokenizer import LLAMA3_PATTERN, LLAMA3_SPECIALS, SENTENCEPIECE, TIKTOKEN, sniff

DTYPE_NAMES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}

LLAMA2_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)
# Meta's ChatFormat: header, stripped content, <|eot_id|>; 3.1 calls the tool role "ipython".
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'ipython' if message['role'] in ('tool', 'ipython') else message['role'] %}"
    "{{ '<|start_header_id|>' + role + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)


def _bos_first(bos: str, bos_id: int) -> dict[str, Any]:
    """HF's post-processor that puts BOS before each sequence, as Meta's encode(bos=True) does."""
    first = [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]
    second = [{"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}]
    return {
        "type": "TemplateProcessing",
        "single": first,
        "pair": first + second,
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }


def llama_version(args: ModelArgs, model_dir: Path | None = None, dtypes: Iterable[object] = ()) -> str:
    """Llama "1", "2", "code", "3", "3.1" or "3.2" (the HF script's --llama_version), by the same detector
    and from the same witnesses as `check`: the folder's name, its checklist, the params and the shards'
    dtypes."""
    evidence = Evidence(
        path=str(model_dir) if model_dir is not None else "",
        checklist=_checklist_names(model_dir),
        shard_dtypes=dtype_names(dtypes),
    )
    return detect_version(args, evidence)


def _checklist_names(model_dir: Path | None) -> tuple[str, ...]:
    from llamadoctor.formats import MAX_CHECKLIST, parse_checklist
    from llamadoctor.reading import read_regular

    path = model_dir / "checklist.chk" if model_dir is not None else None
    if path is None or not path.is_file():
        return ()
    try:
        entries, _ = parse_checklist(read_regular(path, MAX_CHECKLIST))
    except OSError:
        return ()
    return tuple(name for _, name in entries)


def hf_config(args: ModelArgs, version: str, dtype: torch.dtype, special: dict[str, Any], tied: bool) -> dict[str, Any]:
    config = to_hf_config(args, context_length(version), special["bos_token_id"], special["eos_token_id"])
    if config["rope_scaling"]:  # Meta's code says 8 for 3.2 too; HF's 3.2 configs say 32
        config["rope_scaling"]["factor"] = hf_rope_factor(version, args)
    config |= {
        "tie_word_embeddings": tied,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "torch_dtype": DTYPE_NAMES.get(dtype, str(dtype).replace("torch.", "")),
    }
    return config


def generation_config(special: dict[str, Any], version: str) -> dict[str, Any]:
    out = {
        "bos_token_id": special["bos_token_id"],
        "eos_token_id": special["eos_token_id"],
        "do_sample": True,
        "temperature": 0.6,
        "top_p": 0.9,
        "max_length": CONTEXT[version],
    }
    if version in ("1", "2", "code"):
        out["pad_token_id"] = 0
    return out


def _tiktoken_ranks(path: Path) -> dict[bytes, int]:
    try:
        return parse_tiktoken_ranks(read_regular(path, MAX_TOKENIZER))
    except ValueError as exc:
        raise RunError(
            # TRANSLATORS: {error} says what is wrong with the file's text, in English.
            _("{path} is not a tiktoken tokenizer ({error})").format(path=display(path), error=exc),
            _("download {name} again").format(name=path.name),
        ) from None


def special_ids(tokenizer: Path, version: str, chat: bool) -> dict[str, Any]:
    """bos/eos ids (and names) for config.json: fixed for SentencePiece, after the ranks for tiktoken."""
    if sniff(tokenizer) != TIKTOKEN:
        return {"bos_token_id": 1, "eos_token_id": 2, "bos": "<s>", "eos": "</s>"}
    base = len(_tiktoken_ranks(tokenizer))
    ids = {name: base + i for i, name in enumerate(LLAMA3_SPECIALS)}
    eos: Any = ids["<|end_of_text|>"]
    eos_name = "<|end_of_text|>"
    if chat:
        eos_name = "<|eot_id|>"
        eos = [ids["<|end_of_text|>"], ids["<|eom_id|>"], ids["<|eot_id|>"]] if version != "3" else ids["<|eot_id|>"]
    return {"bos_token_id": ids["<|begin_of_text|>"], "eos_token_id": eos, "bos": "<|begin_of_text|>", "eos": eos_name}


def _byte_chars() -> dict[int, str]:
    """GPT-2's byte -> printable character table of byte-level BPE vocabularies."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def tiktoken_to_tokenizer_json(ranks: dict[bytes, int], bos: str) -> dict[str, Any]:
    """A `tokenizers` byte-level BPE equivalent to tiktoken with these ranks and Llama 3's regex and specials.

    Merges are recovered as transformers' TikTokenConverter does: every split of a token into two tokens of
    the vocabulary, ordered by the merged token's rank; `ignore_merges` makes whole-word vocabulary hits win,
    as in tiktoken.
    """
    chars = _byte_chars()

    def text(b: bytes) -> str:
        return "".join(chars[x] for x in b)

    merges: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], left, right))
    merges.sort()
    base = len(ranks)
    added = [
        {
            "id": base + i,
            "content": name,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, name in enumerate(LLAMA3_SPECIALS)
    ]
    bos_id = base + LLAMA3_SPECIALS.index(bos)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        },
        "post_processor": {
            "type": "Sequence",
            "processors": [
                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                _bos_first(bos, bos_id),
            ],
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": True,
            "vocab": {text(t): r for t, r in sorted(ranks.items(), key=lambda kv: kv[1])},
            "merges": [[text(m[3]), text(m[4])] for m in merges],
        },
    }


def sentencepiece_to_tokenizer_json(path: Path) -> dict[str, Any]:
    """A `tokenizers` BPE equivalent to Llama's SentencePiece model (HF's "legacy" Llama tokenizer.json), so
    HF tools need neither sentencepiece nor protobuf to read it. Merges are every split of a piece into two
    pieces, ordered by the merged piece's score, as transformers' SentencePieceExtractor orders them."""
    from sentencepiece import SentencePieceProcessor

    sp = SentencePieceProcessor(model_file=str(path))
    n = int(sp.get_piece_size())
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    scores = [float(sp.get_score(i)) for i in range(n)]
    merges: list[tuple[float, int, int, str, str]] = []
    for piece, i in vocab.items():
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                merges.append((-scores[i], vocab[left], vocab[right], left, right))
    merges.sort()
    specials = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    added = [
        {
            "id": i,
            "content": sp.id_to_piece(i),
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i in specials
    ]
    bos, bos_id = sp.id_to_piece(sp.bos_id()), int(sp.bos_id())
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
            ],
        },
        "pre_tokenizer": None,
        "post_processor": _bos_first(bos, bos_id),
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": sp.id_to_piece(sp.unk_id()),
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [[m[3], m[4]] for m in merges],
        },
    }


def write_tokenizer(tokenizer: Path, out: Path, version: str, chat: bool, special: dict[str, Any]) -> None:
    """tokenizer.json (+ a copy of a SentencePiece tokenizer.model), tokenizer_config.json, special tokens."""
    ctx = CONTEXT[version]
    kind = sniff(tokenizer)
    config: dict[str, Any] = {"bos_token": special["bos"], "eos_token": special["eos"], "model_max_length": ctx}
    if kind == SENTENCEPIECE:
        shutil.copyfile(tokenizer, out / "tokenizer.model")
        data = sentencepiece_to_tokenizer_json(tokenizer)
        (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        config |= {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "unk_token": "<unk>",
            "pad_token": None,
            "add_bos_token": True,
            "add_eos_token": False,
            "legacy": True,
            "clean_up_tokenization_spaces": False,
        }
        special_map = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
        template = LLAMA2_CHAT_TEMPLATE
    elif kind == TIKTOKEN:
        ranks = _tiktoken_ranks(tokenizer)
        data = tiktoken_to_tokenizer_json(ranks, special["bos"])
        (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        config |= {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"],
        }
        special_map = {"bos_token": special["bos"], "eos_token": special["eos"]}
        template = LLAMA3_CHAT_TEMPLATE
    else:
        raise ValueError(f"{tokenizer} is neither SentencePiece nor tiktoken ({kind})")
    if chat:
        config["chat_template"] = template
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (out / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2), encoding="utf-8")
