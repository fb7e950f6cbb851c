"""Bad input: a typed exception naming the field, the value and what is accepted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import rooflens
from config_edit import mutated
from rooflens import (
    InvalidInputError,
    ModelConfigError,
    ModelFetchError,
    UnknownModelError,
)
from rooflens.core import analyze
from rooflens.models import spec_from_config

LLAMA_7B = "meta-llama/Llama-2-7b-hf"


@pytest.mark.parametrize("value", [0, -4, 1.5, True, "eight", [1, 0], float("nan"), []])
@pytest.mark.parametrize("field", ["batch", "prompt_len", "gen_len"])
def test_sizes_must_be_positive_integers(tiny_model, toy_device, field, value) -> None:
    with pytest.raises(InvalidInputError) as info:
        analyze(tiny_model, toy_device, **{field: value})
    assert info.value.field == field
    assert field in str(info.value) and "positive integer" in str(info.value)


@pytest.mark.parametrize("value", ["4", 0, [4, -1], float("inf")])
def test_the_generation_is_checked_before_it_sets_the_default_prompt(value) -> None:
    # Without a prompt length the API reads the longest generation first (GPT-2's 1024
    # positions less the 99 the 100th token's predecessors take): a string once reached numpy.
    with pytest.raises(InvalidInputError) as info:
        rooflens.analyze("openai-community/gpt2", "a6000", gen_len=value)
    assert info.value.field == "gen_len"
    longest = rooflens.analyze("openai-community/gpt2", "a6000", gen_len=[4, 100])
    assert longest.prompt_len.max() == 1024 - 99


def test_integral_floats_are_accepted(tiny_model, toy_device) -> None:
    assert analyze(tiny_model, toy_device, batch=2.0, prompt_len=16.0).is_point


def test_context_beyond_max_positions(tiny_model, toy_device) -> None:
    # 4,096 positions: 199 fed after the prompt leave it 3,897.
    with pytest.raises(InvalidInputError, match=r"at most 3897 tokens: .* has 4096 positions"):
        analyze(tiny_model, toy_device, prompt_len=4000, gen_len=200)
    from rooflens.core import AnalysisOptions

    allowed = analyze(
        tiny_model,
        toy_device,
        prompt_len=4000,
        gen_len=200,
        options=AnalysisOptions(allow_long_context=True),
    )
    assert allowed.generation is not None


@pytest.mark.parametrize(
    ("option", "value"), [("w_bits", 5), ("kv_bits", 0), ("group_size", 0), ("conventions", "vllm")]
)
def test_bad_options_name_the_field(option, value) -> None:
    with pytest.raises(InvalidInputError) as info:
        rooflens.make_options(**{option: value})
    assert info.value.field == option


def _write(tmp_path, text: str):
    path = tmp_path / "config.json"
    path.write_text(text)
    return path


def test_truncated_config(tmp_path) -> None:
    with pytest.raises(ModelConfigError, match="not valid JSON"):
        rooflens.load_model(_write(tmp_path, '{"model_type": "llama", "hidden_'))


def test_unsupported_model_type_lists_supported(tmp_path) -> None:
    with pytest.raises(ModelConfigError, match=r"'t5' is not supported; supported: .*llama"):
        rooflens.load_model(_write(tmp_path, json.dumps({"model_type": "t5"})))


def test_missing_field_is_named(tmp_path) -> None:
    cfg = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "vocab_size": 100,
    }
    with pytest.raises(ModelConfigError, match="lacks 'hidden_size'"):
        rooflens.load_model(_write(tmp_path, json.dumps(cfg)))


def test_unknown_activation_is_named_with_those_known(tmp_path) -> None:
    from rooflens.models.catalog import bundled_config

    cfg = dict(bundled_config("meta-llama/Llama-3.1-8B"), hidden_act="mish")
    path = _write(tmp_path, json.dumps(cfg))
    # Named by the file's own keys, as the user fixes the file.
    words = r"activation \(hidden_act / activation_function\)='mish' is invalid: expected one of"
    with pytest.raises(ModelConfigError, match=words):
        rooflens.load_model(path)
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    res = CliRunner().invoke(app, ["analyze", str(path), "-H", "h100-sxm"])
    assert res.exit_code == 2, res.output
    assert "(hidden_act / activation_function)='mish' is invalid" in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_inconsistent_heads_are_rejected(tmp_path) -> None:
    cfg = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 3,
        "intermediate_size": 128,
        "vocab_size": 100,
    }
    with pytest.raises(ModelConfigError, match=r"num_key_value_heads|num_kv_heads"):
        rooflens.load_model(_write(tmp_path, json.dumps(cfg)))


def test_config_that_is_not_an_object(tmp_path) -> None:
    with pytest.raises(ModelConfigError, match="JSON object"):
        rooflens.load_model(_write(tmp_path, "[1, 2]"))


def test_unknown_model_suggests_bundled_names() -> None:
    with pytest.raises(UnknownModelError, match="did you mean"):
        rooflens.load_model("Llama-2-7b-hff")


def test_hub_fetch_offline_is_a_clear_error(monkeypatch) -> None:
    import socket

    import huggingface_hub

    def refuse(*_: object, **__: object) -> str:
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ModelFetchError, match=r"not bundled.*could not be fetched"):
        rooflens.load_model("someone/not-bundled-model")


def test_hub_fetch_reads_the_downloaded_config(monkeypatch, tmp_path) -> None:
    import huggingface_hub

    cfg = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "vocab_size": 100,
    }
    path = _write(tmp_path, json.dumps(cfg))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda **_: str(path))
    spec = rooflens.load_model("someone/tiny-llama")
    assert spec.name == "someone/tiny-llama" and spec.hidden_size == 64


def test_a_local_folder_named_like_a_bundled_model_is_read(monkeypatch, tmp_path) -> None:
    """As transformers' from_pretrained, a local folder comes before the catalog: a folder
    Qwen3-8B of one's own (2 layers) was silently replaced by the bundled Qwen3-8B."""
    cfg = {
        "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
    }  # fmt: skip
    for name in ("Qwen3-8B", "Qwen/Qwen3-8B"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "config.json").write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path)
    for name in ("Qwen3-8B", "Qwen/Qwen3-8B"):
        spec = rooflens.load_model(name)
        assert (spec.num_layers, spec.hidden_size) == (2, 64), name
    monkeypatch.chdir(tmp_path.parent)
    assert rooflens.load_model("Qwen/Qwen3-8B").num_layers == 36  # the catalog's elsewhere


def test_a_missing_config_file_is_not_fetched_from_the_hub(monkeypatch) -> None:
    import huggingface_hub

    def no_network(**_):
        raise AssertionError("a file name went to the Hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    with pytest.raises(UnknownModelError, match=r"expected an existing config.json \(no such"):
        rooflens.load_model("configs/missing.json")


def test_sweep_only_api_refuses_operator_table(tiny_model, toy_device) -> None:
    result = analyze(tiny_model, toy_device, batch=[1, 2])
    with pytest.raises(InvalidInputError, match="summary"):
        result.operators()
    assert len(result.summary()) == 2


def test_old_falcon_40b_config_reads_as_the_new_architecture(tmp_path) -> None:
    """The first Falcon-40B release ("RefinedWeb") names its KV heads n_head_kv and has no
    new_decoder_architecture flag; it must read exactly like the in-library config."""
    old = {
        "model_type": "RefinedWeb",
        "hidden_size": 8192,
        "n_head": 128,
        "n_head_kv": 8,
        "n_layer": 60,
        "vocab_size": 65024,
        "parallel_attn": True,
        "bias": False,
    }
    spec = rooflens.load_model(_write(tmp_path, json.dumps(old)))
    current = rooflens.load_model("tiiuae/falcon-40b")
    assert (spec.num_kv_heads, spec.norms_per_block, spec.parallel_block) == (8, 2, True)
    assert spec.model_dump(exclude={"name", "model_type", "max_positions"}) == current.model_dump(
        exclude={"name", "model_type", "max_positions"}
    )


# The CLI's error boundary: one plain line, exit 2, whatever the text holds -----------------------
def _cli(*args: str):
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_user_text_is_printed_as_written_never_as_markup() -> None:
    # "[/x]" crashed rich's markup parser; "[red]x" printed as "x".
    res = _cli("analyze", "[/x]", "-H", "a6000")
    assert res.exit_code == 2 and "'[/x]'" in res.output and "Traceback" not in res.output
    res = _cli("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--w-format", "[red]x")
    assert res.exit_code == 2
    assert "w_format='[red]x' is invalid: expected one of int, fp, nf4, mxfp4" in res.output


def test_files_that_cannot_be_written_are_one_line(tmp_path) -> None:
    missing = tmp_path / "no-such-folder" / "plot.png"
    res = _cli("plot", "batch", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "-o", str(missing))
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and str(missing) in res.output
    res = _cli(
        "simulate", "meta-llama/Llama-2-7b-hf", "-H", "h100-sxm", "--requests", "2",
        "--requests-out", str(tmp_path),
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and str(tmp_path) in res.output


def test_json_output_never_holds_nan() -> None:
    # One-token answers have no time per output token: null, not the invalid JSON `NaN`.
    res = _cli(
        "simulate", "meta-llama/Llama-2-7b-hf", "-H", "h100-sxm", "--requests", "5",
        "--output", "fixed:1", "-f", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "NaN" not in res.stdout and json.loads(res.stdout)["summary"]["tpot_mean"] is None


def test_json_ready_turns_missing_numbers_into_null() -> None:
    import numpy as np
    import pandas as pd

    from rooflens.cli.format import to_json

    data = {"a": np.float64("nan"), "b": np.array([1.0, np.inf]), "c": np.int64(3)}
    assert json.loads(to_json(data)) == {"a": None, "b": [1.0, None], "c": 3}
    # A nullable column's empty cell, as a frame's records hold it (pandas 2's to_dict).
    assert json.loads(to_json({"verified": [True, pd.NA]})) == {"verified": [True, None]}


@pytest.mark.parametrize(
    "text", ["1:0:x2", "1:1000000000000:+1", "0:8:x2", "1:8:x1", "1:1000:xinf", "-5,3", "1:2:+0"]
)
def test_sweep_ranges_are_bounded(text: str) -> None:
    # Each once raised OverflowError or MemoryError (7 TiB), or ran forever.
    res = _cli("sweep", "meta-llama/Llama-2-7b-hf", "-H", "a6000", f"--batch={text}")
    assert res.exit_code == 2, res.output
    assert f"batch={text!r} is invalid" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("5:1", "STOP 1 is below START 5"),
        ("1:8:0", "STEP 0 is below 1"),
        ("1:8", "a range has three parts, START:STOP:STEP; 2 given"),
        ("1:8:x1", "FACTOR 1 is not above 1"),
        ("1:8:xbig", "FACTOR 'big' is no number"),
        ("0:8:+1", "START 0 is below 1"),
        ("a:8:+1", "START 'a' is no whole number"),
        ("1:2000000:+1", "2000000 values, over 100000"),
        ("1,2,2", "2 given more than once"),
        ("4,0", "value 0 is below 1"),
    ],
)
def test_a_bad_range_lists_every_form_and_says_which_part_is_wrong(text, why) -> None:
    res = _cli("sweep", LLAMA_7B, "-H", "a6000", "--batch", text)
    assert res.exit_code == 2, res.output
    line = " ".join(res.output.split())
    assert line == (
        f"error: batch={text!r} is invalid: expected positive integers up to 2**53, each once, "
        "like 1,8,32, or a range START:STOP:xFACTOR (geometric, FACTOR > 1), START:STOP:+STEP "
        "or START:STOP:STEP (arithmetic, STEP >= 1), with 1 <= START <= STOP, at most 100000 "
        f"values ({why})"
    )


def test_sweep_size_is_capped() -> None:
    with pytest.raises(InvalidInputError, match="at most 1000000 points"):
        rooflens.sweep(
            "meta-llama/Llama-2-7b-hf", "a6000", batch=range(1, 2001), prompt_len=range(1, 1001)
        )
    res = _cli(
        "sweep", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "1:2000:+1",
        "--prompt-len", "1:1000:+1",
    )  # fmt: skip
    assert res.exit_code == 2 and "2000 x 1000 = 2000000 points" in res.output


def test_sizes_above_2_53_are_refused_not_rounded() -> None:
    """sweep ran 2**53 + 1 as 2**53 (a float cast before the bound), and a larger size's error
    showed a numpy array; speculate alike."""
    for command in ("sweep", "speculate"):
        extra = ["--mtp"] if command == "speculate" else []
        for size in ("9007199254740993", "1152921504606846977"):
            res = _cli(command, "deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--batch", size,
                       *extra)  # fmt: skip
            assert res.exit_code == 2, res.output
            assert res.output.startswith(f"error: batch='{size}' is invalid: expected positive")
            assert "array" not in res.output
    with pytest.raises(InvalidInputError) as info:
        rooflens.sweep("gpt2", "h100-sxm", batch=np.array([1, 2**53 + 1]))
    assert str(info.value).startswith(f"batch={2**53 + 1} is invalid")
    with pytest.raises(InvalidInputError, match=r"^batch=0 is invalid"):
        rooflens.sweep("gpt2", "h100-sxm", batch=[[4, 0]])


# config.json: values are read as their type, never converted or guessed -------------------------
@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("Qwen/Qwen3-VL-4B-Instruct", "hidden_act"),
        ("google/gemma-3-27b-it", "hidden_act"),
        ("meta-llama/Llama-4-Scout-17B-16E", "hidden_act"),
        ("mistralai/Mistral-Small-3.2-24B-Instruct-2506", "hidden_act"),
        ("moonshotai/Kimi-K3", "activation_func"),
    ],
)
def test_an_unknown_vision_activation_is_refused_under_its_key(model, key) -> None:
    """The tower's activation is priced by a formula the core knows: an unknown one had been
    accepted and failed as a KeyError once priced."""
    from rooflens.models import spec_from_config
    from rooflens.models.catalog import bundled_config

    config = bundled_config(model)
    config = {**config, "vision_config": {**config["vision_config"], key: "x"}}
    with pytest.raises(
        ModelConfigError, match=rf"vision_config': {key}='x' is invalid: expected one of"
    ):
        spec_from_config(config, model)


