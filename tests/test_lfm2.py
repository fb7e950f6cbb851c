"""LFM2 and LFM2-MoE (Liquid AI): gated short convolutions beside GQA attention, by hand. The
counts against transformers' own models are in tests/test_params_transformers.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import InvalidInputError, ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes, state_bytes
from rooflens.core.mixers import CausalConv, Mixer, Product
from rooflens.core.operators import Precision, Step
from rooflens.core.options import Parallelism, Quantization
from rooflens.hardware import get_device
from rooflens.models import spec_from_config
from rooflens.serving import Requests, run

PREC = Precision(Quantization())

# Hidden 8, two heads of 4 sharing one KV head, three layers (conv, attention, conv), an MLP of
# 24 auto-adjusted to 16, a conv of 3 taps, 16 tokens, tied embeddings.
TINY: dict[str, Any] = {
    "model_type": "lfm2",
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_hidden_layers": 3,
    "layer_types": ["conv", "full_attention", "conv"],
    "intermediate_size": 24,
    "block_multiple_of": 8,
    "conv_L_cache": 3,
    "vocab_size": 16,
    "max_position_embeddings": 1 << 20,
}


def op(graph, name):
    return next(o for o in graph.operators if o.name == name)


def test_tiny_lfm2_parameters_by_hand() -> None:
    model = spec_from_config(TINY)
    assert (model.mixer_layers, model.attention_layers, model.intermediate_size) == (2, 1, 16)
    # Conv layer: in_proj 8 x 24, the conv 8 channels x 3 taps, out_proj 8 x 8 = 280.
    # Attention layer: q 8 x 8, k and v 8 x 4, out_proj 8 x 8 = 192; q/k norms 4 + 4.
    # Every layer: two norms of 8, a SwiGLU MLP 3 x 8 x 16 = 384.
    conv, attention, every = 280, 192 + 8, 16 + 384
    # Embedding 16 x 8 (the head is tied to it), final norm 8.
    total = 2 * conv + attention + 3 * every + 128 + 8
    assert total == 2096
    assert build_graph(model, AnalysisOptions()).params() == total


def test_conv_biases_follow_conv_bias() -> None:
    model = spec_from_config(TINY | {"conv_bias": True})
    # in_proj 24, conv 8 and out_proj 8 biases in each of the two conv layers.
    assert build_graph(model, AnalysisOptions()).params() == 2096 + 2 * (24 + 8 + 8)


def test_cached_bytes_per_sequence_are_the_attention_kv_and_the_conv_inputs() -> None:
    model, quant = spec_from_config(TINY), Quantization()
    # Per sequence: the conv's last 2 inputs of 8 channels at 2 bytes in each of 2 conv layers.
    assert state_bytes(model, quant) == 2 * 8 * 2 * 2
    spans = kv_spans(model, AnalysisOptions())
    for tokens in (1, 100, 10_000):
        cached = kv_cache_bytes(model, quant, np.array(3), np.array(tokens), spans)
        # K and V of one head of 4 at 2 bytes in the one attention layer, per token.
        assert float(cached) == pytest.approx(3 * (tokens * 2 * 4 * 2 + 64))
    # An FP8 KV cache leaves the conv window at 16 bits (vLLM sizes it by the model's dtype,
    # mamba_cache_dtype 'auto'); an FP32 one takes it along.
    assert state_bytes(model, Quantization(kv_bits=8)) == 2 * 8 * 2 * 2
    assert state_bytes(model, Quantization(kv_bits=32)) == 2 * 8 * 2 * 4


def test_the_conv_block_ops_of_a_decode_step_by_hand() -> None:
    graph = build_graph(spec_from_config(TINY), AnalysisOptions())
    decode = Step(batch=np.array(2.0), new_tokens=np.array(1.0), past=np.array(10.0))
    ops = {
        name: float(op(graph, name).cost(decode, PREC).ops)
        for name in ("mixer_in_proj", "mixer_in_gate", "mixer_conv", "mixer_gate", "mixer_out_proj")
    }
    # Two tokens: in_proj 2 x 8 x 24 each; B * x and C * y one multiply per channel; the conv
    # a multiply-add per tap (3), no activation; out_proj 2 x 8 x 8.
    assert ops == {
        "mixer_in_proj": 2 * 2 * 8 * 24,
        "mixer_in_gate": 2 * 8,
        "mixer_conv": 2 * 8 * 2 * 3,
        "mixer_gate": 2 * 8,
        "mixer_out_proj": 2 * 2 * 8 * 8,
    }
    assert sum(ops.values()) == 1152
    conv = op(graph, "mixer_conv")
    assert isinstance(conv, CausalConv) and not conv.silu
    assert isinstance(op(graph, "mixer_gate"), Product)
    assert op(graph, "mixer_gate").inputs == ("bx_c", "bcx")
    # The window of 2 inputs of 8 channels at 2 bytes: read (the sequences have a past) and
    # rewritten, for each of the 2 sequences.
    cost = conv.cost(decode, PREC)
    assert (float(cost.load_kv), float(cost.store_kv)) == (2 * 32, 2 * 32)
    first = Step(batch=np.array(2.0), new_tokens=np.array(5.0), past=np.array(0.0))
    assert float(conv.cost(first, PREC).load_kv) == 0
    # Both gates read two tensors of 8 and write one, at 2 bytes.
    gate = op(graph, "mixer_gate").cost(decode, PREC)
    assert (float(gate.load_act), float(gate.store_act)) == (2 * 2 * 16, 2 * 16)
    # No scan: LFM2's mixer has no recurrent state beyond the conv's inputs.
    assert not any(o.name == "mixer_scan" for o in graph.operators)


def test_the_mlp_width_is_auto_adjusted_as_lfm2mlp_computes_it() -> None:
    def width(**fields: Any) -> int:
        return spec_from_config(TINY | fields).intermediate_size

    # LFM2-1.2B: 12288 -> 8192; LFM2-350M: 6656 -> 4437 -> 4608 (multiples of 256).
    assert width(intermediate_size=12288, block_multiple_of=256) == 8192
    assert width(intermediate_size=6656, block_multiple_of=256) == 4608
    # Times 1.5, then up to a multiple of 40: 24 -> 16 -> 24 -> 40.
    assert width(block_ffn_dim_multiplier=1.5, block_multiple_of=40) == 40
    # block_ff_dim stands for intermediate_size (Lfm2Config reads it over it).
    assert width(block_ff_dim=48) == 32
    assert width(block_auto_adjust_ff_dim=False) == 24
    # LFM2-MoE's dense layers take intermediate_size as it is.
    moe = TINY | {"model_type": "lfm2_moe", "num_dense_layers": 1, "num_experts": 4}
    assert spec_from_config(moe).intermediate_size == 24


# The dense LFM2 models' shapes: hidden size, attention heads, the MLP width as configured
# (block_ff_dim, auto-adjusted: 6656 -> 4608, 10240 -> 6912, 12288 -> 8192; LFM2-2.6B's as
# built, 10752, its GGUF feed_forward_length), layers, attention layers. 8 KV heads and a
# vocabulary of 65,536 in all. Their model card gives their parameters.
DENSE_LFM2 = {
    "LFM2-350M": (1024, 16, 6656, 16, 6, 354_483_968),
    "LFM2-700M": (1536, 24, 10240, 16, 6, 742_489_344),
    "LFM2-1.2B": (2048, 32, 12288, 16, 6, 1_170_340_608),
    "LFM2-2.6B": (2048, 32, 10752, 30, 8, 2_569_272_320),
}


@pytest.mark.parametrize("name", sorted(DENSE_LFM2))
def test_dense_lfm2_counts_its_model_card_parameters(name: str) -> None:
    hidden, heads, width, layers, attention, published = DENSE_LFM2[name]
    config = {
        "model_type": "lfm2",
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": 8,
        "block_ff_dim": width,
        "block_auto_adjust_ff_dim": name != "LFM2-2.6B",
        "num_hidden_layers": layers,
        "layer_types": ["conv"] * (layers - attention) + ["full_attention"] * attention,
        "tie_embedding": True,
        "vocab_size": 65536,
    }
    model = spec_from_config(config)
    assert (model.mixer_layers, model.attention_layers) == (layers - attention, attention)
    assert build_graph(model, AnalysisOptions()).params() == published


def test_full_attn_idxs_place_the_attention_layers() -> None:
    # The first LFM2 releases' configs give the pattern as full_attn_idxs.
    config = TINY | {"layer_types": None, "num_hidden_layers": 16}
    model = spec_from_config(config | {"full_attn_idxs": [2, 5, 8, 10, 12, 14]})
    assert (model.mixer_layers, model.attention_layers) == (10, 6)


def test_lfm2_moe_layers_and_router() -> None:
    config = TINY | {
        "model_type": "lfm2_moe",
        "num_dense_layers": 1,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 8,
    }
    model = spec_from_config(config)
    assert (model.num_experts, model.experts_per_token, model.dense_layers) == (4, 2, 1)
    assert model.router_bias
    graph = build_graph(model, AnalysisOptions())
    # Layer 0 dense (3 x 8 x 24), layers 1-2 MoE: router 8 x 4 plus the 4 expert biases,
    # experts 4 x 3 x 8 x 8; the conv and attention parts as in the dense toy (24-wide MLP).
    dense_toy = 2096 - 3 * 384
    moe = 32 + 4 + 4 * 3 * 64
    assert graph.params() == dense_toy + 3 * 8 * 24 + 2 * moe
    unbiased = spec_from_config(config | {"use_expert_bias": False})
    assert build_graph(unbiased, AnalysisOptions()).params() == graph.params() - 2 * 4
    # As many dense layers as layers: a dense model.
    assert not spec_from_config(config | {"num_dense_layers": 3}).is_moe


def test_lfm2_8b_a1b_counts_its_published_total() -> None:
    # LFM2-8B-A1B's shapes: 24 layers, attention at 2, 6, 10, 14, 18, 21, two dense layers of
    # 7168, then 32 experts of 1792, top-4. Its model card: "8.3B total parameters".
    kinds = ["conv"] * 24
    for i in (2, 6, 10, 14, 18, 21):
        kinds[i] = "full_attention"
    config = {
        "model_type": "lfm2_moe",
        "hidden_size": 2048,
        "intermediate_size": 7168,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "layer_types": kinds,
        "num_experts": 32,
        "num_experts_per_tok": 4,
        "moe_intermediate_size": 1792,
        "num_dense_layers": 2,
        "vocab_size": 65536,
    }
    params = build_graph(spec_from_config(config), AnalysisOptions()).params()
    # transformers' Lfm2MoeForCausalLM counts the same, with its 22 x 32 expert biases.
    assert params == 8_339_930_560
    assert round(params / 1e8) == 83


def test_tensor_parallelism_splits_the_conv_channels() -> None:
    # Two KV heads, so that the attention layer's cache splits too.
    model = spec_from_config(TINY | {"num_key_value_heads": 2})
    one = rooflens.analyze(model, "h100-sxm", prompt_len=100)
    two = rooflens.analyze(model, "h100-sxm", prompt_len=100, tp=2)
    assert float(two.memory["decode"].kv_cache) == pytest.approx(
        float(one.memory["decode"].kv_cache) / 2
    )
    graph = build_graph(model, AnalysisOptions(parallelism=Parallelism(tp=2, link_bandwidth=1e11)))
    assert op(graph, "mixer_conv").channels == 4
    assert op(graph, "mixer_in_proj").out_features == 12
    assert any(o.name == "mixer_out_proj_all_reduce" for o in graph.operators)


@pytest.mark.parametrize(
    "ignored", [["model.layers.0.conv.conv", "lm_head"], ["re:.*conv.conv", "lm_head"]]
)
def test_an_ignore_list_naming_the_short_convolution_reads(ignored: list[str]) -> None:
    """LFM2's depthwise convolution (conv.conv) is 16-bit in rooflens whatever the checkpoint,
    so listing it leaves nothing else at 16 bits; its in_proj beside it is the mixer's."""
    fp8 = {"quant_method": "fp8", "activation_scheme": "dynamic"}
    model = spec_from_config(TINY | {"quantization_config": fp8 | {"ignored_layers": ignored}})
    assert model.checkpoint_quant is not None
    assert model.checkpoint_quant.unquantized == () and model.checkpoint_quant.partial == ()
    projection = fp8 | {"ignored_layers": ["model.layers.0.conv.in_proj"]}
    model = spec_from_config(TINY | {"quantization_config": projection})
    assert model.checkpoint_quant.partial == (("mixer_in_proj", 1, 2),)


