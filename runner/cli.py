"""`llamadoctor run chat|text|smoke`: the bundled Llama runner's commands.

Importing this module must stay cheap (the doctor imports it at start): torch, sentencepiece, tiktoken and
safetensors are imported inside the commands, and a missing torch is one line pointing at the `run` extra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer

from llamadoctor import errors
from llamadoctor.cli_options import QuietOpt
from llamadoctor.errors import HandledGroup, UsageError, path_option, readable_dir
from llamadoctor.i18n import N_, _
from llamadoctor.jsonable import document

app = typer.Typer(
    cls=HandledGroup,
    help="Run Llama locally: the reference chat and text examples, or a device smoke test.",
    no_args_is_help=True,
    add_completion=False,
)

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "bf16", "fp16", "fp32")
QUANTIZATIONS = ("int8", "int4")
INSTALL_HINT = (N_("`llamadoctor run` needs PyTorch"), "pip install 'llamadoctor[run]'")
MODEL_DIR_FIX = N_("give the folder with params.json and consolidated.*.pth, or a Hugging Face model folder")
# Below this a temperature divides logits into infinities; 0 already means greedy.
MIN_TEMPERATURE = 1e-6
T = TypeVar("T")

ModelDir = path_option("--model-dir", help="Folder with params.json + consolidated.*.pth, or an HF folder.")
TokenizerPath = path_option("--tokenizer-path", default=None, help="tokenizer.model (default: beside the weights).")
MaxSeqLen = typer.Option(512, "--max-seq-len", **errors.SEQ_LEN, help="Longest prompt + answer in tokens.")
MaxBatch = typer.Option(
    6, "--max-batch-size", **errors.BATCH_SIZE, help="Prompts per batch; more run in several batches."
)
Temperature = typer.Option(0.6, "--temperature", **errors.TEMPERATURE, help="0 is greedy.")
TopP = typer.Option(
    0.9, "--top-p", **errors.TOP_P, help="Sample from the smallest set of tokens this likely (0 < p <= 1)."
)
Seed = typer.Option(1, "--seed", **errors.SEED, help="Same seed on every rank, as Meta's reference.")
Device = typer.Option("auto", "--device", help="auto, cuda, mps or cpu.")
Dtype = typer.Option("auto", "--dtype", help="auto (bf16 on Ampere+, fp16 older GPUs, fp32 CPU), bf16, fp16, fp32.")
TextPrompts = typer.Option(None, "--prompt", help="Prompt(s); default: Meta's four.")
ChatPrompt = typer.Option(None, "--prompt", help="One user message; default: Meta's dialogs.")
SystemPrompt = typer.Option(None, "--system", help="A system message before the user's.")
ChatMaxGenLen = typer.Option(None, "--max-gen-len", **errors.GEN_LEN, help="Default: up to --max-seq-len.")
Compile = typer.Option(
    False,
    "--compile",
    help="torch.compile the decode step once before the first answer (on the CPU it needs a C++ compiler): "
    "faster decoding, most for small models; the README's benchmark section has figures.",
)
Quantize = typer.Option(
    None,
    "--quantize",
    help="int8 or int4: weight-only quantization while loading (7B in about 7 or 4 GB); activations keep --dtype.",
)
Json = typer.Option(False, "--json", help="Print results and stats as JSON.")


def _guarded(body: Callable[[], T], quiet: bool = False) -> T:
    """Run a command body once torch is known to import; its errors are HandledGroup's to report. `quiet`:
    the command's own -q, which silences status lines and figures as the one before the command does."""
    from llamadoctor.output import configure, status
    from llamadoctor.runner.errors import RunError

    configure(quiet=quiet)
    try:
        with status(_("Importing torch...")):
            import torch  # noqa: F401
    except ImportError:
        raise RunError(_(INSTALL_HINT[0]), INSTALL_HINT[1]) from None
    return body()


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        # TRANSLATORS: {name} is the option's name without dashes: device, dtype or quantize.
        raise UsageError(
            _("unknown {name} {value}").format(name=name, value=repr(value)),
            _("use --{name} {choices}").format(name=name, choices=", ".join(choices)),
        )


def _options(
    model_dir: Path,
    tokenizer_path: Optional[Path],
    max_seq_len: int,
    max_batch_size: int,
    temperature: float,
    top_p: float,
    seed: int,
    device: str,
    dtype: str,
    compile: bool,
    quantize: Optional[str] = None,
) -> dict[str, Any]:
    """RunOptions fields, validated; the dataclass itself is built inside the guard (its module imports torch)."""
    _check_choice("device", device, DEVICES)
    _check_choice("dtype", dtype, DTYPES)
    if quantize is not None:
        _check_choice("quantize", quantize, QUANTIZATIONS)
    readable_dir(model_dir, "--model-dir", _(MODEL_DIR_FIX))
    if 0 < temperature < MIN_TEMPERATURE:
        raise UsageError(
            _("--temperature {value} is too small to sample with").format(value=temperature),
            _("use 0 for greedy decoding"),
        )
    return dict(
        model_dir=model_dir,
        tokenizer_path=tokenizer_path,
        max_seq_len=max_seq_len,
        max_batch_size=max_batch_size,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        device=device,
        dtype=dtype,
        compile=compile,
        quantize=quantize,
    )


