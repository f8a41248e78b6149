"""What a shared report must not give away: whose machine it is and where it sits on the network.

A report is pasted into public issues. Home folders become `~`, the user name `<user>`, the host name `<host>`,
IP addresses `<ip>`, MAC addresses `<mac>`, GPU serial UUIDs `GPU-<uuid>`; secrets (tokens, signed URLs, proxy
passwords) go through `llamadoctor.redact` first. The Masker counts what it replaced, so the report can say so.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

from llamadoctor.i18n import N_, _, ngettext
from llamadoctor.redact import MASK, redact

# Folders under /home, /Users or C:\Users that belong to no person.
_SHARED_HOMES = frozenset({"linuxbrew", "shared", "public", "default", "default user", "all users", "<user>"})
_ANY_HOME = re.compile(
    r"(?:(?<![\w/.])/(?:home|Users)/|\b[A-Za-z]:[\\/](?:Users|Documents and Settings)[\\/])"
    r"(?P<name>[^\\/\s'\"<>:;,|()]+)(?=$|[\\/\s'\"<>:;,|()])",
    re.I,
)
_ROOT_HOME = re.compile(r"(?<![\w/.])/root(?=$|[\\/\s'\"<>:;,|()])")
_MAC = re.compile(r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])")
_GPU_UUID = re.compile(r"\b(GPU|MIG)-[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%[\w.-]+)?(?![\w:])")
# Names too common to be worth hiding, and too common to hide without garbling the report.
_PLAIN_USERS = frozenset({"root", "user", "admin", "administrator", "runner", "ubuntu"})
_PLAIN_HOSTS = frozenset({"localhost", "localhost.localdomain"})

HOME, USER, HOST, IP, MAC, GPU_ID, SECRET = "home", "user", "host", "ip", "mac", "gpu-uuid", "secret"
# What each kind of replacement is, in the words of the report (the JSON's `shown_as` keeps the English).
_DESCRIBED = {
    HOME: N_("home folders shown as ~"),
    USER: N_("the user name shown as <user>"),
    HOST: N_("the host name shown as <host>"),
    IP: N_("IP addresses shown as <ip>"),
    MAC: N_("MAC addresses shown as <mac>"),
    GPU_ID: N_("GPU serial UUIDs shown as GPU-<uuid>"),
    SECRET: N_("secrets (tokens, URL signatures, passwords) shown as {mask}"),
}


@dataclass(frozen=True)
class Identity:
    """Who and where: the strings that identify the person and the machine a report comes from."""

    home: str = ""
    user: str = ""
    host: str = ""
    addresses: tuple[str, ...] = ()  # this machine's own addresses, masked however they are written


def _word(text: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(text)}(?![A-Za-z0-9_])", flags)


def _is_public_ip(text: str) -> bool:
    """An address worth hiding: not loopback or unspecified (those say nothing about the machine)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def _is_local_network(text: str) -> bool:
    """An IPv4 address of a home or office network, seen anywhere. Other dotted quads are masked only when they
    are this machine's own: a four-part version (cuDNN 9.1.0.70) reads exactly like a public address."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return any(address in network for network in _LOCAL_NETWORKS)


# Private ranges, link-local, and carrier-grade NAT (also Tailscale's addresses).
_LOCAL_NETWORKS = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")
)


def _ipv6(match: re.Match[str]) -> str:
    """An IPv6 address, not a time of day or a ratio: written with `::` or all eight groups."""
    text = match.group()
    written_as_address = "::" in text or text.split("%", 1)[0].count(":") == 7
    return "<ip>" if written_as_address and _is_public_ip(text) else text


class Masker:
    """Replaces what identifies the person and the machine; counts each kind of replacement."""

    def __init__(self, identity: Identity) -> None:
        self.counts: Counter[str] = Counter()
        self._steps: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str]]] = []
        self._own_home(identity.home)
        self._steps += [(HOME, _ANY_HOME, self._home_of), (HOME, _ROOT_HOME, lambda m: "~")]
        if identity.host and identity.host.lower() not in _PLAIN_HOSTS:
            for name in sorted({identity.host, identity.host.split(".", 1)[0]}, key=len, reverse=True):
                self._steps.append((HOST, _word(name, re.I), lambda m: "<host>"))
        if len(identity.user) >= 2 and identity.user.lower() not in _PLAIN_USERS:
            self._steps.append((USER, _word(identity.user), lambda m: "<user>"))
        for address in sorted({a for a in identity.addresses if _is_public_ip(a)}, key=len, reverse=True):
            self._steps.append((IP, _word(address, re.I), lambda m: "<ip>"))
        self._steps += [
            (GPU_ID, _GPU_UUID, lambda m: f"{m.group(1)}-<uuid>"),
            (MAC, _MAC, lambda m: "<mac>"),
            (IP, _IPV6, _ipv6),
            (IP, _IPV4, lambda m: "<ip>" if _is_local_network(m.group()) else m.group()),
        ]

    def _own_home(self, home: str) -> None:
        home = home.rstrip("\\/")
        if len(home) < 2:
            return
        windows = "\\" in home or re.match(r"^[A-Za-z]:", home) is not None
        # Windows paths are written with either slash and any case.
        body = re.escape(home).replace(r"\\", r"[\\/]") if windows else re.escape(home)
        pattern = re.compile(rf"(?<![\w/\\.]){body}(?![\w.-])", re.I if windows else 0)
        self._steps.append((HOME, pattern, lambda m: "~"))

    @staticmethod
    def _home_of(match: re.Match[str]) -> str:
        return match.group() if match.group("name").lower() in _SHARED_HOMES else "~"

    def text(self, text: str) -> str:
        """`text` with secrets redacted and identities masked."""
        safe = redact(text)
        # Counted as shown, not as replaced here: the reporters may have redacted a secret already.
        self.counts[SECRET] += safe.count(MASK)
        for kind, pattern, replace in self._steps:
            safe, n = self._sub(pattern, replace, safe)
            self.counts[kind] += n
        return safe

    @staticmethod
    def _sub(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], text: str) -> tuple[str, int]:
        changed = 0

        def counted(match: re.Match[str]) -> str:
            nonlocal changed
            new = replace(match)
            changed += new != match.group()
            return new

        return pattern.sub(counted, text), changed

    def data(self, value: Any) -> Any:
        """Every string inside JSON-like data masked, keys included (a folder name is a key of some facts)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value

    def masked(self) -> list[dict[str, Any]]:
        """What was replaced, kind by kind, for the report to say."""
        return [
            {"what": kind, "shown_as": _DESCRIBED[kind].format(mask=MASK), "count": self.counts[kind]}
            for kind in _DESCRIBED
            if self.counts[kind] > 0
        ]


