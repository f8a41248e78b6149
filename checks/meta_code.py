"""Meta's reference code in --repo against this machine: the hard-coded NCCL backend."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import META_CODE, TORCH
from llamadoctor.facts import Facts
from llamadoctor.i18n import _, ngettext
from llamadoctor.model import Broken, Group, Healthy, Inapplicable, Outcome, Passed, Severity, SkipCheck
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu, mac_arm, windows_conda
from llamadoctor.testing_files import LLAMA2_GENERATION, generation_source, repo_with

CODELLAMA_STYLE = LLAMA2_GENERATION.replace(
    b'            torch.distributed.init_process_group("nccl")\n',
    b'            if device == "cuda":\n                torch.distributed.init_process_group("nccl")\n'
    b'            else:\n                torch.distributed.init_process_group("gloo")\n',
)


def _cuda_usable(facts: Facts) -> bool:
    return bool(facts.torch.cuda and facts.gpu.gpus)


def _sources_checked(files: int) -> str:
    return ngettext(
        "init_process_group in {count} Meta source file", "init_process_group in {count} Meta source files", files
    ).format(count=files)


@check(
    id="meta-code-hardcodes-nccl",
    summary="Meta's reference code asks for NCCL, which this torch does not have",
    severity=Severity.ERROR,
    group=Group.DISTRIBUTED,
    fixes=("patch-meta-code-gloo",),
    requires=(META_CODE, TORCH),
    checked=lambda facts: _sources_checked(len(facts.repo.sources)) if facts.repo else "",
    examples=(
        Healthy(linux_gpu(repo=repo_with(sources=(generation_source(),)))),
        Inapplicable(windows_conda(), expect="no Meta reference code"),
        Healthy(mac_arm(repo=repo_with(sources=(generation_source(CODELLAMA_STYLE),)))),
        Broken(
            windows_conda(repo=repo_with(sources=(generation_source(),))),
            expect="Distributed package doesn't have NCCL built in",
        ),
        Broken(windows_conda(repo=repo_with(sources=(generation_source(CODELLAMA_STYLE),))), expect="gloo"),
        Broken(mac_arm(repo=repo_with(sources=(generation_source(),))), expect="CUDA"),
    ),
)
def meta_code_hardcodes_nccl(facts: Facts) -> Iterator[Outcome]:
    """What it checks: whether --repo is a clone of meta-llama/llama, llama3 or codellama whose generation
    code calls `torch.distributed.init_process_group("nccl")`, on a machine whose torch has no NCCL
    (Windows, macOS, CPU-only builds).

    Why it matters: `Llama.build` then dies with `RuntimeError: Distributed package doesn't have NCCL built
    in`, before loading anything. (Code Llama's code picks gloo without CUDA, but still NCCL on Windows with
    a GPU.)

    How to fix: `llamadoctor fix meta-code-hardcodes-nccl --unsafe` makes the code pick gloo when NCCL is
    missing and skips `torch.cuda.set_device` without CUDA (the diff is shown first). Meta's code still needs
    CUDA for its tensors; without a GPU use `llamadoctor run` or the Hugging Face format.
    """
    if facts.torch.nccl is None:
        raise SkipCheck(_("whether torch {version} has NCCL is unknown").format(version=facts.torch.version))
    if facts.torch.nccl:
        yield Passed(_("torch {version} has the NCCL that Meta's code asks for").format(version=facts.torch.version))
        return
    for source in facts.repo.sources if facts.repo else ():
        if not source.nccl_lines:
            continue
        has_fallback = b'"gloo"' in source.content or b"'gloo'" in source.content
        if has_fallback and not _cuda_usable(facts):
            continue
        lines = ", ".join(str(n) for n in source.nccl_lines)
        extra = (
            ""
            if _cuda_usable(facts)
            else _(
                " Meta's code also puts its tensors on CUDA, which this machine lacks: even with gloo it cannot "
                "run here; use `llamadoctor run` or the Hugging Face format."
            )
        )
        yield meta_code_hardcodes_nccl.finding(
            # TRANSLATORS: {extra} is empty, or the sentence about CUDA that follows this message in the catalogue.
            _(
                '{path} line {lines} calls init_process_group("nccl"), but torch {version} here has no NCCL: '
                "`RuntimeError: Distributed package doesn't have NCCL built in`. Patch it to fall back to gloo.{extra}"
            ).format(path=source.path, lines=lines, version=facts.torch.version or "", extra=extra),
            path=source.path,
            lines=list(source.nccl_lines),
        )