def _utf8(option: str, values: Optional[list[str]]) -> None:
    from llamadoctor.runner.prompt import is_utf8

    if any(not is_utf8(v) for v in values or ()):
        raise UsageError(
            _("{option} is not valid UTF-8 text").format(option=option),
            _("pass it in UTF-8 (check the terminal's encoding)"),
        )


@app.command()
def text(
    model_dir: Path = ModelDir,
    prompt: Optional[list[str]] = TextPrompts,
    max_gen_len: int = typer.Option(64, "--max-gen-len", **errors.GEN_LEN, help="Most tokens to generate per prompt."),
    tokenizer_path: Optional[Path] = TokenizerPath,
    max_seq_len: int = MaxSeqLen,
    max_batch_size: int = MaxBatch,
    temperature: float = Temperature,
    top_p: float = TopP,
    seed: int = Seed,
    device: str = Device,
    dtype: str = Dtype,
    compile: bool = Compile,
    quantize: Optional[str] = Quantize,
    as_json: bool = Json,
    quiet: QuietOpt = False,
) -> None:
    """Complete text prompts (default: the four of Meta's example_text_completion.py)."""
    opts = _options(
        model_dir,
        tokenizer_path,
        max_seq_len,
        max_batch_size,
        temperature,
        top_p,
        seed,
        device,
        dtype,
        compile,
        quantize,
    )

    _utf8("--prompt", prompt)

    def body() -> None:
        from llamadoctor.runner import commands
        from llamadoctor.runner.session import RunOptions

        commands.run_text(RunOptions(**opts), list(prompt or []), max_gen_len, as_json)

    _guarded(body, quiet)


@app.command()
def chat(
    model_dir: Path = ModelDir,
    prompt: Optional[str] = ChatPrompt,
    system: Optional[str] = SystemPrompt,
    interactive: bool = typer.Option(
        False, "--interactive", "-i", help="Chat turn by turn in the terminal; /help there lists the keys."
    ),
    max_gen_len: Optional[int] = ChatMaxGenLen,
    tokenizer_path: Optional[Path] = TokenizerPath,
    max_seq_len: int = MaxSeqLen,
    max_batch_size: int = MaxBatch,
    temperature: float = Temperature,
    top_p: float = TopP,
    seed: int = Seed,
    device: str = Device,
    dtype: str = Dtype,
    compile: bool = Compile,
    quantize: Optional[str] = Quantize,
    as_json: bool = Json,
    quiet: QuietOpt = False,
) -> None:
    """Answer dialogs in Meta's chat format (default: the dialogs of Meta's example_chat_completion.py)."""
    opts = _options(
        model_dir,
        tokenizer_path,
        max_seq_len,
        max_batch_size,
        temperature,
        top_p,
        seed,
        device,
        dtype,
        compile,
        quantize,
    )

    _utf8("--prompt", [prompt] if prompt is not None else None)
    _utf8("--system", [system] if system is not None else None)

    def body() -> None:
        from llamadoctor.runner import commands
        from llamadoctor.runner.session import RunOptions

        if interactive:
            from llamadoctor.runner.interactive import run_interactive

            run_interactive(RunOptions(**opts), system, max_gen_len)
        else:
            commands.run_chat(RunOptions(**opts), prompt, system, max_gen_len, as_json)

    _guarded(body, quiet)


@app.command()
def smoke(
    device: str = Device,
    dtype: str = Dtype,
    tokens: int = typer.Option(48, "--tokens", min=1, max=4096, help="Tokens to generate for the speed figure."),
    as_json: bool = Json,
    quiet: QuietOpt = False,
) -> None:
    """Check this device's torch stack with a small random Llama: logits vs fp32 CPU, then tokens/s."""
    _check_choice("device", device, DEVICES)
    _check_choice("dtype", dtype, DTYPES)

    def body() -> None:
        from llamadoctor.output import SETTINGS, status
        from llamadoctor.runner.smoke import format_report, run_smoke

        working = _("Smoke test: a small random Llama on {device}, then {tokens} tokens...")
        with status(working.format(device=device, tokens=tokens), enabled=not as_json):
            report = run_smoke(device, dtype, tokens)
        typer.echo(
            json.dumps(document("smoke", report), indent=2) if as_json else format_report(report, quiet=SETTINGS.quiet)
        )
        if not report["ok"]:
            raise typer.Exit(1)

    _guarded(body, quiet)


def main() -> None:  # pragma: no cover - `python -m llamadoctor.runner.cli` while the lead's CLI is not there
    app(prog_name="llamadoctor run")


if __name__ == "__main__":  # pragma: no cover
    main()
