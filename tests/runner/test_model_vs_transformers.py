"""Our model on every checkpoint format gives transformers' LlamaForCausalLM logits and greedy tokens."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import LlamaForCausalLM

from llamadoctor.runner import loader
from llamadoctor.runner.distributed import SINGLE
from llamadoctor.runner.generate import Generator, Sampling, Timings, next_tokens
from llamadoctor.runner.model import Transformer
from llamadoctor.runner.tokenizer import load as load_tokenizer

from builders import llamas

FORMATS = [("meta", 1, 1), ("meta", 2, 1), ("hf", 1, 1), ("hf", 1, 3)]
PROMPT = "I am going to Paris, what should I see? The Eiffel Tower"


def _reference(model_dir) -> LlamaForCausalLM:
    return LlamaForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()


def _ours(model_dir) -> Transformer:
    return loader.load(model_dir, SINGLE, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("family", ["llama1", "llama2", "llama3", "llama3.1"])
@pytest.mark.parametrize(("fmt", "shards", "hf_shards"), FORMATS)
def test_logits_match_transformers(model_dir, family, fmt, shards, hf_shards) -> None:
    ours = _ours(model_dir(family, fmt, shards, hf_shards))
    ref = _reference(model_dir(family, "hf"))
    tok = load_tokenizer(model_dir(family, fmt, shards, hf_shards) / "tokenizer.model")
    ids = torch.tensor([tok.encode(PROMPT, bos=True, eos=False)])
    ours.setup_cache(1, 64)
    got = ours(ids, 0, all_logits=True)
    with torch.no_grad():
        want = ref(ids).logits
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", ["llama2", "llama3.1"])
def test_greedy_tokens_match_transformers_generate(model_dir, family) -> None:
    meta = model_dir(family, "meta", 2)
    tok = load_tokenizer(meta / "tokenizer.model")
    prompt = tok.encode(PROMPT, bos=True, eos=False)
    generator = Generator(_ours(meta), max_batch_size=1, max_seq_len=64, stop_ids=frozenset())
    ours = generator.generate([prompt], Sampling(max_gen_len=24, temperature=0), Timings())[0]
    ref = _reference(model_dir(family, "hf"))
    with torch.no_grad():
        out = ref.generate(
            torch.tensor([prompt]),
            max_new_tokens=24,
            min_new_tokens=24,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
    assert ours == out[0, len(prompt) :].tolist()


def test_incremental_decode_equals_full_forward(model_dir) -> None:
    model = _ours(model_dir("llama3", "meta"))
    ids = torch.arange(3, 23).unsqueeze(0)
    model.setup_cache(1, 32)
    full = model(ids, 0, all_logits=True)
    model.setup_cache(1, 32)
    model(ids[:, :7], 0)
    model(ids[:, 7:12], 7)  # a chunk at an offset: mask must see the cached prefix
    steps = [model(ids[:, i : i + 1], i)[:, -1] for i in range(12, 20)]
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 12:20], atol=1e-5, rtol=1e-5)


def test_llama31_scaled_rope_changes_the_output() -> None:
    args = llamas.tiny_args("llama3.1", vocab_size=300)
    state = llamas.random_state(args)
    ids = torch.arange(1, 40).unsqueeze(0)
    outs = []
    for scaled in (True, False):
        model = Transformer(dataclasses.replace(args, use_scaled_rope=scaled))
        model.load_state_dict(state)
        model.setup_cache(1, 64)
        outs.append(model(ids, 0, all_logits=True))
    assert not torch.allclose(outs[0], outs[1], atol=1e-3)


def test_batched_prompts_of_different_lengths_match_one_by_one(model_dir) -> None:
    model = _ours(model_dir("llama2", "meta"))
    prompts = [[1, 5, 9, 200], [1, 7], [1, 30, 31, 32, 33, 34, 35]]
    sampling = Sampling(max_gen_len=10, temperature=0)
    batched = Generator(model, 3, 64, frozenset()).generate(prompts, sampling, Timings())
    single = [Generator(model, 1, 64, frozenset()).generate([p], sampling, Timings())[0] for p in prompts]
    assert batched == single


def test_decode_step_equals_the_sliced_cache_path(model_dir) -> None:
    """The one-token step (the one torch.compile captures) gives the logits of a whole-sequence forward."""
    model = _ours(model_dir("llama3.1", "hf"))
    ids = torch.arange(5, 17).unsqueeze(0)
    model.setup_cache(1, 32)
    full = model(ids, 0, all_logits=True)
    model.setup_cache(1, 32)
    model(ids[:, :4], 0)
    steps = [model.logits(model.decode_hidden(ids[:, i : i + 1], torch.arange(i + 1)))[:, -1] for i in range(4, 12)]
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 4:12], atol=1e-5, rtol=1e-5)


def test_greedy_picks_the_first_of_tied_maxima_as_torch_does() -> None:
    logits = torch.randn(3, 500)
    logits[0, [7, 400]] = 50.0  # a tie: the first index wins
    logits[2, 499] = 60.0
    picked = next_tokens(logits, temperature=0, top_p=0.9)
    assert picked.dtype == torch.long and picked.tolist() == torch.argmax(logits, dim=-1).tolist()
    assert picked.tolist()[0] == 7 and picked.tolist()[2] == 499
