"""Signed download URLs and Hugging Face tokens wherever a user can put them: `--url`, a file or folder named
after the URL (as wget saves it), a path given to run or convert, params.json, the environment. In every form
(raw, percent-encoded once or twice, `&amp;`, wrapped over lines) no command prints the secrets, and each still
keeps the promise of tests/hostile.py."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from .hostile import copy_of, every_command, hostile_settings, invoke, keeps_promises, summary
from builders.llamas import make_model_dir

HOST = "https://llama3-1.llamameta.net/*"
NAME_MAX = 255  # bytes in one file name on the usual file systems
URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~"


@dataclass(frozen=True)
class Signed:
    policy: str
    signature: str
    key_pair: str
    token: str  # a Hugging Face token, put where a URL can't go

    def query(self) -> str:
        return f"?Policy={self.policy}&Signature={self.signature}&Key-Pair-Id={self.key_pair}"

    def secrets(self) -> list[str]:
        return [self.policy, self.signature, self.key_pair, self.token]


def _cloudfront_policy(expiry: int) -> str:
    statement = {"Statement": [{"Resource": HOST, "Condition": {"DateLessThan": {"AWS:EpochTime": expiry}}}]}
    raw = base64.b64encode(json.dumps(statement).encode()).decode()
    return raw.replace("+", "-").replace("=", "_").replace("/", "~")


SIGNED = st.builds(
    Signed,
    policy=st.integers(-(2**63), 2**63).map(_cloudfront_policy) | st.text(URL_SAFE, min_size=24, max_size=80),
    signature=st.text(URL_SAFE, min_size=24, max_size=64),
    key_pair=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=14, max_size=20).map(lambda s: "K" + s),
    token=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=34, max_size=34).map(
        lambda s: "hf_" + s
    ),
)


def _encoded(text: str) -> str:
    return text.replace("?", "%3F").replace("=", "%3D").replace("&", "%26")


FORMS = {
    "raw": lambda u: u,
    "percent-encoded": _encoded,
    "encoded-twice": lambda u: _encoded(u).replace("%", "%25"),
    "quoted-whole": lambda u: quote(u, safe=""),
    "amp": lambda u: u.replace("&", "&amp;"),
    "padded": lambda u: f"  {u}\n",
}


@st.composite
def url_forms(draw: st.DrawFn, signed: Signed, base: str = HOST) -> tuple[str, list[str]]:
    """A URL carrying `signed`'s secrets in one form, and the secrets to look for (a wrapped value's pieces too)."""
    url = base + signed.query() + draw(st.sampled_from(["", "&Download-Request-ID=1234567890123"]))
    secrets = signed.secrets()
    if draw(st.booleans()):
        return FORMS[draw(st.sampled_from(sorted(FORMS)))](url), secrets
    value = draw(st.sampled_from([signed.policy, signed.signature]))
    start = url.index(value)
    cut = start + draw(st.integers(8, len(value) - 1))
    breaking = draw(st.sampled_from(["\n", "\r\n", "\r\n ", "\n\t"]))
    pieces = [url[start:cut], url[cut : start + len(value)]]
    return url[:cut] + breaking + url[cut:], secrets + [p for p in pieces if len(p) >= 8]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_model_dir(tmp_path_factory.mktemp("valid") / "llama-2-7b")
    print(f"\nhostile inputs so far: {summary()}")


@given(signed=SIGNED, data=st.data())
@hostile_settings()
def test_check_url_never_prints_the_secrets(signed: Signed, data: st.DataObject) -> None:
    url, secrets = data.draw(url_forms(signed), label="--url")
    keeps_promises([invoke(["check", "--url", url]), invoke(["check", "--url", url, "--json"])], secrets)


def _name_of(url: str) -> str:
    """What a URL becomes as a file name: no slashes (wget keeps the last path segment and the query)."""
    return url.replace("/", "%2F")


@given(signed=SIGNED, data=st.data())
@hostile_settings()
def test_a_file_named_after_a_signed_url_is_never_printed_whole(
    model: Path, signed: Signed, data: st.DataObject
) -> None:
    query, secrets = data.draw(url_forms(signed, base=""), label="query")
    victim = data.draw(st.sampled_from(["consolidated.00.pth", "tokenizer.model", "params.json"]), label="file")
    renamed = data.draw(st.booleans(), label="renamed (else a copy)")
    with copy_of(model) as folder:
        source = folder / victim
        target = folder / _name_of(victim + query)
        assume(len(os.fsencode(target.name)) <= NAME_MAX)
        target.write_bytes(source.read_bytes())
        if renamed:
            source.unlink()
        (folder / _name_of(f"{signed.token}.txt")).write_text("")
        keeps_promises((invoke(args) for args in every_command(folder, folder.parent / "hf")), secrets)


@given(signed=SIGNED, data=st.data())
@hostile_settings()
def test_a_signed_url_given_as_a_path_is_never_printed_whole(model: Path, signed: Signed, data: st.DataObject) -> None:
    url, secrets = data.draw(url_forms(signed), label="path")
    exists = data.draw(st.booleans(), label="a folder of that name exists")
    with copy_of(model) as folder:
        named = folder.parent / _name_of("llama-2-7b" + url[url.index("?") if "?" in url else 0 :])
        assume(len(os.fsencode(named.name)) <= NAME_MAX)
        if exists:
            folder.rename(named)
        path = str(named) if exists else url
        here = os.getcwd()
        os.chdir(folder.parent)  # a URL is a relative path: convert may well write there
        try:
            outcomes = [invoke(args) for args in every_command(Path(path), folder.parent / "hf")]
            outcomes.append(invoke(["convert", "--model-dir", str(named if exists else folder), "--out", url]))
        finally:
            os.chdir(here)
        keeps_promises(outcomes, secrets)


@given(signed=SIGNED, data=st.data())
@hostile_settings()
def test_a_token_in_params_json_or_the_environment_is_never_printed(
    model: Path, signed: Signed, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(["hf_token", signed.token, "dim"]), label="params.json key")
    with copy_of(model) as folder:
        params = json.loads((folder / "params.json").read_text())
        params[key] = signed.token if key != signed.token else 1
        (folder / "params.json").write_text(json.dumps(params))
        saved = {name: os.environ.get(name) for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
        os.environ.update(HF_TOKEN=signed.token, HUGGING_FACE_HUB_TOKEN=signed.token)
        try:
            outcomes = [invoke(args) for args in every_command(folder, folder.parent / "hf")]
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
        keeps_promises(outcomes, [signed.token])


# --- what the properties found, kept as plain tests ----------------------------------------------------------


def test_a_secret_folded_over_two_lines_by_the_terminal_width_is_still_redacted(model: Path) -> None:
    signature, policy = "S1gnatureSecretValue0123456789", "P0licySecretValue0123456789abc"
    leaked = []
    for pad in range(12):  # one of these folds the line inside "&Signature=" or "?Policy="
        with copy_of(model) as folder:
            named = folder.rename(folder.parent / f"m{'x' * pad}?Policy={policy}&amp;Signature={signature}")
            outcome = invoke(["fix", "--dry-run", "--repo", str(named.parent), "--model-dir", str(named)])
        leaked += [pad for secret in (signature, policy) if secret in outcome.stdout + outcome.stderr]
    assert not leaked


@pytest.mark.parametrize("expiry", [67767976233532796, 10**400, -(2**63)])
def test_a_policy_expiring_beyond_any_calendar_is_judged_not_crashed_on(expiry: int) -> None:
    url = f"{HOST}?Policy={_cloudfront_policy(expiry)}&Signature=abcdefghijklmnopqrstuvwxyz&Key-Pair-Id=K1234567890"
    outcome = invoke(["check", "--url", url, "--json"])
    assert outcome.code in (0, 1), outcome.stdout[-500:]
