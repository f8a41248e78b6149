"""Failures while downloading the weights: Meta's download.sh, its tools, its signed URL."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Signature, Step

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="dl-crlf-script",
        step=Step.DOWNLOAD,
        title="download.sh has Windows (CRLF) line endings",
        signatures=(
            Signature(r"(?P<script>\S*download\.sh): line \d+: \$'\\r': command not found"),
            Signature(r"(?P<script>\S*download\.sh): line \d+: syntax error near unexpected token `\$'\w+\\r''"),
            Signature(r"': not a valid identifier: `PRESIGNED_URL"),
            Signature(r"invalid optione? \d+: set: -"),
            Signature(r"/usr/bin/env: .bash(?:\\r|\^M).: No such file or directory"),
            Signature(r"/bin/bash\^M: bad interpreter"),
        ),
        cause=(
            "`{script}` was saved with Windows line endings (CRLF): bash reads the carriage return at the end of each"
            " line as part of the command."
        ),
        fix="Convert the script's line endings to LF, then run it again.",
        commands=("sed -i 's/\\r$//' {script}", "bash {script}"),
        windows_commands=('(Get-Content -Raw {script}) -replace "`r`n", "`n" | Set-Content -NoNewline {script}',),
        checks=("download-script-crlf",),
        fixes=("convert-crlf-to-lf",),
        defaults={"script": "download.sh"},
        matches=(
            "download.sh: line 2: $'\\r': command not found\ndownload.sh: line 3: $'\\r': command not found",
            "/usr/bin/env: ‘bash\\r’: No such file or directory",
            "./download.sh: line 22: syntax error near unexpected token `$'do\\r''",
        ),
        ignores=(
            "Downloading LICENSE and Acceptable Usage Policy\n--2023-07-19 10:00:01--  https://download.llamameta.net/",
            "bash: ./download.sh: Permission denied",
        ),
    ),
)
