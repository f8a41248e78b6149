"""What transformers needs beside it when it loads a Hugging Face folder: protobuf to convert a slow Llama
tokenizer (present, and a release transformers' own metadata accepts), and an accelerate recent enough for
`device_map`."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._libraries import (
    HF_TARGET,
    HF_TOKENIZER_FILES,
    LIBRARIES,
    declared,
    hf_facts,
    hf_tokenizers,
    installed,
    library,
    pip_install,
    satisfies,
    tokenizer_files,
)
from llamadoctor.facts import Facts, HfTokenizerFiles
from llamadoctor.i18n import _
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Severity
from llamadoctor.registry import check

SLOW_ONLY = tokenizer_files(
    merges="", has_tokenizer_json=False, has_tokenizer_model=True, tokenizer_class="LlamaTokenizer"
)
# transformers 4.30's metadata: the generated protobuf module it shipped needs protobuf 3
TRANSFORMERS_4_30 = {"transformers": {"accelerate": ">=0.20.2", "protobuf": "<=3.20.3", "tokenizers": ">=0.11.1"}}


def _pin(facts: Facts, spec: str) -> str:
    return pip_install(facts, spec, upgrade=False)


def _converted(facts: Facts) -> list[HfTokenizerFiles]:
    """The folders whose tokenizer transformers must convert from tokenizer.model: there is no tokenizer.json."""
    return [t for t in hf_tokenizers(facts) if t.has_tokenizer_model and not t.has_tokenizer_json]


def _checked(facts: Facts) -> str:
    slow = ", ".join(t.folder for t in _converted(facts)) or _("no folder with only tokenizer.model")
    version = installed(facts, "protobuf")
    if version:
        return _("protobuf {version}, for {folders}").format(version=version, folders=slow)
    return _("protobuf not installed, for {folders}").format(folders=slow)


@check(
    id="protobuf-missing",
    summary="A slow Llama tokenizer must be converted, which needs protobuf",
    severity=Severity.WARNING,
    group=Group.PYTHON,
    fixes=("install-missing-packages",),
    requires=(LIBRARIES, library("transformers"), HF_TOKENIZER_FILES),
    checked=_checked,
    examples=(
        Healthy(hf_facts()),
        Healthy(hf_facts({"protobuf": None})),
        Healthy(hf_facts(tokenizer=SLOW_ONLY)),
        Inapplicable(hf_facts({"transformers": None, "protobuf": None}, tokenizer=SLOW_ONLY), expect="transformers"),
        Broken(hf_facts({"protobuf": None}, tokenizer=SLOW_ONLY), expect="requires the protobuf library"),
    ),
)
def protobuf_missing(facts: Facts) -> Iterator[Finding]:
    """What it checks: a Hugging Face folder that ships tokenizer.model without tokenizer.json, while the
    target environment has transformers but no protobuf.

    Why it matters: transformers then builds the fast tokenizer from the SentencePiece model, and that
    conversion reads it through protobuf: “LlamaConverter requires the protobuf library but it was not found
    in your environment”.

    How to fix: install protobuf with the target interpreter's pip: `python -m pip install protobuf`.
    """
    if installed(facts, "protobuf"):
        return
    for files in _converted(facts):
        yield protobuf_missing.finding(
            _(
                "{folder} has tokenizer.model but no tokenizer.json, so transformers converts it, and {python} has "
                "no protobuf: loading it with transformers fails with “LlamaConverter requires the protobuf "
                "library but it was not found in your environment”."
            ).format(folder=files.folder, python=facts.python.executable),
            remedy=pip_install(facts, "protobuf", upgrade=False),
            path=files.folder,
            install=["protobuf"],
        )


@check(
    id="protobuf-too-new",
    summary="The installed protobuf is too new for transformers to convert a slow tokenizer",
    severity=Severity.WARNING,
    group=Group.PYTHON,
    requires=(LIBRARIES, library("transformers"), library("protobuf"), HF_TOKENIZER_FILES),
    checked=_checked,
    examples=(
        Healthy(hf_facts(tokenizer=SLOW_ONLY)),
        Healthy(
            hf_facts({"transformers": "4.30.2", "protobuf": "3.20.3"}, tokenizer=SLOW_ONLY, requires=TRANSFORMERS_4_30)
        ),
        Healthy(hf_facts({"transformers": "4.30.2", "protobuf": "4.25.3"}, requires=TRANSFORMERS_4_30)),
        Inapplicable(hf_facts({"protobuf": None}, tokenizer=SLOW_ONLY), expect="protobuf is not installed"),
        Broken(
            hf_facts({"transformers": "4.30.2", "protobuf": "4.25.3"}, tokenizer=SLOW_ONLY, requires=TRANSFORMERS_4_30),
            expect="protobuf 4.25.3",
        ),
    ),
)
def protobuf_too_new(facts: Facts) -> Iterator[Finding]:
    """What it checks: the installed protobuf against the protobuf the installed transformers declares in its
    own metadata (releases before 4.31 shipped a protobuf module generated for protobuf 3 and ask for
    `protobuf<=3.20.3`), when a Hugging Face folder's tokenizer must be converted from tokenizer.model.

    Why it matters: the conversion imports that module, which protobuf 4 refuses: “TypeError: Descriptors
    cannot not be created directly.”

    How to fix: upgrade transformers (its later releases work with any protobuf), or install the protobuf it
    asks for: `python -m pip install 'protobuf<=3.20.3'`.
    """
    wanted = declared(facts, "transformers", "protobuf")
    version = installed(facts, "protobuf")
    if not wanted or satisfies(version, wanted) is not False:
        return
    for files in _converted(facts):
        yield protobuf_too_new.finding(
            # TRANSLATORS: {wanted} is a version requirement such as "<=3.20.3", written right after "protobuf".
            _(
                "{folder} has only tokenizer.model, which transformers {transformers} converts with a module made "
                "for protobuf{wanted}, but {python} has protobuf {version}: the conversion stops with “Descriptors "
                "cannot not be created directly”."
            ).format(
                folder=files.folder,
                transformers=installed(facts, "transformers"),
                wanted=wanted,
                python=facts.python.executable,
                version=version,
            ),
            remedy=_("{command} (or: {alternative})").format(
                command=pip_install(facts, "transformers"), alternative=_pin(facts, "protobuf" + wanted)
            ),
            path=files.folder,
            protobuf=version,
            wanted=wanted,
        )


def _accelerate_checked(facts: Facts) -> str:
    wanted = declared(facts, "transformers", "accelerate")
    versions = {"version": installed(facts, "accelerate"), "transformers": installed(facts, "transformers")}
    if wanted:
        return _("accelerate {version} against transformers {transformers}'s accelerate{wanted}").format(
            wanted=wanted, **versions
        )
    return _("accelerate {version} against transformers {transformers}'s accelerate (no requirement stated)").format(
        **versions
    )


@check(
    id="accelerate-too-old",
    summary="The installed accelerate is older than transformers needs for device_map",
    severity=Severity.WARNING,
    group=Group.PYTHON,
    fixes=("install-missing-packages",),
    requires=(LIBRARIES, library("transformers"), library("accelerate"), HF_TARGET),
    checked=lambda facts: _accelerate_checked(facts),
    examples=(
        Healthy(hf_facts()),
        Healthy(hf_facts({"accelerate": "0.20.3", "transformers": "4.30.2"}, requires=TRANSFORMERS_4_30)),
        Inapplicable(hf_facts({"accelerate": None}), expect="accelerate is not installed"),
        Broken(hf_facts({"accelerate": "0.20.3"}), expect="accelerate 0.20.3"),
    ),
)
def accelerate_too_old(facts: Facts) -> Iterator[Finding]:
    """What it checks: the installed accelerate against the release the installed transformers asks for in its
    own metadata (for example `accelerate>=0.26.0`). A missing accelerate is not reported: only code that
    passes `device_map` or `low_cpu_mem_usage` needs it, and the doctor cannot see that code.

    Why it matters: transformers treats an older accelerate as absent, so loading with `device_map="auto"`
    stops with “Using `low_cpu_mem_usage=True` or a `device_map` requires Accelerate”.

    How to fix: upgrade accelerate with the target interpreter's pip:
    `python -m pip install -U 'accelerate>=0.26.0'`.
    """
    wanted = declared(facts, "transformers", "accelerate")
    version = installed(facts, "accelerate")
    if wanted and satisfies(version, wanted) is False:
        yield accelerate_too_old.finding(
            _(
                "accelerate {version} is installed in {python}, but transformers {transformers} needs "
                "accelerate{wanted}: loading a model with `device_map` stops with “Using `low_cpu_mem_usage=True` "
                "or a `device_map` requires Accelerate”."
            ).format(
                version=version,
                python=facts.python.executable,
                transformers=installed(facts, "transformers"),
                wanted=wanted,
            ),
            remedy=pip_install(facts, f"accelerate{wanted}"),
            accelerate=version,
            wanted=wanted,
            install=[f"accelerate{wanted}"],
            upgrade=True,
        )
