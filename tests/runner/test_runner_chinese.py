"""`run` and `convert` as a Chinese user sees them, and `run -q`: the model's words are never translated, the
runner's own are; commands, paths and options inside them stay as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.runner import session

from builders import llamas

runner = CliRunner()
CJK = re.compile(r"[\u4e00-\u9fff]")
GREEDY = ["--temperature", "0", "--device", "cpu", "--max-gen-len", "8"]
PROMPT = ["--prompt", "The Eiffel Tower is"]


pytestmark = pytest.mark.usefixtures("catalogues")


def ld(*args: object, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def test_text_in_chinese_keeps_the_models_words_and_translates_the_stats(model_dir) -> None:
    args = ["run", "text", "--model-dir", model_dir("llama2", "meta"), *PROMPT, *GREEDY]
    english, chinese = ld(*args), ld(*args, "--lang", "zh")
    assert chinese.exit_code == 0, chinese.stderr
    assert chinese.stdout.splitlines()[:-1] == english.stdout.splitlines()[:-1]  # the prompt and the answer
    stats = chinese.stdout.splitlines()[-1]
    assert stats.startswith("加载 ") and " 秒 · 首个 token " in stats and " tok/s · 内存峰值 " in stats
    assert stats.endswith(" GiB（cpu, fp32）")
    assert english.stdout.splitlines()[-1].startswith("load ") and not CJK.search(english.stdout + english.stderr)


def test_the_cpu_fallback_is_said_in_chinese(model_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    from llamadoctor.runner import checkpoint, preflight

    folder = model_dir("llama2", "meta")
    bf16 = preflight.memory_needed(checkpoint.read_args(folder), "bf16", "cpu", 512, 6).needed_bytes
    monkeypatch.setattr(session, "available_ram", lambda: bf16)
    result = ld("run", "text", "--model-dir", folder, *PROMPT, *GREEDY, "--lang", "zh")
    assert result.exit_code == 0, result.stderr
    assert re.search(
        r"^fp32 需要 [\d.]+ GiB，而可用内存只有 [\d.]+ GiB：改用 bf16 运行（[\d.]+ GiB）$", result.stderr, re.M
    )
    assert result.stdout.splitlines()[-1].endswith("（cpu, bf16；" + result.stderr.strip() + "）")


def test_a_refusal_in_chinese_keeps_paths_options_and_commands(model_dir, tmp_path: Path) -> None:
    empty = ld("run", "text", "--model-dir", tmp_path, "--prompt", "x", "--lang", "zh")
    assert empty.exit_code == 1
    assert f"{tmp_path} 中既没有 Meta 格式的文件（params.json、consolidated.00.pth）" in empty.stderr
    assert "让 --model-dir 指向模型自己的文件夹，例如 llama-2-7b-chat/" in empty.stderr
    long = ld("run", "text", "--model-dir", model_dir("llama2", "meta"), "--prompt", "Paris " * 200,
              "--max-seq-len", "64", *GREEDY[:4], "--lang", "zh")  # fmt: skip
    assert long.exit_code == 1 and "而 --max-seq-len 只有 64：没有留给回答的空间" in long.stderr
    mps = ld("run", "text", "--model-dir", model_dir("llama2", "meta"), "--prompt", "x", "--device", "mps",
             "--lang", "zh")  # fmt: skip
    assert "指定了 --device mps，但 MPS 不可用" in mps.stderr and "请使用 --device cpu" in mps.stderr
    bad = ld("run", "text", "--model-dir", model_dir("llama2", "meta"), "--device", "gpu", "--lang", "zh")
    assert (
        bad.exit_code == 2
        and "未知的 device：'gpu'" in bad.stderr
        and "请使用 --device auto, cuda, mps, cpu" in bad.stderr
    )


def test_interactive_chat_in_chinese(model_dir) -> None:
    args = ["run", "chat", "-i", "--model-dir", model_dir("llama3", "meta"), *GREEDY, "--lang", "zh"]
    result = ld(*args, input="/help\nhello\n/nope\n/reset\n\n")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("与模型对话；/help 列出按键和命令，/exit 或 Ctrl-D 结束。")
    assert "  /reset    清空对话（--system 消息保留）" in out
    assert '在行尾加 \\ 可接着输入下一行，或把消息放在两行 """ 之间' in out
    assert "用户：" in out and out.count("> 助手：") == 1
    assert "（未知命令 /nope：/help 列出所有命令）" in out and "（对话已清空）" in out
    assert re.search(r"(^|：)加载 [\d.]+ 秒 · 首个 token ", out.strip().splitlines()[-1])  # after the prompts