@pytest.mark.parametrize(
    ("model", "changes", "message"),
    [
        # The head count is named by the key it was read from.
        ("openai-community/gpt2", {"n_head": 7}, "n_embd=768 does not split into n_head=7 heads"),
        # A width read from attention_head_dim is refused under that name, not head_dim.
        (
            "nvidia/Nemotron-H-8B-Base-8K",
            {"attention_head_dim": 1 << 23},
            f"attention_head_dim={1 << 23} is invalid: expected a positive integer of at most",
        ),
        # The vision projector's width, not the tower's field it becomes.
        (
            "MiniMaxAI/MiniMax-M3-MXFP8",
            {"projector_hidden_size": 1 << 23},
            f"projector_hidden_size={1 << 23} is invalid: expected a positive integer of at most",
        ),
    ],
)
def test_head_widths_are_refused_under_their_own_keys(model, changes, message) -> None:
    from rooflens.models import spec_from_config
    from rooflens.models.catalog import bundled_config

    with pytest.raises(ModelConfigError) as err:
        spec_from_config({**bundled_config(model), **changes}, model)
    assert message in str(err.value)


def _qwen(**changes: object) -> dict:
    from rooflens.models.catalog import bundled_config

    return {**bundled_config("Qwen/Qwen2.5-0.5B"), **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # Each raised ZeroDivisionError, TypeError or was accepted with a guessed value.
        (
            {"num_attention_heads": 0},
            "hidden_size=896 does not split into num_attention_heads=0 heads",
        ),
        ({"hidden_size": "896"}, "hidden_size='896' is invalid: expected an integer"),
        # A negative width had been blamed on the head count that does not divide it.
        ({"hidden_size": -1}, "hidden_size=-1 is invalid: expected a positive integer"),
        ({"num_hidden_layers": 24.0}, "num_hidden_layers=24.0 is invalid: expected an integer"),
        ({"num_hidden_layers": True}, "num_hidden_layers=True is invalid: expected an integer"),
        ({"tie_word_embeddings": "false"}, "tie_word_embeddings='false' is invalid: expected true"),
        (
            {"num_attention_heads": 13, "num_key_value_heads": 13},
            "does not split into num_attention_heads=13 heads",
        ),
        ({"model_type": ["qwen2"]}, r"model_type \['qwen2'\] is not supported"),
    ],
)
def test_config_values_are_refused_naming_the_field(tmp_path, changes, message) -> None:
    with pytest.raises(ModelConfigError, match=message):
        rooflens.load_model(_write(tmp_path, json.dumps(_qwen(**changes))))


def test_config_head_dim_may_differ_from_the_even_split(tmp_path) -> None:
    spec = rooflens.load_model(_write(tmp_path, json.dumps(_qwen(num_attention_heads=13,
                                                                 num_key_value_heads=13,
                                                                 head_dim=64))))  # fmt: skip
    assert (spec.num_heads, spec.head_dim) == (13, 64)


_MOE = {
    "model_type": "qwen2_moe", "num_hidden_layers": 2, "hidden_size": 64,
    "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 128,
    "vocab_size": 100, "num_experts": 4, "num_experts_per_tok": 2,
    "moe_intermediate_size": 14, "shared_expert_intermediate_size": 28,
}  # fmt: skip


def test_moe_width_as_text_is_refused_not_repeated(tmp_path) -> None:
    # "14" once became 1414 through arithmetic on the text.
    assert rooflens.load_model(_write(tmp_path, json.dumps(_MOE))).expert_intermediate_size == 14
    with pytest.raises(ModelConfigError, match="moe_intermediate_size='14' is invalid"):
        rooflens.load_model(_write(tmp_path, json.dumps({**_MOE, "moe_intermediate_size": "14"})))


def test_zero_experts_is_not_a_dense_model(tmp_path) -> None:
    mixtral = {**_MOE, "model_type": "mixtral", "num_local_experts": 0}
    with pytest.raises(
        ModelConfigError,
        match=r"num_experts \(num_experts / num_local_experts / n_routed_experts\)=0 is invalid: "
        "a mixture of experts",
    ):
        rooflens.load_model(_write(tmp_path, json.dumps(mixtral)))


def test_unreadable_config_files_are_model_config_errors(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"model_type": "gpt2\xff"}')
    with pytest.raises(ModelConfigError, match="not UTF-8 text"):
        rooflens.load_model(path)
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ModelConfigError, match="nests JSON deeper"):
        rooflens.load_model(path)
    res = _cli("analyze", str(path), "-H", "a6000")
    assert res.exit_code == 2 and "nests JSON deeper" in res.output


def test_overlong_model_name_is_one_line() -> None:
    res = _cli("analyze", "a" * 300, "-H", "a6000")
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output


# Devices, options and serving: finite figures, layouts that exist, counts that finished ---------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory", "inf"], "--memory=inf is invalid: expected bytes, from 1 to 1e+18"),
        (["--bandwidth", "nan"], "--bandwidth=nan is invalid"),
        (["--scale-capacity", "inf"], "scale_capacity=inf is invalid"),
        (["--offload-disk-bandwidth", "nan"], "offload_disk_bandwidth=nan is invalid"),
        (["--link-latency", "inf", "-f", "json"], "link_latency=inf is invalid"),
        # Finite, but so small that every time overflowed to infinity ($inf per million tokens).
        (["--bandwidth", "1e-300"], "--bandwidth=1e-300 is invalid: expected bytes/s, from 1"),
        (["--peak", "bf16=1e-300"], "--peak='bf16=1e-300' is invalid: expected OP/s"),
        (["--compute-cap", "1e-300"], "compute_cap=1e-300 is invalid"),
        (["--scale-bandwidth", "1e-300"], "scale_bandwidth=1e-300 is invalid"),
        (["--link-bandwidth", "1e-300", "--tp", "2"], "link_bandwidth=1e-300 is invalid"),
    ],
)
def test_non_finite_numbers_are_refused(args, message) -> None:
    # Each once raised OverflowError, TypeError or a raw pydantic ValidationError.
    res = _cli("analyze", "openai-community/gpt2", "-H", "a6000", *args)
    assert res.exit_code == 2 and message in res.output, res.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("memory_capacity = inf", "memory_capacity=inf is invalid: Input should be a finite"),
        ('memory_capacity = "80e9"', "memory_capacity='80e9' is invalid: Input should be a valid"),
        # Bounds said as every refusal says them; a TDP of 1e300 W gave powers of 1e299 W.
        (
            "memory_capacity = 8e20",
            "memory_capacity=8e+20 is invalid: expected a number of at most 1e+18",
        ),
        (
            "memory_capacity = 80e9\ntdp = 1e300",
            "tdp=1e+300 is invalid: expected a number of at most 1e+06",
        ),
        (
            "memory_capacity = 80e9\ninterconnect_links = 0",
            "interconnect_links=0 is invalid: expected a positive integer",
        ),
        ("memory_capacity = 80e9\ntdp = 0", "tdp=0 is invalid: expected a positive number"),
        ('memory_capacity = 80e9\nkind = "gpux"',
         "kind='gpux' is invalid: expected 'gpu', 'tpu', 'apple-soc', 'cpu' or 'other'"),
    ],
)  # fmt: skip
def test_device_files_hold_finite_numbers(tmp_path, text, message) -> None:
    path = tmp_path / "dev.toml"
    path.write_text(f'name = "x"\n{text}\nmemory_bandwidth = 1e12\n[peak_ops]\nfp16 = 1e14\n')
    with pytest.raises(rooflens.HardwareSpecError, match=re.escape(message)):
        rooflens.get_device(path)


