"""Random Llamas at the sizes people run, as Hugging Face folders that both our runner and llama.cpp's converter read.

    from random_llamas import write_model
    folder = write_model("1.1B", root, torch.float32)     # config.json, safetensors shards, tokenizer.model

The weights are written one layer at a time, each layer to its own safetensors shard, so a 7B folder (13.5 GB in
bf16) is written without ever holding the whole model in memory. The tokenizer is a small SentencePiece model
trained here and padded with unused pieces to the model's 32000 rows: both our runner (which refuses a tokenizer
whose size differs from the embedding table) and the converter then accept the folder. Nothing is downloaded.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import torch

# The tiny-model builders live with the tests (they are not shipped); the benchmarks run from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from llamadoctor.llama.layout import hf_key_from_meta
from llamadoctor.runner.args import ModelArgs, to_hf_config

from builders import llamas

VOCAB = 32000
SHAPES = {
    # Small shapes for the CPU mode of the acceptance script (seconds, not minutes).
    "tiny": {"dim": 256, "n_layers": 2, "n_heads": 4, "multiple_of": 32},
    "15M": {"dim": 288, "n_layers": 6, "n_heads": 6, "multiple_of": 32},
    "110M": {"dim": 768, "n_layers": 12, "n_heads": 12, "multiple_of": 32},
    # TinyLlama's 5632 is not Meta's rule for dim 2048: stated.
    "1.1B": {"dim": 2048, "n_layers": 22, "n_heads": 32, "n_kv_heads": 4, "multiple_of": 256, "ffn_hidden_dim": 5632},
    "7B": {"dim": 4096, "n_layers": 32, "n_heads": 32, "multiple_of": 256},
}


def model_args(shape: str) -> ModelArgs:
    return ModelArgs(vocab_size=VOCAB, **SHAPES[shape])


def parameter_count(shape: str) -> int:
    return model_args(shape).n_params()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _unused_piece(text: str) -> bytes:
    """One SentencePiece `pieces` entry in protobuf wire format: piece text, a score, and type UNUSED (5)."""
    raw = text.encode()
    body = b"\x0a" + _varint(len(raw)) + raw + b"\x15" + struct.pack("<f", -1e9) + b"\x18" + _varint(5)
    return b"\x0a" + _varint(len(body)) + body


def write_padded_tokenizer(path: Path, n_words: int = VOCAB) -> Path:
    """A trained SentencePiece model with unused pieces appended up to `n_words` (a repeated protobuf field may
    continue anywhere in the message, so appending the entries to the file is enough)."""
    import sentencepiece as spm

    llamas.train_sentencepiece(path)
    trained = spm.SentencePieceProcessor(model_file=str(path)).vocab_size()
    extra = b"".join(_unused_piece(f"<unused{i}>") for i in range(trained, n_words))
    path.write_bytes(path.read_bytes() + extra)
    return path


class _Draw:
    """Random tensors drawn in order from one seeded generator, scaled as a trained Llama's roughly are."""

    def __init__(self, seed: int, device: str, dtype: torch.dtype) -> None:
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.device, self.dtype = device, dtype

    def matrix(self, rows: int, cols: int) -> torch.Tensor:
        t = torch.randn(rows, cols, generator=self.gen, device=self.device) / cols**0.5
        return t.to(self.dtype).cpu()

    def norm(self, dim: int) -> torch.Tensor:
        return (1 + 0.1 * torch.randn(dim, generator=self.gen, device=self.device)).to(self.dtype).cpu()


def _layer(args: ModelArgs, i: int, draw: _Draw) -> dict[str, torch.Tensor]:
    hd, kv, hidden, dim, p = args.head_dim, args.kv_heads, args.hidden_dim, args.dim, f"layers.{i}."
    return {
        p + "attention.wq.weight": draw.matrix(args.n_heads * hd, dim),
        p + "attention.wk.weight": draw.matrix(kv * hd, dim),
        p + "attention.wv.weight": draw.matrix(kv * hd, dim),
        p + "attention.wo.weight": draw.matrix(dim, args.n_heads * hd),
        p + "feed_forward.w1.weight": draw.matrix(hidden, dim),
        p + "feed_forward.w2.weight": draw.matrix(dim, hidden),
        p + "feed_forward.w3.weight": draw.matrix(hidden, dim),
        p + "attention_norm.weight": draw.norm(dim),
        p + "ffn_norm.weight": draw.norm(dim),
    }


def write_model(shape: str, root: Path, dtype: torch.dtype, seed: int = 0, device: str = "cpu") -> Path:
    """`root/<shape>-<dtype>`: an HF folder of random weights, written layer by layer; reused when complete.
    `device` is where the random numbers are drawn (a GPU draws 7B's in seconds)."""
    from safetensors.torch import save_file

    folder = root / f"{shape}-{str(dtype).replace('torch.', '')}"
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    args = model_args(shape)
    draw = _Draw(seed, device, dtype)
    n_files = args.n_layers + 1
    weight_map: dict[str, str] = {}
    total = 0

    def save(k: int, tensors: dict[str, torch.Tensor]) -> None:
        nonlocal total
        name = f"model-{k + 1:05d}-of-{n_files:05d}.safetensors"
        hf = {hf_key_from_meta(key): t.contiguous() for key, t in tensors.items()}
        save_file(hf, str(folder / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(hf, name))
        total += sum(t.numel() * t.element_size() for t in hf.values())

    for i in range(args.n_layers):
        save(i, _layer(args, i, draw))
    top = {
        "tok_embeddings.weight": draw.matrix(args.vocab_size, args.dim),
        "norm.weight": draw.norm(args.dim),
        "output.weight": draw.matrix(args.vocab_size, args.dim),
    }
    save(args.n_layers, top)
    config = to_hf_config(args, max_position=4096, bos_id=1, eos_id=2)
    config["torch_dtype"] = str(dtype).replace("torch.", "")
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    write_padded_tokenizer(folder / "tokenizer.model", args.vocab_size)
    # The index last: its presence marks a complete folder.
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    index_path.write_text(json.dumps(index, indent=2))
    return folder
