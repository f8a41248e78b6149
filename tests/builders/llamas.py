"""Tiny random Llama checkpoints in every format, for the tests and the benchmarks.

Nothing is downloaded: the SentencePiece tokenizer is trained here on a few sentences, the tiktoken file is
written here from a small BPE learned the same way. Typical use::

    from builders import llamas
    model_dir = llamas.make_model_dir(tmp_path / "llama-2-tiny-chat", family="llama2", fmt="meta", shards=2)
    model_dir = llamas.make_model_dir(tmp_path / "tiny-instruct", family="llama3.1", fmt="hf", hf_shards=2)

`make_model_dir` writes weights + params.json/config.json + tokenizer.model into the folder and returns it.
The same weights (seed) give the same network in every format, so outputs can be compared across formats.
Lower-level pieces: `tiny_args`, `random_state` (Meta key names and layout), `write_meta`, `write_hf`,
`train_sentencepiece`, `write_tiktoken`, and Hugging Face tokenizer.json files: `write_llama2_tokenizer_json`,
`write_llama3_tokenizer_json`, `make_hf_dir_with_tokenizer_json`.
"""

from __future__ import annotations

import base64
import collections
import json
import re
from pathlib import Path
from typing import Any

import torch

from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner import tokenizer as tk
from llamadoctor.runner.args import ModelArgs, to_hf_config
from llamadoctor.runner.chat import DEFAULT_SYSTEM_PROMPT, PARIS_ANSWER, REFERENCE_PROMPTS

FAMILIES = ("llama1", "llama2", "llama3", "llama3.1")

CORPUS = [
    PARIS_ANSWER,
    DEFAULT_SYSTEM_PROMPT,
    *REFERENCE_PROMPTS,
    "what is the recipe of mayonnaise? Whisk an egg yolk with mustard, then add oil drop by drop.",
    "I am going to Paris, what should I see? What is so great about #1? How to go from Beijing to NY?",
    "Always answer with Haiku. Always answer with emojis. Write a brief birthday message to John.",
    "The quick brown fox jumps over the lazy dog. Hello world, hello llama, hello doctor 0123456789.",
    "[INST] <<SYS>> <</SYS>> [/INST] user assistant system: tokens, weights, shards and tensors.",
]


def tiny_args(family: str = "llama2", vocab_size: int = -1, dim: int = 64, n_layers: int = 2) -> ModelArgs:
    """A small model: Llama 1/2 (MHA, theta 1e4), Llama 3 (GQA, theta 5e5), 3.1 (+ scaled RoPE)."""
    if family in ("llama1", "llama2"):
        return ModelArgs(
            dim=dim,
            n_layers=n_layers,
            n_heads=4,
            vocab_size=vocab_size,
            multiple_of=32,
            norm_eps=1e-6 if family == "llama1" else 1e-5,
        )
    if family in ("llama3", "llama3.1"):
        return ModelArgs(
            dim=dim,
            n_layers=n_layers,
            n_heads=4,
            n_kv_heads=2,
            vocab_size=vocab_size,
            multiple_of=32,
            ffn_dim_multiplier=1.3,
            rope_theta=500000.0,
            use_scaled_rope=family == "llama3.1",
        )
    raise ValueError(f"family must be one of {FAMILIES}")


def random_state(args: ModelArgs, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random weights under Meta key names and Meta's (interleaved) rotary layout; norms near 1."""
    g = torch.Generator().manual_seed(seed)

    def w(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=g) / shape[-1] ** 0.5).to(dtype)

    def norm() -> torch.Tensor:
        return (1 + 0.1 * torch.randn(args.dim, generator=g)).to(dtype)

    hd, kv, hidden = args.head_dim, args.kv_heads, args.hidden_dim
    state = {"tok_embeddings.weight": w(args.vocab_size, args.dim)}
    for i in range(args.n_layers):
        p = f"layers.{i}."
        state |= {
            p + "attention.wq.weight": w(args.n_heads * hd, args.dim),
            p + "attention.wk.weight": w(kv * hd, args.dim),
            p + "attention.wv.weight": w(kv * hd, args.dim),
            p + "attention.wo.weight": w(args.dim, args.n_heads * hd),
            p + "feed_forward.w1.weight": w(hidden, args.dim),
            p + "feed_forward.w2.weight": w(args.dim, hidden),
            p + "feed_forward.w3.weight": w(hidden, args.dim),
            p + "attention_norm.weight": norm(),
            p + "ffn_norm.weight": norm(),
        }
    state["norm.weight"] = norm()
    state["output.weight"] = w(args.vocab_size, args.dim)
    return state


def meta_params(args: ModelArgs, family: str) -> dict[str, Any]:
    """params.json as Meta writes it for that family (vocab_size -1 for Llama 1/2)."""
    params: dict[str, Any] = {
        "dim": args.dim,
        "multiple_of": args.multiple_of,
        "n_heads": args.n_heads,
        "n_layers": args.n_layers,
        "norm_eps": args.norm_eps,
        "vocab_size": -1,
    }
    if family in ("llama3", "llama3.1"):
        params |= {
            "n_kv_heads": args.kv_heads,
            "vocab_size": args.vocab_size,
            "ffn_dim_multiplier": args.ffn_dim_multiplier,
            "rope_theta": args.rope_theta,
        }
    if family == "llama3.1":
        params["use_scaled_rope"] = True
    return params


