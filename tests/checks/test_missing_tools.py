from __future__ import annotations

from llamadoctor.checks.missing_tools import GIT_BASH, LINUX_NO_WGET, MAC_STOCK, download_tools_missing
from llamadoctor.facts import Facts, Tools
from llamadoctor.fixes.install_download_tools import install_download_tools
from llamadoctor.model import Finding, Manual
from llamadoctor.registry import run_check
from llamadoctor.testing import linux_gpu, mac_arm, windows_conda


def findings(facts: Facts) -> list[Finding]:
    return list(run_check(download_tools_missing, facts))


def plan(facts: Facts) -> tuple[object, ...]:
    return install_download_tools.plan(download_tools_missing.finding("x"), facts)


def test_mac_stock_tools() -> None:
    (finding,) = findings(mac_arm(tools=MAC_STOCK))
    assert finding.message == "wget and md5sum are not on PATH: download.sh stops with “wget: command not found”."
    assert finding.remedy == "brew install coreutils wget"
    assert finding.evidence == {"missing": ["wget", "md5sum"]}


def test_mac_md5_only() -> None:
    tools = Tools(found={"bash": "/bin/bash", "wget": "/opt/homebrew/bin/wget", "md5": "/sbin/md5"})
    (finding,) = findings(mac_arm(tools=tools))
    assert "macOS ships md5, not md5sum" in finding.message
    assert finding.remedy == "brew install coreutils"


def test_windows_without_bash_gets_wsl() -> None:
    (finding,) = findings(windows_conda())
    assert finding.message.startswith("bash, wget and md5sum are not on PATH: Windows has no bash")
    assert finding.remedy.splitlines() == ["wsl --install", "wsl -- sudo apt-get install -y wget coreutils"]


def test_git_bash_has_md5sum_but_no_wget() -> None:
    (finding,) = findings(windows_conda(tools=GIT_BASH))
    assert finding.evidence == {"missing": ["wget"]}
    assert finding.remedy == "winget install --exact --id JernejSimoncic.Wget"


def test_linux_uses_the_package_manager_it_has() -> None:
    (finding,) = findings(linux_gpu(tools=LINUX_NO_WGET))
    assert finding.remedy == "sudo apt-get install -y wget"


def test_linux_unknown_distro_lists_the_alternatives() -> None:
    (finding,) = findings(linux_gpu(tools=Tools(found={"wget": "/usr/bin/wget"})))
    assert finding.remedy.splitlines() == [
        "sudo apt-get install -y bash coreutils",
        "sudo dnf install -y bash coreutils",
        "sudo pacman -S --needed bash coreutils",
    ]


def test_fix_is_noop_when_tools_are_there() -> None:
    assert plan(linux_gpu()) == ()
    assert plan(mac_arm()) == ()


def test_fix_plans_per_platform() -> None:
    (mac,) = plan(mac_arm(tools=MAC_STOCK))
    assert isinstance(mac, Manual) and mac.commands == ("brew install coreutils wget",)
    assert "Homebrew" in mac.text
    (win,) = plan(windows_conda())
    assert isinstance(win, Manual) and win.commands[0] == "wsl --install" and "WSL" in win.text
    (apt,) = plan(linux_gpu(tools=LINUX_NO_WGET))
    assert isinstance(apt, Manual) and apt.text == "Install wget:"
    (any_distro,) = plan(linux_gpu(tools=Tools()))
    assert isinstance(any_distro, Manual) and "(one of)" in any_distro.text
