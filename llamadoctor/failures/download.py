"""Failures while downloading the weights: Meta's download.sh, its tools, its signed URL."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Handling, Signature, Step

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
            # bash 5 prints the carriage return itself, so a saved log breaks the line after `set: -`
            Signature(r"(?P<script>\S+\.sh): line \d+: set: -(?:: invalid option)?$"),
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
            "download.sh: line 3: set: -\r: invalid option\nset: usage: set [-abefhkmnptuvxBCEHPT] [-o option-name]",
        ),
        ignores=(
            "Downloading LICENSE and Acceptable Usage Policy\n--2023-07-19 10:00:01--  https://download.llamameta.net/",
            "bash: ./download.sh: Permission denied",
        ),
    ),
    Failure(
        id="dl-missing-wget-md5sum",
        step=Step.DOWNLOAD,
        title="download.sh cannot find wget or md5sum",
        signatures=(
            Signature(r"(?P<script>\S*download\.sh): line \d+: (?P<tool>wget|md5sum): command not found"),
            Signature(r"Could not parse check file '(?P<checklist>\S*checklist\.chk)'"),
        ),
        cause=(
            "download.sh stopped because a program it runs is missing: it fetches every file with `wget` and"
            " verifies it with GNU `md5sum -c`; macOS has neither, and Git Bash on Windows has no wget."
        ),
        fix=(
            "Install wget and GNU coreutils (which has md5sum), then run download.sh again with a fresh link;"
            " on Windows run it inside WSL instead."
        ),
        commands=(
            "brew install wget coreutils  # macOS",
            "sudo apt-get install wget coreutils  # Debian, Ubuntu, WSL",
        ),
        windows_commands=("wsl --install",),
        checks=("download-tools-missing",),
        fixes=("install-download-tools",),
        matches=(
            "Enter the list of models to download without spaces (7B,13B,70B,7B-chat,13B-chat,70B-chat), or press"
            " Enter for all: 7B-chat\nDownloading LICENSE and Acceptable Usage Policy\n"
            "download.sh: line 19: wget: command not found\ndownload.sh: line 20: wget: command not found",
            "Downloading tokenizer\n./download.sh: line 27: wget: command not found\n"
            "./download.sh: line 29: md5sum: command not found",
            "Checking checksums\nCould not parse check file 'checklist.chk' (2)",
        ),
        ignores=(
            "--2023-07-19 10:00:01--  https://download.llamameta.net/LICENSE\nResolving download.llamameta.net"
            " (download.llamameta.net)... 18.154.144.13\nHTTP request sent, awaiting response... 200 OK",
            "zsh: command not found: llama",
        ),
    ),
    Failure(
        id="dl-403-expired-url",
        step=Step.DOWNLOAD,
        title="The signed download link is refused (403 Forbidden)",
        signatures=(
            Signature(r"HTTP request sent, awaiting response\.\.\. 403 Forbidden"),
            Signature(r"ERROR 403: Forbidden\."),
            Signature(r"403 (?:Client Error: )?Forbidden for url: https://(?P<host>[\w.-]*llamameta\.net)/"),
            Signature(r"Client error '403 Forbidden' for url 'https://(?P<host>[\w.-]*llamameta\.net)/"),
        ),
        cause=(
            "Meta's server refused the signed link: links expire 24 hours after they are sent and allow a limited"
            " number of downloads. Llama 2's download.sh carries on after a 403 and leaves empty files behind,"
            " even in place of files an earlier run downloaded."
        ),
        fix=(
            "Request a new link at https://www.llama.com/llama-downloads, delete the empty files the failed run"
            " left, and run download.sh again, pasting the new link at its prompt exactly as the email shows it."
        ),
        commands=(
            "find . -type f -size 0 \\( -name '*.pth' -o -name '*.json' -o -name '*.chk' -o -name '*.model' \\)"
            " -print -delete",
            "bash download.sh",
        ),
        checks=("download-url-invalid",),
        matches=(
            "Downloading LICENSE and Acceptable Usage Policy\n"
            "--2023-09-02 14:21:07--  https://download.llamameta.net/LICENSE?Policy=eyJTdGF0ZW1lbnQiOlt7&Signatu"
            "re=abc&Key-Pair-Id=K15QRJLYKIFSLZ\nResolving download.llamameta.net (download.llamameta.net)..."
            " 18.164.96.101\nConnecting to download.llamameta.net (download.llamameta.net)|18.164.96.101|:443..."
            " connected.\nHTTP request sent, awaiting response... 403 Forbidden\n"
            "2023-09-02 14:21:08 ERROR 403: Forbidden.",
            "Downloading llama3.1-8b\nrequests.exceptions.HTTPError: 403 Client Error: Forbidden for url:"
            " https://llama3-1.llamameta.net/Meta-Llama-3.1-8B/consolidated.00.pth?Policy=eyJ",
            "llama download: error: Download failed: Client error '403 Forbidden' for url"
            " 'https://llama3-1.llamameta.net/Llama-3.2-1B/consolidated.00.pth?Policy=eyJ'",
        ),
        ignores=(
            "HTTP request sent, awaiting response... 200 OK\nLength: 13476925163 (13G) [binary/octet-stream]\n"
            "Saving to: './llama-2-7b/consolidated.00.pth'",
            "HTTP request sent, awaiting response... 404 Not Found\n2023-09-02 14:21:08 ERROR 404: Not Found.",
        ),
    ),
    Failure(
        id="dl-mac-bash3",
        step=Step.DOWNLOAD,
        title="download.sh needs bash 4 but ran under macOS's bash 3.2",
        signatures=(
            Signature(r"(?P<script>\S*\.sh): line \d+: declare: -A: invalid option"),
            # bash 3.2's usage line: bash 4 and later list -A (and more) among the options.
            Signature(r"declare: usage: declare \[-afFirtx\] \[-p\]"),
        ),
        cause=(
            "`{script}` uses `declare -A` (associative arrays, bash 4), but it ran under macOS's own bash, which"
            " is version 3.2."
        ),
        fix="Install a current bash with Homebrew and run the script with it.",
        commands=("brew install bash", '"$(brew --prefix)/bin/bash" {script}'),
        checks=("download-script-needs-bash4",),
        defaults={"script": "download.sh"},
        matches=(
            "Enter the URL from email: \nEnter the list of models to download without spaces (7B,13B,30B,65B),"
            " or press Enter for all: 7B\n./download.sh: line 8: declare: -A: invalid option\n"
            "declare: usage: declare [-afFirtx] [-p] [name[=value] ...]",
            "declare: usage: declare [-afFirtx] [-p] [name[=value] ...]\nmd5sum: stat 'consolidated.00.pth': No"
            " such file or directory",
        ),
        ignores=(
            "GNU bash, version 5.2.26(1)-release (aarch64-apple-darwin23.2.0)",
            "bash: declare: usage: declare [-aAfFgiIlnrtux] [name[=value] ...] or declare -p [-aAfFilnrtux]",
        ),
    ),
    Failure(
        id="dl-run-with-sh",
        step=Step.DOWNLOAD,
        title="download.sh was run with sh instead of bash",
        signatures=(
            # dash writes `script: N: message`, with no "line" before the number (bash writes `line N:`).
            Signature(r"(?P<script>\S*\.sh): \d+: \[\[: not found"),
            Signature(r"(?P<script>\S*\.sh): \d+: Bad substitution"),
        ),
        cause=(
            "`{script}` is a bash script, but it was started with `sh`, which on Debian, Ubuntu and WSL is dash:"
            " dash has no `[[ ]]` tests and no `${{var/…}}` substitutions."
        ),
        fix="Start the script with bash.",
        commands=("bash {script}",),
        checks=("download-script-not-executable",),
        matches=(
            "$ sh download.sh\nEnter the URL from email: https://download.llamameta.net/*?Policy=eyJ\n"
            "download.sh: 12: [[: not found\ndownload.sh: 17: Bad substitution",
            "./download.sh: 17: Bad substitution",
        ),
        ignores=(
            "./download.sh: line 12: [[: command not found",
            "Downloading LICENSE and Acceptable Usage Policy\nDownloading tokenizer",
        ),
    ),
    Failure(
        id="dl-no-bash-on-windows",
        step=Step.DOWNLOAD,
        title="download.sh was started from PowerShell or cmd, which have no bash",
        signatures=(
            Signature(
                r"The term '(?P<program>bash|sh|wget|\.?[/\\]?download\.sh)' is not recognized"
                r" as (?:the|a) name of a cmdlet"
            ),
            Signature(r"'(?P<program>bash|sh|wget|download\.sh)' is not recognized as an internal or external command"),
            Signature(r"'(?P<program>https?:)\S*' is not recognized as an internal or external command"),
            # The same messages from a German or French Windows.
            Signature(r"Die Benennung \W(?P<program>bash|sh|wget|\S*download\.sh)\W wurde nicht als Name eines Cmdlet"),
            Signature(r"Le terme \W\s?(?P<program>bash|sh|wget|\S*download\.sh)\s?\W n'est pas reconnu comme nom"),
            Signature(r"Der Befehl \W(?P<program>bash|sh|wget|download\.sh)\W ist entweder falsch geschrieben"),
        ),
        cause=(
            "Windows has no bash, so Meta's download.sh cannot run from PowerShell or cmd (here `{program}` was"
            " not found); a link pasted at the Windows prompt is run as a command."
        ),
        fix=(
            "Run download.sh inside WSL (or Git Bash with wget installed), and paste the link at the script's"
            " own `Enter the URL from email` prompt."
        ),
        commands=("bash download.sh",),
        windows_commands=("wsl --install", "wsl bash download.sh"),
        checks=("download-tools-missing",),
        fixes=("install-download-tools",),
        matches=(
            "PS C:\\Users\\ada\\llama> bash download.sh\nbash : The term 'bash' is not recognized as the name of a"
            " cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was"
            " included, verify that the path is correct and try again.",
            "C:\\Users\\ada\\llama>https://download.llamameta.net/*?Policy=eyJ\n"
            "'https:' is not recognized as an internal or external command,\noperable program or batch file.",
            "'bash' is not recognized as an internal or external command,",
            'bash : Die Benennung "bash" wurde nicht als Name eines Cmdlet, einer Funktion, einer Skriptdatei'
            " oder eines ausführbaren Programms erkannt.",
            "bash : Le terme «bash» n'est pas reconnu comme nom d'applet de commande, fonction, fichier de script"
            " ou programme exécutable.",
        ),
        ignores=(
            "'python3' is not recognized as an internal or external command,",
            "bash download.sh\nEnter the URL from email:",
        ),
    ),
    Failure(
        id="dl-bad-url-paste",
        step=Step.DOWNLOAD,
        title="The download link was pasted mangled, or something else was pasted",
        signatures=(
            Signature(r"\S: Scheme missing\.$"),
            Signature(r"https://[\w.-]*llamameta\.net/\S*&amp;"),
            Signature(r"Missing Key-Pair Id query parameter or cookie value"),
            Signature(r"Warning: wildcards not supported in HTTP\."),
            Signature(
                r"Connecting to (?!\S*llamameta\.net)(?P<host>[\w.-]+) \([\w.-]+\)\|[^|]+\|:\d+\.\.\. connected\.",
                near=r"Enter the URL from email",
                weak=True,
            ),
        ),
        cause=(
            "download.sh was not given the signed link exactly as Meta sent it: an email address or partial text"
            " was pasted, `&` became `&amp;` when copied from HTML, or the link with its `*` was opened directly"
            " instead of being pasted at the script's prompt."
        ),
        fix=(
            'Copy the text of the link itself from the email (not "Copy link address"), run download.sh, and'
            " paste it raw at its `Enter the URL from email` prompt."
        ),
        commands=("bash download.sh",),
        checks=("download-url-invalid",),
        matches=(
            "Enter the URL from email: ada@example.com\n\nDownloading LICENSE and Acceptable Usage Policy\n"
            "ada@example.comLICENSE: Scheme missing.\nada@example.comUSE_POLICY.md: Scheme missing.\n"
            "md5sum: checklist.chk: no properly formatted MD5 checksum lines found",
            "--2023-08-11 09:12:40--  https://download.llamameta.net/llama-2-7b/params.json?Policy=eyJTdGF0&amp;"
            "Signature=abc&amp;Key-Pair-Id=K15QRJLYKIFSLZ\nHTTP request sent, awaiting response... 403 Forbidden",
            "Warning: wildcards not supported in HTTP.\n--2024-04-19 08:00:00--  https://download6.llamameta.net/*",
            "Enter the URL from email: htps://gmail.com/\nConnecting to gmail.com (gmail.com)|142.250.74.69|:80..."
            " connected.\nHTTP request sent, awaiting response... 301 Moved Permanently",
        ),
        ignores=(
            "--2023-08-11 09:12:40--  https://download.llamameta.net/llama-2-7b/params.json?Policy=eyJTdGF0&"
            "Signature=abc&Key-Pair-Id=K15QRJLYKIFSLZ\nConnecting to download.llamameta.net"
            " (download.llamameta.net)|18.164.96.101|:443... connected.\nHTTP request sent, awaiting response..."
            " 200 OK",
        ),
    ),
    Failure(
        id="dl-empty-checklist",
        step=Step.DOWNLOAD,
        title="checklist.chk is empty or an error page, so md5sum has nothing to verify",
        signatures=(
            Signature(r"md5sum: (?P<checklist>\S*checklist\.chk): no properly formatted (?:MD5 )?checksum lines found"),
        ),
        cause=(
            "`{checklist}` holds no checksums: it is empty or an error page because fetching it failed (an"
            " expired or mangled link), and the other files of that run are probably empty too."
        ),
        fix=(
            "Delete the empty files, request a new link at https://www.llama.com/llama-downloads and run"
            " download.sh again."
        ),
        commands=(
            "find . -type f -size 0 \\( -name '*.pth' -o -name '*.json' -o -name '*.chk' -o -name '*.model' \\)"
            " -print -delete",
            "bash download.sh",
        ),
        checks=("checksum-mismatch",),
        matches=(
            "Downloading llama-2-7b\nChecking checksums\n"
            "md5sum: checklist.chk: no properly formatted MD5 checksum lines found",
            "md5sum: ./llama-2-13b/checklist.chk: no properly formatted checksum lines found",
        ),
        ignores=(
            "Checking checksums\nconsolidated.00.pth: OK\nparams.json: OK",
            "consolidated.00.pth: FAILED\nmd5sum: WARNING: 1 computed checksum did NOT match",
        ),
    ),
    Failure(
        id="dl-checksum-mismatch",
        step=Step.DOWNLOAD,
        title="Downloaded files do not match Meta's checksums",
        signatures=(
            Signature(r"^(?P<file>\S+\.(?:pth|json|model|safetensors|bin)): FAILED(?: open or read)?$"),
            Signature(r"md5sum: WARNING: \d+ (?:of \d+ )?computed checksums? did NOT match"),
            Signature(r"md5sum: WARNING: \d+ listed files? could not be read"),
        ),
        cause=(
            "md5sum found that {file} differs from Meta's checklist: the download was cut short or interrupted,"
            " the disk filled up, or a refused link left an empty file."
        ),
        fix=(
            "Fetch only the failed files again with a fresh link (`wget --continue` resumes a partial file), then"
            " verify again with `md5sum -c checklist.chk` in the model folder."
        ),
        commands=("md5sum -c checklist.chk",),
        checks=("checksum-mismatch",),
        fixes=("redownload-failed-shards",),
        defaults={"file": "a downloaded file"},
        matches=(
            "Checking checksums\nconsolidated.00.pth: OK\nconsolidated.01.pth: FAILED\nparams.json: OK\n"
            "md5sum: WARNING: 1 computed checksum did NOT match",
            "md5sum: consolidated.00.pth: No such file or directory\nconsolidated.00.pth: FAILED open or read\n"
            "md5sum: WARNING: 1 listed file could not be read",
        ),
        ignores=(
            "Checking checksums\nconsolidated.00.pth: OK\nconsolidated.01.pth: OK\nparams.json: OK\n"
            "tokenizer.model: OK",
            "FAILED tests/test_model.py::test_load - AssertionError",
        ),
    ),
    Failure(
        id="dl-script-is-html",
        step=Step.DOWNLOAD,
        title="download.sh is a saved web page, not the script",
        signatures=(
            Signature(r"line 1: \W{0,3}payload\W{1,3}allShortcutsEnabled\W{1,3}false"),
            Signature(r"(?P<script>\S*\.sh): line \d+: `(?i:<!DOCTYPE html>|<html)"),
        ),
        cause=(
            '`{script}` is GitHub\'s web page for the script (saved with "Save link as"), not the script, so bash'
            " runs HTML or JSON."
        ),
        fix=(
            'Get the real file: clone the repository with git, or save the page\'s "Raw" view, and check that'
            " its first line starts with `#!`."
        ),
        commands=("head -n 1 {script}",),
        checks=("download-script-is-html",),
        defaults={"script": "download.sh"},
        matches=(
            "$ bash download.sh\ndownload.sh: line 1: payload:allShortcutsEnabled:false: command not found",
            "download.sh: line 1: syntax error near unexpected token `newline'\ndownload.sh: line 1: `<!DOCTYPE html>'",
        ),
        ignores=(
            "download.sh: line 2: $'\\r': command not found",
            "Downloading LICENSE and Acceptable Usage Policy",
        ),
    ),
    Failure(
        id="dl-stalled-partial",
        step=Step.DOWNLOAD,
        title="A download stalled or was cut off part-way",
        runner=Handling(
            "refuses before loading, with the words of `check`",
            ("doctor_checks:refuse_unless_ready", "doctor_checks:RUN_CHECKS"),
        ),
        signatures=(
            Signature(r"Read error at byte (?P<got>\d+)(?:/(?P<total>\d+))? \((?P<reason>[^)]+)\)\. Retrying\."),
            Signature(r"Connection closed at byte (?P<got>\d+)\. Retrying\."),
            Signature(r"curl: \(18\) transfer closed with (?P<left>\d+) bytes remaining to read"),
            Signature(r"Connection broken: IncompleteRead\((?P<got>\d+) bytes read, (?P<left>\d+) more expected\)"),
        ),
        cause="The transfer of a file stopped part-way, so the file on disk is incomplete.",
        fix=(
            "Resume rather than start over: `wget --continue` (Llama 3's download.sh resumes when run again;"
            " Llama 2's starts every file from zero), with a new link if the old one has expired; then verify"
            " the checksums."
        ),
        commands=("md5sum -c checklist.chk",),
        checks=("checksum-mismatch", "shard-corrupt"),
        fixes=("redownload-failed-shards",),
        matches=(
            "Saving to: './llama-2-13b/consolidated.00.pth'\n\n./llama-2-13b/consolidated.00.pth  9%[>    ]"
            "  1.16G  2.10MB/s    in 9m 30s\n\n2023-07-20 03:11:42 (2.09 MB/s) - Read error at byte"
            " 1245184000/13015866573 (Connection timed out). Retrying.",
            '  File "/usr/lib/python3/dist-packages/requests/models.py", line 818, in generate\n'
            "    raise ChunkedEncodingError(e)\nrequests.exceptions.ChunkedEncodingError: ('Connection broken:"
            " IncompleteRead(1073741824 bytes read, 15087357286 more expected)', IncompleteRead(1073741824 bytes"
            " read, 15087357286 more expected))",
        ),
        ignores=(
            "2023-07-20 03:41:02 (28.4 MB/s) - './llama-2-13b/consolidated.00.pth' saved [13015866573/13015866573]",
            "HTTP request sent, awaiting response... 206 Partial Content\nLength: 13015866573 (12G), 11770682573"
            " (11G) remaining [binary/octet-stream]",
        ),
    ),
    Failure(
        id="dl-llama-cli-broken",
        step=Step.DOWNLOAD,
        title="The llama download command of llama-models fails on a missing module",
        signatures=(Signature(r"No module named 'llama_models\.cli\.model'"),),
        cause=(
            "The `llama` download command of llama-models 0.3.0 is broken: it imports a module the package does"
            " not ship."
        ),
        fix=(
            "Install the `llama` command that comes with llama-stack, or an earlier llama-models, or download the"
            " same files from Hugging Face, whose `original/` folder holds Meta's format."
        ),
        commands=("python -m pip install -U llama-stack",),
        checks=("llama-cli-broken",),
        matches=(
            "$ llama download --source meta --model-id Llama3.2-1B\n"
            "llama download: error: Download failed: No module named 'llama_models.cli.model'",
            'Traceback (most recent call last):\n  File "/home/ada/.venv/bin/llama-model", line 5, in <module>\n'
            "ModuleNotFoundError: No module named 'llama_models.cli.model'",
        ),
        ignores=(
            "Please provide the signed URL you received via email (e.g., https://llama3-1.llamameta.net/*?Policy...):",
            "ModuleNotFoundError: No module named 'llama'",
        ),
    ),
)
