"""One run: preflight, device, process group, tokenizer, model, generator, and the stats line."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

import torch

from llamadoctor.facts import Options
from llamadoctor.i18n import _, ngettext
from llamadoctor.output import SETTINGS
from llamadoctor.runner import checkpoint as ckpt
from llamadoctor.runner import distributed, doctor_checks, loader, preflight, quantized_folder
from llamadoctor.runner import tokenizer as tokenizers
from llamadoctor.runner.chat import Dialog, dialog_tokens
from llamadoctor.runner.chat_template import ChatTemplate, bind, encode, find, render
from llamadoctor.runner.device import DTYPE_NAMES, DTYPES, peak_memory_bytes, pick_device, pick_dtype
from llamadoctor.runner.errors import RunError
from llamadoctor.runner.generate import Generator, OnToken, Sampling, Timings


@dataclass(frozen=True)
class RunOptions:
    model_dir: Path
    tokenizer_path: Path | None = None
    max_seq_len: int = 512
    max_batch_size: int = 6
    temperature: float = 0.6
    top_p: float = 0.9
    seed: int = 1
    device: str = "auto"
    dtype: str = "auto"
    compile: bool = False
    quantize: Optional[str] = None  # "int8" | "int4": weight-only, quantized while loading

    def doctor_options(self) -> Options:
        """The run as `llamadoctor check` options, so its checks judge this run."""
        dtype = None if self.dtype == "auto" else self.dtype
        return Options(max_seq_len=self.max_seq_len, max_batch_size=self.max_batch_size, dtype=dtype)


GIB = 1024**3
# The CPU's default precision, from the one that answers like the checkpoint to the one that fits most.
CPU_PRECISIONS = (("fp32", None), ("bf16", None), ("bf16", "int8"))


def available_ram() -> int:
    """Free memory for this run on the CPU (tests replace it)."""
    import psutil

    return int(psutil.virtual_memory().available)


class Session:
    """Everything loaded and ready to generate; build with `Session.open`."""

    def __init__(
        self,
        opts: RunOptions,
        par: distributed.Parallel,
        device: torch.device,
        dtype: torch.dtype,
        tok: tokenizers.Tokenizer,
    ) -> None:
        self.opts, self.par, self.device, self.dtype, self.tok = opts, par, device, dtype, tok
        self.quantize = opts.quantize
        self.fallback = ""  # why the precision is not the default one, when memory chose it
        self.generator: Generator | None = None
        self.load_s = 0.0
        self.timings = Timings()

    @classmethod
    def prepare(cls, opts: RunOptions, env: dict[str, str] | None = None) -> Session:
        """Everything short of loading weights: validation, device, tokenizer. Fails with RunError only."""
        if opts.max_seq_len < 2:
            raise RunError(
                _("--max-seq-len {value} is too small").format(value=opts.max_seq_len), _("use e.g. --max-seq-len 512")
            )
        if opts.max_batch_size < 1:
            raise RunError(
                _("--max-batch-size {value} must be at least 1").format(value=opts.max_batch_size),
                _("use --max-batch-size 1"),
            )
        par = distributed.from_env(os.environ if env is None else env)
        fmt = ckpt.detect_format(opts.model_dir)
        stored = quantized_folder.stored_kind(opts.model_dir) if fmt == ckpt.HF else None
        if stored is not None:  # a folder `convert --quantize` wrote runs at its own quantization
            loader.refuse_stored_mismatch(opts.model_dir, stored, opts.quantize, par)
            opts = dataclasses.replace(opts, quantize=stored.kind)
        doctor_checks.refuse_unless_ready(opts.model_dir, opts.tokenizer_path, opts.doctor_options())
        if fmt == ckpt.META:
            preflight.check_shards_vs_ranks(len(ckpt.list_shards(opts.model_dir)), par.world)
        device = pick_device(opts.device, par.local_rank)
        dtype = pick_dtype(opts.dtype, device)
        tok = tokenizers.load(loader.find_tokenizer(opts.model_dir, opts.tokenizer_path))
        return cls(opts, par, device, dtype, tok)

    @cached_property
    def chat_template(self) -> ChatTemplate | None:
        """The folder's own chat template when it has one, else None for Meta's format (read for chats only)."""
        template = find(self.opts.model_dir)
        return None if template is None else bind(template, self.tok)

    def dialog_tokens(self, dialog: Dialog) -> list[int]:
        if self.chat_template is None:
            return dialog_tokens(dialog, self.tok)
        return encode(self.chat_template, render(self.chat_template, dialog), self.tok)

    def check_prompts(self, prompts: Sequence[list[int]], texts: Sequence[str]) -> None:
        preflight.check_prompts(prompts, self.opts.max_seq_len, texts)

    def load(self) -> None:
        started = time.perf_counter()
        distributed.init(self.par, self.device.type)
        state = loader.read_rank_state(self.opts.model_dir, self.par)
        preflight.check_vocab(state.args, self.tok.n_words)
        self._fit_default_precision(state)
        self._check_memory(state)
        model = loader.build_model(state, self.par, self.device, self.dtype, self.quantize, self.opts.compile)
        del state
        # Same seed on every rank: sampled tokens must agree across model-parallel processes.
        torch.manual_seed(self.opts.seed)
        self.generator = Generator(
            model,
            self.opts.max_batch_size,
            self.opts.max_seq_len,
            self.tok.stop_ids,
            compile=self.opts.compile,
            warn=self._warn,
        )
        self.load_s = time.perf_counter() - started

    def _warn(self, message: str) -> None:
        if self.par.rank == 0 and not SETTINGS.quiet:
            print(message, file=sys.stderr, flush=True)

    def _estimate(self, state: loader.RankState) -> Any:
        return preflight.memory_needed(
            state.args,
            DTYPE_NAMES[self.dtype],
            self.device.type,
            self.opts.max_seq_len,
            self.opts.max_batch_size,
            self.par.world,
            self.quantize,
        )

    def _fit_default_precision(self, state: loader.RankState) -> None:
        """On the CPU with no --dtype or --quantize: fp32 when it fits in free memory, else bf16, else int8
        (the first that fits), said on one line; never a load that would swap or be killed."""
        if self.device.type != "cpu" or self.opts.dtype != "auto" or self.quantize is not None:
            return
        first = self._estimate(state)
        available = available_ram()
        if first.needed_bytes <= available:
            return
        for dtype, quantize in CPU_PRECISIONS[1:]:
            self.dtype, self.quantize = DTYPES[dtype], quantize
            est = self._estimate(state)
            if est.needed_bytes <= available:
                # TRANSLATORS: {precision} is what runs instead, e.g. "bf16" or "bf16 + int8".
                said = _("fp32 would need {needed} GiB of the {free} GiB free: running {precision} ({used} GiB)")
                self.fallback = said.format(
                    needed=f"{first.needed_bytes / GIB:.1f}",
                    free=f"{available / GIB:.1f}",
                    precision=est.precision,
                    used=f"{est.needed_bytes / GIB:.1f}",
                )
                self._warn(self.fallback)
                return
        # Nothing fits: the memory check reports it for the smallest of them.

    def _check_memory(self, state: loader.RankState) -> None:
        est = self._estimate(state)
        if self.device.type == "cuda":
            free = torch.cuda.mem_get_info(self.device)[0]
            preflight.check_memory(est, free, _("GPU {index}").format(index=self.device.index))
        elif self.device.type == "cpu":
            preflight.check_memory(est, available_ram(), _("this machine"))

    def generate(
        self, prompts: Sequence[list[int]], max_gen_len: int, on_token: OnToken | None = None
    ) -> list[list[int]]:
        assert self.generator is not None, "call load() first"
        sampling = Sampling(max_gen_len=max_gen_len, temperature=self.opts.temperature, top_p=self.opts.top_p)
        return self.generator.generate(prompts, sampling, self.timings, on_token)

    def stats(self) -> dict[str, Any]:
        t = self.timings
        return {
            "load_s": round(self.load_s, 3),
            "first_token_s": None if t.first_token_s is None else round(t.first_token_s, 4),
            "decode_tokens": t.decode_tokens,
            "decode_tok_s": round(t.decode_tok_s, 2),
            "compile_s": round(t.compile_s, 2),
            "peak_memory_bytes": peak_memory_bytes(self.device),
            "device": str(self.device),
            "dtype": DTYPE_NAMES[self.dtype],
            "quantize": self.quantize,
            "fallback": self.fallback or None,
            "world_size": self.par.world,
            "batches": list(t.batches),
        }

    def close(self) -> None:
        distributed.shutdown(self.par)


def stats_line(stats: dict[str, Any]) -> str:
    """The one line of figures after a run, for people (`--json` prints `stats` itself)."""
    if stats["first_token_s"] is None:
        first = _("n/a")
    else:
        first = _("{seconds} s").format(seconds=f"{stats['first_token_s']:.3f}")
    if stats.get("compile_s"):
        first = _("{first} (after a {seconds} s compile)").format(first=first, seconds=f"{stats['compile_s']:.1f}")
    setup = f"{stats['device']}, {stats['dtype']}" + (f" + {stats['quantize']}" if stats.get("quantize") else "")
    if stats.get("fallback"):
        # TRANSLATORS: {setup} is the device and precision ("cpu, bf16"); {fallback} why that precision was chosen.
        setup = _("{setup}; {fallback}").format(setup=setup, fallback=stats["fallback"])
    if stats["world_size"] > 1:
        world = stats["world_size"]
        setup = ngettext("{setup}, {count} rank", "{setup}, {count} ranks", world).format(setup=setup, count=world)
    # TRANSLATORS: the figures of a run; "tok/s" is tokens per second, {setup} the device and precision.
    return _("load {load} s · first token {first} · decode {speed} tok/s · peak mem {memory} GiB ({setup})").format(
        load=f"{stats['load_s']:.2f}",
        first=first,
        speed=f"{stats['decode_tok_s']:.1f}",
        memory=f"{stats['peak_memory_bytes'] / 1024**3:.2f}",
        setup=setup,
    )