def test_a_device_files_unknown_peak_type_is_named_as_a_key(tmp_path) -> None:
    """pydantic's path and words: "peak_ops.bf17.[key]='bf17' ... Input should be"."""
    path = tmp_path / "dev.toml"
    path.write_text('name = "x"\nmemory_capacity = 8e10\nmemory_bandwidth = 1e12\n'
                    "[peak_ops]\nbf17 = 1e14\n")  # fmt: skip
    with pytest.raises(rooflens.HardwareSpecError) as info:
        rooflens.get_device(path)
    assert str(info.value) == (
        f"{path}: peak_ops key 'bf17' is invalid: expected 'fp32', 'tf32', 'fp16', 'bf16', "
        "'fp8', 'fp6', 'int8', 'int4' or 'fp4'"
    )


def test_group_size_must_divide_the_quantized_widths() -> None:
    # Llama-2-7B's layers read 4096 and 11008 features: groups of 100 split neither.
    with pytest.raises(
        InvalidInputError, match=r"group_size=100 .* \[4096, 11008\] \(a divisor of 256\)"
    ):
        rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", w_bits=4, group_size=100)
    assert rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", w_bits=4, group_size=128).is_point


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        # Each was taken, echoed as a setting, and left the weights as without it.
        ({"w_bits": 4, "w_format": "nvfp4"}, r"group_size=128 .*empty with w_format='nvfp4'"),
        ({"w_bits": 4, "w_format": "mxfp4"}, r"group_size=128 .*own blocks"),
        ({"w_bits": 8, "w_format": "fp"}, r"group_size=128 .*scales by w_scale"),
        ({}, r"group_size=128 .*empty without weights below 16 bits"),
    ],
)
def test_a_group_size_the_weights_would_ignore_is_refused(settings, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        rooflens.analyze("meta-llama/Llama-3.1-8B", "b200", group_size=128, **settings)


def test_plot_where_nothing_fits_says_so(tmp_path) -> None:
    # Mixtral does not fit a 16 GB T4 at any width: once "Data cannot be log-scaled".
    out = tmp_path / "p.png"
    res = _cli("plot", "batch", "mistralai/Mixtral-8x7B-Instruct-v0.1", "-H", "t4", "-o", str(out))
    assert res.exit_code == 2 and "none fits" in res.output and not out.exists(), res.output


def test_capacity_search_json_from_the_cli() -> None:
    res = _cli(
        "simulate", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "--requests", "5", "--slo", "ttft=1s",
        "--capacity", "-f", "json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    json.loads(res.stdout)


def test_rate_whose_arrivals_overflow_is_refused() -> None:
    # At 1e-310 requests/s four of five arrivals were infinite and the run reported 5 done.
    from rooflens.serving.workload import ArrivalProcess, Workload

    load = Workload(requests=5, arrivals=ArrivalProcess(rate=1e-310))
    with pytest.raises(InvalidInputError, match="rate=1e-310 is invalid: expected a rate at which"):
        rooflens.simulate("Qwen/Qwen2.5-0.5B", "a6000", load)
    # At 1e-300 they were finite, near 1e300 s, where a step of milliseconds vanishes in
    # rounding: time per output token came out 0 (and tokens per user infinite).
    slow = Workload(requests=2, arrivals=ArrivalProcess(rate=1e-300))
    with pytest.raises(InvalidInputError, match=r"arrive within 1e\+09 s"):
        rooflens.simulate("Qwen/Qwen2.5-0.5B", "a6000", slow)
    # Two requests a year still arrive within it.
    yearly = Workload(requests=2, arrivals=ArrivalProcess(rate=2 / 3.15e7))
    assert rooflens.simulate("Qwen/Qwen2.5-0.5B", "a6000", yearly).requests["tpot"].min() > 0


def test_capacity_of_a_burst_is_not_a_number() -> None:
    # 20 requests once gave "3.4e7 requests/s": every rate holds the SLO when the load is one
    # burst the replica absorbs.
    from rooflens.serving.config import SLO
    from rooflens.serving.workload import ArrivalProcess, LengthDistribution, Workload

    burst = Workload(
        requests=20,
        arrivals=ArrivalProcess(kind="fixed", rate=1e6),
        prompt=LengthDistribution(kind="fixed", a=64),
        output=LengthDistribution(kind="fixed", a=8),
    )
    found = rooflens.capacity("Qwen/Qwen2.5-0.5B", "a6000", burst, SLO(ttft=1.0))
    assert found.rate != found.rate and found.result is None  # NaN: null in JSON
    assert found.warning is not None and "20 requests" in found.warning
    res = _cli(
        "simulate", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "--requests", "20", "--arrival", "fixed",
        "--rate", "1e6", "--prompt", "fixed:64", "--output", "fixed:8", "--slo", "ttft=1s",
        "--capacity", "-f", "json",
    )  # fmt: skip
    data = json.loads(res.stdout)
    assert data["capacity"] is None and "no capacity found" in data["warning"]


def test_capacity_under_an_slo_no_rate_meets_is_not_a_number() -> None:
    # A microsecond to the first token gave "0 requests/s" with no word of why.
    from rooflens.serving.config import SLO
    from rooflens.serving.workload import Workload

    found = rooflens.capacity("Qwen/Qwen2.5-0.5B", "a6000", Workload(requests=20), SLO(ttft=1e-6))
    assert found.rate != found.rate and found.result is None  # NaN: null in JSON
    assert found.warning is not None and "the SLO fails at every rate tried" in found.warning
    assert (found.probes["within_slo"] == False).all()  # noqa: E712
    # The search stops halving once every request ran alone (a lower rate serves each the
    # same way), not at the 24th probe, a millionth of a request a second.
    assert found.warning.endswith("(each request served alone)")
    assert len(found.probes) < 24 and found.probes["rate"].min() > 1e-6


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: rooflens.analyze(5, "a6000"), "model"),
        (lambda: rooflens.analyze("openai-community/gpt2", 3.5), "hardware"),
        (lambda: rooflens.speculate("Qwen/Qwen2.5-0.5B", "a6000", gamma=2, alpha=[0.5]), "alpha"),
        (
            lambda: rooflens.speculate(
                "Qwen/Qwen2.5-0.5B", "a6000", gamma=2, alpha=0.5, medusa_heads="yes"
            ),
            "medusa_heads",
        ),
        (lambda: rooflens.simulate("openai-community/gpt2", "a6000", slo="ttft=1s"), "slo"),
        (lambda: rooflens.capacity("openai-community/gpt2", "a6000", _small_load(), None), "slo"),
    ],
)
def test_api_keywords_of_the_wrong_type_are_typed_errors(call, field) -> None:
    with pytest.raises(InvalidInputError) as info:
        call()
    assert info.value.field == field


@pytest.mark.parametrize(
    ("call", "typed", "meant", "own"),
    [
        (lambda: rooflens.analyze(LLAMA_7B, "a6000", batchsize=2), "batchsize", "batch",
         "batch, prompt_len, gen_len, images, w_bits"),
        (lambda: rooflens.analyze(LLAMA_7B, "a6000", prompt_length=2), "prompt_length",
         "prompt_len or prompt_keep", "batch, prompt_len, gen_len, images, w_bits"),
        (lambda: rooflens.sweep(LLAMA_7B, "a6000", gen_length=[8]), "gen_length", "gen_len",
         "batch, prompt_len, gen_len, images, w_bits"),
        (lambda: rooflens.speculate(LLAMA_7B, "a6000", mtp=True, gama=3), "gama", "gamma",
         "gamma, alpha, draft, medusa_heads, mtp, tree_width, batch, context, w_bits"),
        (lambda: rooflens.simulate(LLAMA_7B, "a6000", _small_load(), concurency=4),
         "concurency", "concurrency",
         "workload, scheduler, cluster, slo, progress, concurrency, preset, w_bits"),
        (lambda: rooflens.capacity(LLAMA_7B, "a6000", _small_load(), _slo(), tolerence=0.1),
         "tolerence", "tolerance",
         "workload, slo, scheduler, cluster, tolerance, progress, preset, w_bits"),
    ],
)  # fmt: skip
def test_a_misspelt_keyword_is_offered_the_nearest_names_its_function_takes(
    call, typed, meant, own
) -> None:
    """Its own keywords had been left out of the list ("expected a known setting: w_bits,
    a_bits, ...") and nothing suggested."""
    with pytest.raises(InvalidInputError) as info:
        call()
    assert info.value.field == typed
    assert info.value.accepted.startswith(f"a known setting (did you mean {meant}?): {own}")
    assert info.value.accepted.endswith(", scale_capacity, compute_cap")


@pytest.mark.parametrize(
    ("function", "keywords"),
    [
        (rooflens.analyze, rooflens.api.ANALYZE_KEYWORDS),
        (rooflens.sweep, rooflens.api.SWEEP_KEYWORDS),
        (rooflens.speculate, rooflens.api.SPECULATE_KEYWORDS),
    ],
)
def test_the_keywords_a_refusal_offers_are_the_functions_own(function, keywords) -> None:
    import inspect

    from rooflens.serving import api

    own = [
        name
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is p.KEYWORD_ONLY
    ]
    assert list(keywords) == own
    for entry, offered in ((api.simulate, api.SIMULATE_KEYWORDS),
                           (api.capacity, api.CAPACITY_KEYWORDS)):  # fmt: skip
        names = list(inspect.signature(entry).parameters)
        assert list(offered) == [n for n in names[2:] if n != "options"]


def test_a_sweep_axis_that_repeats_a_value_is_refused() -> None:
    """Three rows for batch 1,2,2 while the head's inputs.batch said [1, 2]."""
    with pytest.raises(InvalidInputError) as info:
        rooflens.sweep(LLAMA_7B, "a6000", batch=[1, 2, 2, 4, 4])
    assert str(info.value) == (
        "batch=[2, 4] is invalid: expected each value once (a sweep has one row per point)"
    )
    res = _cli("sweep", LLAMA_7B, "-H", "a6000", "--prompt-len", "128,128", "-f", "json")
    assert res.exit_code == 2 and "(128 given more than once)" in res.output, res.output


