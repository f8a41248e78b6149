"""The run the user asks for against Meta's example scripts: batch size vs the chat example's dialogs."""

from __future__ import annotations

from collections.abc import Iterator

from llamadoctor.facts import Facts, Options
from llamadoctor.files import targets
from llamadoctor.model import Broken, Finding, Group, Healthy, Inapplicable, Requires, Severity
from llamadoctor.model_info import model_version
from llamadoctor.registry import check
from llamadoctor.testing import linux_gpu
from llamadoctor.testing_files import llama3_model, meta_model, repo_with

LLAMA2_CHAT_DIALOGS = 6  # meta-llama/llama example_chat_completion.py


def dialogs_expected(facts: Facts) -> tuple[int, str] | None:
    """How many dialogs the chat example will send in one batch, and where that number comes from."""
    if facts.repo and facts.repo.chat_dialogs:
        return facts.repo.chat_dialogs, str(facts.repo.chat_example)
    chat_llama2 = [m for m in targets(facts.models) if model_version(m) == "2" and "chat" in m.name.lower()]
    if chat_llama2:
        return LLAMA2_CHAT_DIALOGS, "Llama 2's example_chat_completion.py"
    return None


def _no_chat(facts: Facts) -> str:
    model = "no Llama 2 chat model to run" if targets(facts.models) else "no model folder found"
    return f"{model}, and no chat example in the repo folder"


CHAT_EXAMPLE = Requires(dialogs_expected, _no_chat, probe="files")


@check(
    id="batch-size-too-small",
    summary="--max-batch-size is smaller than the chat example's number of dialogs",
    severity=Severity.ERROR,
    group=Group.MODEL,
    requires=(CHAT_EXAMPLE,),
    checked=lambda facts: (
        f"--max-batch-size {facts.options.max_batch_size} against the dialogs of "
        f"{(dialogs_expected(facts) or (0, ''))[1]}"
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
        f"{where} sends {n} dialogs at once but --max-batch-size is {batch}: it fails with "
        f"`AssertionError: ({n}, {batch})`. Use --max_batch_size {n}.",
        dialogs=n,
        max_batch_size=batch,
    )
