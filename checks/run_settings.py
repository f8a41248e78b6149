"""The run the user asks for: batch size vs the chat example's dialogs, --max-seq-len vs the model's context."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.checks._requires import TARGET_MODEL
from llamadoctor.facts import Facts, Options
from llamadoctor.files import ModelDir, targets
from llamadoctor.i18n import _
from llamadoctor.llama import context_length
from llamadoctor.llama.version import LLAMA3
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.model_info import arch_of, label, model_version
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import LLAMA2_7B, hf_model, llama3_model, meta_model, repo_with

LLAMA2_CHAT_DIALOGS = 6  # meta-llama/llama example_chat_completion.py


def dialogs_expected(facts: Facts) -> tuple[int, str] | None:
    """How many dialogs the chat example will send in one batch, and where that number comes from."""
    if facts.repo and facts.repo.chat_dialogs:
        return facts.repo.chat_dialogs, str(facts.repo.chat_example)
    chat_llama2 = [m for m in targets(facts.models) if model_version(m) == "2" and "chat" in m.name.lower()]
    if chat_llama2:
        return LLAMA2_CHAT_DIALOGS, _("Llama 2's example_chat_completion.py")
    return None


def _no_chat(facts: Facts) -> str:
    if targets(facts.models):
        return _("no Llama 2 chat model to run, and no chat example in the repo folder")
    return _("no model folder found, and no chat example in the repo folder")


CHAT_EXAMPLE = Requires(dialogs_expected, _no_chat, probe="files")


@check(
    id="batch-size-too-small",
    summary="--max-batch-size is smaller than the chat example's number of dialogs",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(CHAT_EXAMPLE,),
    checked=lambda facts: _("--max-batch-size {batch} against the dialogs of {script}").format(
        batch=facts.options.max_batch_size, script=(dialogs_expected(facts) or (0, ""))[1]
    ),
    examples=(
        Healthy(linux_gpu(repo=repo_with(chat_dialogs=6), options=Options(max_batch_size=6))),
        Inapplicable(linux_gpu(models=(llama3_model(),), options=Options(max_batch_size=4)), expect="no chat example"),
        Broken(linux_gpu(repo=repo_with(chat_dialogs=6), options=Options(max_batch_size=4)), expect="(6, 4)"),
        Broken(
            linux_gpu(models=(meta_model(path="/m/llama-2-7b-chat"),), options=Options(max_batch_size=4)),
            expect="AssertionError",
        ),
    ),
)
def batch_size_too_small(facts: Facts) -> Iterator[Finding]:
    """What it checks: --max-batch-size against the number of dialogs Meta's example_chat_completion.py sends
    at once (read from the script in --repo; 6 in Llama 2's, 4 in Llama 3's).

    Why it matters: the README once said `--max_batch_size 4`, and `generate` asserts
    `bsz <= max_batch_size`: `AssertionError: (6, 4)` after the model has loaded.

    How to fix: pass `--max_batch_size 6` (each slot costs KV cache memory), or trim the dialogs list.
    """
    expected = dialogs_expected(facts)
    batch = facts.options.max_batch_size
    if expected is None or batch >= expected[0]:
        return
    n, where = expected
    yield batch_size_too_small.finding(
        _(
            "{script} sends {dialogs} dialogs at once but --max-batch-size is {batch}: it fails with "
            "`AssertionError: ({dialogs}, {batch})`. Use --max_batch_size {dialogs}."
        ).format(script=where, dialogs=n, batch=batch),
        dialogs=n,
        max_batch_size=batch,
    )


def _trained_for(model: ModelDir) -> tuple[str, int] | None:
    version = model_version(model)
    if version is None:
        return None
    return version, context_length(version, arch_of(model))


@check(
    id="max-seq-len-past-context",
    summary="--max-seq-len is longer than the context the model was trained for",
    severity=Severity.WARNING,
    group=Group.MODEL,
    requires=(TARGET_MODEL,),
    checked=lambda facts: _("--max-seq-len {length} against the models' trained context").format(
        length=facts.options.max_seq_len
    ),
    examples=(
        Healthy(linux_gpu(models=(meta_model(),), options=Options(max_seq_len=4096))),
        Inapplicable(linux_gpu(), expect="no model folder"),
        Broken(
            linux_gpu(models=(llama3_model(),), options=Options(max_seq_len=16384)),
            expect="max_seq_len must be between 1 and 8192, got 16384",
        ),
        Broken(
            linux_gpu(models=(meta_model(LLAMA2_7B),), options=Options(max_seq_len=8192)),
            expect="Llama 2 was trained for 4096",
        ),
        Broken(
            linux_gpu(models=(hf_model(),), options=Options(max_seq_len=8192)),
            expect="max_position_embeddings",
        ),
    ),
)
def max_seq_len_past_context(facts: Facts) -> Iterator[Finding]:
    """What it checks: --max-seq-len against the context each target model was trained for: an HF
    config's max_position_embeddings, else its generation's (Llama 1: 2048, Llama 2: 4096, Code Llama: 16384,
    Llama 3: 8192, Llama 3.1 and 3.2: 131072).

    Why it matters: Meta's Llama 3 code refuses outright (`max_seq_len must be between 1 and 8192, got
    16384`); Llama 1 and 2 accept it, but positions past the trained context have never been seen, so long
    answers turn to garbage, and the KV cache is sized for tokens that cannot be used.

    How to fix: pass a --max_seq_len within the model's context (the message gives it); a longer context
    needs a model trained for it (Llama 3.1 or later).
    """
    asked = facts.options.max_seq_len
    for model in targets(facts.models):
        trained = _trained_for(model)
        if trained is None or asked <= trained[1]:
            continue
        version, context = trained
        if version == LLAMA3:
            effect = _(
                "Meta's llama3 code stops with `max_seq_len must be between 1 and {context}, got {asked}`, and "
                "other runners degrade past it"
            ).format(context=context, asked=asked)
        else:
            effect = _("positions past it were never trained, so long answers degrade into garbage")
        if model.params_file == "config.json":
            source = _("its config.json's max_position_embeddings")
        else:
            source = _("its params")
        yield max_seq_len_past_context.finding(
            # TRANSLATORS: {source} says where the context was read; {effect} what happens past it.
            _(
                "--max-seq-len {asked} is past the context of {path}: {model} was trained for {context} tokens "
                "({source}); {effect}. Use --max_seq_len {context} or less."
            ).format(asked=asked, path=model.path, model=label(version), context=context, source=source, effect=effect),
            severity=Severity.ERROR if version == LLAMA3 else None,
            path=model.path,
            max_seq_len=asked,
            context=context,
        )