def _slo():
    from rooflens.serving.config import SLO

    return SLO()


def _small_load():
    from rooflens.serving.workload import Workload

    return Workload(requests=3)


@pytest.mark.parametrize(
    ("keywords", "field"),
    [({"devices": 0}, "devices"), ({"tps": (1, True)}, "tp"), ({"rank": ["cost"]}, "rank"),
     ({"budget": float("nan")}, "budget")],
)  # fmt: skip
def test_advise_keywords_of_the_wrong_type_are_typed_errors(keywords, field) -> None:
    from rooflens.advisor.search import Target, advise
    from rooflens.serving.config import SLO

    with pytest.raises(InvalidInputError) as info:
        advise("openai-community/gpt2", Target(), SLO(), **keywords)
    assert info.value.field == field


def test_low_rank_layers_of_numbers_is_a_typed_error() -> None:
    # [1, 0] raised "sequence item 0: expected str instance" (TypeError).
    with pytest.raises(InvalidInputError, match=r"low_rank_layers=\[1, 0\] is invalid"):
        rooflens.analyze("openai-community/gpt2", "a6000", low_rank_layers=[1, 0])
    names = rooflens.analyze(
        "openai-community/gpt2", "a6000", low_rank_layers=["up_proj"], low_rank_ratio=0.5
    )
    assert names.is_point


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # MemoryError (73 TiB), ZeroDivisionError and OverflowError before these limits.
        (
            ["--requests", "10000000000000"],
            "requests=10000000000000 is invalid: expected an integer of at most 1,000,000",
        ),
        (["--arrival", "gamma", "--cv", "1e-300"], "cv=1e-300 is invalid"),
        (["--disaggregated", "--kv-link-bandwidth", "1e-300"], "kv_link_bandwidth=1e-300"),
    ],
)
def test_simulation_sizes_and_rates_are_bounded(args, message) -> None:
    res = _cli("simulate", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "--requests", "3", *args)
    assert res.exit_code == 2 and message in res.output, res.output


def test_advise_refuses_a_workload_key_given_twice() -> None:
    res = _cli("advise", "openai-community/gpt2", "--workload", "prompt=1000,prompt=5,output=20")
    assert res.exit_code == 2 and "expected prompt given once" in res.output, res.output


@pytest.mark.parametrize(
    ("args", "flag", "form"),
    [
        (("simulate", "-H", "a6000", "--requests", "3", "--slo", "ttft=1s,,tpot=50ms"), "--slo",
         "KEY=VALUE pairs like ttft=1s,tpot=50ms (or ttft_p99=2s,tpot_p99=60ms)"),
        (("advise", "--slo", "ttft_p99=2s,tpot_p99=60ms,"), "--slo",
         "KEY=VALUE pairs like ttft=1s,tpot=50ms (or ttft_p99=2s,tpot_p99=60ms)"),
        (("advise", "--workload", "prompt=100,,output=10"), "--workload",
         "prompt=N,output=N,rate=R"),
    ],
)  # fmt: skip
def test_a_pair_list_refuses_an_empty_item_as_every_list_does(args, flag, form) -> None:
    """--slo and --workload skipped an empty item where --tp 1,,2 and --devices refuse one:
    a pair left out went unsaid."""
    command, *rest = args
    res = _cli(command, "openai-community/gpt2", *rest)
    given = rest[rest.index(flag) + 1]
    assert res.exit_code == 2, res.output
    assert res.output.strip() == (
        f"error: {flag}={given!r} is invalid: expected {form}, without an empty item (two "
        "commas together, or one at an end)"
    )


def test_advise_names_a_workload_key_it_does_not_know_with_the_nearest() -> None:
    res = _cli("advise", "openai-community/gpt2", "--workload", "prompt=1000,outpt=300,rate=5")
    assert res.exit_code == 2, res.output
    assert res.output.strip() == (
        "error: --workload='outpt=300' is invalid: expected prompt=N,output=N,rate=R "
        "(did you mean output?)"
    )


def test_advise_shows_a_width_as_the_number_it_is() -> None:
    """tp='16' (quoted text) beside tp=3 for widths refused another way."""
    args = ["advise", "openai-community/gpt2", "--workload", "prompt=100,output=20,rate=1",
            "--devices", "h100-sxm", "--verify", "0"]  # fmt: skip
    res = _cli(*args, "--tp", "16")
    assert res.exit_code == 2 and res.output.startswith("error: tp=16 is invalid:"), res.output
    res = _cli(*args, "--tp", "16,32")
    assert res.exit_code == 2 and res.output.startswith("error: tp='16,32' is invalid:")


def test_advise_rate_is_bounded() -> None:
    res = _cli(
        "advise", "openai-community/gpt2", "--workload", "prompt=100,output=20,rate=1e308",
        "--devices", "a6000",
    )  # fmt: skip
    assert res.exit_code == 2 and "rate=1e+308 is invalid" in res.output, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Each was an internal error (ValueError, IndexError, OverflowError) before.
        (["--seed", "-1"], "seed=-1 is invalid"),
        (["--max-tokens", "2"], "max_tokens=2 is invalid: expected at least max_batch=256"),
        (["--max-batch", "99999999999999999999"], "max_batch=99999999999999999999 is invalid"),
        (["--block-size", "99999999999999999999"], "block_size=99999999999999999999 is invalid"),
        (["--memory", "1e308"], "--memory=1e+308 is invalid"),
        (["--plot", "timeline.txt"], "plot='timeline.txt' is invalid: expected a file ending in"),
    ],
)
def test_simulate_options_found_by_the_fuzz_suite(args, message) -> None:
    res = _cli(
        "simulate", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "--requests", "4", "--prompt", "fixed:64",
        "--output", "fixed:8", *args,
    )  # fmt: skip
    assert res.exit_code == 2 and message in res.output, res.output


@pytest.mark.parametrize(
    "command",
    [["analyze"], ["memory"], ["compare", "--vs", "w_bits=8"], ["plot", "roofline"],
     ["plot", "batch"]],
)  # fmt: skip
def test_sizes_beyond_int64_are_refused(command: list[str], tmp_path) -> None:
    # The plots' default prompt is read from the generation length before any analysis
    # (an OverflowError, exit 1, until the context room validated it).
    out = ["-o", str(tmp_path / "p.png")] if command[0] == "plot" else []
    res = _cli(
        *command, "Qwen/Qwen2.5-0.5B", "-H", "a6000", "--gen-len", "99999999999999999999", *out
    )
    assert res.exit_code == 2 and "--gen-len=99999999999999999999 is invalid" in res.output, (
        res.output
    )


def test_prompt_room_validates_the_generation_length() -> None:
    from rooflens.core.analysis import prompt_room

    gpt2 = rooflens.api.resolve_model("openai-community/gpt2")
    assert prompt_room(gpt2, 100) == 1024 - 99
    assert prompt_room(gpt2, [2, 100]) == 1024 - 99
    with pytest.raises(InvalidInputError, match=r"^gen_len=0 is invalid"):
        prompt_room(gpt2, 0)


def test_batch_plot_of_one_token_answers_says_so(tmp_path) -> None:
    # gen_len 1 has no time per output token: once "Data cannot be log-scaled".
    out = str(tmp_path / "p.png")
    res = _cli("plot", "batch", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "--gen-len", "1", "-o", out)
    assert res.exit_code == 2 and "gen_len=1 is invalid: expected at least 2" in res.output


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["simulate", "m", "--concurrency", "1.5"],
         "--concurrency='1.5' is invalid: expected an integer"),
        (["analyze", "m", "--batch=x"], "--batch='x' is invalid: expected an integer"),
        # Settings that may be empty read an empty value as left out, and any other as before.
        (["analyze", "m", "--w-bits", "x"], "--w-bits='x' is invalid: expected an integer"),
        (["analyze", "m", "--link-bandwidth", "fast"],
         "--link-bandwidth='fast' is invalid: expected a number"),
        (["simulate", "m", "--chunk-size", "1.5"],
         "--chunk-size='1.5' is invalid: expected an integer"),
        (["analyze", "m", "--format", "xml"],
         "--format='xml' is invalid: expected one of table, json, csv"),
        (["simulate", "m", "--arrival", "x"],
         "--arrival='x' is invalid: expected one of poisson, gamma, fixed"),
        (["analyze", "m", "--bogus"], "No such option: --bogus (see `rooflens analyze --help`)"),
        # An engine's spelling names rooflens' own, where click's nearest spelling misled
        # ("--device (Possible options: --engine)"), and only where the command takes it.
        (["analyze", "m", "--device", "h100"],
         "No such option: --device; rooflens calls it --hardware (-H) "
         "(see `rooflens analyze --help`)"),
        (["advise", "m", "--device", "h100"],
         "No such option: --device; rooflens calls it --devices (see `rooflens advise --help`)"),
        (["simulate", "m", "--tensor-parallel-size", "2"],
         "No such option: --tensor-parallel-size; rooflens calls it --tp "
         "(see `rooflens simulate --help`)"),
        (["simulate", "m", "--max-num-seqs", "8"],
         "No such option: --max-num-seqs; rooflens calls it --max-batch "
         "(see `rooflens simulate --help`)"),
        (["analyze", "m", "--max-num-seqs", "8"],
         "No such option: --max-num-seqs (see `rooflens analyze --help`)"),
        # Other tools' output switches: click offered "--fusion", the nearest spelling.
        (["analyze", "m", "--json"],
         "No such option: --json; rooflens calls it --format (-f) (see `rooflens analyze --help`)"),
        # A bound typer checks: pydantic's words had followed "expected" ("expected Input
        # should be greater than or equal to 1").
        (["web", "--port", "0"], "--port='0' is invalid: expected at least 1"),
        (["analyze", "m", "--images", "-1"], "--images='-1' is invalid: expected at least 0"),
        (["analyze"], "Missing argument 'model'. (see `rooflens analyze --help`)"),
        # A plot's settings go per line: click's nearest option was "--help".
        (["plot", "roofline", "m", "--tp", "8"],
         "No such option: --tp; a plot's lines take settings as --setting LABEL:key=value "
         "(tp=8) (see `rooflens plot --help`)"),
        (["plot", "roofline", "m", "--no-offload-kv"],
         "No such option: --no-offload-kv; a plot's lines take settings as --setting "
         "LABEL:key=value (tp=8) (see `rooflens plot --help`)"),
        # Any other option keeps click's words and suggestions, without the settings' hint.
        (["plot", "roofline", "m", "-f", "json"],
         "No such option: -f (see `rooflens plot --help`)"),
        (["plot", "roofline", "m", "--foo", "1"],
         "No such option: --foo (see `rooflens plot --help`)"),
        (["plot", "roofline", "m", "--settings", "A:tp=2"],
         "No such option: --settings (Possible options: --setting) (see `rooflens plot --help`)"),
    ],
)  # fmt: skip
def test_the_script_says_typers_usage_errors_in_one_line(capsys, argv, line) -> None:
    """What typer refuses before a command runs reads like what rooflens refuses: one line
    naming the option, the value and what it accepts, exit code 2 (typer would draw a box)."""
    from rooflens.cli.app import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {line}\n"