def test_lfm2_analyses_and_serves() -> None:
    model = spec_from_config(TINY | {"hidden_size": 64, "num_attention_heads": 4})
    a = rooflens.analyze(model, "h100-sxm", batch=2, prompt_len=np.array([100, 1000]), gen_len=4)
    assert np.all(a.steps["decode"].step_time() > 0)
    burst = Requests(np.zeros(3), np.full(3, 64), np.full(3, 8), 0)
    result = run(model, get_device("h100-sxm"), AnalysisOptions(), burst)
    assert result.requests["ttft"].notna().all()


def test_every_layer_attention_without_a_pattern() -> None:
    # Lfm2Config's default: full_attn_idxs every layer; then a plain transformer.
    model = spec_from_config({k: v for k, v in TINY.items() if k != "layer_types"})
    assert model.mixer is None and not model.is_hybrid and model.qk_norm


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"layer_types": ["conv", "attention", "conv"]}, "layer_types holds \\['attention'\\]"),
        ({"layer_types": ["conv", "conv"]}, "layer_types has 2 entries"),
        ({"layer_types": None, "full_attn_idxs": [3]}, "full_attn_idxs=\\[3\\] is invalid"),
        ({"conv_dim": 16}, "conv_dim=16 is not supported; supported: hidden_size=8"),
        ({"block_dim": 16}, "block_dim=16 is not supported"),
        ({"conv_L_cache": 0}, "conv_L_cache=0 is invalid"),
        ({"block_multiple_of": 0}, "block_multiple_of=0 is invalid"),
        ({"block_ffn_dim_multiplier": -1.0}, "block_ffn_dim_multiplier=-1.0 is invalid"),
        ({"block_ffn_dim_multiplier": None}, "block_ffn_dim_multiplier=None is not supported"),
        ({"intermediate_size": 1}, "auto-adjusts to 0"),
        ({"conv_bias": "yes"}, "conv_bias='yes' is invalid"),
    ],
)
def test_configs_it_cannot_express_are_refused(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelConfigError, match=match):
        spec_from_config(TINY | fields)


def test_lfm2_moe_needs_its_layer_types() -> None:
    config = {k: v for k, v in TINY.items() if k != "layer_types"} | {"model_type": "lfm2_moe"}
    with pytest.raises(ModelConfigError, match="lacks 'layer_types'"):
        spec_from_config(config)


def test_a_state_width_is_refused_for_a_conv_without_a_scan() -> None:
    with pytest.raises(InvalidInputError) as info:
        rooflens.analyze(spec_from_config(TINY), "h100-sxm", prompt_len=100, state_bits=32)
    assert info.value.field == "state_bits"
    with pytest.raises(ValueError, match="short_conv"):
        Mixer(kind="short_conv", num_heads=8, head_dim=1, num_key_heads=1, key_dim=4,
              conv_kernel=3)  # fmt: skip
