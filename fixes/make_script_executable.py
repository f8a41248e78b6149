"""chmod +x download.sh."""

from __future__ import annotations

from llamadoctor.facts import Facts
from llamadoctor.files import executable_mode
from llamadoctor.model import Action, Applicability, Chmod, Finding
from llamadoctor.registry import fix


@fix(
    id="make-script-executable",
    summary="make download.sh executable (chmod +x)",
    applicability=Applicability.SAFE,
)
def make_script_executable(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    script = facts.repo.download_script if facts.repo else None
    if script is None or script.executable:
        return ()
    return (Chmod(script.path, executable_mode(script.mode)),)
