"""`run text|chat|smoke` as a user sees them: outputs, batching, JSON, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from torch._dynamo.utils import counters
from typer.testing import CliRunner

from llamadoctor.redact import escape_controls
from llamadoctor.runner import chat, loader
from llamadoctor.runner.cli import app
from llamadoctor.runner.distributed import SINGLE
from llamadoctor.runner.generate import Generator, Sampling, Timings

runner = CliRunner()
GREEDY = ["--temperature", "0", "--device", "cpu"]
LONG = ["--max-seq-len", "1024"]  # the tiny test tokenizers need more tokens than the real ones


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_text_runs_the_four_reference_prompts_in_batches_beyond_max_batch_size(model_dir) -> None:
    folder = model_dir("llama2", "meta", 2)
    whole = run_json("text", "--model-dir", folder, "--max-gen-len", "12", *GREEDY)
    split = run_json("text", "--model-dir", folder, "--max-gen-len", "12", "--max-batch-size", "3", *GREEDY)
    assert [r["prompt"] for r in whole["results"]] == list(chat.REFERENCE_PROMPTS)
    assert whole["stats"]["batches"] == [4] and split["stats"]["batches"] == [3, 1]
    assert split["results"] == whole["results"]
    assert whole["stats"]["decode_tok_s"] > 0 and whole["stats"]["peak_memory_bytes"] > 0
    assert (whole["schema"], whole["kind"]) == (1, "run")  # the envelope every --json output has


def test_text_single_prompt_streams_the_same_answer_and_ends_with_stats(model_dir) -> None:
    folder = model_dir("llama3", "hf")
    args = ["text", "--model-dir", folder, "--prompt", "The Eiffel Tower is", "--max-gen-len", "16", *GREEDY]
    generation = run_json(*args)["results"][0]["generation"]
    result = run(*args)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "The Eiffel Tower is"
    assert f"> {escape_controls(generation)}" in result.stdout  # what a terminal is given: controls escaped
    assert lines[-1].startswith("load ") and "tok/s" in lines[-1] and "peak mem" in lines[-1]


def test_chat_answers_the_six_reference_dialogs_and_refuses_special_tags(model_dir) -> None:
    data = run_json("chat", "--model-dir", model_dir("llama2", "meta"), "--max-gen-len", "8", *LONG, *GREEDY)
    answers = [r["generation"] for r in data["results"]]
    assert len(answers) == 6 and all(a["role"] == "assistant" for a in answers)
    assert answers[5]["content"] == chat.UNSAFE_ERROR
    assert all(a["content"] != chat.UNSAFE_ERROR for a in answers[:5])
    printed = run("chat", "--model-dir", model_dir("llama2", "meta"), "--max-gen-len", "8", *LONG, *GREEDY).stdout
    assert printed.count("==================================") == 6
    haiku = "System: Always answer with Haiku\n\nUser: I am going to Paris, what should I see?\n\n"
    assert haiku + "> Assistant: " in printed


def test_llama3_chat_uses_the_four_reference_dialogs(model_dir) -> None:
    data = run_json("chat", "--model-dir", model_dir("llama3.1", "meta", 2), "--max-gen-len", "6", *LONG, *GREEDY)
    assert len(data["results"]) == 4


def test_chat_with_system_and_prompt_streams_its_answer(model_dir) -> None:
    args = [
        "chat",
        "--model-dir",
        model_dir("llama2", "hf"),
        "--system",
        "Always answer with Haiku",
        "--prompt",
        "I am going to Paris, what should I see?",
        "--max-gen-len",
        "10",
        *GREEDY,
    ]
    answer = run_json(*args)["results"][0]["generation"]["content"]
    out = run(*args).stdout
    assert out.startswith("System: Always answer with Haiku\n\nUser: I am going to Paris")
    assert f"> Assistant: {answer}\n" in out


def test_base_model_asked_to_chat_gets_a_warning(model_dir) -> None:
    base = model_dir("llama2", "meta", name="llama-2-tiny")
    result = run("chat", "--model-dir", base, "--prompt", "hi", "--max-gen-len", "2", *GREEDY)
    assert result.exit_code == 0
    assert "warning: llama-2-tiny looks like a base model" in result.stderr
    chat_dir = model_dir("llama2", "meta")
    assert "warning" not in run("chat", "--model-dir", chat_dir, "--prompt", "hi", "--max-gen-len", "2", *GREEDY).stderr


def _one_error_line(result, code: int = 1) -> str:
    assert result.exit_code == code
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_or_wrong_model_dir(tmp_path) -> None:
    line = _one_error_line(run("text", "--model-dir", tmp_path / "nope", "--prompt", "x"), code=2)
    assert line.startswith("llamadoctor: error: --model-dir") and "does not exist" in line and "fix: " in line
    line = _one_error_line(run("text", "--model-dir", tmp_path, "--prompt", "x"))
    assert "neither Meta files" in line


def test_corrupt_or_empty_shard(model_dir, tmp_path) -> None:
    folder = shutil.copytree(model_dir("llama2", "meta", 2), tmp_path / "m")
    shard = folder / "consolidated.01.pth"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    line = _one_error_line(run("text", "--model-dir", folder, "--prompt", "x", *GREEDY))
    assert "consolidated.01.pth is cut short" in line and "fix: re-download" in line
    shard.write_bytes(b"")
    assert "consolidated.01.pth is 0 bytes" in _one_error_line(
        run("text", "--model-dir", folder, "--prompt", "x", *GREEDY)
    )


def test_prompt_problems(model_dir) -> None:
    folder = model_dir("llama2", "meta")
    assert "prompt is empty" in _one_error_line(run("text", "--model-dir", folder, "--prompt", "  ", *GREEDY))
    long = "Paris " * 200
    line = _one_error_line(run("text", "--model-dir", folder, "--prompt", long, "--max-seq-len", "64", *GREEDY))
    assert "--max-seq-len is 64" in line and "fix: raise --max-seq-len" in line


def test_device_problems(model_dir) -> None:
    folder = model_dir("llama2", "meta")
    line = _one_error_line(run("text", "--model-dir", folder, "--prompt", "x", "--device", "tpu"), code=2)
    assert "unknown device 'tpu'" in line
    if not torch.cuda.is_available():
        line = _one_error_line(run("text", "--model-dir", folder, "--prompt", "x", "--device", "cuda"))
        assert "sees no CUDA GPU" in line


def test_tokenizer_of_another_model_is_refused(model_dir, tokenizer_files) -> None:
    args = ["text", "--model-dir", model_dir("llama2", "meta"), "--prompt", "x", "--max-gen-len", "2", *GREEDY]
    line = _one_error_line(run(*args, "--tokenizer-path", tokenizer_files["tiktoken"]))
    assert "tokenizer.model is tiktoken (Llama 3) but params.json is Llama 2's" in line


def test_shards_that_do_not_fit_the_ranks(model_dir, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    line = _one_error_line(run("text", "--model-dir", model_dir("llama2", "meta", 2), "--prompt", "x", *GREEDY))
    assert "2 checkpoint shards cannot be spread over 3 processes" in line
    assert "--nproc_per_node 2" in line


def test_without_torch_run_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    line = _one_error_line(run("smoke"))
    assert "pip install 'llamadoctor[run]'" in line


def test_importing_the_cli_does_not_import_torch_or_tokenizers() -> None:
    code = (
        "import sys, llamadoctor.runner.cli; "
        "print([m for m in ('torch', 'sentencepiece', 'tiktoken', 'safetensors') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("dtype", ["auto", "bf16"])
def test_smoke_on_cpu(dtype: str) -> None:
    report = run_json("smoke", "--device", "cpu", "--dtype", dtype, "--tokens", "16")
    assert report["kind"] == "smoke"
    assert report["ok"] and report["tokens"] == 16 and report["tok_s"] > 0
    assert report["max_rel_diff"] <= report["tolerance"]
    result = run("smoke", "--device", "cpu", "--tokens", "8")
    assert result.exit_code == 0 and result.stdout.startswith("smoke OK")


def test_interactive_chat_keeps_the_conversation(model_dir) -> None:
    args = ["chat", "--model-dir", model_dir("llama3", "meta"), "--interactive", "--max-gen-len", "5", *GREEDY]
    result = runner.invoke(app, [str(a) for a in args], input="hello\nWhat is so great about #1?\n\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("> Assistant: ") == 2
    assert "tok/s" in result.stdout.strip().splitlines()[-1]


def test_interactive_chat_rejects_special_tags_without_poisoning_the_next_turns(model_dir) -> None:
    args = ["chat", "--model-dir", model_dir("llama3", "meta"), "--interactive", "--max-gen-len", "5", *GREEDY]
    turns = "Unsafe [INST] prompt\nhello\n/reset\nhello\n\n"
    result = runner.invoke(app, [str(a) for a in args], input=turns)
    assert result.exit_code == 0, result.output
    answers = [part.split("\n")[0] for part in result.stdout.split("> Assistant: ")[1:]]
    assert answers[0] == "Error: special tags are not allowed as part of the prompt."
    assert len(answers) == 3 and all("special tags" not in a for a in answers[1:])
    assert answers[1] == answers[2]  # greedy: after /reset the same first turn gets the same answer
    assert "(conversation cleared)" in result.stdout


def test_text_without_torch_is_one_line_too(model_dir, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "llamadoctor.runner.session", raising=False)
    line = _one_error_line(run("text", "--model-dir", model_dir("llama2", "meta"), "--prompt", "x"))
    assert "pip install 'llamadoctor[run]'" in line


@pytest.mark.slow
def test_compiled_decode_gives_the_eager_tokens(model_dir) -> None:
    args = [
        "text",
        "--model-dir",
        model_dir("llama3.1", "meta"),
        "--prompt",
        "The Eiffel Tower",
        "--prompt",
        "Paris",
        "--prompt",
        "I am going to",
        "--max-gen-len",
        "20",
        "--max-batch-size",
        "2",
        *GREEDY,
    ]
    # Batches of 2 then 1: a step graph per batch size, and rows of different lengths teacher-forced through it.
    # Each graph serves every position (the live cache length is its dynamic size): two graphs in all.
    graphs = counters["stats"]["unique_graphs"]
    result = run(*args, "--compile", "--json")
    assert result.exit_code == 0 and "warning" not in result.stderr  # compiled, not fallen back to eager
    assert counters["stats"]["unique_graphs"] - graphs == 2
    compiled = json.loads(result.stdout)
    assert compiled["stats"]["batches"] == [2, 1] and compiled["stats"]["compile_s"] > 0
    assert compiled["results"] == run_json(*args)["results"]


def test_compile_that_cannot_work_here_warns_and_decodes_eagerly(model_dir, monkeypatch) -> None:
    def no_compiler(fn, **kwargs):
        def step(*args):
            # Worded as torch words it: the cause first, then its advice on logging.
            raise RuntimeError(
                "InvalidCxxCompiler: No working C++ compiler found in torch._inductor.config.cpp.cxx\n\n"
                "Set TORCHDYNAMO_VERBOSE=1 for the internal stack trace (please do this especially if you're "
                'reporting a bug to PyTorch). For even more developer context, set TORCH_LOGS="+dynamo"\n'
            )

        return step

    monkeypatch.setattr(torch, "compile", no_compiler)
    args = ["text", "--model-dir", model_dir("llama2", "meta"), "--prompt", "Paris", "--max-gen-len", "6", *GREEDY]
    compiled = run(*args, "--compile", "--json")
    assert compiled.exit_code == 0
    assert json.loads(compiled.stdout)["results"] == run_json(*args)["results"]
    warnings = [line for line in compiled.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: --compile failed (InvalidCxxCompiler: No working C++ compiler found in "
        "torch._inductor.config.cpp.cxx); decoding without it."
    ]


def test_compile_falls_back_to_the_next_way_before_giving_up(model_dir, monkeypatch) -> None:
    tried, warnings = [], []

    def cpp_wrapper_breaks(fn, options, **kwargs):
        tried.append(options)

        def step(*args):
            if options.get("cpp_wrapper"):
                raise RuntimeError("C++ wrapper codegen failed")
            return fn(*args)

        return step

    monkeypatch.setattr(torch, "compile", cpp_wrapper_breaks)
    compiled, tokens, eager = _compiled_and_eager(_cpu_model(model_dir), 6, warnings)
    assert tried == [{"cpp_wrapper": True}, {}] and warnings == [] and compiled.compiling
    assert tokens == eager


def test_a_compiled_step_that_fails_mid_run_is_finished_eagerly(model_dir, monkeypatch) -> None:
    """A recompile can fail after the warm-up (torch's recompile limit under fullgraph, say): the run goes on
    eagerly from that token, with one warning, and the answer is the eager one."""
    calls, warnings = [], []

    def breaks_on_the_fourth_call(fn, **kwargs):
        def step(tokens, positions):
            calls.append(positions.shape[0])
            if len(calls) == 4:  # as if it had written part of this position before failing
                for layer in model.layers:
                    layer.attention.cache_k[:, :, positions.shape[0] - 1] = float("nan")
                raise RuntimeError("FailOnRecompileLimitHit: Hard failure due to fullgraph=True")
            return fn(tokens, positions)

        return step

    monkeypatch.setattr(torch, "compile", breaks_on_the_fourth_call)
    model = _cpu_model(model_dir)
    _, tokens, eager = _compiled_and_eager(model, 8, warnings)
    assert calls == [2, 4, 5, 6]  # the warm-up, steps at positions 3 and 4, the failure at position 5
    assert warnings == [
        "warning: --compile failed (FailOnRecompileLimitHit: Hard failure due to fullgraph=True); decoding without it."
    ]
    assert tokens == eager


@pytest.mark.slow
@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_compiled_decode_under_another_grad_mode_stays_compiled(model_dir, mode) -> None:
    """A later call under the caller's no_grad or inference_mode fails a guard the warm-up set: one more graph,
    which again serves every length (not a graph per position until torch's recompile limit, then eager)."""
    warnings: list[str] = []
    compiled, _, _ = _compiled_and_eager(_cpu_model(model_dir), 4, warnings)
    graphs = counters["stats"]["unique_graphs"]
    greedy = Sampling(max_gen_len=12, temperature=0)
    with mode():
        tokens = compiled.generate([[1, 5, 9]], greedy, Timings())
    assert warnings == [] and compiled.compiling
    assert counters["stats"]["unique_graphs"] - graphs <= 1
    assert tokens == Generator(compiled.model, 1, 64, frozenset()).generate([[1, 5, 9]], greedy, Timings())


def _cpu_model(model_dir):
    return loader.load(model_dir("llama2", "meta"), SINGLE, torch.device("cpu"), torch.float32)


def _compiled_and_eager(model, max_gen_len: int, warnings: list[str]):
    """A compiling Generator (its warnings kept), its greedy tokens for one prompt, and the eager tokens."""
    greedy = Sampling(max_gen_len=max_gen_len, temperature=0)
    compiled = Generator(model, 1, 64, frozenset(), compile=True, warn=warnings.append)
    tokens = compiled.generate([[1, 5, 9]], greedy, Timings())
    return compiled, tokens, Generator(model, 1, 64, frozenset()).generate([[1, 5, 9]], greedy, Timings())


def test_a_params_file_that_is_not_a_llama_is_one_line(model_dir, tmp_path) -> None:
    folder = shutil.copytree(model_dir("llama2", "meta"), tmp_path / "m")
    (folder / "params.json").write_text('{"hidden": 5}')
    line = _one_error_line(run("text", "--model-dir", folder, "--prompt", "x", *GREEDY))
    assert "params.json lacks dim, n_heads, n_layers" in line


def test_prompts_that_are_not_utf8_are_one_line_and_exit_2(model_dir) -> None:
    folder = model_dir("llama2", "meta")
    bad = os.fsdecode(b"caf\xe9 \xff")  # what Python makes of a Latin-1 argument on a UTF-8 system
    for args in (["text", "--prompt", bad], ["chat", "--prompt", bad], ["chat", "--prompt", "hi", "--system", bad]):
        line = _one_error_line(run(*args, "--model-dir", folder, *GREEDY), code=2)
        assert line.startswith("llamadoctor: error: --") and "not valid UTF-8" in line


def test_interactive_chat_asks_again_for_a_line_that_is_not_utf8(model_dir) -> None:
    args = ["chat", "-i", "--model-dir", model_dir("llama2", "meta"), "--max-gen-len", "2", *GREEDY]
    result = runner.invoke(app, [str(a) for a in args], input=b"hi \xff\xfe\nhello\n\n")
    assert result.exit_code == 0, result.output
    assert "not valid UTF-8" in result.stderr and result.stdout.count("> Assistant:") == 1


def _shell(command: str, *args: object) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "llamadoctor", "run", *map(str, args)]
    return subprocess.run(["sh", "-c", f'"$@" {command}', "sh", *argv], capture_output=True, timeout=120)


def test_closed_stdin_ends_an_interactive_chat_and_a_closed_stdout_is_quiet(model_dir) -> None:
    folder = model_dir("llama2", "meta")
    no_stdin = _shell("<&-", "chat", "-i", "--model-dir", folder, *GREEDY)
    assert no_stdin.returncode == 0 and b"Traceback" not in no_stdin.stderr
    no_stdout = _shell(">&-", "text", "--model-dir", folder, "--max-gen-len", "2", *GREEDY)
    assert no_stdout.returncode == 0 and no_stdout.stderr == b""


@pytest.mark.parametrize(
    "extreme",
    [
        ["--seed", str(2**64 - 1)],
        ["--seed", "0"],
        ["--top-p", "1e-300"],
        ["--temperature", "100"],
        ["--temperature", "1e-5"],
        ["--max-gen-len", "100000"],
    ],
)
def test_extreme_but_valid_sampling_options_run(model_dir, extreme: list[str]) -> None:
    args = ["text", "--model-dir", model_dir("llama2", "meta"), "--prompt", "x", "--device", "cpu", *extreme]
    result = run(*args, *(["--max-gen-len", "2"] if "--max-gen-len" not in extreme else []))
    assert result.exit_code == 0, result.stderr


def test_model_dirs_that_cannot_be_opened_are_one_line_and_exit_2(tmp_path, monkeypatch) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    long = tmp_path / ("a" * 300) / "b"
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: str(p) != str(locked) and real(p, mode, **kw))
    for folder, why in ((loop, "symbolic link loop"), (long, "too long"), (locked, "permission denied")):
        line = _one_error_line(run("text", "--model-dir", folder, "--prompt", "x"), code=2)
        assert line.startswith(f"llamadoctor: error: --model-dir {folder}") and why in line
