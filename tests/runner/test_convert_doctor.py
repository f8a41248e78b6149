"""`llamadoctor convert` acts on what `llamadoctor check` knows: a source whose model checks report errors (a shard
that fails its md5 against checklist.chk, a listed file missing) is refused unless --force."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamadoctor.runner.conversion import convert
from llamadoctor.runner.errors import RunError

from builders import llamas


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # Meta's checklists are md5


@pytest.fixture()
def src(tmp_path: Path, tokenizer_files: dict[str, Path]) -> Path:
    """A tiny Meta folder with a checklist.chk that is right about every file."""
    folder = llamas.make_model_dir(
        tmp_path / "in" / "llama-2-tiny", family="llama2", shards=2, tokenizer=tokenizer_files["sentencepiece"]
    )
    names = ["consolidated.00.pth", "consolidated.01.pth", "params.json"]
    (folder / "checklist.chk").write_text("".join(f"{_md5(folder / n)}  {n}\n" for n in names))
    return folder


def _spoil_checklist(folder: Path, name: str, md5: str) -> None:
    chk = folder / "checklist.chk"
    lines = [line for line in chk.read_text().splitlines() if not line.endswith(name)]
    chk.write_text("\n".join([*lines, f"{md5}  {name}"]) + "\n")


def test_a_verified_source_converts(src, tmp_path) -> None:
    seen: list[tuple[int, int]] = []
    convert.convert(convert.Request(src, tmp_path / "out"), hash_progress=lambda *p: seen.append(p))
    assert (tmp_path / "out" / "config.json").is_file()
    assert seen and seen[-1][0] == seen[-1][1] > 0  # the shards were hashed, and progress said so


@pytest.mark.parametrize(
    ("name", "md5", "said"),
    [
        ("consolidated.01.pth", "0" * 32, "consolidated.01.pth FAILED the md5 check"),
        ("consolidated.02.pth", "0" * 32, "consolidated.02.pth listed in checklist.chk cannot be found"),
    ],
)
def test_a_source_the_doctor_finds_damaged_is_refused_unless_forced(src, tmp_path, name, md5, said) -> None:
    _spoil_checklist(src, name, md5)
    with pytest.raises(RunError) as err:
        convert.convert(convert.Request(src, tmp_path / "out"))
    assert said in err.value.message and "--force" in err.value.fix
    assert not isinstance(err.value, convert.BadInput)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    convert.convert(convert.Request(src, tmp_path / "out", force=True))
    assert (tmp_path / "out" / "config.json").is_file()


def test_on_the_command_line_a_failed_md5_is_one_line_and_exit_1(src, tmp_path) -> None:
    _spoil_checklist(src, "consolidated.00.pth", "f" * 32)
    from llamadoctor.cli import app

    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2 always separates stderr
        runner = CliRunner()
    result = runner.invoke(app, ["convert", "--model-dir", str(src), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("llamadoctor: error:")]
    assert len(errors) == 1 and "FAILED the md5 check" in errors[0] and "--force" in errors[0], result.stderr
    assert not (tmp_path / "out").exists()
