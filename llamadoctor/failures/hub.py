"""Failures reaching the Hugging Face hub: gated repositories and offline settings."""

from __future__ import annotations

from llamadoctor.failures.model import Failure, Signature, Step

FAILURES: tuple[Failure, ...] = (
    Failure(
        id="hf-gated-auth",
        step=Step.DOWNLOAD,
        title="The Hugging Face repository is gated and this account has no access",
        signatures=(
            Signature(r"Cannot access gated repo for url https://[\w.-]+/(?P<repo>[\w.-]+/[\w.-]+)/"),
            Signature(r"Access to model (?P<repo>[\w.-]+/[\w.-]+) is restricted"),
            Signature(r"Repo model (?P<repo>[\w.-]+/[\w.-]+) is gated\. You must be authenticated"),
            Signature(
                r"(?:401 Client Error: Unauthorized|403 Client Error: Forbidden) for url:"
                r" https://(?:huggingface\.co|hf-mirror\.com)/(?:api/models/)?(?P<repo>[\w.-]+/[\w.-]+)/"
            ),
        ),
        cause=(
            "`{repo}` is a gated repository: downloading it needs a token of an account whose request for access"
            " was approved, and there was no token, or its account has not been approved (a mirror set in"
            " HF_ENDPOINT cannot serve gated files either)."
        ),
        fix=(
            "Accept the licence at https://huggingface.co/{repo} with the account your token belongs to, wait for"
            " the approval, then log in (or set HF_TOKEN) and unset a mirror's HF_ENDPOINT."
        ),
        commands=("huggingface-cli login", "huggingface-cli download {repo}"),
        checks=("hf-gated-no-access",),
        matches=(
            "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6650)\n\n"
            "Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-2-7b-hf/resolve/main/"
            "config.json.\nAccess to model meta-llama/Llama-2-7b-hf is restricted. You must be authenticated to"
            " access it.",
            "OSError: You are trying to access a gated repo.\nMake sure to have access to it at"
            " https://huggingface.co/meta-llama/Meta-Llama-3-8B.\n403 Client Error. (Request ID: Root=1-66a1)\n\n"
            "Cannot access gated repo for url https://huggingface.co/meta-llama/Meta-Llama-3-8B/resolve/main/"
            "config.json.\nAccess to model meta-llama/Meta-Llama-3-8B is restricted and you are not in the"
            " authorized list. Visit https://huggingface.co/meta-llama/Meta-Llama-3-8B to ask for access.",
            "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url:"
            " https://huggingface.co/meta-llama/Llama-2-7b-hf/resolve/main/tokenizer_config.json",
        ),
        ignores=(
            "Fetching 4 files: 100%|██████████| 4/4 [00:12<00:00,  3.10s/it]\n"
            "/home/ada/.cache/huggingface/hub/models--meta-llama--Llama-3.2-1B/snapshots/4e20de3",
            "OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the"
            " cached files and it looks like meta-llama/Llama-2-7b-hf is not the path to a directory containing a"
            " file named config.json.",
        ),
    ),
    Failure(
        id="hf-offline",
        step=Step.DOWNLOAD,
        title="The Hugging Face Hub cannot be reached and the model is not in the local cache",
        signatures=(
            Signature(
                r"We couldn't connect to '(?P<endpoint>[^']+)' to load (?:this file|the files), couldn't find it in"
                r" the cached files and it looks like (?P<repo>\S+) is not the path to a directory"
            ),
            Signature(r"We couldn't connect to '(?P<endpoint>[^']+)' to load"),
            Signature(
                r"LocalEntryNotFoundError: (?:An error happened while trying to locate the files? on the Hub|"
                r"Cannot find the requested files in the (?:disk )?cache)"
            ),
            Signature(
                r"HTTPSConnectionPool\(host='(?P<endpoint>huggingface\.co|hf-mirror\.com|cdn-lfs[\w.-]*\.hf\.co)',"
                r" port=\d+\): Max retries exceeded"
            ),
        ),
        cause=(
            "Nothing could be fetched from the Hugging Face Hub ({endpoint}): no network, a proxy that is not"
            " set, or offline mode; and {repo} is neither in the local cache nor an existing local folder."
        ),
        fix=(
            "If {repo} is meant to be a local folder, pass its absolute path (a mistyped path is taken for a Hub"
            " id); otherwise make the Hub reachable (set HTTPS_PROXY, unset HF_HUB_OFFLINE), or download the"
            " model on another machine and copy the folder."
        ),
        commands=("curl -sSI https://huggingface.co", "env | grep -i -e '^hf_' -e proxy"),
        windows_commands=(
            "curl.exe -sSI https://huggingface.co",
            "Get-ChildItem Env: | Where-Object Name -Match '^HF_|PROXY'",
        ),
        defaults={"endpoint": "https://huggingface.co", "repo": "the model"},
        checks=("hf-hub-unreachable",),
        matches=(
            "OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the"
            " cached files and it looks like meta-llama/Meta-Llama-3-8B-Instruct is not the path to a directory"
            " containing a file named config.json.\nCheckout your internet connection or see how to run the"
            " library in offline mode at 'https://huggingface.co/docs/transformers/installation#offline-mode'.",
            "huggingface_hub.utils._errors.LocalEntryNotFoundError: An error happened while trying to locate the"
            " file on the Hub and we cannot find the requested files in the local cache. Please check your"
            " connection and try again or make sure your Internet connection is on.",
            "requests.exceptions.ConnectionError: (MaxRetryError(\"HTTPSConnectionPool(host='huggingface.co',"
            " port=443): Max retries exceeded with url: /meta-llama/Llama-3.2-1B/resolve/main/config.json (Caused"
            " by NewConnectionError('Failed to establish a new connection: [Errno 101] Network is unreachable'))",
        ),
        ignores=(
            "Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-2-7b-hf/resolve/main/"
            "config.json.\nAccess to model meta-llama/Llama-2-7b-hf is restricted. You must be authenticated to"
            " access it.",
            "Loading checkpoint shards: 100%|██████████| 2/2 [00:03<00:00,  1.62s/it]",
        ),
    ),
)