def test_the_script_exits_as_its_commands_do(capsys) -> None:
    from rooflens.cli.app import main

    with pytest.raises(SystemExit) as info:
        main(
            ["analyze", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--gen-len", "2", "-f", "json"]
        )
    assert info.value.code == 0
    assert json.loads(capsys.readouterr().out)["model"] == "meta-llama/Llama-3.1-8B"
    with pytest.raises(SystemExit) as info:
        main(["analyze", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--tp", "3"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: tp=3 is invalid")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["analyze", "gpt2", "-H", "a6000", "--batch", "0"], "--batch=0"),
        (["memory", "gpt2", "-H", "a6000", "--gen-len", "0"], "--gen-len=0"),
        (["report", "gpt2", "-H", "a6000", "--prompt-len", "0"], "--prompt-len=0"),
        (["speculate", "gpt2", "-H", "a6000", "--medusa", "--context", "0"], "--context=0"),
        (["plot", "batch", "gpt2", "-H", "a6000", "--gen-len", "0"], "--gen-len=0"),
        (["compare", "gpt2", "-H", "a6000", "--vs", "batch=0"], "batch=0"),
        (["analyze", "gpt2", "-H", "a6000", "--batch", str(10**20)], f"--batch={10**20}"),
    ],
)
def test_a_size_the_command_line_takes_is_named_in_its_own_words(tmp_path, args, line) -> None:
    """One size on the command line, named as given: the core's words offered "or an array of
    them", which only the API takes."""
    out = ["-o", str(tmp_path / "x.png")] if args[0] == "plot" else []
    out = ["-o", str(tmp_path / "x.md")] if args[0] == "report" else out
    res = _cli(*args, *out)
    assert res.output == (
        f"error: {line} is invalid: expected a positive integer up to 2**53 "
        "(9,007,199,254,740,992)\n"
    )


def test_a_context_too_long_names_the_values_asked_for() -> None:
    """analyze's message quoted prompt_len=200001 for a prompt of 200,000 (the decode step's
    position added), and simulate's a max_len never set; each now names what was asked and
    how to go beyond the model's positions."""
    res = _cli("analyze", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--prompt-len", "200000")
    assert res.exit_code == 2, res.output
    assert "prompt_len=200000 is invalid: expected at most 131071 tokens" in res.output
    res = _cli("simulate", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--requests", "3",
               "--prompt", "200000", "--output", "fixed:8")  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "prompt + output=200008 is invalid: expected at most 131072 tokens" in res.output
    assert "--allow-long-context" in res.output and "max_len" not in res.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["report", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "-o", "{missing}/r.html"], "-o"),
        (["plot", "batch", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "-o", "{missing}/p.png"],
         "-o"),
        (["simulate", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--requests", "4", "--plot",
          "{missing}/s.png"], "--plot"),
        (["advise", "meta-llama/Llama-3.1-8B", "--plot", "{missing}/a.png"], "--plot"),
    ],
)  # fmt: skip
def test_a_file_in_a_missing_folder_is_refused_before_any_work(
    tmp_path, monkeypatch, args, option
) -> None:
    """A report computed for seconds before failing on its path; each command now checks the
    folder first: nothing is analysed."""
    import importlib

    def never(*_: object, **__: object) -> None:
        raise AssertionError("analysed before checking the output folder")

    # Every module that binds resolve_model when first imported is imported here, all before
    # the patch, and patched too: imported first under it, one had kept `never` for every later
    # test of its worker (plot roofline's internal error in test_fuzz_cli; the advisor's in
    # test_cli's advise run).
    modules = [
        importlib.import_module(name)
        for name in (
            "rooflens.api", "rooflens.views.plots", "rooflens.advisor.search",
            "rooflens.cli.serve_cmds", "rooflens.cli.app",
        )
    ]  # fmt: skip
    for module in modules:
        monkeypatch.setattr(module, "resolve_model", never)
    missing = tmp_path / "no" / "such"
    res = _cli(*[a.format(missing=missing) for a in args])
    assert res.exit_code == 2, res.output
    assert f"{option}=" in res.output and "expected a file in a folder that exists" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "gpt2"], "error: --hardware is missing: expected a catalog device"),
        (["plot", "roofline", "gpt2"], "error: --hardware is missing: expected a catalog device"),
        (["compare", "gpt2", "-H", "a6000"], "error: --vs is missing: expected what B changes"),
        # An option that needs another one: speculation's figures without a drafter were
        # taken, whatever their value, and unused.
        (
            ["analyze", "gpt2", "-H", "a6000", "--alpha", "1.5"],
            "error: --alpha/--acceptance=1.5 is invalid: expected left out without --draft, "
            "--medusa or --mtp",
        ),
    ],
)
def test_an_option_left_out_or_needing_another_says_so(args, message) -> None:
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and res.output.startswith(message), res.output
    assert "None" not in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Named by the flag typed, not by the device field it sets (memory_bandwidth=...).
        (["--bandwidth", "-1"], "error: --bandwidth=-1.0 is invalid: expected bytes/s, from 1"),
        (["--memory", "0"], "error: --memory=0.0 is invalid: expected bytes, from 1"),
        (["--peak", "bogus=1e12"], "error: --peak='bogus=1e12' is invalid: expected DTYPE="),
        (["--peak", "bf16=0"],
         "error: --peak='bf16=0' is invalid: expected OP/s, from 1 to 1e+21"),
        # The number alone (--peak=nan) lost which type's peak it was.
        (["--peak", "fp8=nan"], "error: --peak='fp8=nan' is invalid: expected OP/s, from 1"),
    ],
)  # fmt: skip
def test_device_flags_are_named_as_typed(args, message) -> None:
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    res = CliRunner().invoke(app, ["analyze", "gpt2", "-H", "h100-sxm", *args])
    assert res.exit_code == 2 and res.output.startswith(message), res.output


def test_unknown_hardware_names_what_is_accepted() -> None:
    with pytest.raises(
        rooflens.UnknownHardwareError,
        match=r"^hardware='h10' is invalid: "
        r"expected a catalog device .* or a device TOML file; did you mean h100-sxm, h20",
    ):
        rooflens.analyze("gpt2", "h10")  # fmt: skip


def test_compare_shows_no_ratio_without_figures_and_aliases_read_as_a_list() -> None:
    import csv
    import io

    from typer.testing import CliRunner

    from rooflens.cli.app import app

    res = CliRunner().invoke(
        app, ["compare", "gpt2", "-H", "h100-sxm", "--gen-len", "1", "--vs", "w_bits=4"]
    )
    assert res.exit_code == 0 and "nan" not in res.output
    res = CliRunner().invoke(app, ["hardware", "h100-sxm", "-f", "csv"])
    (row,) = csv.DictReader(io.StringIO(res.stdout))
    assert row["aliases"].split(";")[0] == "H100"


def test_sizes_that_do_not_broadcast_are_named(tiny_model, toy_device) -> None:
    """Three batches beside two prompts was numpy's own ValueError, not a typed error."""
    with pytest.raises(InvalidInputError, match=r"^batch and prompt_len='batch \(3,\), prompt"):
        analyze(tiny_model, toy_device, batch=[1, 2, 3], prompt_len=[8, 16])
    with pytest.raises(InvalidInputError, match=r"^batch and prompt_len and gen_len="):
        analyze(tiny_model, toy_device, batch=[1, 2], prompt_len=8, gen_len=[4, 8, 16])
    with pytest.raises(InvalidInputError, match=r"^a=1 is invalid: expected an Analysis"):
        rooflens.compare(1, 2)
    grid = analyze(tiny_model, toy_device, batch=[1, 2, 3], prompt_len=[[8], [16]])
    assert grid.shape == (2, 3)  # shapes that broadcast still do


def test_low_rank_layers_name_projections_the_model_has() -> None:
    """A name matching no projection factorized nothing, and the run said nothing."""
    with pytest.raises(
        InvalidInputError,
        match=r"^low_rank_layers='bogus' is invalid: expected "
        r"projections of openai-community/gpt2: down_proj, k_proj",
    ):
        rooflens.analyze("gpt2", "h100-sxm", low_rank_ratio=0.5, low_rank_layers="q_proj,bogus")
    # Experts are not plain projections: an MoE's gate_proj is not there to factorize.
    with pytest.raises(InvalidInputError, match="low_rank_layers='gate_proj'"):
        rooflens.analyze("Qwen/Qwen3-30B-A3B", "h100-sxm", low_rank_ratio=0.5,
                         low_rank_layers="gate_proj")  # fmt: skip
    rooflens.analyze("gpt2", "h100-sxm", low_rank_ratio=0.5)  # the default list: what exists


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # Named as config.json spells them, not as rooflens's fields (num_layers, num_heads).
        ({"num_hidden_layers": 0}, "num_hidden_layers=0 is invalid"),
        ({"num_key_value_heads": 5}, "num_attention_heads=14 must be a multiple of "
                                     "num_key_value_heads=5"),
        ({"max_position_embeddings": 0}, "max_position_embeddings=0 is invalid"),
        # Sizes past any model's: a typo, whose footprint (386 EB) was printed as an answer.
        ({"num_hidden_layers": 10**12}, "num_hidden_layers=1000000000000 is invalid: expected "
                                        "at most 10,000 layers"),
        ({"vocab_size": 10**9}, "vocab_size=1000000000 is invalid"),
    ],
)  # fmt: skip
def test_config_errors_use_the_config_names(tmp_path, changes, message) -> None:
    config = json.loads(
        (Path(rooflens.__file__).parent / "models/configs/Qwen--Qwen2.5-0.5B.json").read_text()
    )
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        rooflens.load_model(_write(tmp_path, json.dumps({**config, **changes})))


