"""Chinese prose folded to a terminal: between characters, never inside a command, a word or before a comma."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.text import Text

from llamadoctor.folding import fold, fold_text, is_wide

TEXT = (
    "让 `--ckpt_dir` 指向含有 `consolidated.00.pth` 的文件夹（Hugging Face 的下载是 `…/original/`）。"
    "在 Windows 上粘贴命令时，去掉用于续行的 `\\`，然后运行 `python -m torch.distributed.run --nproc_per_node 1`。"
)


@pytest.mark.parametrize("width", [24, 37, 60, 80])
def test_lines_fit_and_keep_commands_words_and_punctuation(width: int) -> None:
    lines = fold(TEXT, width, indent="   ").splitlines()
    assert all(line.startswith("   ") and line == line.rstrip() for line in lines)
    long_command = "`python -m torch.distributed.run --nproc_per_node 1`。"
    assert all(cell_len(line) <= width or line.strip() == long_command for line in lines)
    assert not any(line.strip()[0] in "，。：；、）" for line in lines)
    for kept in ("`--ckpt_dir`", "`consolidated.00.pth`", "Hugging", long_command):
        assert any(kept in line for line in lines), kept
    assert "".join(line.strip() for line in lines).replace(" ", "") == TEXT.replace(" ", "")


def test_styles_survive_the_fold() -> None:
    text = Text.assemble(("原因：", "bold"), "模型放不进 GPU 的显存，" * 4)
    folded = fold_text(text, 20)
    assert folded.plain.count("\n") >= 2
    assert folded.plain.startswith("原因：") and folded.spans[0].style == "bold" and folded.spans[0].end == 3


def test_only_text_with_wide_characters_is_folded_this_way() -> None:
    assert is_wide("显存") and not is_wide("CUDA out of memory") and not is_wide("“quoted” — café")
    assert fold("", 10) == "" and fold("one two", 80) == "one two"


def test_an_opening_bracket_stays_with_what_it_opens() -> None:
    lines = fold("或者换一种方式运行模型（`llamadoctor run`、Hugging Face 格式）", 26).splitlines()
    assert not any(line.endswith("（") for line in lines)
    assert any(line.startswith("（`llamadoctor run`、") for line in lines)
