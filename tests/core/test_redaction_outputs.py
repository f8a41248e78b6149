"""A signed URL's secrets never leave llamadoctor, whatever form the URL takes and wherever it turns up."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamadoctor.cli import app
from llamadoctor.redact import SafeStream, redact, redact_data

POLICY = "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9sbGFtYTMifV19"
SIGNATURE = "Zm9vYmFyc2lnbmF0dXJlAbCdEf123456"
KEY_PAIR = "K15QRJLYKIFSLZ"
SECRETS = (POLICY, SIGNATURE, KEY_PAIR, POLICY[20:40], SIGNATURE[16:])
URL = f"https://llama3-1.llamameta.net/*?Policy={POLICY}&Signature={SIGNATURE}&Key-Pair-Id={KEY_PAIR}"
ENCODED = URL.replace("?", "%3F").replace("=", "%3D").replace("&", "%26")
WRAPPED = URL[: URL.index(SIGNATURE) + 10] + "\n" + URL[URL.index(SIGNATURE) + 10 :]  # a mail client's line break

runner = CliRunner()


def invoke(*args: Any) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout + result.stderr


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, text


@pytest.mark.parametrize(
    "url",
    [URL, ENCODED, ENCODED.replace("%", "%25"), WRAPPED, WRAPPED.replace("\n", "\r\n "), URL.replace("&", "&amp;")],
    ids=["plain", "percent-encoded", "encoded-twice", "line-broken", "crlf-indented", "amp"],
)
def test_redact_finds_the_secrets_in_every_form(url: str) -> None:
    shown = redact(f"wget '{url}' failed")
    assert_no_secret(shown)
    assert "llama3-1.llamameta.net" in shown and "failed" in shown


def test_redact_data_covers_keys() -> None:
    data = redact_data({f"consolidated.00.pth?Policy={POLICY}&Signature={SIGNATURE}": [URL]})
    assert_no_secret(json.dumps(data))


@pytest.mark.parametrize("url", [ENCODED, WRAPPED], ids=["percent-encoded", "line-broken"])
@pytest.mark.parametrize("form", ["--json", "--markdown", "-v"])
def test_check_never_prints_a_url_given_with_url(
    url: str, form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _, out = invoke("check", form, "--url", url, "--only", "download-url-invalid")
    assert_no_secret(out)
    if form == "--json":
        assert "<redacted>" in json.dumps(json.loads(out)["facts"]["options"])


def test_file_names_that_are_signed_urls_are_redacted_in_every_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "llama-2-7b"
    model.mkdir()
    (model / "params.json").write_text('{"dim": 64, "n_layers": 2, "n_heads": 4, "vocab_size": -1}')
    (model / f"consolidated.00.pth?Policy={POLICY}&Signature={SIGNATURE}&Key-Pair-Id={KEY_PAIR}").write_bytes(b"x")
    (model / "checklist.chk").write_text(f"0123 consolidated.00.pth?Policy={POLICY}&Signature={SIGNATURE}\n")
    monkeypatch.chdir(tmp_path)
    for form in ("--json", "--markdown", "-v"):
        _, out = invoke("check", form, "--model-dir", model)
        assert_no_secret(out)


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--repo", "{u}"),
        ("check", "--model-dir", "{u}"),
        ("estimate", "--model-dir", "{u}"),
        ("run", "text", "--model-dir", "{u}", "--prompt", "x"),
        ("run", "chat", "--model-dir", "{u}", "--prompt", "x"),
        ("run", "text", "--model-dir", "{d}", "--tokenizer-path", "{u}", "--prompt", "x"),
        ("convert", "--model-dir", "{u}", "--out", "{d}/out"),
        ("convert", "--model-dir", "{d}", "--out", "{u}"),
        ("check", "--nproc", "{u}"),
        ("run", "text", "--model-dir", "{d}", "--seed", "{u}"),
    ],
    ids=lambda a: " ".join(x for x in a if "{" not in x),
)
@pytest.mark.parametrize("url", [URL, ENCODED, URL + "&x=" + "y" * 300], ids=["plain", "encoded", "long"])
def test_a_url_given_as_a_path_is_never_echoed(args: tuple[str, ...], url: str, tmp_path: Path) -> None:
    code, out = invoke(*[a.format(u=url, d=tmp_path) for a in args])
    assert code in (1, 2) and "Traceback" not in out
    assert_no_secret(out)


def test_the_output_stream_redacts_a_secret_written_in_pieces() -> None:
    raw = io.StringIO()
    stream = SafeStream(raw)
    print("wget", URL[:40], URL[40:], sep="", file=stream)
    print(f'{{"files": {{"a.pth?Signature={SIGNATURE}": 1}}}}', file=stream)
    stream.flush()
    assert_no_secret(raw.getvalue())
    assert raw.getvalue().count("\n") == 2
