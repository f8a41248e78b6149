"""Plans of the model-file fixes: exact bytes for file edits, named files and shell syntax for manual ones."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from llamadoctor.facts import Facts, Options
from llamadoctor.fixes.correct_params_json import corrected
from llamadoctor.fixes.patch_meta_code_gloo import patched
from llamadoctor.model import Manual, WriteFile
from llamadoctor.probes.files import gather_files, probe_repo
from llamadoctor.registry import CHECKS, FIXES, load_all, run_check
from llamadoctor.testing import linux_gpu, mac_arm, windows_conda
from llamadoctor.testing_files import LLAMA2_7B_BYTES, LLAMA2_7B_CHAT_BAD_BYTES, LLAMA2_GENERATION

from builders.checkpoints import write_meta_model

load_all()

CODELLAMA = LLAMA2_GENERATION.replace(
    b'            torch.distributed.init_process_group("nccl")\n',
    b'            if device == "cuda":\n                torch.distributed.init_process_group("nccl")\n'
    b'            else:\n                torch.distributed.init_process_group("gloo")\n',
).replace(
    b"        torch.cuda.set_device(local_rank)\n",
    b'        if device == "cuda":\n            torch.cuda.set_device(local_rank)\n',
)
LLAMA1_EXAMPLE = (
    b'def setup_model_parallel():\n    local_rank = int(os.environ.get("LOCAL_RANK", -1))\n'
    b"    torch.distributed.init_process_group(backend='nccl')\n    initialize_model_parallel(1)\n"
    b"    torch.cuda.set_device(local_rank)\n"
)


def plan_for(check_id: str, fix_id: str, facts: Facts) -> tuple[object, ...]:
    [finding] = list(run_check(CHECKS[check_id], facts))
    return FIXES[fix_id].plan(finding, facts)


def repo_facts(tmp_path: Path, source: bytes, name: str = "llama/generation.py", base: Facts | None = None) -> Facts:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source)
    (tmp_path / "llama").mkdir(exist_ok=True)
    (tmp_path / "llama" / "tokenizer.py").write_text("import sentencepiece\n")
    return dataclasses.replace(base or windows_conda(), repo=probe_repo(tmp_path))


def test_gloo_patch_on_llama2_code(tmp_path: Path) -> None:
    facts = repo_facts(tmp_path, LLAMA2_GENERATION)
    [action] = plan_for("meta-code-hardcodes-nccl", "patch-meta-code-gloo", facts)
    assert isinstance(action, WriteFile) and action.before == LLAMA2_GENERATION
    after = action.after.decode()
    assert (
        'torch.distributed.init_process_group("nccl" if torch.distributed.is_nccl_available() and '
        'torch.cuda.is_available() else "gloo")'
    ) in after
    assert "        if torch.cuda.is_available():\n            torch.cuda.set_device(local_rank)\n" in after
    compile(after, "generation.py", "exec")
    # applied, the check is healthy, and patching again changes nothing
    (tmp_path / "llama" / "generation.py").write_bytes(action.after)
    again = dataclasses.replace(facts, repo=probe_repo(tmp_path))
    assert list(run_check(CHECKS["meta-code-hardcodes-nccl"], again)) == []
    assert patched(action.after) == action.after


def test_gloo_patch_keeps_crlf_and_existing_guards(tmp_path: Path) -> None:
    crlf = CODELLAMA.replace(b"\n", b"\r\n")
    facts = repo_facts(tmp_path, crlf)
    [action] = plan_for("meta-code-hardcodes-nccl", "patch-meta-code-gloo", facts)
    assert isinstance(action, WriteFile)
    assert b"\n" not in action.after.replace(b"\r\n", b"")
    assert action.after.count(b"torch.cuda.is_available():") == 0  # set_device was already guarded
    assert b'"gloo")' in action.after


def test_gloo_patch_on_llama1_example(tmp_path: Path) -> None:
    facts = repo_facts(tmp_path, b"import torch\n" + LLAMA1_EXAMPLE, name="example.py")
    [action] = plan_for("meta-code-hardcodes-nccl", "patch-meta-code-gloo", facts)
    assert isinstance(action, WriteFile)
    assert b"backend='nccl'" not in action.after
    compile(action.after, "example.py", "exec")


def test_codellama_without_cuda_already_falls_back(tmp_path: Path) -> None:
    assert list(run_check(CHECKS["meta-code-hardcodes-nccl"], repo_facts(tmp_path, CODELLAMA, base=mac_arm()))) == []


def test_nccl_machine_is_healthy(tmp_path: Path) -> None:
    assert (
        list(run_check(CHECKS["meta-code-hardcodes-nccl"], repo_facts(tmp_path, LLAMA2_GENERATION, base=linux_gpu())))
        == []
    )


def test_correct_params_keeps_formatting() -> None:
    assert corrected(LLAMA2_7B_CHAT_BAD_BYTES) == LLAMA2_7B_BYTES
    pretty = b'{\n    "dim": 4096,\n    "norm_eps": 1e-06,\n    "vocab_size": -1\n}\n'
    assert corrected(pretty) == pretty.replace(b"1e-06", b"1e-05")
    assert corrected(b'{"norm_eps": 1e-06}') == b'{"norm_eps": 1e-05}'
    assert corrected(b'{"norm_eps": 1e-065}') == b'{"norm_eps": 1e-065}'  # not the erratum: untouched


def test_correct_params_plan_on_a_real_folder(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-7b-chat", checklist=False)
    (model / "params.json").write_bytes(LLAMA2_7B_CHAT_BAD_BYTES)
    _, models = gather_files(None, (model,), Options(), home=tmp_path, environ={}, cache_path=None)
    facts = linux_gpu(models=models)
    [action] = plan_for("params-known-bad", "correct-params-json", facts)
    assert action == WriteFile(str(model / "params.json"), LLAMA2_7B_BYTES, LLAMA2_7B_CHAT_BAD_BYTES)


@pytest.mark.parametrize(
    ("shell", "delete"),
    [
        ("bash", "rm -f --"),
        ("zsh", "rm -f --"),
        ("powershell", "Remove-Item -LiteralPath"),
        ("cmd", "del /q"),
    ],
)
def test_redownload_names_the_failed_files_in_the_users_shell(tmp_path: Path, shell: str, delete: str) -> None:
    model = write_meta_model(tmp_path / "llama 2", n_shards=2)
    (model / "consolidated.01.pth").write_bytes(b"")
    _, models = gather_files(None, (model,), Options(), home=tmp_path, environ={}, cache_path=None)
    base = linux_gpu(models=models)
    facts = dataclasses.replace(base, platform=dataclasses.replace(base.platform, shell=shell))
    [action] = plan_for("shard-corrupt", "redownload-failed-shards", facts)
    assert isinstance(action, Manual)
    assert "consolidated.01.pth" in action.text and "llama.com" in action.text
    assert "consolidated.00.pth" not in action.text
    assert action.commands[0].startswith(delete) and "consolidated.01.pth" in action.commands[0]
    [action2] = plan_for("checksum-mismatch", "redownload-failed-shards", facts)
    assert action2 == action


def test_dry_plans_touch_nothing(tmp_path: Path) -> None:
    model = write_meta_model(tmp_path / "llama-2-7b-chat", checklist=False)
    (model / "params.json").write_bytes(LLAMA2_7B_CHAT_BAD_BYTES)
    before = {p: p.read_bytes() for p in model.iterdir()}
    _, models = gather_files(None, (model,), Options(), home=tmp_path, environ={}, cache_path=None)
    plan_for("params-known-bad", "correct-params-json", linux_gpu(models=models))
    assert {p: p.read_bytes() for p in model.iterdir()} == before
    assert json.loads(LLAMA2_7B_BYTES)["norm_eps"] == 1e-05