@pytest.mark.parametrize(
    ("model", "path", "value", "message"),
    [
        # Each ended in a ZeroDivisionError, a ValueError or a pydantic error naming rooflens's
        # own fields (exit 1), or was read as a dense model or an impossible layer pattern.
        ("ai21labs/Jamba-v0.1", "attn_layer_period", 0, "attn_layer_period=0 is invalid"),
        ("ai21labs/Jamba-v0.1", "attn_layer_period", -1, "attn_layer_period=-1 is invalid"),
        ("ai21labs/Jamba-v0.1", "expert_layer_offset", 2, r"expert_layer_offset=2 .*0 to .* 1"),
        ("ai21labs/Jamba-v0.1", "mamba_d_state", 0, "mamba_d_state=0 is invalid"),
        ("ai21labs/Jamba-v0.1", "mamba_expand", 0, "mamba_expand=0 is invalid"),
        ("ai21labs/Jamba-v0.1", "num_experts", 0, "num_experts=0 is invalid"),
        ("nvidia/Nemotron-H-8B-Base-8K", "n_groups", 3, "mamba_num_heads=128 must be a mult"),
        ("nvidia/Nemotron-H-8B-Base-8K", "ssm_state_size", 0, "ssm_state_size=0 is invalid"),
        ("tiiuae/Falcon-H1-0.5B-Base", "mamba_d_state", 0, "mamba_d_state=0 is invalid"),
        (
            "Qwen/Qwen3-Next-80B-A3B-Instruct",
            "linear_num_value_heads",
            3,
            "linear_num_value_heads=3 must be a multiple of linear_num_key_heads=16",
        ),
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", "linear_key_head_dim", 0, "linear_key_head_dim=0"),
        (
            "meta-llama/Llama-4-Scout-17B-16E",
            "text_config.interleave_moe_layer_step",
            0,
            "interleave_moe_layer_step=0 is invalid",
        ),
        ("google/gemma-3-27b-it", "vision_config.patch_size", 0, "patch_size=0 is invalid"),
        ("google/gemma-3-27b-it", "vision_config.image_size", 0, "image_size=0 is invalid"),
        ("google/gemma-3-27b-it", "mm_tokens_per_image", 0, "mm_tokens_per_image=0 is invalid"),
        ("deepseek-ai/DeepSeek-V3.2", "index_topk", 0, "index_topk=0 is invalid"),
    ],
)
def test_hybrid_vision_and_moe_fields_are_refused_naming_the_field(
    model: str, path: str, value: object, message: str
) -> None:
    with pytest.raises(ModelConfigError, match=message):
        spec_from_config(mutated(model, path, value))


@pytest.mark.parametrize(
    ("model", "path", "message"),
    [
        # Each was accepted: a trillion experts, an expert or shared expert a trillion wide,
        # a trillion MTP modules or Mamba state dimensions priced 10^17 to 10^21 parameters.
        ("allenai/OLMoE-1B-7B-0924", "num_experts",
         "'olmoe': num_experts (num_experts / num_local_experts / n_routed_experts)="
         "1000000000000 is invalid: expected at most 65,536"),
        ("rednote-hilab/dots.llm1.inst", "moe_intermediate_size",
         "'dots1': moe_intermediate_size=1000000000000 is invalid: expected at most 4,194,304"),
        ("MiniMaxAI/MiniMax-M3-MXFP8", "vision_config.hidden_size",
         "'minimax_m3_vl.vision_config': hidden_size=1000000000000 is invalid: expected at "
         "most 4,194,304"),
        ("inclusionAI/Ling-mini-2.0", "num_nextn_predict_layers",
         "'bailing_moe': num_nextn_predict_layers=1000000000000 is invalid: expected at most "
         "10,000"),
        ("baidu/ERNIE-4.5-21B-A3B-PT", "moe_num_shared_experts",
         "'ernie4_5_moe': moe_num_shared_experts=1000000000000 is invalid: expected at most "
         "10,000"),
        ("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "ssm_state_size",
         "'nemotron_h': ssm_state_size=1000000000000 is invalid: expected at most 4,194,304"),
    ],
)  # fmt: skip
def test_sizes_past_any_models_are_refused_in_every_part(
    model: str, path: str, message: str
) -> None:
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(mutated(model, path, 10**12))
    assert str(error.value) == f"config.json of model_type {message}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # The images' tokens overran the context, and only prompt_len + gen_len was named.
        (["analyze", "google/gemma-3-27b-it", "-H", "b200", "--images", "1000", "--gen-len", "64"],
         "error: images=1000 is invalid: expected at most 503 images of 256 tokens beside a "
         "prompt of 2048 tokens: google/gemma-3-27b-it has 131072 positions, and gen_len=64 "
         "feeds 63 more"),
        # The count was named prompt_len + gen_len - 1 = 131073 at gen_len 1 (131072 + 1 - 1).
        (["analyze", "meta-llama/Llama-3.1-8B", "-H", "h200-sxm", "--prompt-len", "131072",
          "--gen-len", "1"],
         "error: prompt_len=131072 is invalid: expected at most 131071 tokens: "
         "meta-llama/Llama-3.1-8B has 131072 positions, and the decode step after it feeds 1 "
         "more; "),
        # One token generated is fed back by no step: the decode step after the prompt is.
        (["analyze", "meta-llama/Llama-3.1-8B", "-H", "h200-sxm", "--prompt-len", "131072",
          "--gen-len", "3"],
         "meta-llama/Llama-3.1-8B has 131072 positions, and gen_len=3 feeds 2 more (the last "
         "token generated is not fed back); "),
        # A known form with numbers its rule refuses says the rule.
        (["simulate", "gpt2", "-H", "a6000", "--prompt", "uniform:500:100"],
         "(uniform needs LOW <= HIGH)"),
        (["simulate", "gpt2", "-H", "a6000", "--prompt", "uniform:-5:100"],
         "(its lengths above 0)"),
        # A custom device without a float peak: once "device: device={...} is invalid: Value
        # error, peak_ops needs...".
        (["analyze", "gpt2", "--bandwidth", "1e12", "--memory", "1e10", "--peak", "int8=1e14"],
         "error: custom device: peak_ops={'int8': 100000000000000.0} is invalid: expected at "
         "least one of fp32, fp16 or bf16 among them"),
        # The drafter's name was refused as the model's.
        (["analyze", "gpt2", "-H", "a6000", "--draft", " "], "error: --draft=' ' is invalid"),
        (["analyze", "gpt2", "-H", "a6000", "--draft", "no-such-drafter"],
         "error: --draft 'no-such-drafter' is neither a bundled model"),
        (["speculate", "gpt2", "-H", "a6000", "--draft", ""], "error: draft='' is invalid"),
    ],
)  # fmt: skip
def test_an_error_says_what_is_wrong_in_its_own_words(args, message) -> None:
    res = _cli(*args)
    assert res.exit_code == 2 and message in res.output, res.output


def test_the_web_names_a_body_that_is_not_json_and_a_device_without_a_float_peak() -> None:
    from fastapi.testclient import TestClient

    from rooflens.web.app import create_app

    client = TestClient(create_app(), base_url="http://127.0.0.1")
    broken = client.post(
        "/api/analyze", content=b'{"model": "gpt2", ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["message"] == (
        "body is invalid: expected a JSON object (it stops being JSON at character 18)"
    )
    device = {"memory_capacity": 1e10, "memory_bandwidth": 1e12, "peak_ops": {"int8": 1e14}}
    res = client.post("/api/analyze", json={"model": {"id": "gpt2"}, "device": device})
    assert res.status_code == 422
    assert res.json()["message"] == (
        "device.peak_ops={'int8': 100000000000000.0} is invalid: expected at least one of "
        "fp32, fp16 or bf16 among them"
    )


def test_an_uploaded_depth_past_any_models_is_refused_at_once() -> None:
    """A billion layers took 77 s and gigabytes to refuse (the reader laid them out one by
    one), 10**15 all the server's memory; MiniMax-M3's answered 500."""
    import json
    import time
    from pathlib import Path

    from fastapi.testclient import TestClient

    from rooflens.web.app import create_app

    configs = Path(rooflens.__file__).parent / "models" / "configs"
    gemma = json.loads((configs / "google--gemma-3-27b-it.json").read_text())
    gemma["text_config"]["num_hidden_layers"] = 10**15
    client = TestClient(create_app(), base_url="http://127.0.0.1")
    started = time.monotonic()
    res = client.post("/api/model", json={"config": gemma})
    assert time.monotonic() - started < 10
    assert res.status_code == 422
    assert (
        "num_hidden_layers=1000000000000000 is invalid: expected at most 10,000 layers"
        in (res.json()["message"])
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        # A float batch past int64 gave inf and NaN figures, a negative batch in a sweep.
        (lambda: rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", batch=1e300),
         "batch=1e+300 is invalid: expected a positive integer up to 2**53"),
        # The drafts past the model's positions were blamed on the context ("at most -868930").
        (lambda: rooflens.speculate("Qwen/Qwen2.5-7B", "h100-sxm", gamma=10**6, alpha=0.8,
                                    draft="Qwen/Qwen2.5-0.5B"),
         "gamma=1000000 is invalid: expected at most 131069 draft tokens"),
        # A price given as text raised TypeError; True was priced at $1/h.
        (lambda: rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", gen_len=8)
         .economics(hourly_price="3"), "hourly_price='3' is invalid"),
        (lambda: rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", gen_len=8)
         .economics(hourly_price=True), "hourly_price=True is invalid"),
    ],
)  # fmt: skip
def test_api_values_past_their_range_are_typed_errors(call, message) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        call()


@pytest.mark.parametrize("form", ["fixed:inf", "normal:100:nan", "fixed:1e30"])
def test_a_length_that_is_no_number_of_tokens_names_the_workload(form) -> None:
    """Drawn as -2**63 tokens, these were refused as prompt_len, a field never given."""
    res = _cli("simulate", "gpt2", "-H", "a6000", "--requests", "4", "--prompt", form)
    assert res.exit_code == 2 and f"--prompt='{form}' is invalid" in res.output, res.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        # An empty model read the working folder's config.json, naming no field.
        (["analyze", "", "-H", "h100-sxm"],
         "error: model='' is invalid: expected a bundled id, a config.json or model folder"),
        # The device list named the option behind it: hardware, which advise does not take.
        (["advise", "gpt2", "--devices", "h100-sxm,nope"],
         "error: --devices='nope' is invalid: expected a catalog device"),
        # The SLO's percentile field, where the user wrote ttft_p0.
        (["simulate", "gpt2", "-H", "h100-sxm", "--requests", "4", "--slo", "ttft_p0=1s"],
         "error: --slo='ttft_p0=1s' is invalid: expected a percentile in (0, 100] in 'ttft_p0'"),
    ],
)  # fmt: skip
def test_errors_name_what_the_user_typed(args: list[str], line: str) -> None:
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith(line), res.output
    assert len(res.output.strip().splitlines()) == 1


