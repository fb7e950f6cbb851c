"""Mamba, Falcon Mamba and Mamba-2: attention-free models of recurrent mixers alone, by hand;
RecurrentGemma's refusal. The counts against transformers' own models are in
tests/test_params_transformers.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import InvalidInputError, ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes, state_bytes
from rooflens.core.operators import Norm, Precision, Step
from rooflens.core.options import Quantization
from rooflens.hardware import get_device
from rooflens.models import SUPPORTED_MODEL_TYPES, spec_from_config
from rooflens.serving import Requests, run

PREC = Precision(Quantization())

# Hidden 8, two layers, a vocabulary of 16; Mamba's inner width 16 (expand 2), a state of 4, a
# dt rank of 1 (ceil(8 / 16)); Mamba-2's 4 heads of 4 in 2 groups of B and C.
MAMBA: dict[str, Any] = {
    "model_type": "mamba",
    "hidden_size": 8,
    "state_size": 4,
    "num_hidden_layers": 2,
    "vocab_size": 16,
}
MAMBA2: dict[str, Any] = MAMBA | {
    "model_type": "mamba2",
    "num_heads": 4,
    "head_dim": 4,
    "n_groups": 2,
}


def op(graph, name):
    return next(o for o in graph.operators if o.name == name)


def test_tiny_mamba_parameters_by_hand() -> None:
    model = spec_from_config(MAMBA)
    assert (model.mixer_layers, model.attention_layers, model.mlp_layers) == (2, 0, 0)
    assert model.tied_embeddings  # MambaConfig's default
    # Per layer: the norm 8; in_proj 8 x 32 (x and z); the conv 16 x 4 taps + 16 biases;
    # x_proj 16 x (1 + 4 + 4); dt_proj 1 x 16 + 16 biases; A_log 16 x 4 and D 16; out_proj
    # 16 x 8.
    layer = 8 + 256 + 80 + 144 + 32 + 80 + 128
    # The embedding 16 x 8 (the head is tied to it), the final norm 8.
    total = 2 * layer + 128 + 8
    assert total == 1592
    assert build_graph(model, AnalysisOptions()).params() == total


def test_falcon_mambas_inner_norms_have_no_weights() -> None:
    model = spec_from_config(MAMBA | {"model_type": "falcon_mamba"})
    graph = build_graph(model, AnalysisOptions())
    norms = [op(graph, f"mixer_{x}_norm") for x in ("dt", "b", "c")]
    assert [n.width for n in norms] == [1, 4, 4]
    assert all(isinstance(n, Norm) and not n.scaled and n.params() == 0 for n in norms)
    # The same parameters as Mamba's (FalconMambaWeightlessRMSNorm holds a buffer only).
    assert graph.params() == 1592


def test_tiny_mamba2_parameters_by_hand() -> None:
    model = spec_from_config(MAMBA2)
    assert not model.tied_embeddings  # Mamba2Config's default
    # Per layer: the norm 8; in_proj 8 x (z 16 + x 16 + B and C 2 x 2 x 4 + dt 4); the conv
    # over x, B and C, 32 x 4 taps + 32 biases; dt_bias, A_log and D 3 x 4; the gated norm 16;
    # out_proj 16 x 8.
    layer = 8 + 8 * 52 + 160 + 12 + 16 + 128
    # The embedding and the untied head 16 x 8 each, the final norm 8.
    total = 2 * layer + 2 * 128 + 8
    assert total == 1744
    assert build_graph(model, AnalysisOptions()).params() == total


def test_the_intermediate_size_overrides_expand() -> None:
    # Falcon Mamba 7B's config.json: intermediate_size 8192 beside expand 16 (which would make
    # 65536); MambaConfig keeps the config's intermediate_size, and vLLM builds with it. Its
    # published size: 7.27B parameters.
    falcon = {
        "model_type": "falcon_mamba",
        "hidden_size": 4096,
        "num_hidden_layers": 64,
        "intermediate_size": 8192,
        "expand": 16,
        "state_size": 16,
        "conv_kernel": 4,
        "time_step_rank": 256,
        "tie_word_embeddings": False,
        "vocab_size": 65024,
    }
    model = spec_from_config(falcon)
    assert model.mixer is not None and model.mixer.value_width == 8192
    assert build_graph(model, AnalysisOptions()).params() == 7_272_665_088
    # Without it, expand x hidden_size.
    assert spec_from_config(MAMBA | {"expand": 3}).mixer.value_width == 24


def test_a_sequence_keeps_its_state_and_no_kv_cache() -> None:
    quant = Quantization()
    # Mamba: per layer, the scan state 16 channels x 4 and the conv's last 3 inputs of 16
    # channels, at 2 bytes; Mamba-2: 4 heads x 4 x 4 and 3 inputs of x, B and C (32 channels).
    for config, per_layer in ((MAMBA, 16 * 4 * 2 + 16 * 3 * 2), (MAMBA2, 64 * 2 + 32 * 3 * 2)):
        model = spec_from_config(config)
        assert state_bytes(model, quant) == 2 * per_layer
        spans = kv_spans(model, AnalysisOptions())
        for tokens in (1, 1000, 100_000):
            cached = kv_cache_bytes(model, quant, np.array(3), np.array(tokens), spans)
            assert float(cached) == 3 * 2 * per_layer
    # Analysed at any context, the cache is the state alone.
    model = spec_from_config(MAMBA | {"hidden_size": 64})
    short = rooflens.analyze(model, "h100-sxm", prompt_len=100)
    long = rooflens.analyze(model, "h100-sxm", prompt_len=2000)
    assert float(short.memory["decode"].kv_cache) == float(long.memory["decode"].kv_cache) > 0


def test_the_mamba1_scan_and_its_decode_step_by_hand() -> None:
    graph = build_graph(spec_from_config(MAMBA), AnalysisOptions())
    names = [o.name for o in graph.operators if o.scope == "block"]
    assert names == [
        "attn_norm",
        "mixer_in_proj",
        "mixer_conv",
        "mixer_x_proj",
        "mixer_dt_proj",
        "mixer_scan",
        "mixer_gate",
        "mixer_out_proj",
        "mixer_add",
    ]
    decode = Step(batch=np.array(2.0), new_tokens=np.array(1.0), past=np.array(10.0))
    scan = op(graph, "mixer_scan").cost(decode, PREC)
    # Two tokens, 7 OPs per state element of 16 x 4; the state (128 bytes a sequence) read
    # and rewritten.
    assert float(scan.ops) == 7 * 2 * 16 * 4
    assert (float(scan.load_kv), float(scan.store_kv)) == (2 * 128, 2 * 128)


def test_tensor_parallelism_splits_the_mixer_and_names_it_when_it_cannot() -> None:
    model = spec_from_config(MAMBA2 | {"hidden_size": 64, "head_dim": 32})
    one = rooflens.analyze(model, "h100-sxm", prompt_len=100)
    two = rooflens.analyze(model, "h100-sxm", prompt_len=100, tp=2)
    assert float(two.memory["decode"].kv_cache) == pytest.approx(
        float(one.memory["decode"].kv_cache) / 2
    )
    with pytest.raises(InvalidInputError, match="4 recurrent-mixer heads"):
        rooflens.analyze(model, "h100-sxm", prompt_len=100, tp=3)


def test_mamba1s_row_parallel_x_proj_is_all_reduced_under_tensor_parallelism() -> None:
    """vLLM's MambaMixer: x_proj is a RowParallelLinear over the split inner width, so its dt,
    B and C values (rank + 2 x state a token) are all-reduced before the scan, as out_proj's
    output is; Mamba-2 has no such projection."""
    model = spec_from_config(MAMBA | {"hidden_size": 64})  # inner 128, dt rank 4, state 4
    h100 = get_device("h100-sxm")
    reduced = {
        tp: {
            op.name: op.width
            for op in build_graph(model, AnalysisOptions(parallelism={"tp": tp}), h100).operators
            if op.name.endswith("_all_reduce")
        }
        for tp in (1, 2)
    }
    assert reduced[1] == {}
    assert reduced[2]["mixer_x_proj_all_reduce"] == 4 + 2 * 4
    assert reduced[2]["mixer_out_proj_all_reduce"] == 64
    mamba2 = spec_from_config(MAMBA2 | {"hidden_size": 64, "head_dim": 32})
    two = build_graph(mamba2, AnalysisOptions(parallelism={"tp": 2}), h100).operators
    assert "mixer_x_proj_all_reduce" not in {op.name for op in two}


def test_a_pure_ssm_serves_and_holds_a_state_per_request() -> None:
    model = spec_from_config(MAMBA2 | {"hidden_size": 64, "head_dim": 32})
    burst = Requests(np.zeros(3), np.full(3, 64), np.full(3, 8), 0)
    result = run(model, get_device("h100-sxm"), AnalysisOptions(), burst)
    assert result.requests["ttft"].notna().all()


def test_the_context_is_vllms_default_where_the_config_names_none() -> None:
    assert spec_from_config(MAMBA).max_positions == 2048
    assert spec_from_config(MAMBA | {"max_position_embeddings": 8192}).max_positions == 8192
    # The refusal says where the 2,048 comes from, not that the model has positions.
    with pytest.raises(InvalidInputError, match="config names no context length, so it has "
                       "vLLM's default 2048 positions"):  # fmt: skip
        rooflens.analyze(spec_from_config(MAMBA), "h100-sxm", prompt_len=4096)
    stated = spec_from_config(MAMBA | {"max_position_embeddings": 1024})
    with pytest.raises(InvalidInputError, match="has 1024 positions, and"):
        rooflens.analyze(stated, "h100-sxm", prompt_len=4096)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (MAMBA | {"hidden_act": "gelu"}, "hidden_act='gelu' is not supported; supported: 'silu'"),
        (MAMBA2 | {"hidden_act": "relu"}, "hidden_act='relu' is not supported"),
        (
            MAMBA2 | {"head_dim": 8},
            r"expand=2 x hidden_size=8 \(or intermediate_size=16\) is invalid: expected "
            r"num_heads=4 x head_dim=8 = 32",
        ),
        (MAMBA2 | {"intermediate_size": 32}, "intermediate_size=32"),
        (MAMBA2 | {"n_groups": 3}, "num_heads=4 must be a multiple of n_groups=3"),
        (MAMBA2 | {"num_heads": 0}, "num_heads=0 is invalid"),
        (MAMBA | {"state_size": 0}, "state_size=0 is invalid"),
        (MAMBA | {"time_step_rank": 0}, "time_step_rank=0 is invalid: expected 'auto' or a"),
        (MAMBA | {"time_step_rank": "4"}, "time_step_rank='4' is invalid"),
        (MAMBA2 | {"conv_kernel": 0}, "conv_kernel=0 is invalid: expected a positive integer"),
        (MAMBA | {"intermediate_size": 1 << 17}, "inner width 131072 \\(intermediate_size\\)"),
        (MAMBA | {"expand": "2"}, "expand='2' is invalid"),
    ],
)
def test_refusals_name_the_key(config: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelConfigError, match=match):
        spec_from_config(config)


def test_recurrent_gemma_is_refused_naming_its_rg_lru() -> None:
    # Its RG-LRU's block-diagonal gates and one-value-per-channel state are none of the mixers.
    config = {"model_type": "recurrent_gemma", "hidden_size": 8, "num_hidden_layers": 3}
    with pytest.raises(ModelConfigError, match="block_types=\\['recurrent', 'recurrent', 'att"):
        spec_from_config(config)
    with pytest.raises(ModelConfigError, match="RG-LRU"):
        spec_from_config(config | {"block_types": ["recurrent"]})
    assert "recurrent_gemma" not in SUPPORTED_MODEL_TYPES
