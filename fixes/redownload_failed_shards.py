"""Name the files that failed (md5, damaged, empty) and say how to fetch only those again."""

from __future__ import annotations

from llamadoctor.facts import Facts
from llamadoctor.files import ModelDir
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual
from llamadoctor.registry import fix
from llamadoctor.shell import comment, flavour, quote, render_argv

BAD_CHECKSUM = ("mismatch", "missing", "unreadable")


def failed_paths(model: ModelDir) -> list[str]:
    """Every file of `model` known to be bad: md5 failures, damaged shards or tokenizer, a broken params.json."""
    sep = "\\" if "\\" in model.path and "/" not in model.path else "/"
    paths: list[str] = []
    for chk in model.checklists:
        root = chk.path.rsplit(sep, 1)[0]
        paths += [f"{root}{sep}{e.name}" for e in chk.entries if e.status in BAD_CHECKSUM]
        if chk.status in ("empty", "html"):
            paths.append(chk.path)
    paths += [f"{model.path}{sep}{s.name}" for s in model.shards if not s.ok]
    if model.tokenizer and model.tokenizer.kind in ("empty", "lfs-pointer", "html", "unknown"):
        paths.append(model.tokenizer.path)
    if model.params_error and model.params_file:
        paths.append(f"{model.path}{sep}{model.params_file}")
    return list(dict.fromkeys(paths))


def delete_command(paths: list[str], shell: str) -> str:
    kind = flavour(shell)
    if kind == "powershell":
        return "Remove-Item -LiteralPath " + ",".join(quote(p, shell) for p in paths)
    if kind == "cmd":
        return "del /q " + " ".join(quote(p, shell) for p in paths)
    return render_argv(["rm", "-f", "--", *paths], shell)


@fix(
    id="redownload-failed-shards", summary="re-download only the files that failed", applicability=Applicability.MANUAL
)
def redownload_failed_shards(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    path = finding.evidence.get("path")
    model = next((m for m in facts.models if m.path == path), None)
    if model is None:
        return ()
    paths = failed_paths(model)
    if not paths:
        return ()
    shell = facts.platform.shell
    if model.format in ("hf", "meta-in-hf"):
        return (
            Manual(
                _(
                    "These files of {path} are damaged: {files}. In a git clone run `git lfs install` and `git lfs "
                    "pull`; otherwise delete them and download them again with `huggingface-cli download` (with "
                    "--local-dir pointing at this folder)."
                ).format(path=model.path, files=", ".join(paths)),
                (delete_command(paths, shell),),
            ),
        )
    text = _(
        "Get a fresh download link at https://www.llama.com/llama-downloads (links expire after 24 hours and a "
        "number of downloads). Delete the files that failed, then run Meta's download.sh again and choose only "
        "this model ({name}); download.sh resumes with `wget --continue`, so a damaged file must be deleted first, "
        "or it is kept. Files: {files}."
    ).format(name=model.name, files=", ".join(paths))
    script = facts.repo.download_script.path if facts.repo and facts.repo.download_script else "download.sh"
    return (
        Manual(
            text,
            (
                delete_command(paths, shell),
                comment(_("then, with the new link:"), shell),
                render_argv(["bash", script], shell),
            ),
        ),
    )