def write_meta(model_dir: Path, args: ModelArgs, state: dict[str, torch.Tensor], family: str, shards: int = 1) -> Path:
    """consolidated.NN.pth split by Meta's table (+ the `rope.freqs` Meta ships) and params.json."""
    model_dir.mkdir(parents=True, exist_ok=True)
    emb = ckpt.EMBEDDING_SPLIT_DIM["llama3" if family.startswith("llama3") else "llama1/2"]
    freqs = 1.0 / (args.rope_theta ** (torch.arange(0, args.head_dim, 2).float() / args.head_dim))
    for rank in range(shards):
        part = {k: ckpt.split_tensor(k, t, rank, shards, emb).clone() for k, t in state.items()}
        part["rope.freqs"] = freqs.to(state["norm.weight"].dtype)
        torch.save(part, model_dir / f"consolidated.{rank:02d}.pth")
    (model_dir / "params.json").write_text(json.dumps(meta_params(args, family)))
    return model_dir


def write_hf(
    model_dir: Path,
    args: ModelArgs,
    state: dict[str, torch.Tensor],
    shards: int = 1,
    bos_id: int = 1,
    eos_id: int = 2,
) -> Path:
    """model.safetensors (or model-0000K-of-0000N + index) with HF names and q/k permuted, and config.json."""
    from safetensors.torch import save_file

    model_dir.mkdir(parents=True, exist_ok=True)
    hf: dict[str, torch.Tensor] = {}
    for key, t in state.items():
        name = ckpt.hf_key_from_meta(key)
        if name is None:
            continue
        if key.endswith("attention.wq.weight"):
            t = ckpt.permute_to_hf(t, args.n_heads)
        elif key.endswith("attention.wk.weight"):
            t = ckpt.permute_to_hf(t, args.kv_heads)
        hf[name] = t.contiguous().clone()
    names = list(hf)
    if shards == 1:
        save_file(hf, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map: dict[str, str] = {}
        for k in range(shards):
            fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
            chunk = names[k::shards]
            save_file({n: hf[n] for n in chunk}, str(model_dir / fname), metadata={"format": "pt"})
            weight_map |= {n: fname for n in chunk}
        total = sum(t.numel() * t.element_size() for t in hf.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (model_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config = to_hf_config(args, max_position=131072 if args.use_scaled_rope else 4096, bos_id=bos_id, eos_id=eos_id)
    config["torch_dtype"] = str(state["norm.weight"].dtype).replace("torch.", "")
    (model_dir / "config.json").write_text(json.dumps(config, indent=2))
    return model_dir


def train_sentencepiece(path: Path, vocab_size: int = 400) -> Path:
    """A Llama-style SentencePiece BPE (unk 0, bos 1, eos 2, no pad, byte fallback) trained on CORPUS."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        byte_fallback=True,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return path


def write_tiktoken(path: Path, merges: int = 120) -> Path:
    """A tiktoken BPE file (`base64(bytes) rank` per line, Llama 3's format): 256 bytes + learned merges."""
    words = collections.Counter(re.findall(r" ?[^\s]+|\s+", " ".join(CORPUS)))
    seqs = {w: [bytes([b]) for b in w.encode()] for w in words}
    vocab = [bytes([b]) for b in range(256)]
    for _ in range(merges):
        pairs: collections.Counter[tuple[bytes, bytes]] = collections.Counter()
        for w, seq in seqs.items():
            for a, b in zip(seq, seq[1:]):
                pairs[(a, b)] += words[w]
        if not pairs:
            break
        (a, b), _ = pairs.most_common(1)[0]
        vocab.append(a + b)
        for w, seq in seqs.items():
            i, out = 0, []
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for r, t in enumerate(vocab)))
    return path


def tokenizer_vocab(path: Path) -> int:
    """n_words of a tokenizer file written by the two functions above."""
    from llamadoctor.runner.tokenizer import load

    return load(path).n_words


def make_model_dir(
    model_dir: Path,
    family: str = "llama2",
    fmt: str = "meta",
    shards: int = 1,
    hf_shards: int = 1,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    tokenizer: Path | None = None,
) -> Path:
    """A complete tiny model folder (weights, params/config, tokenizer.model) of a family in a format.

    `shards` is Meta's model-parallel file count; `hf_shards` the number of safetensors files. Pass
    `tokenizer` to reuse an already trained/written tokenizer file (saves ~0.1 s per call).
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    tok_path = model_dir / "tokenizer.model"
    if tokenizer is not None:
        tok_path.write_bytes(tokenizer.read_bytes())
    elif family.startswith("llama3"):
        write_tiktoken(tok_path)
    else:
        train_sentencepiece(tok_path)
    args = tiny_args(family, vocab_size=tokenizer_vocab(tok_path))
    state = random_state(args, seed=seed, dtype=dtype)
    if fmt == "meta":
        return write_meta(model_dir, args, state, family, shards=shards)
    bos, eos = (args.vocab_size - 256, args.vocab_size - 255) if family.startswith("llama3") else (1, 2)
    return write_hf(model_dir, args, state, shards=hf_shards, bos_id=bos, eos_id=eos)


def write_llama2_tokenizer_json(path: Path) -> Path:
    """A tokenizer.json laid out as Hugging Face's Llama 2 one: SentencePiece-style "▁" pieces, <unk> <s> </s>."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def write_llama3_tokenizer_json(path: Path) -> Path:
    """A tokenizer.json laid out as Hugging Face's Llama 3 one: byte-level BPE, Llama 3's split pattern and
    its 256 special tokens after the base vocabulary."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(tk.LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.add_special_tokens(tk.LLAMA3_SPECIALS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def make_hf_dir_with_tokenizer_json(folder: Path, family: str) -> Path:
    """A tiny HF-format model whose vocabulary is its tokenizer.json's, and no tokenizer.model."""
    write = write_llama3_tokenizer_json if family.startswith("llama3") else write_llama2_tokenizer_json
    tok = write(folder / "tokenizer.json")
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tok)).get_vocab_size(with_added_tokens=True)
    args = tiny_args(family, vocab_size=vocab)
    return write_hf(folder, args, random_state(args))
