"""Meta's download.sh: line endings, permissions, a saved web page instead of the script, bash 3.2."""

from __future__ import annotations

import re
from collections.abc import Iterator

from llamadoctor.checks._requires import DOWNLOAD_SCRIPT
from llamadoctor.facts import Facts
from llamadoctor.files import ScriptFile, mode_text
from llamadoctor.i18n import N_, _
from llamadoctor.model import (
    Broken,
    Group,
    Healthy,
    Inapplicable,
    NotApplicable,
    Outcome,
    Passed,
    Severity,
    SkipCheck,
)
from llamadoctor.registry import check
from llamadoctor.testing import linux_cpu, mac_arm, replace_in, windows_conda
from llamadoctor.testing_files import (
    GITHUB_PAGE,
    HTML_PAGE,
    LLAMA1_SCRIPT,
    LLAMA2_BIN_BASH_SCRIPT,
    LLAMA2_SCRIPT,
    repo_with,
    script,
)

# Syntax dash (Debian's and Ubuntu's sh) does not have: [[ ]] tests and ${var/x/y} substitutions.
BASH_ONLY = re.compile(rb"\[\[ |\$\{[A-Za-z_][A-Za-z0-9_]*//?")
BASH4_FEATURES = re.compile(rb"declare -A|\bmapfile\b|\breadarray\b|\$\{[A-Za-z_]+(,,|\^\^)\}")


def _script(facts: Facts) -> ScriptFile:
    """download.sh, which the checks' requirement guarantees; one that cannot be read cannot be judged."""
    script = facts.repo.download_script if facts.repo else None
    assert script is not None
    if script.error:
        raise SkipCheck(_("{path} cannot be read ({error})").format(path=script.path, error=script.error))
    return script


NOT_A_SCRIPT = N_("download.sh is a saved web page, not a script (see download-script-is-html)")


def _is_page(data: bytes) -> bool:
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start in (b"<", b"{")


def crlf_symptom(script: ScriptFile) -> str:
    """What the user sees, which depends on the #! line and on how the script is started."""
    shebang = script.shebang.strip()
    error = {
        "#!/usr/bin/env bash": "`/usr/bin/env: 'bash\\r': No such file or directory`",
        "#!/bin/bash": "`/bin/bash^M: bad interpreter: No such file or directory`",
    }.get(shebang)
    if error is None:
        return _(
            "`./download.sh` fails with `bad interpreter` or `No such file or directory`; `bash download.sh` fails "
            "with `line 2: $'\\r': command not found`"
        )
    # TRANSLATORS: {error} is the error text `./download.sh` fails with, in backticks.
    return _(
        "`./download.sh` fails with {error}; `bash download.sh` fails with `line 2: $'\\r': command not found`"
    ).format(error=error)


@check(
    id="download-script-crlf",
    summary="download.sh has Windows (CRLF) line endings",
    severity=Severity.ERROR,
    group=Group.DOWNLOAD,
    fixes=("convert-crlf-to-lf",),
    requires=(DOWNLOAD_SCRIPT,),
    checked=N_("download.sh: LF line endings"),
    examples=(
        Healthy(linux_cpu(repo=repo_with(script()))),
        Inapplicable(linux_cpu(), expect="no download.sh found"),
        Inapplicable(linux_cpu(repo=repo_with(script(GITHUB_PAGE.replace(b"\n", b"\r\n"))))),
        Broken(linux_cpu(repo=repo_with(script(LLAMA2_SCRIPT.replace(b"\n", b"\r\n")))), expect="bash\\r"),
        Broken(
            windows_conda(repo=repo_with(script(LLAMA2_BIN_BASH_SCRIPT.replace(b"\n", b"\r\n")))),
            expect="bad interpreter",
        ),
    ),
)
def download_script_crlf(facts: Facts) -> Iterator[Outcome]:
    """What it checks: whether Meta's download.sh in --repo has CRLF ("\\r\\n") line endings.

    Why it matters: bash reads the "\\r" as part of each command. Which error appears depends on the script's
    first line and how it is started: `./download.sh` with `#!/usr/bin/env bash` (Llama 3) gives
    `/usr/bin/env: 'bash\\r': No such file or directory`, with `#!/bin/bash` (Llama 2) the kernel's
    `/bin/bash^M: bad interpreter`, and `bash download.sh` gives `$'\\r': command not found` on every line.
    Git on Windows with core.autocrlf=true, or saving the file with a Windows editor, does this.

    How to fix: `llamadoctor fix download-script-crlf` rewrites it with LF endings (`sed -i 's/\\r$//'
    download.sh` or `dos2unix download.sh` do the same); re-clone with `git -c core.autocrlf=false clone`.
    """
    script = _script(facts)
    if _is_page(script.head):
        yield NotApplicable(_(NOT_A_SCRIPT))
    elif script.crlf:
        yield download_script_crlf.finding(
            # TRANSLATORS: {symptom} says how download.sh then fails, started each way.
            _("{path} has Windows (CRLF) line endings: {symptom}.").format(
                path=script.path, symptom=crlf_symptom(script)
            ),
            path=script.path,
            shebang=script.shebang,
        )


