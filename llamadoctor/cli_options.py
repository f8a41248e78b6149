"""The options several commands share, declared once so they read the same in every command's help."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from llamadoctor import errors, output
from llamadoctor.errors import path_option

PythonOpt = Annotated[
    Optional[str],
    typer.Option("--python", help="Diagnose this interpreter's environment, or a venv or conda env folder's."),
]
RepoOpt = Annotated[Optional[Path], path_option(help="Folder with Meta's download.sh and example scripts.")]
ModelDirOpt = Annotated[Optional[list[Path]], path_option("--model-dir", help="A model folder (repeatable).")]
NprocOpt = Annotated[
    Optional[int], typer.Option(**errors.NPROC, help="Processes you will give torchrun --nproc_per_node.")
]
SeqOpt = Annotated[int, typer.Option(**errors.SEQ_LEN, help="The --max_seq_len you will run with.")]
BatchOpt = Annotated[int, typer.Option(**errors.BATCH_SIZE, help="The --max_batch_size you will run with.")]
QuietOpt = Annotated[bool, output.quiet_option()]
NoColorOpt = Annotated[bool, output.no_color_option()]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (schema 1).")]
