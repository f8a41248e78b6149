"""How many nodes a torchrun job was launched for, read from its launcher's own arguments.

torchrun tells a rank how many nodes joined (GROUP_WORLD_SIZE) but not how many were asked for: an elastic
launch (`--nnodes 1:4`) starts with the nodes that came within its rendezvous window. The agent's command line
says what was asked; torchrun's own parser reads it, so every spelling torchrun accepts (`--nnodes=2`, an
abbreviation, PET_NNODES from the environment) reads the same here.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import PurePath
from typing import Optional

LAUNCH_MODULES = ("torch.distributed.run", "torch.distributed.launch")


def launcher_args(argv: Sequence[str]) -> Optional[list[str]]:
    """The arguments torchrun parsed, out of the agent's full command line (interpreter and flags included);
    None when that process is not torchrun (a wrapper script, a hand-made launch)."""
    for i, part in enumerate(argv):
        if i and argv[i - 1] == "-m" and part in LAUNCH_MODULES:
            return list(argv[i + 1 :])
        stem = PurePath(part.replace("\\", "/")).name.lower()
        if stem in ("torchrun", "torchrun.exe", "torchrun-script.py"):
            return list(argv[i + 1 :])
    return None


def expected_nodes(argv: Optional[Sequence[str]]) -> Optional[int]:
    """The most nodes the launch asked for (`--nnodes N` or `--nnodes MIN:MAX`), or None when unknown."""
    args = launcher_args(argv) if argv else None
    if args is None:
        return None
    from torch.distributed.run import get_args_parser, parse_min_max_nnodes

    try:
        # argparse prints and exits on what it cannot parse: an unknown launcher reads as unknown, quietly
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            parsed, _ = get_args_parser().parse_known_args(args)
        _, most = parse_min_max_nnodes(str(parsed.nnodes))
    except (SystemExit, ValueError, RuntimeError):
        return None
    return int(most) if int(most) > 0 else None
