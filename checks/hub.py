"""Downloads from the Hugging Face hub that cannot work: offline settings, and gated repositories without a
token (or, with --online, a token the hub refuses)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from llamadoctor.facts import Facts, HubAccess
from llamadoctor.i18n import N_, _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.registry import check
from llamadoctor.shell import env_commands, set_env
from llamadoctor.testing import linux_cpu, mac_arm, replace_in, windows_conda

HF_REPOS = Requires(lambda f: f.stacks.hf_repos, N_("no --hf-repo given"), probe="stacks")
# The organisations whose Llama repositories all ask for the licence to be accepted first.
GATED_ORGS = ("meta-llama",)
TRUE = ("1", "on", "yes", "true")
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
REPO = "meta-llama/Llama-3.2-1B"
LOGIN_FILE = "/home/ada/.cache/huggingface/token"


def _hub(facts: Facts, *, cached: bool = False, **fields: object) -> Facts:
    base: dict[str, object] = {"hf_repos": (REPO,), "hf_cached": (REPO,) if cached else ()}
    base.update(fields)
    return replace_in(facts, "stacks", **base)


def _uncached(facts: Facts) -> list[str]:
    return [r for r in facts.stacks.hf_repos if r not in facts.stacks.hf_cached]


def _endpoint_problem(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("is not an http(s) address")
    return ""


@check(
    id="hf-hub-unreachable",
    summary="Hugging Face downloads are switched off or sent to an unusable address",
    severity=Severity.ERROR,
    group=Group.DOWNLOAD,
    requires=(HF_REPOS,),
    checked=lambda f: _("the hub settings for {repos}").format(repos=", ".join(f.stacks.hf_repos)),
    examples=[
        Healthy(_hub(linux_cpu())),
        Healthy(_hub(linux_cpu(), cached=True, hub_env={"HF_HUB_OFFLINE": "1"})),
        Inapplicable(linux_cpu(), expect="no --hf-repo given"),
        Broken(_hub(linux_cpu(), hub_env={"HF_HUB_OFFLINE": "1"}), expect="HF_HUB_OFFLINE=1"),
        Broken(_hub(windows_conda(), hub_env={"TRANSFORMERS_OFFLINE": "yes"}), expect="not in the local cache"),
        Broken(_hub(mac_arm(), hub_env={"HF_ENDPOINT": "hf-mirror.com"}), expect="is not an http(s) address"),
    ],
)
def hf_hub_unreachable(facts: Facts) -> Iterator[Finding]:
    """The hub is switched off (offline mode) or HF_ENDPOINT is unusable, for a repository not in the cache.

    What it checks: HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE, and the address in HF_ENDPOINT, for each
    repository named with `--hf-repo` that has no snapshot in the local hub cache.
    Why it matters: nothing can be fetched: `We couldn't connect to 'https://huggingface.co' to load this
    file, couldn't find it in the cached files` or `LocalEntryNotFoundError`.
    How to fix: unset the offline variables (or download on a connected machine and copy the cache), and
    unset or correct HF_ENDPOINT.
    """
    missing = _uncached(facts)
    if not missing:
        return
    shell = facts.platform.shell
    env = facts.stacks.hub_env
    offline = [k for k in OFFLINE_VARS if env.get(k, "").strip().lower() in TRUE]
    endpoint = env.get("HF_ENDPOINT", "")
    bad_endpoint = _endpoint_problem(endpoint) if endpoint else ""
    if offline:
        settings = ", ".join(f"{k}={env[k]}" for k in offline)
        yield hf_hub_unreachable.finding(
            _(
                "{settings} forbids downloads, and {repos} is not in the local cache: loading stops with “We "
                "couldn't connect to 'https://huggingface.co' to load this file”."
            ).format(settings=settings, repos=", ".join(missing)),
            remedy="\n".join(env_commands(shell, unset=offline)),
            offline=offline,
            repos=missing,
        )
    if bad_endpoint:
        yield hf_hub_unreachable.finding(
            # TRANSLATORS: {problem} says what is wrong with the address ("is not an http(s) address").
            _("HF_ENDPOINT={endpoint} {problem}, so {repos} cannot be downloaded.").format(
                endpoint=endpoint, problem=bad_endpoint, repos=", ".join(missing)
            ),
            remedy=set_env("HF_ENDPOINT", "https://huggingface.co", shell),
            endpoint=endpoint,
            repos=missing,
        )


def _gated(facts: Facts, repo: str) -> bool:
    answer = _answer(facts, repo)
    if answer is not None and answer.gated is not None:
        return answer.gated
    return repo.split("/", 1)[0] in GATED_ORGS


def _answer(facts: Facts, repo: str) -> HubAccess | None:
    return next((a for a in facts.stacks.hub if a.repo == repo), None)


@check(
    id="hf-gated-no-access",
    summary="A gated Hugging Face repository is named but there is no token, or the hub refuses it",
    severity=Severity.ERROR,
    group=Group.DOWNLOAD,
    requires=(HF_REPOS,),
    checked=lambda f: (
        _("a token ({login}) for {repos}, access confirmed by the hub")
        if f.stacks.hub
        else _("a token ({login}) for {repos}")
    ).format(login=f.stacks.hf_login or _("none"), repos=", ".join(f.stacks.hf_repos)),
    examples=[
        Healthy(_hub(linux_cpu(), hf_login="HF_TOKEN")),
        Healthy(_hub(linux_cpu(), cached=True)),
        Healthy(_hub(linux_cpu(), hf_login=LOGIN_FILE, hub=(HubAccess(REPO, gated=True, access=True),))),
        Healthy(_hub(linux_cpu(), hf_repos=("TinyLlama/TinyLlama-1.1B-Chat-v1.0",))),
        Inapplicable(linux_cpu(), expect="no --hf-repo given"),
        Broken(_hub(linux_cpu()), expect="meta-llama/Llama-3.2-1B is gated and no Hugging Face token is set"),
        Broken(
            _hub(windows_conda(), hf_login="HF_TOKEN", hub=(HubAccess(REPO, gated=True, access=False),)),
            expect="refuses the token in HF_TOKEN",
        ),
        Broken(_hub(mac_arm(), hf_login="HF_TOKEN", hub_env={"HF_ENDPOINT": "https://hf-mirror.com"}), expect="mirror"),
    ],
)
def hf_gated_no_access(facts: Facts) -> Iterator[Finding]:
    """A gated repository (all of meta-llama's, or one the hub says is gated under --online) cannot be read.

    What it checks: for each `--hf-repo` not in the local cache: a token in HF_TOKEN or the token file (its
    presence only: the value is never shown); under `--online`, the hub's own answer for this token; and an
    HF_ENDPOINT mirror, which cannot serve gated files.
    Why it matters: the download stops with `Cannot access gated repo ... Access to model ... is restricted`
    or `401 Client Error: Unauthorized`.
    How to fix: accept the licence on the repository's page with your account, wait for approval, then log
    in with `huggingface-cli login` (or set HF_TOKEN); unset a mirror's HF_ENDPOINT.
    """
    login = facts.stacks.hf_login
    endpoint = facts.stacks.hub_env.get("HF_ENDPOINT", "").rstrip("/")
    for repo in _uncached(facts):
        if not _gated(facts, repo):
            continue
        page = f"https://huggingface.co/{repo}"
        answer = _answer(facts, repo)
        if login is None:
            yield hf_gated_no_access.finding(
                _(
                    "{repo} is gated and no Hugging Face token is set (HF_TOKEN or the token file): the download "
                    "stops with “Access to model ... is restricted. You must be authenticated to access it.”"
                ).format(repo=repo),
                remedy=_("Accept the licence at {page}, then: {command}").format(
                    page=page, command="huggingface-cli login"
                ),
                repo=repo,
            )
        elif answer is not None and answer.access is False:
            yield hf_gated_no_access.finding(
                # TRANSLATORS: {login} is where the token is (HF_TOKEN, or the token file's path).
                _(
                    "The hub refuses the token in {login} for {repo}: its account has not accepted the licence or "
                    "is not approved yet (“you are not in the authorized list”)."
                ).format(login=login, repo=repo),
                remedy=_(
                    "Request access at {page} with the account this token belongs to, and wait for approval."
                ).format(page=page),
                repo=repo,
            )
        elif endpoint and endpoint != "https://huggingface.co":
            yield hf_gated_no_access.finding(
                _(
                    "HF_ENDPOINT={endpoint} sends the download of the gated {repo} to a mirror, which cannot serve "
                    "gated files (“403 Client Error: Forbidden”)."
                ).format(endpoint=endpoint, repo=repo),
                remedy=env_commands(facts.platform.shell, unset=("HF_ENDPOINT",))[0],
                repo=repo,
                endpoint=endpoint,
            )
