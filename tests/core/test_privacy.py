"""What a shared report hides: home folders, the user, the host, addresses, secrets; and what it leaves alone."""

from __future__ import annotations

import pytest

from llamadoctor.privacy import Identity, Masker, masked_sentence
from llamadoctor.redact import redact

ADA = Identity(home="/home/ada", user="ada", host="ada-box", addresses=("192.168.1.20", "fe80::1c2:3ff:fe4d:5e6f"))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/home/ada/llama/.venv/bin/python", "~/llama/.venv/bin/python"),
        ("HF_HOME=/home/ada/.cache/hf", "HF_HOME=~/.cache/hf"),
        ("/home/ada", "~"),
        ("/home/bob/other", "~/other"),  # another person's home is no less private
        ("/Users/ada/llama", "~/llama"),
        ("/root/.cache/huggingface", "~/.cache/huggingface"),
        (r"C:\Users\ada\miniconda3\envs\llama", r"~\miniconda3\envs\llama"),
        ("c:/users/ADA/llama", "~/llama"),
        ("hostname ada-box resolves", "hostname <host> resolves"),
        ("ADA-BOX.local", "<host>.local"),
        ("owner ada, group ada", "owner <user>, group <user>"),
        ("MASTER_ADDR=192.168.1.20", "MASTER_ADDR=<ip>"),
        ("peer 10.20.30.40:29500", "peer <ip>:29500"),
        ("tailnet 100.101.102.103", "tailnet <ip>"),
        ("fe80::1c2:3ff:fe4d:5e6f%eth0", "<ip>%eth0"),
        ("2001:db8:85a3::8a2e:370:7334", "<ip>"),
        ("ether 00:1a:2b:3c:4d:5e", "ether <mac>"),
        ("GPU-5e8c3d3a-7f2b-4a1e-9a0b-1c2d3e4f5a6b", "GPU-<uuid>"),
    ],
)
def test_identifying_strings_are_masked(text: str, shown: str) -> None:
    assert Masker(ADA).text(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "/usr/lib/python3/site-packages",
        "/home/linuxbrew/.linuxbrew/bin/python3",  # Homebrew's own prefix, nobody's home
        "/Users/Shared/models",
        "Canada",  # the user name inside a word
        "transformers 4.46.1, driver 535.104.05, CUDA 12.1, cuDNN 9.1.0.70",
        "127.0.0.1 and ::1 and 0.0.0.0",  # loopback and unspecified say nothing about the machine
        "started 12:30:45",
        "https://example.com/home/docs",  # a web path, not a folder
    ],
)
def test_what_identifies_nobody_stays_readable(text: str) -> None:
    assert Masker(ADA).text(text) == text


def test_common_account_names_are_not_masked_as_words() -> None:
    """A user called root or ubuntu is no secret, and masking the word would garble sentences."""
    masker = Masker(Identity(home="/root", user="root"))
    assert masker.text("run as root from /root/llama") == "run as root from ~/llama"


def test_secrets_go_first_and_are_counted() -> None:
    masker = Masker(ADA)
    text = masker.text(
        "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz012345 "
        "https://download.llamameta.net/*?Policy=eyJabc&Signature=xyz&Key-Pair-Id=K2ABC "
        "HTTPS_PROXY=http://ada:hunter2@proxy.corp:3128"
    )
    for secret in ("abcdefghijklmnopqrstuvwxyz012345", "eyJabc", "xyz&", "K2ABC", "hunter2"):
        assert secret not in text
    assert "http://<user>:<redacted>@proxy.corp:3128" in text
    counts = {item["what"]: item["count"] for item in masker.masked()}
    assert counts == {"secret": 5, "user": 1}


def test_data_is_masked_keys_included_and_the_summary_says_what() -> None:
    masker = Masker(ADA)
    data = masker.data({"models": {"/home/ada/llama-2-7b": {"size": 13}}, "hostname": "ada-box", "n": 3})
    assert data == {"models": {"~/llama-2-7b": {"size": 13}}, "hostname": "<host>", "n": 3}
    sentence = masked_sentence(masker.masked(), ["HF_TOKEN"])
    assert "home folders shown as ~ (1)" in sentence and "the host name shown as <host> (1)" in sentence
    assert "HF_TOKEN is set; values are never read" in sentence


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http_proxy=http://bob:s3cr%40t@proxy:8080", "http_proxy=http://bob:<redacted>@proxy:8080"),
        ("socks5h://u:p4ss@10.0.0.1:1080", "socks5h://u:<redacted>@10.0.0.1:1080"),
        ("proxy=bob:pw@proxy.corp:3128", "proxy=bob:<redacted>@proxy.corp:3128"),
        ("https://token:x-oauth@github.com/o/r.git", "https://token:<redacted>@github.com/o/r.git"),
    ],
)
def test_redact_masks_the_password_of_user_password_at_host(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize(
    "text", ["git@github.com:owner/repo.git", "https://user@host/x", "https://example.com/a:b@c", "at 12:30 @ noon"]
)
def test_redact_leaves_urls_without_a_password_alone(text: str) -> None:
    assert redact(text) == text


def test_a_public_address_is_masked_when_it_is_this_machines_own() -> None:
    masker = Masker(Identity(addresses=("203.0.113.7",)))
    assert masker.text("MASTER_ADDR=203.0.113.7, mirror 93.184.215.14") == "MASTER_ADDR=<ip>, mirror 93.184.215.14"
