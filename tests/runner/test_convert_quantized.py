"""`llamadoctor convert --quantize int8|int4`: a folder quantized once, that `run` loads with no work (the same
codes `run --quantize` makes from the source), that other tools refuse, and that `check` and `estimate` know."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from llamadoctor.runner import loader
from llamadoctor.runner.conversion import convert as conv
from llamadoctor.runner.distributed import SINGLE, Parallel
from llamadoctor.runner.errors import RunError

from builders import llamas

KINDS = ["int8", "int4"]
CPU = torch.device("cpu")
TOKENS = torch.tensor([[1, 5, 9, 30, 77, 100, 3, 250]])


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-shard Meta chat model: the shards are merged while quantizing."""
    return llamas.make_model_dir(tmp_path_factory.mktemp("q") / "llama-2-tiny-chat", family="llama2", shards=2)


@pytest.fixture(scope="module")
def quantized(src: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("out")
    for kind in KINDS:
        conv.convert(conv.Request(src, root / f"tiny-{kind}", quantize=kind))
    return {kind: root / f"tiny-{kind}" for kind in KINDS}


def _cli(*args: object):
    from llamadoctor.cli import app

    try:
        return CliRunner(mix_stderr=False).invoke(app, [str(a) for a in args])
    except TypeError:  # click 8.2 always separates stderr
        return CliRunner().invoke(app, [str(a) for a in args])


def _logits(model_dir: Path, dtype: torch.dtype, quantize: str | None) -> torch.Tensor:
    model = loader.load(model_dir, SINGLE, CPU, dtype, quantize)
    model.setup_cache(1, 32)
    with torch.no_grad():
        return model(TOKENS, 0, all_logits=True).float()


# ---- the folder -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_writes_codes_scales_tokenizer_and_a_config_naming_the_format(src, tmp_path, kind) -> None:
    out = tmp_path / "7b-quantized"
    result = _cli("convert", "--model-dir", src, "--out", out, "--quantize", kind)
    assert result.exit_code == 0, result.stderr
    assert f"-> llamadoctor {kind} safetensors" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == f"llamadoctor-{kind}"
    assert config["quantization_config"]["group_size"] == (32 if kind == "int4" else 0)
    assert config["model_type"] == f"llamadoctor-{kind}" and config["vocab_size"] == llamas.tokenizer_vocab(
        out / "tokenizer.model"
    )
    with safe_open(str(out / "model-00001-of-00001.safetensors"), framework="pt") as f:
        stored = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    wq = "layers.0.attention.wq"
    assert stored[f"{wq}.qweight"].dtype == (torch.int8 if kind == "int8" else torch.uint8)
    assert (f"{wq}.zeros" in stored) == (kind == "int4")
    assert stored["tok_embeddings.qweight"].dtype == torch.int8  # the tables are int8 at both kinds
    # Nothing a tool could take for plain weights: every 2-D tensor is codes or their scales.
    assert not [n for n, t in stored.items() if t.dim() == 2 and n.endswith(".weight")]
    assert not list(out.glob("*.pth")) and not (out / "params.json").exists()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_folder_gives_the_logits_of_run_quantize_on_the_source(src, quantized, kind, dtype) -> None:
    assert torch.equal(_logits(quantized[kind], dtype, None), _logits(src, dtype, kind))


def test_the_codes_are_loaded_memory_mapped_not_quantized_again(quantized, monkeypatch) -> None:
    from llamadoctor.runner import quantize

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("quantized again")

    # The weight-only kernel reads the codes where they are mapped (fbgemm's int8 kernel packs its own copy).
    monkeypatch.setattr(quantize, "dynamic_int8_works", lambda: False)
    quantize.QuantLinear.from_float(torch.ones(8, 64), "int8")  # its probe quantizes a matrix of its own, once
    monkeypatch.setattr(quantize, "quantize_weight", refuse)
    model = loader.load(quantized["int8"], SINGLE, CPU, torch.float32)
    layer = model.layers[0].feed_forward.w1
    assert isinstance(layer, quantize.QuantLinear) and layer.kind == "int8"
    from llamadoctor.runner import layout

    if sys.platform.startswith("linux") and layer.kernel != "dequantize":
        assert layout.is_file_mapped(layer.qweight)


def test_codes_packed_for_fbgemm_hand_their_mapped_pages_back(quantized, monkeypatch) -> None:
    """fbgemm's int8 kernel holds its own copy of each layer's codes: the folder's pages are handed back as it
    goes, so the load does not hold both (the output layer's codes stay, for the exact top logits)."""
    from llamadoctor.runner import layout, quantize

    if not quantize.dynamic_int8_works() or not sys.platform.startswith("linux"):
        pytest.skip("needs fbgemm's int8 kernel and /proc/self/maps")
    released: list[tuple[int, ...]] = []
    monkeypatch.setattr(layout, "release_pages", lambda t: released.append(tuple(t.shape)))
    model = loader.load(quantized["int8"], SINGLE, CPU, torch.float32)
    layers = [m for n, m in model.named_modules() if isinstance(m, quantize.QuantLinear) and n != "output"]
    assert sorted(released) == sorted((m.out_features, m.in_features) for m in layers)
    assert layout.is_file_mapped(model.output.qweight)


def test_dtype_applies_to_the_norms(quantized) -> None:
    model = loader.load(quantized["int4"], SINGLE, CPU, torch.bfloat16)
    assert model.norm.weight.dtype == torch.bfloat16 and model.layers[1].ffn_norm.weight.dtype == torch.bfloat16


# ---- run --------------------------------------------------------------------------------------------------------

GREEDY = ["--temperature", "0", "--device", "cpu", "--max-gen-len", "6", "--prompt", "The Eiffel Tower is", "--json"]


@pytest.mark.parametrize("kind", KINDS)
def test_run_answers_as_run_quantize_does_on_the_source(src, quantized, kind) -> None:
    from llamadoctor.runner.cli import app

    def run(*args: object) -> dict:
        result = CliRunner().invoke(app, ["text", *map(str, args), *GREEDY], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    folder, source = run("--model-dir", quantized[kind]), run("--model-dir", src, "--quantize", kind)
    assert folder["stats"]["quantize"] == kind
    assert folder["results"] == source["results"]


def test_another_quantization_of_a_quantized_folder_is_one_clear_line(quantized) -> None:
    from llamadoctor.runner.cli import app

    result = CliRunner().invoke(app, ["text", "--model-dir", str(quantized["int4"]), "--quantize", "int8", *GREEDY])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "holds int4 weights; --quantize int8 cannot be applied to them" in result.output


def test_torchrun_is_refused_in_words(quantized) -> None:
    with pytest.raises(RunError, match="in one process only"):
        loader.read_rank_state(quantized["int8"], Parallel(rank=0, world=2, local_rank=0))


def test_a_damaged_or_newer_folder_is_refused_in_words(quantized, tmp_path) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(quantized["int8"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"]["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunError, match="which this llamadoctor does not read"):
        loader.load(folder, SINGLE, CPU, torch.float32)
    config["quantization_config"] |= {"format_version": 1, "quant_method": "llamadoctor-int4", "group_size": 0}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunError, match="gives int4 group size 0"):
        loader.load(folder, SINGLE, CPU, torch.float32)
    config["quantization_config"]["group_size"] = 32  # int8 codes under an int4 config
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunError, match=r"layers.0.attention.wq.qweight is \[64, 64\] torch.int8 but config.json"):
        loader.load(folder, SINGLE, CPU, torch.float32)


# ---- what other tools make of it ----------------------------------------------------------------------------------


def test_transformers_refuses_it_naming_the_format(quantized) -> None:
    transformers = pytest.importorskip("transformers")
    with pytest.raises(ValueError, match="model type `llamadoctor-int8` but Transformers does not recognize") as err:
        transformers.AutoModelForCausalLM.from_pretrained(str(quantized["int8"]))
    # What `explain` makes of that error: this folder, not a transformers too old for it.
    from llamadoctor.failures import FAILURES, search

    found = {hit.failure.id for hit in search(FAILURES, f"ValueError: {err.value}")}
    assert found == {"quantized-folder-in-transformers"}


# ---- the conversion's promises ------------------------------------------------------------------------------------


def test_an_existing_out_is_never_clobbered(src, quantized) -> None:
    before = sorted(p.name for p in quantized["int8"].iterdir())
    result = _cli("convert", "--model-dir", src, "--out", quantized["int8"], "--quantize", "int4")
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert sorted(p.name for p in quantized["int8"].iterdir()) == before
    assert json.loads((quantized["int8"] / "config.json").read_text())["model_type"] == "llamadoctor-int8"


def test_the_disk_is_checked_for_the_quantized_size_before_writing(src, tmp_path) -> None:
    _, plan = conv.make_plan(conv.Request(src, tmp_path / "q", quantize="int4"))
    _, full = conv.make_plan(conv.Request(src, tmp_path / "hf"))
    assert plan.tensor_bytes < full.tensor_bytes / 3  # fp32 source: int4 codes are an eighth, plus scales
    with pytest.raises(conv.NotEnoughDisk, match="not enough disk space"):
        conv.convert(conv.Request(src, tmp_path / "q", quantize="int4"), free_bytes=lambda p: plan.need_bytes - 1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantize", "int3"], "unknown --quantize 'int3'"),
        (["--quantize", "int8", "--shards", "2"], "not Meta shards"),
    ],
)
def test_bad_combinations_are_one_line(src, tmp_path, args, message) -> None:
    result = _cli("convert", "--model-dir", src, "--out", tmp_path / "q", *args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_while_writing_leaves_nothing_behind(src, tmp_path) -> None:
    seen = []

    def interrupt(spec: object) -> None:
        seen.append(spec)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        conv.convert(conv.Request(src, tmp_path / "out" / "q", quantize="int8"), on_tensor=interrupt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_while_streaming_the_next_run_settles_and_converts(src, tmp_path) -> None:
    out = tmp_path / "q"
    env = {**os.environ, "LLAMADOCTOR_TEST_PAUSE_AT": "streaming", "LLAMADOCTOR_STATE_DIR": str(tmp_path / "state")}
    cmd = [sys.executable, "-m", "llamadoctor", "convert", "--model-dir", str(src), "--out", str(out), "--quantize",
           "int4"]  # fmt: skip
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    flag, deadline = tmp_path / "state" / "paused-at-streaming", time.monotonic() + 120
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.kill()
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    conv.convert(conv.Request(src, out, quantize="int4"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q", "state"]


# ---- the doctor -------------------------------------------------------------------------------------------------


def test_check_knows_the_folder_and_sizes_it_quantized(quantized) -> None:
    result = _cli("check", "--model-dir", quantized["int4"], "--no-hash", "--json", "--search-depth", "0")
    report = json.loads(result.stdout)
    statuses = {c["check"]: c for c in report["checks"]}
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert errors == []
    for check in ("model-dir-incomplete", "params-invalid", "shard-corrupt", "tokenizer-vocab-mismatch"):
        assert statuses[check]["status"] == "passed", statuses[check]
    assert "fp32 + int4" in statuses["memory-insufficient"]["checked"]
    # transformers never loads the folder: its tokenizer and version checks do not judge it
    assert statuses["protobuf-missing"]["status"] != "warning"


def test_the_report_names_the_folder(quantized) -> None:
    result = _cli("check", "--model-dir", quantized["int8"], "--no-hash", "--search-depth", "0")
    assert "int8 weights written by `llamadoctor convert --quantize`" in " ".join(result.stdout.split())


def test_estimate_counts_the_stored_quantization(quantized) -> None:
    from llamadoctor.estimate import ModelDirError, estimate_for_model_dir

    assert estimate_for_model_dir(quantized["int4"], device="cpu").quantize == "int4"
    with pytest.raises(ModelDirError, match="holds int4 weights"):
        estimate_for_model_dir(quantized["int4"], device="cpu", quantize="int8")


def test_estimate_lists_only_what_the_folder_can_run(quantized) -> None:
    """Its codes are int4: no unquantized or int8 row, the int4 one at every dtype of the norms and activations."""
    result = _cli("estimate", "--model-dir", quantized["int4"], "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["precisions"]
    assert {(row["dtype"], row["quantize"]) for row in rows} == {("fp32", "int4"), ("bf16", "int4"), ("fp16", "int4")}
    shown = _cli("estimate", "--model-dir", quantized["int4"], "--device", "cpu").stdout
    assert "bf16 + int4" in shown and "--quantize int8" not in shown


def test_chat_on_a_folder_made_from_a_chat_model_does_not_call_it_a_base_model(quantized) -> None:
    from llamadoctor.runner.cli import app

    args = ["chat", "--model-dir", str(quantized["int8"]), "--device", "cpu", "--max-gen-len", "2", "--prompt", "hi"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "looks like a base model" not in result.output