def masked_sentence(masked: Iterable[dict[str, Any]], secrets_set: Iterable[str] = ()) -> str:
    """A few sentences for the end of a report: what was hidden, and that secrets never enter it."""
    # TRANSLATORS: {what} is one kind of thing masked, {count} how many times it was.
    parts = [_("{what} ({count})").format(what=_shown_as(item), count=item["count"]) for item in masked]
    # TRANSLATORS: the separator between the kinds of things masked in a report.
    said = _("Masked for privacy: {what}.").format(what=_("; ").join(parts))
    sentences = [said if parts else _("Nothing identifying was found to mask.")]
    names = list(secrets_set)
    # TRANSLATORS: the sentences below follow another one: their leading space is the English separator.
    if names:
        are_set = ngettext(
            " {names} is set; values are never read into a report.",
            " {names} are set; values are never read into a report.",
            len(names),
        )
        sentences.append(are_set.format(names=", ".join(names)))
    sentences.append(_(" Tokens and signed URLs never appear in a report."))
    return "".join(sentences)


def _shown_as(item: dict[str, Any]) -> str:
    """How one kind of replacement reads, in the language of the report (the document holds the English)."""
    english = _DESCRIBED.get(item.get("what", ""))
    return _(english).format(mask=MASK) if english else str(item.get("shown_as", ""))