def _not_sh(facts: Facts, script: ScriptFile) -> str:
    """Where `sh` is dash, the way out people reach for when ./download.sh is refused fails too."""
    data = script.content or script.head
    found = BASH_ONLY.search(data)
    if facts.os != "linux" or found is None:
        return ""
    line = data.count(b"\n", 0, found.start()) + 1
    what = "[[" if found.group(0).startswith(b"[[") else "${var/...}"
    error = "[[: not found" if what == "[[" else "Bad substitution"
    # TRANSLATORS: {syntax} is the bash-only syntax found ("[[" or "${var/...}") on line {line}.
    return _(
        " Not `sh download.sh`: on Debian, Ubuntu and WSL sh is dash, which stops at the bash-only {syntax} on "
        "line {line} with {error}."
    ).format(syntax=what, line=line, error=f"`download.sh: {line}: {error}`")


@check(
    id="download-script-not-executable",
    summary="download.sh is not executable",
    severity=Severity.WARNING,
    group=Group.DOWNLOAD,
    platforms=("linux", "darwin"),
    fixes=("make-script-executable",),
    requires=(DOWNLOAD_SCRIPT,),
    checked=lambda facts: _("download.sh: mode {mode}").format(mode=mode_text(_script(facts).mode)),
    examples=(
        Healthy(linux_cpu(repo=repo_with(script()))),
        Inapplicable(linux_cpu(repo=repo_with(script(HTML_PAGE, executable=False))), expect="web page"),
        Broken(linux_cpu(repo=repo_with(script(executable=False))), expect="Permission denied"),
        Broken(linux_cpu(repo=repo_with(script(executable=False))), expect="[[: not found"),
    ),
)
def download_script_not_executable(facts: Facts) -> Iterator[Outcome]:
    """What it checks: whether download.sh has its executable bit.

    Why it matters: Meta's README runs `./download.sh`, which fails with `Permission denied` when the file
    was downloaded or copied without its mode (a browser download, a zip, a Windows file system).

    How to fix: `chmod +x download.sh` (`llamadoctor fix download-script-not-executable`), or start it as
    `bash download.sh`; not as `sh download.sh`, which on Debian, Ubuntu and WSL is dash and stops at the
    script's bash-only syntax (`[[: not found`, `Bad substitution`).
    """
    script = _script(facts)
    if _is_page(script.head):
        yield NotApplicable(_(NOT_A_SCRIPT))
    elif not script.executable:
        yield download_script_not_executable.finding(
            # TRANSLATORS: {dash} is empty, or a sentence on why `sh download.sh` fails too.
            _(
                "{path} is not executable: `./download.sh` fails with `Permission denied` (`bash download.sh` "
                "would still work).{dash}"
            ).format(path=script.path, dash=_not_sh(facts, script)),
            path=script.path,
            mode=mode_text(script.mode),
        )