def test_smoke_in_chinese_and_quiet() -> None:
    full = ld("run", "smoke", "--device", "cpu", "--tokens", "4", "--lang", "zh")
    assert full.exit_code == 0, full.stderr
    lines = full.stdout.splitlines()
    assert lines[0].startswith("冒烟测试通过：cpu（cpu），fp32，torch ")
    assert lines[1].startswith("  logits 与 CPU 上 fp32 的结果相比：最大相对误差 ") and "生成了 4 个 token" in lines[2]
    quiet = ld("run", "smoke", "--device", "cpu", "--tokens", "4", "-q")
    assert quiet.exit_code == 0 and quiet.stdout.splitlines() == [quiet.stdout.strip()]
    assert quiet.stdout.startswith("smoke OK: cpu (cpu), fp32, torch ")


def test_convert_in_chinese(tmp_path: Path) -> None:
    src = llamas.make_model_dir(tmp_path / "llama-2-tiny", family="llama2", shards=2)
    done = ld("convert", "--model-dir", src, "--out", tmp_path / "hf", "--lang", "zh")
    assert done.exit_code == 0, done.stderr
    assert "Llama 2，2 个 Meta 分片 -> Hugging Face safetensors（1 个文件）：正在向 " in done.stderr
    assert re.fullmatch(rf"已写出 {re.escape(str(tmp_path / 'hf'))}（1 个权重文件，\d+ 个张量）\n", done.stdout)
    again = ld("convert", "--model-dir", src, "--out", tmp_path / "hf", "--lang", "zh")
    assert again.exit_code == 2
    assert f"{tmp_path / 'hf'} 已存在" in again.stderr and "或传入 --force 替换它" in again.stderr


def test_quiet_run_shows_the_models_words_and_errors_only(model_dir, tmp_path: Path) -> None:
    base = model_dir("llama2", "meta", name="llama-2-tiny")  # a base model: `chat` warns about it
    args = ["run", "chat", "--model-dir", base, *PROMPT, *GREEDY]
    loud = ld(*args)
    assert "warning: llama-2-tiny looks like a base model" in loud.stderr and "tok/s" in loud.stdout
    for quiet in ([*args, "-q"], [*args, "--quiet"], ["-q", *args]):
        result = ld(*quiet)
        assert result.exit_code == 0, result.stderr
        assert result.stderr == "" and "tok/s" not in result.stdout
        assert result.stdout == loud.stdout.rsplit("\n", 2)[0] + "\n"  # all but the stats line
    failed = ld("run", "text", "--model-dir", tmp_path, "--prompt", "x", "-q")
    assert failed.exit_code == 1 and "neither Meta files" in failed.stderr


def test_quiet_interactive_chat_ends_without_the_stats_line(model_dir) -> None:
    args = ["run", "chat", "-i", "-q", "--model-dir", model_dir("llama3", "meta"), *GREEDY]
    result = ld(*args, input="hello\n\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("> Assistant: ") == 1 and "tok/s" not in result.stdout


@pytest.mark.parametrize("command", ["text", "chat", "smoke"])
def test_run_commands_offer_quiet_as_check_does(command: str) -> None:
    import typer.main

    def quiet_of(*path: str) -> tuple[list[str], str]:
        cmd = typer.main.get_command(app)
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        option = next(p for p in cmd.params if p.name == "quiet")
        return option.opts, option.help

    assert quiet_of("run", command) == quiet_of("check") == (["--quiet", "-q"], "Print only errors and the verdict.")
