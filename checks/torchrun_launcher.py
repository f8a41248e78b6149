"""The torchrun launchers: the target environment's own, and the one a shell finds first on PATH."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.facts import Facts, Launcher
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity, SkipCheck
from llamadoctor.registry import check
from llamadoctor.shebang import splits_at_space
from llamadoctor.shell import render_argv
from llamadoctor.testing import linux_gpu, mac_arm, make_facts, windows_conda

CB_PYTHON = r"C:\cb\PYTORC~1\_h_env\python.exe"
CONDA_SCRIPT = r"C:\Users\ada\miniconda3\envs\llama\Scripts\torchrun-script.py"
WIN_BROKEN = Launcher(CONDA_SCRIPT, "conda-script", CB_PYTHON, False, "#!" + CB_PYTHON)
MOVED = Launcher(
    "/home/ada/llama/.venv/bin/torchrun",
    "script",
    "/home/ada/old/.venv/bin/python",
    False,
    "#!/home/ada/old/.venv/bin/python",
)
SPACED_PYTHON = r"C:\Users\Ada Lovelace\miniconda3\envs\llama\python.exe"
SPACED = Launcher(
    r"C:\Users\Ada Lovelace\miniconda3\envs\llama\Scripts\torchrun-script.py",
    "conda-script",
    SPACED_PYTHON,
    True,
    "#!" + SPACED_PYTHON,
)
SYSTEM_TORCHRUN = Launcher("/usr/local/bin/torchrun", "script", "/usr/bin/python3", True, "#!/usr/bin/python3")
BASE_CONDA = Launcher(
    r"C:\Users\ada\miniconda3\Scripts\torchrun-script.py",
    "conda-script",
    r"C:\Users\ada\miniconda3\python.exe",
    True,
    r"#!C:\Users\ada\miniconda3\python.exe",
)


OWN_TORCHRUN = Requires(lambda f: f.torchrun, N_("the target environment has no torchrun"))
PATH_TORCHRUN = Requires(lambda f: f.path_torchrun, N_("no torchrun on PATH"))


def run_module(facts: Facts) -> str:
    """`python -m torch.distributed.run`: torchrun without its launcher, for the target interpreter."""
    return render_argv([facts.python.executable, "-m", "torch.distributed.run"], facts.platform.shell)


def _symptom(facts: Facts, launcher: Launcher) -> str:
    if facts.os == "windows":
        return _("torchrun prints only “failed to create process.”")
    return _("the shell reports “{launcher}: {interpreter}: bad interpreter: No such file or directory”").format(
        launcher=launcher.path, interpreter=launcher.interpreter
    )


def _remedy(facts: Facts) -> str:
    until = _("(until then run `{command}` instead of torchrun)").format(command=run_module(facts))
    return f"llamadoctor fix torchrun-launcher-broken\n{until}"


@check(
    id="torchrun-launcher-broken",
    summary="The environment's torchrun names a Python that does not exist",
    severity=Severity.ERROR,
    group=Group.DISTRIBUTED,
    fixes=("rewrite-torchrun-shebang",),
    requires=(OWN_TORCHRUN,),
    checked=lambda facts: (
        _("{launcher} runs {interpreter}").format(launcher=facts.torchrun.path, interpreter=facts.torchrun.interpreter)
        if facts.torchrun
        else ""
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),
        Healthy(mac_arm()),
        Inapplicable(linux_gpu(torchrun=None), expect="no torchrun"),
        Broken(windows_conda(torchrun=WIN_BROKEN), expect="failed to create process."),
        Broken(windows_conda(torchrun=WIN_BROKEN), expect=CB_PYTHON),
        Broken(linux_gpu(torchrun=MOVED), expect="bad interpreter"),
        Broken(windows_conda(torchrun=SPACED), expect=r"up to its first space (C:\Users\Ada)"),
        Healthy(
            windows_conda(torchrun=Launcher(SPACED.path, "conda-script", SPACED_PYTHON, True, f'#!"{SPACED_PYTHON}"'))
        ),
    ],
)
def torchrun_launcher_broken(facts: Facts) -> Iterator[Finding]:
    """The target environment's torchrun launcher points at an interpreter that is gone.

    What it checks: the first line of the environment's torchrun: `bin/torchrun` (`#!/path/to/python`) on
    Linux and macOS, conda's `Scripts\\torchrun-script.py` or pip's `Scripts\\torchrun.exe` on Windows, and
    whether the interpreter it names exists.
    Why it matters: conda's PyTorch packages have shipped `torchrun-script.py` with the build machine's path
    (`#!C:\\cb\\PYTORC~1\\_h_env\\python.exe`), and a moved or renamed venv keeps its old path; torchrun then
    prints only "failed to create process." (Windows) or "bad interpreter: No such file or directory". On
    Windows a path with spaces written without quotes fails the same way: the launcher stops at the space.
    How to fix: rewrite the first line to the environment's own python (`llamadoctor fix
    torchrun-launcher-broken`); meanwhile `python -m torch.distributed.run` is the same program without the
    launcher.
    """
    launcher = facts.torchrun
    assert launcher is not None
    head = splits_at_space(launcher)
    if head is not None:
        yield torchrun_launcher_broken.finding(
            # TRANSLATORS: {symptom} is what the user sees ("torchrun prints only “failed to create process.”").
            _(
                "torchrun's launcher {launcher} names {interpreter} without quotes: the launcher reads the path only "
                "up to its first space ({head}), so {symptom}."
            ).format(
                launcher=launcher.path,
                interpreter=launcher.interpreter,
                head=head,
                symptom=_symptom(facts, launcher),
            ),
            remedy=_remedy(facts),
            launcher=launcher.path,
            interpreter=launcher.interpreter,
            kind=launcher.kind,
        )
        return
    if launcher.interpreter_exists:
        return
    named = launcher.interpreter or _("no interpreter (its first line is {line})").format(line=repr(launcher.line))
    yield torchrun_launcher_broken.finding(
        _("torchrun's launcher {launcher} names {interpreter}, which does not exist: {symptom}.").format(
            launcher=launcher.path, interpreter=named, symptom=_symptom(facts, launcher)
        ),
        remedy=_remedy(facts),
        launcher=launcher.path,
        interpreter=launcher.interpreter,
        kind=launcher.kind,
    )


def _same_interpreter(facts: Facts, a: str, b: str) -> bool:
    path = facts.path

    def norm(p: str) -> str:
        return str(path.normcase(path.normpath(p)))

    if norm(a) == norm(b):
        return True
    # python, python3 and python3.11 of one bin folder are one environment
    same_dir = norm(path.dirname(a)) == norm(path.dirname(b))
    return same_dir and all(path.basename(p).lower().startswith("python") for p in (a, b))


@check(
    id="torchrun-wrong-interpreter",
    summary="The torchrun on PATH belongs to another Python",
    severity=Severity.WARNING,
    group=Group.DISTRIBUTED,
    requires=(PATH_TORCHRUN,),
    checked=lambda facts: (
        _("the torchrun on PATH runs {interpreter}").format(interpreter=facts.path_torchrun.interpreter)
        if facts.path_torchrun
        else ""
    ),
    examples=[
        Healthy(linux_gpu()),
        Healthy(windows_conda()),
        Inapplicable(linux_gpu(path_torchrun=None), expect="no torchrun on PATH"),
        Broken(linux_gpu(path_torchrun=SYSTEM_TORCHRUN), expect="/usr/bin/python3"),
        Broken(windows_conda(path_torchrun=BASE_CONDA), expect=r"C:\Users\ada\miniconda3\python.exe"),
        Broken(
            make_facts(
                "darwin",
                path_torchrun=Launcher(
                    "/opt/homebrew/bin/torchrun", "script", "/opt/homebrew/opt/python@3.12/bin/python3.12", True
                ),
            ),
            expect="/opt/homebrew/bin/torchrun",
        ),
    ],
)
def torchrun_wrong_interpreter(facts: Facts) -> Iterator[Finding]:
    """The `torchrun` a shell runs first is another environment's, so it runs another Python.

    What it checks: the interpreter named by the first `torchrun` on PATH against the target interpreter
    (compared as paths; case-insensitively on Windows).
    Why it matters: packages installed into the target (fairscale, fire, sentencepiece, llama itself) are
    missing in the other Python: `ModuleNotFoundError: No module named 'fairscale'` right after pip said
    "Requirement already satisfied"; it may also be a different torch, without CUDA.
    How to fix: activate the target environment so its torchrun comes first, or run torchrun as a module of
    the target interpreter: `/path/to/python -m torch.distributed.run ...`.
    """
    launcher = facts.path_torchrun
    assert launcher is not None
    name = launcher.interpreter
    if not name:
        raise SkipCheck(_("the torchrun on PATH ({launcher}) does not name its Python").format(launcher=launcher.path))
    if not ("/" in name or "\\" in name):
        raise SkipCheck(_("the torchrun on PATH runs `{name}`, which PATH resolves only at run time").format(name=name))
    if _same_interpreter(facts, name, facts.python.executable):
        return
    yield torchrun_wrong_interpreter.finding(
        _(
            "The torchrun on PATH ({launcher}) runs {interpreter}, not the target Python {python}: packages "
            "installed for the target are missing there."
        ).format(launcher=launcher.path, interpreter=name, python=facts.python.executable),
        remedy=_("activate the environment of {python}, or run torchrun through it:").format(
            python=facts.python.executable
        )
        + f"\n{run_module(facts)} ...",
        launcher=launcher.path,
        interpreter=name,
        target=facts.python.executable,
    )