def test_the_advisor_names_its_devices_list() -> None:
    from rooflens.advisor.search import Target, advise
    from rooflens.core.errors import UnknownHardwareError
    from rooflens.serving import SLO

    with pytest.raises(UnknownHardwareError, match=r"^devices='nope' is invalid"):
        advise("gpt2", Target(), SLO(), devices=["h100-sxm", "nope"])


def test_the_subpackages_the_docs_call_are_reached_through_the_package() -> None:
    """rooflens.advisor.advise (docs/advisor.md) raised AttributeError after import rooflens."""
    import subprocess
    import sys

    code = (
        "import rooflens; print(rooflens.advisor.advise.__name__, "
        "rooflens.engines.engine_versions('vllm', 'h200-sxm')[-1])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["advise", "0.24.0"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        rooflens.nothing  # noqa: B018


def test_numpys_integers_pass_wherever_an_integer_does() -> None:
    """A script's numpy loop: tp=np.int64(2) was refused (batch, w_bits took it), as were a
    simulation's clients, a speculation's drafts and the advisor's widths; np.True_ stays
    refused in a number's place."""
    import numpy as np

    from rooflens.advisor.search import Target, advise
    from rooflens.serving import SLO, Workload

    model = "meta-llama/Llama-3.1-8B"
    given = {"tp": 2, "pp": 1, "group_size": 128, "w_bits": 4, "flash_attention": True}
    plain = rooflens.analyze(model, "a6000", **given)
    numpy = rooflens.analyze(model, "a6000", **{k: np.array(v)[()] for k, v in given.items()})
    assert numpy.to_dict() == plain.to_dict()
    run = rooflens.simulate(model, "h100-sxm", Workload(requests=8), concurrency=np.int64(4))
    same = rooflens.simulate(model, "h100-sxm", Workload(requests=8), concurrency=4)
    assert run.requests.equals(same.requests)
    draft = {"draft": "Qwen/Qwen3-0.6B", "alpha": 0.8}
    drafts = rooflens.speculate("Qwen/Qwen3-8B", "h100-sxm", gamma=np.int64(3), **draft)
    also = rooflens.speculate("Qwen/Qwen3-8B", "h100-sxm", gamma=3, **draft)
    assert float(drafts.time_per_token) == float(also.time_per_token)
    widths = advise(model, Target(), SLO(), devices=["h100-sxm"], tps=np.array([1, 2]))
    listed = advise(model, Target(), SLO(), devices=["h100-sxm"], tps=[1, 2])
    assert widths.top(5).equals(listed.top(5))
    one = advise(model, Target(), SLO(), devices=["h100-sxm"], tps=2)  # one width, not a list
    assert set(one.top(50)["tp"]) == {2}
    with pytest.raises(InvalidInputError, match=r"^tp="):
        rooflens.analyze(model, "a6000", tp=np.True_)


def test_a_device_file_that_is_not_there_names_the_option() -> None:
    res = _cli("advise", "meta-llama/Llama-3.1-8B", "--devices", "./nonexist.toml")
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: --devices='./nonexist.toml' is invalid: expected a catalog device or a device "
        "TOML file; there is no file ./nonexist.toml"
    )


def test_a_generation_longer_than_the_context_blames_gen_len() -> None:
    # It blamed the default one-token prompt, "expected at most -2951 tokens".
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze("facebook/opt-125m", "h100-sxm", gen_len=5000)
    assert (info.value.field, info.value.value) == ("gen_len", 5000)
    # 1 prompt token and 2,047 fed back fill OPT's 2,048 positions.
    assert info.value.accepted.startswith("at most 2048 tokens beside a prompt of 1")
    assert rooflens.analyze("facebook/opt-125m", "h100-sxm", prompt_len=1, gen_len=2048)


def test_a_wide_lognormal_length_does_not_wrap_to_a_negative_one() -> None:
    # 100 x e^(30 z) passed int64's range and the cast wrapped to -9223372036854775808.
    from rooflens.serving.workload import LengthDistribution

    drawn = LengthDistribution.parse("prompt", "lognormal:100:30").sample(
        np.random.default_rng(0), 1000
    )
    assert drawn.min() >= 1 and drawn.max() == 2**62
    res = _cli("simulate", "facebook/opt-125m", "-H", "h100-sxm", "--requests", "20",
               "--prompt", "lognormal:100:30")  # fmt: skip
    assert res.exit_code == 2 and "expected at most 2048 tokens" in res.stderr
    assert "Warning" not in res.stderr


def test_defaults_fit_a_model_with_a_short_context() -> None:
    """OPT's 2,048 positions and GPT-2's 1,024 refused the defaults of the very commands run
    on them: simulate's lengths (caps 3,072 + 1,024), analyze's prompt beside a drafter's
    verified tokens, speculate's context of 1,024."""
    from rooflens.serving.defaults import default_lengths
    from rooflens.serving.workload import LengthDistribution, Workload

    assert default_lengths(2048) == ("lognormal:512:0.8:1536", "lognormal:128:0.8:512")
    assert default_lengths(1024) == ("lognormal:512:0.8:768", "lognormal:128:0.8:256")
    # A given length stays; the default beside it takes what its longest draw leaves.
    assert default_lengths(1024, "64") == ("64", "lognormal:128:0.8:960")
    assert default_lengths(1024, output="fixed:600") == ("lognormal:424:0.8:424", "fixed:600")
    assert default_lengths(8192, "uniform:10:8000") == ("uniform:10:8000", "lognormal:128:0.8:192")
    assert default_lengths(1024, "empirical:5,900") == ("empirical:5,900", "lognormal:124:0.8:124")
    # An unbounded given length, or one that leaves no room: the defaults' shares, as before.
    assert default_lengths(1024, "lognormal:100:1")[1] == "lognormal:128:0.8:256"
    assert default_lengths(1024, "1024")[1] == "lognormal:128:0.8:256"
    assert default_lengths(8192)[0] == "lognormal:512:0.8:3072"
    # A prefix every prompt starts with takes its room first: 400 + 1,236 + 412 = 2,048.
    assert default_lengths(2048, shared_prefix=400) == (
        "lognormal:512:0.8:1236",
        "lognormal:128:0.8:412",
    )
    # Simulating beyond the positions keeps the defaults, in the API as in the CLI.
    beyond = rooflens.simulate("facebook/opt-125m", "h100-sxm", allow_long_context=True)
    assert int(beyond.requests["prompt_len"].max()) == 3072
    res = _cli("simulate", "facebook/opt-125m", "-H", "h100-sxm", "--requests", "50", "-f", "json")
    assert res.exit_code == 0, res.output
    workload = json.loads(res.stdout)["workload"]
    assert (workload["prompt"], workload["output"]) == default_lengths(2048)
    api = rooflens.simulate("facebook/opt-125m", "h100-sxm")
    assert int((api.requests["prompt_len"] + api.requests["output_len"]).max()) <= 2048
    # GPT-2 with a fixed 600-token output was refused naming 768 + 600 tokens.
    res = _cli("simulate", "gpt2", "-H", "h100-sxm", "--output", "fixed:600", "-f", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["workload"]["prompt"] == "lognormal:424:0.8:424"
    load = Workload(requests=50, output=LengthDistribution.parse("output", "fixed:600"))
    given = rooflens.simulate("gpt2", "h100-sxm", load)
    assert int(given.requests["prompt_len"].max()) <= 424
    # gamma 4: the verify step's 5 tokens and the one after leave 2,042 of OPT's 2,048.
    res = _cli("analyze", "facebook/opt-125m", "-H", "h100-sxm", "--draft", "facebook/opt-125m")
    assert res.exit_code == 0, res.output
    assert "prompt 2042" in " ".join(res.stdout.split())
    res = _cli("speculate", "openai-community/gpt2", "-H", "h100-sxm", "--draft",
               "openai-community/gpt2")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "context 1,018" in " ".join(res.stdout.split())
    # The Python API and the web take the same defaults.
    api = rooflens.speculate("openai-community/gpt2", "h100-sxm", gamma=4, alpha=0.8,
                             medusa_heads=True)  # fmt: skip
    assert float(api.speedup) > 1  # refused before: "context=1024 ... at most 1018"
    from fastapi.testclient import TestClient

    from rooflens.web import create_app

    client = TestClient(create_app(), base_url="http://127.0.0.1")
    body = {"model": "facebook/opt-6.7b", "device": {"name": "h100-sxm"}, "gen_len": None,
            "speculative": {"medusa_heads": True}}  # fmt: skip
    answer = client.post("/api/analyze", json=body)
    assert answer.status_code == 200 and answer.json()["inputs"]["prompt_len"] == 2042


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["analyze", "deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--tp", "8", "--medusa",
             "--mtp"],
            "error: mtp=True is invalid: expected one drafter: medusa_heads=True and mtp=True "
            "were given",
        ),
        (
            ["analyze", "gpt2", "-H", "h100", "--peak", "bf16=1e12", "--peak", "bf16=2e12"],
            "error: --peak='bf16=2e12' is invalid: expected one peak per type (bf16 twice)",
        ),
        (["web", "--host", ""], "error: --host='' is invalid: expected an address or host name"),
        (
            ["analyze", "gpt2", "-H", "h100", "--grid-intensity", "1e308"],
            "error: grid_intensity=1e+308 is invalid: expected gCO2e per kWh in [0, 10000]",
        ),
        (
            ["analyze", "gpt2", "-H", "h100", "--hourly-price", "1e308"],
            "error: hourly_price=1e+308 is invalid: expected USD per device-hour in (0, 1e+06]",
        ),
        (
            ["advise", "facebook/opt-125m", "--tp", "64"],
            "error: tp=64 is invalid: expected a width the devices allow",
        ),
    ],
)  # fmt: skip
def test_more_bad_input_is_one_line(args: list[str], line: str) -> None:
    res = _cli(*args)
    assert res.exit_code == 2, res.output
    assert " ".join(res.stderr.split()).startswith(line)
    assert len(res.stderr.strip().splitlines()) == 1


def test_advise_searches_a_device_named_twice_once() -> None:
    once = _cli("advise", "facebook/opt-125m", "--devices", "h100-sxm", "--verify", "0", "-f",
                "csv")  # fmt: skip
    twice = _cli("advise", "facebook/opt-125m", "--devices", "h100-sxm,H100", "--verify", "0",
                 "-f", "csv")  # fmt: skip
    assert twice.exit_code == 0 and twice.stdout == once.stdout