@check(
    id="download-script-is-html",
    summary="download.sh is a saved web page, not the script",
    severity=Severity.ERROR,
    group=Group.DOWNLOAD,
    requires=(DOWNLOAD_SCRIPT,),
    checked=lambda facts: _("download.sh starts as a script ({shebang})").format(
        shebang=_script(facts).shebang or _("no #! line")
    ),
    examples=(
        Healthy(linux_cpu(repo=repo_with(script()))),
        Inapplicable(linux_cpu(repo=repo_with()), expect="no download.sh found"),
        Broken(linux_cpu(repo=repo_with(script(GITHUB_PAGE))), expect="allShortcutsEnabled"),
        Broken(mac_arm(repo=repo_with(script(HTML_PAGE))), expect="web page"),
    ),
)
def download_script_is_html(facts: Facts) -> Iterator[Outcome]:
    """What it checks: whether download.sh starts like a script (`#!`) rather than like HTML or JSON.

    Why it matters: "Save link as" on GitHub's page for the file saves the page, not the script. Bash then
    runs the page: `line 1: payload:allShortcutsEnabled:false: command not found` for GitHub's JSON page, a
    syntax error near `<` for HTML.

    How to fix: get the real file: `git clone` the repository, or download the "Raw" link
    (https://raw.githubusercontent.com/meta-llama/...), then run it again.
    """
    script = _script(facts)
    if not _is_page(script.head):
        return
    if script.head.lstrip()[:1] == b"{":
        message = _(
            '{path} is GitHub\'s JSON page, not the script (saved with "Save link as"): bash fails with '
            "`payload:allShortcutsEnabled:false: command not found` or a syntax error near `<`. Clone the "
            "repository or download the Raw file."
        )
    else:
        message = _(
            '{path} is a web page (HTML), not the script (saved with "Save link as"): bash fails with '
            "`payload:allShortcutsEnabled:false: command not found` or a syntax error near `<`. Clone the "
            "repository or download the Raw file."
        )
    yield download_script_is_html.finding(
        message.format(path=script.path),
        path=script.path,
    )


def _major(version: str | None) -> int | None:
    match = re.match(r"(\d+)", version or "")
    return int(match.group(1)) if match else None


@check(
    id="download-script-needs-bash4",
    summary="download.sh needs bash 4 but would run under bash 3.2",
    severity=Severity.ERROR,
    group=Group.DOWNLOAD,
    platforms=("darwin", "linux"),
    requires=(DOWNLOAD_SCRIPT,),
    examples=(
        Healthy(mac_arm(repo=repo_with(script()))),
        Healthy(mac_arm(repo=repo_with(script(LLAMA1_SCRIPT.replace(b"#!/bin/bash", b"#!/usr/bin/env bash"))))),
        Inapplicable(windows_conda(repo=repo_with(script(LLAMA1_SCRIPT))), expect="only on macOS and Linux"),
        Broken(
            replace_in(mac_arm(repo=repo_with(script(LLAMA1_SCRIPT))), "tools", bash_version="3.2.57"),
            expect="declare -A",
        ),
        Broken(mac_arm(repo=repo_with(script(LLAMA1_SCRIPT))), expect="/bin/bash"),
    ),
)
def download_script_needs_bash4(facts: Facts) -> Iterator[Outcome]:
    """What it checks: whether download.sh uses bash-4 features (`declare -A` in the Llama 1 script) while
    the bash that would run it is 3.2, macOS's own.

    Why it matters: macOS ships bash 3.2, which has no associative arrays: the Llama 1 script fails at
    `declare -A` and every shard then fails `md5sum`. A `#!/bin/bash` line always means that old bash on a
    Mac, whatever comes first on PATH.

    How to fix: `brew install bash`, then run `$(brew --prefix)/bin/bash download.sh`.
    """
    script = _script(facts)
    if not BASH4_FEATURES.search(script.content or script.head):
        yield Passed(_("download.sh: no bash-4 features"))
        return
    path_major = _major(facts.tools.bash_version)
    system_bash = facts.os == "darwin" and script.shebang.strip() == "#!/bin/bash"
    if path_major is None and not system_bash:
        raise SkipCheck(_("download.sh needs bash 4, and the version of bash here is unknown"))
    if path_major is not None and path_major < 4:
        yield download_script_needs_bash4.finding(
            _(
                "{path} uses `declare -A` (bash 4 or newer) but bash here is {version}: it fails with `declare: -A: "
                "invalid option`. Run `brew install bash`, then `$(brew --prefix)/bin/bash download.sh`."
            ).format(path=script.path, version=facts.tools.bash_version),
            bash=facts.tools.bash_version,
        )
    elif system_bash:
        yield download_script_needs_bash4.finding(
            _(
                "{path} uses `declare -A` (bash 4 or newer) and starts with `#!/bin/bash`, which on macOS is bash "
                "3.2: `./download.sh` fails. Run it as `bash download.sh` (bash {version} from PATH)."
            ).format(path=script.path, version=facts.tools.bash_version or "4+"),
            severity=Severity.WARNING,
            bash=facts.tools.bash_version,
        )
    else:
        yield Passed(_("download.sh needs bash 4; bash here is {version}").format(version=facts.tools.bash_version))
