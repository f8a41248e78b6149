"""Set, unset or correct the environment variables a finding names, printed for the user's shell: RANK,
WORLD_SIZE and MASTER_* for torchrun, NCCL_P2P_DISABLE, USE_LIBUV, PYTORCH_ENABLE_MPS_FALLBACK."""

from __future__ import annotations

from collections.abc import Mapping

from llamadoctor.facts import Facts
from llamadoctor.i18n import _
from llamadoctor.model import Action, Applicability, Finding, Manual
from llamadoctor.registry import fix
from llamadoctor.shell import comment, env_commands


def _names(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()


def _values(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


@fix(
    id="set-distributed-env",
    summary="Set or unset in your shell the variables the run needs (MASTER_*, NCCL_P2P_DISABLE, USE_LIBUV, ...)",
    applicability=Applicability.MANUAL,
)
def set_distributed_env(finding: Finding, facts: Facts) -> tuple[Action, ...]:
    """The commands come from the finding's evidence (`unset`, `set`): the check decided, this renders."""
    unset, assign = _names(finding.evidence.get("unset")), _values(finding.evidence.get("set"))
    shell = facts.platform.shell
    # Only variables the shell actually has need unsetting; a re-plan after the fix is then empty.
    unset = tuple(name for name in unset if name in facts.env)
    assign = {k: v for k, v in assign.items() if facts.env.get(k) != v}
    if not unset and not assign:
        return ()
    commands = list(env_commands(shell, unset=unset, assign=assign))
    if unset:
        commands.append(comment(_("and remove the same variables from your shell profile or system settings"), shell))
    text = _("Run in the shell that starts Llama:")
    if "MASTER_ADDR" in assign:
        port = assign.get("MASTER_PORT", facts.env.get("MASTER_PORT", "29500"))
        text = _(
            "Run in the shell that starts Llama; with torchrun also pass --master_addr {addr} --master_port {port}:"
        ).format(addr=assign["MASTER_ADDR"], port=port)
    return (Manual(text, tuple(commands)),)