def test_second_review_mends(tmp_path) -> None:
    # A prompt filling every position is itself at fault, not the generation beside it.
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze("openai-community/gpt2", "h100-sxm", prompt_len=1024, gen_len=5000)
    assert (info.value.field, info.value.accepted[:22]) == ("prompt_len", "at most 1023 tokens: o")
    # A shared prefix that leaves no default length room is named as the culprit.
    res = _cli("simulate", "openai-community/gpt2", "-H", "h100-sxm", "--requests", "20",
               "--shared-prefix", "1023")  # fmt: skip
    assert res.exit_code == 2 and res.stderr.startswith("error: shared_prefix=1023 is invalid")
    # report's default prompt leaves a drafter's tokens their room, as analyze's does.
    out = tmp_path / "r.md"
    res = _cli("report", "facebook/opt-125m", "-H", "h100-sxm", "--medusa", "--gen-len", "1",
               "-o", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    # A NumPy integer gamma takes the default context as an int does.
    assert float(rooflens.speculate("openai-community/gpt2", "h100-sxm", gamma=np.int64(4),
                                    alpha=0.8, medusa_heads=True).speedup) > 1  # fmt: skip
    # INT4 weights beside FP8 activations take the FP8 curves too (the bf16 ones priced them
    # faster than W8A8).
    w4a8 = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", engine="vllm", w_bits=4,
                            a_bits=8, w_format="int", group_size=128)  # fmt: skip
    assert any("(matmul:w4a8_int): not measured: the fp8 curves" in f for f in w4a8.fallbacks)


# -- the Python API's serving, advisor and result entry points -------------------------------

LLAMA_8B = "meta-llama/Llama-3.1-8B"


def _small_load():
    from rooflens.serving import Workload

    return Workload(requests=5, prompt="fixed:100", output="fixed:5")


@pytest.mark.parametrize("tolerance", [float("nan"), 5, 1, 0, -1, "x", None, True])
def test_capacity_refuses_a_tolerance_outside_0_1(tolerance) -> None:
    """NaN or 1 and above had ended the bisection at its first bracket's low end (64 req/s
    where 79 holds), with no word."""
    from rooflens.serving import SLO

    with pytest.raises(InvalidInputError) as info:
        rooflens.capacity(LLAMA_8B, "h100-sxm", _small_load(), SLO(ttft=0.5, tpot=0.03),
                          tolerance=tolerance)  # fmt: skip
    assert info.value.field == "tolerance"


@pytest.mark.parametrize(
    ("arrays", "field"),
    [
        (([0.0, float("nan")], [10, 10], [5, 5]), "arrival_time"),
        (([0.0, float("inf")], [10, 10], [5, 5]), "arrival_time"),
        (([0.0, 1.0], [10.5, 10], [5, 5]), "prompt_len"),
        (([0.0, 1.0], [10, 10], [5, float("nan")]), "output_len"),
        (([0.0, 1.0], [10, 10], ["five", 5]), "output_len"),
    ],
)
def test_requests_built_by_hand_are_checked_as_a_trace_is(arrays, field) -> None:
    """A NaN arrival had kept the simulator waiting for it forever; an infinite one counted
    a request never served in the throughput."""
    from rooflens.serving import Requests

    with pytest.raises(InvalidInputError) as info:
        Requests(*(np.asarray(a) if i != 2 or field != "output_len" else a
                   for i, a in enumerate(arrays)))  # fmt: skip
    assert info.value.field == field


def test_requests_take_lists_and_a_shared_prefix_within_the_prompts() -> None:
    from rooflens.serving import Requests

    requests = Requests([0, 1], [10, 12], [5, 5], shared_prefix=np.int64(10))
    assert requests.prompt.dtype == np.int64 and requests.shared_prefix == 10
    for prefix, accepted in ((-1, "at least 0"), (11, "at most the shortest prompt (10")):
        with pytest.raises(InvalidInputError, match=re.escape(accepted)):
            Requests([0, 1], [10, 12], [5, 5], shared_prefix=prefix)


def test_serving_settings_given_as_analysis_keywords_say_where_they_go() -> None:
    with pytest.raises(InvalidInputError, match=r"scheduler=SchedulerConfig\(max_tokens=\.\.\.\)"):
        rooflens.simulate(LLAMA_8B, "h100-sxm", _small_load(), max_tokens=4096)
    with pytest.raises(InvalidInputError, match=r"cluster=ClusterConfig\(replicas=\.\.\.\)"):
        rooflens.simulate(LLAMA_8B, "h100-sxm", _small_load(), replicas=2)


def test_a_progress_that_cannot_be_called_is_refused_before_the_run() -> None:
    from rooflens.serving.config import SLO, Target

    with pytest.raises(InvalidInputError, match="progress=3"):
        rooflens.simulate(LLAMA_8B, "h100-sxm", _small_load(), progress=3)
    with pytest.raises(InvalidInputError, match="progress='yes'"):
        rooflens.advisor.advise(LLAMA_8B, Target(prompt_len=100, output_len=10, rate=1),
                        SLO(ttft=1, tpot=0.1), devices=["l40s"], progress="yes")  # fmt: skip


def test_verify_refuses_another_model_than_the_advised_one() -> None:
    """Its simulations had been filed under the advised model's picks (Qwen3-0.6B's 18 ms
    TTFT confirming a Llama-3.1-8B pick)."""
    from rooflens.advisor import verify
    from rooflens.serving.config import SLO, Target

    advice = rooflens.advisor.advise(LLAMA_8B, Target(prompt_len=1000, output_len=200, rate=5),
                             SLO(ttft=1, tpot=0.06), devices=["l40s"], tps=[1])  # fmt: skip
    with pytest.raises(InvalidInputError, match="expected the advised model, meta-llama"):
        verify(advice, "Qwen/Qwen3-0.6B", top=1, requests=10)
    with pytest.raises(InvalidInputError, match="requests=1000000000"):
        verify(advice, LLAMA_8B, top=1, requests=10**9)
    with pytest.raises(InvalidInputError, match="advice='x'"):
        verify("x", LLAMA_8B)
    with pytest.raises(InvalidInputError, match=r"^advice='a DataFrame' is invalid: [^\n]*$"):
        verify(advice.table, LLAMA_8B)
    assert len(advice.top(np.int64(1))) == 1


@pytest.mark.parametrize(
    "engine", [{"engine": "vllm"}, {"engine": "sglang", "engine_version": "0.5.9"}]
)
def test_make_options_refuses_an_engine_it_cannot_price(engine) -> None:
    """Options for vLLM without a device carried its fusions alone and priced the roofline
    bound under its name."""
    with pytest.raises(InvalidInputError, match="an engine needs a device"):
        rooflens.make_options(**engine)


def test_fusion_items_that_are_not_words_are_refused() -> None:
    for fusion in (["qkv", 3], [None]):
        with pytest.raises(InvalidInputError) as info:
            rooflens.analyze(LLAMA_8B, "h100-sxm", fusion=fusion)
        assert info.value.field == "fusion"


def test_result_methods_name_what_they_take() -> None:
    analysis = rooflens.analyze(LLAMA_8B, "h100-sxm", gen_len=8)
    assert analysis.bottlenecks("Decode", np.int64(2)) == analysis.bottlenecks("decode", 2)
    for args, field in ((("generation",), "stage"), (("decode", 1.5), "top"),
                        (("decode", -1), "top")):  # fmt: skip
        with pytest.raises(InvalidInputError) as info:
            analysis.bottlenecks(*args)
        assert info.value.field == field
    run = rooflens.simulate(LLAMA_8B, "h100-sxm", _small_load())
    for call, field in (
        (lambda: run.percentile("latency", 99), "metric"),
        (lambda: run.percentile("ttft", 200), "q"),
        (lambda: run.percentile("ttft", "99"), "q"),
        (lambda: run.distribution("x"), "metric"),
        (lambda: run.within_slo(), "slo"),
        (lambda: run.meets_slo(), "slo"),
    ):
        with pytest.raises(InvalidInputError) as info:
            call()
        assert info.value.field == field
    assert run.percentile("ttft", np.float64(50)) == run.percentile("ttft", 50)


def test_a_speculation_sweep_gives_its_figures_as_lists() -> None:
    estimate = rooflens.speculate("Qwen/Qwen2.5-7B", "h100-sxm", draft="Qwen/Qwen2.5-0.5B",
                                  batch=[1, 4])  # fmt: skip
    figures = estimate.to_dict()
    assert len(figures["speedup"]) == 2 and figures["fits"] == [True, True]
    one = rooflens.speculate("Qwen/Qwen2.5-7B", "h100-sxm", draft="Qwen/Qwen2.5-0.5B", batch=4)
    assert one.to_dict()["speedup"] == pytest.approx(figures["speedup"][1], rel=1e-12)
    mtp = rooflens.speculate("deepseek-ai/DeepSeek-V3", "h200-sxm", tp=8, mtp=np.True_)
    assert mtp.to_dict()["tokens_per_step"] > 1


def test_calibration_names_read_whatever_their_case() -> None:
    plain = rooflens.analyze(LLAMA_8B, "h100-sxm", calibration="h100-sxm")
    for name in ("AUTO", "H100-SXM"):
        shouted = rooflens.analyze(LLAMA_8B, "h100-sxm", calibration=name)
        assert shouted.to_dict() == plain.to_dict()


def test_numpy_scalars_are_named_as_the_numbers_they_are() -> None:
    with pytest.raises(InvalidInputError, match=r"^w_bits=0\.5 is invalid"):
        rooflens.analyze(LLAMA_8B, "h100-sxm", w_bits=np.float64(0.5))


def test_a_bound_is_said_in_the_words_of_the_other_refusals() -> None:
    """pydantic's "Input should be greater than or equal to 0" had reached the user."""
    from rooflens.models import spec_from_config
    from rooflens.models.catalog import bundled_config

    config = {**bundled_config("mistralai/Mixtral-8x7B-Instruct-v0.1"), "num_local_experts": -1}
    with pytest.raises(ModelConfigError) as err:
        spec_from_config(config)
    assert str(err.value).endswith(
        "num_experts (num_experts / num_local_experts / n_routed_experts)=-1 is invalid: "
        "expected an integer of at least 0"
    )


@pytest.mark.parametrize(
    "command",
    [["plot", "roofline", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "-o"],
     ["report", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "-o"],
     ["simulate", "Qwen/Qwen2.5-0.5B", "-H", "a6000", "--requests", "2", "--plot"],
     ["measure", "Qwen/Qwen2.5-0.5B", "-o"],
     ["calibrate", "-o", "p.toml", "--raw"]],
)  # fmt: skip
def test_an_empty_file_name_is_refused_as_given(command: list[str]) -> None:
    """`-o ''` was read as the folder '.', which the error then named ('.' is invalid)."""
    res = _cli(*command, "")
    assert res.exit_code == 2, res.output
    assert "'': expected a file name" in res.output and "'.'" not in res.output, res.output
