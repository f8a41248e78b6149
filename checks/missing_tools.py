"""The programs Meta's download.sh runs: bash, wget, md5sum."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.advice import NEEDED, install_commands, missing
from llamadoctor.checks._requires import TOOLS
from llamadoctor.facts import Facts, Tools
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Severity
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu, mac_arm, windows_conda

GIT_BASH = Tools(found={"bash": r"C:\Program Files\Git\bin\bash.exe"})
MAC_STOCK = Tools(found={"bash": "/bin/bash", "md5": "/sbin/md5", "curl": "/usr/bin/curl"}, bash_version="3.2.57")
LINUX_NO_WGET = Tools(found={"bash": "/usr/bin/bash", "md5sum": "/usr/bin/md5sum", "apt-get": "/usr/bin/apt-get"})


def _consequence(facts: Facts, names: tuple[str, ...]) -> str:
    if "bash" in names and facts.os == "windows":
        return _("Windows has no bash, so download.sh cannot run outside WSL or Git Bash")
    if "wget" in names:
        return _("download.sh stops with “wget: command not found”")
    if facts.os == "darwin":
        return _(
            "macOS ships md5, not md5sum, so download.sh cannot verify the files (“Could not parse check "
            "file 'checklist.chk'”)"
        )
    return _("download.sh cannot verify the downloaded files")


@check(
    id="download-tools-missing",
    summary="bash, wget or md5sum, needed by Meta's download.sh, are missing",
    severity=Severity.WARNING,
    group=Group.TOOLS,
    fixes=("install-download-tools",),
    requires=(TOOLS,),
    checked=lambda facts: _("{tools}: on PATH").format(tools=", ".join(NEEDED)),
    examples=[
        Healthy(linux_gpu()),
        Healthy(mac_arm()),
        Broken(windows_conda(), expect="Windows has no bash"),
        Broken(windows_conda(tools=GIT_BASH), expect="wget: command not found"),
        Broken(mac_arm(tools=MAC_STOCK), expect="wget and md5sum are not on PATH"),
        Broken(linux_gpu(tools=LINUX_NO_WGET), expect="wget is not on PATH"),
    ],
)
def download_tools_missing(facts: Facts) -> Iterator[Finding]:
    """Meta's download.sh needs bash, wget and md5sum on PATH.

    What it checks: whether `bash`, `wget` and `md5sum` are found on PATH.
    Why it matters: download.sh (the Llama 2 and Llama 3 repos) fetches every file with wget and verifies it
    with `md5sum -c`: without wget it stops at `download.sh: line 19: wget: command not found`; macOS ships
    `md5`, not `md5sum`; Windows has no bash at all, and Git Bash has no wget.
    How to fix: Linux: install `wget` and `coreutils` with the distribution's package manager; macOS: `brew
    install wget coreutils`; Windows: run download.sh inside WSL (`wsl --install`), or install wget for Git
    Bash (`winget install JernejSimoncic.Wget`). Only Meta's script needs them: Hugging Face downloads do
    not.
    """
    names = missing(facts)
    if not names:
        return
    if len(names) == 1:
        message = _("{tool} is not on PATH: {consequence}.").format(
            tool=names[0], consequence=_consequence(facts, names)
        )
    else:
        # TRANSLATORS: {first} and {second} are program names; "bash, wget and md5sum" when all three are missing.
        listed = _("{first} and {second}").format(first=", ".join(names[:-1]), second=names[-1])
        message = _("{tools} are not on PATH: {consequence}.").format(
            tools=listed, consequence=_consequence(facts, names)
        )
    yield download_tools_missing.finding(
        message,
        remedy="\n".join(install_commands(facts, names)),
        missing=list(names),
    )
