"""MiMo-V2-Flash (Xiaomi, 2025; transformers' MiMoV2FlashConfig, vLLM's MiMoV2FlashForCausalLM):
GQA whose values are narrower than its queries and keys (`v_head_dim` 128 beside `head_dim`
192), full-attention layers beside sliding-window layers of their own shape
(`hybrid_layer_pattern` 1, with `swa_num_attention_heads`, `swa_num_key_value_heads`,
`swa_head_dim`, `swa_v_head_dim`) and learned attention sinks per kind
(`add_swa_attention_sink_bias`, `add_full_attention_sink_bias`), a dense MLP in the layers
`moe_layer_freq` leaves out and elsewhere an MoE without shared experts and with a
score-correction router bias, and MTP modules of one sliding layer with a dense MLP that use the
main model's embedding and head (vLLM's MiMoV2FlashMTP).

The published config.json spells the layout as vLLM reads it (`hybrid_layer_pattern`,
`moe_layer_freq`, the `swa_*` shapes); transformers' own spelling (`layer_types`,
`mlp_layer_types`, which its MiMoV2FlashConfig fills where absent) reads the same. Where a key is
absent, MiMoV2FlashConfig's default stands: its sliding layers have twice the KV heads of the
full ones, the full layers' head counts and widths, and sinks; its full layers none."""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like, layer_counts
from rooflens.models.readers.common import required_window
from rooflens.models.readers.moe_fields import refuse

_ATTENTION = ("full_attention", "sliding_attention")
_MLP = ("dense", "sparse")


def _layer_schedule(
    c: _Config,
    layers: int,
    flags_key: str,
    types_key: str,
    kinds: tuple[str, str],
    meaning: str,
    default: list[bool],
) -> list[bool]:
    """Which layers are of the second of `kinds`: from the 0/1 list `flags_key` (what each
    flag stands for: `meaning`) or the list of kinds `types_key`, which must agree where both
    are given; neither: `default`."""
    types = c.raw.get(types_key)
    if types is not None:
        layer_counts(c, types, types_key, kinds)
    flags = c.raw.get(flags_key)
    if flags is None:
        return default if types is None else [kind == kinds[1] for kind in types]
    chosen = [flag == 1 for flag in c.layer_flags(flags_key, flags, layers, meaning)]
    if types is not None and [kind == kinds[1] for kind in types] != chosen:
        refuse(c, types_key, types, f"the layer kinds {flags_key} gives (1: {kinds[1]})")
    return chosen


def _sliding_layers(c: _Config, layers: int) -> list[bool]:
    """Which layers attend to the window: `hybrid_layer_pattern` (1: sliding, 0: full; vLLM's
    is_compressed_softmax_layer) or `layer_types`; neither: MiMoV2FlashConfig's default, full
    attention in the first layer and every 6th."""
    default = [i != 0 and (i + 1) % 6 != 0 for i in range(layers)]
    meaning = "0 (full attention) or 1 (sliding window)"
    return _layer_schedule(
        c, layers, "hybrid_layer_pattern", "layer_types", _ATTENTION, meaning, default
    )


def _moe_layers(c: _Config, layers: int) -> list[bool]:
    """Which layers hold the MoE: `moe_layer_freq` (1: MoE, 0: dense MLP; vLLM's is_moe_layer;
    a list only: vLLM reads an integer as no MoE layer at all) or `mlp_layer_types`; neither:
    MiMoV2FlashConfig's default, a dense first layer and MoE after it."""
    default = [i > 0 for i in range(layers)]
    meaning = "0 (dense) or 1 (MoE)"
    return _layer_schedule(c, layers, "moe_layer_freq", "mlp_layer_types", _MLP, meaning, default)


def _window(c: _Config) -> int:
    """Keys a sliding layer attends to. MiMoV2FlashConfig: `sliding_window_size` previous
    tokens plus the query, as SGLang's reference attends (the published 128 makes 129; vLLM
    passes 128 as its window), else `sliding_window` (default 129)."""
    if c.raw.get("sliding_window_size") is not None:
        return c.positive("sliding_window_size", maximum=MAX_WIDTH) + 1
    return required_window(c, 129, "MiMoV2FlashConfig")


def _heads(c: _Config, heads_key: str, heads: int, kv_key: str, kv: int) -> None:
    """A layer kind's query heads must share its KV heads evenly (GQA), named by its keys."""
    if heads % kv:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {heads_key}={heads} is invalid: "
            f"expected a multiple of {kv_key}={kv}"
        )


def read_mimo_v2_flash(c: _Config, name: str) -> ModelSpec:
    layers = c.positive("num_hidden_layers")
    sliding = _sliding_layers(c, layers)
    windowed = sum(sliding)
    # The full layers' shape (MiMoV2FlashConfig's defaults: 4 KV heads, 192, 128).
    heads = c.positive("num_attention_heads", maximum=MAX_COUNT)
    kv_heads = c.positive("num_key_value_heads", 4, MAX_COUNT)
    head_dim = c.positive("head_dim", 192, MAX_WIDTH)
    v_dim = c.positive("v_head_dim", 128, MAX_WIDTH)
    _heads(c, "num_attention_heads", heads, "num_key_value_heads", kv_heads)
    # The sliding layers' shape: MiMoV2FlashAttention gives them num_key_value_heads * 2 KV heads
    # and the full layers' heads and widths; vLLM reads the swa_* keys.
    swa_heads = c.positive("swa_num_attention_heads", heads, MAX_COUNT)
    swa_kv_heads = c.positive("swa_num_key_value_heads", 2 * kv_heads, MAX_COUNT)
    swa_head_dim = c.positive("swa_head_dim", head_dim, MAX_WIDTH)
    swa_v_dim = c.positive("swa_v_head_dim", v_dim, MAX_WIDTH)
    if windowed:
        _heads(c, "swa_num_attention_heads", swa_heads, "swa_num_key_value_heads", swa_kv_heads)
    if windowed and windowed < layers and swa_v_dim != v_dim:
        # ModelSpec holds one value width for both kinds of layer.
        refuse(c, "swa_v_head_dim", swa_v_dim, f"{v_dim}, the full layers' v_head_dim")
    # MiMoV2FlashAttention builds sinks in every sliding layer and in no full layer; the
    # published config says so with both flags.
    swa_sinks = c.get("add_swa_attention_sink_bias", True)
    full_sinks = c.get("add_full_attention_sink_bias", False)
    attention: dict[str, Any]
    if windowed == 0:
        attention = dict(
            num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim, attention_sinks=full_sinks
        )
        attention |= dict(sliding_window=None, v_head_dim=v_dim if v_dim != head_dim else None)
    else:
        attention = dict(
            num_heads=swa_heads,
            num_kv_heads=swa_kv_heads,
            head_dim=swa_head_dim,
            attention_sinks=swa_sinks,
            sliding_window=_window(c),
        )
        widths = {swa_head_dim} | ({head_dim} if windowed < layers else set())
        attention["v_head_dim"] = None if widths == {swa_v_dim} else swa_v_dim
    if 0 < windowed < layers:
        # The full layers as global layers of their own shape (Step 3.5/3.7's, Gemma 4's).
        attention |= dict(
            window_layers=windowed,
            global_head_dim=head_dim,
            global_kv_heads=kv_heads,
            global_heads=heads if heads != swa_heads else None,
            global_sinks=full_sinks if full_sinks != swa_sinks else None,
        )
    moe = _moe_layers(c, layers)
    mtp = c.count("num_nextn_predict_layers")
    if mtp and not windowed:
        # vLLM's MiMoV2FlashMTPBlock attends as a sliding layer; rooflens prices an MTP module
        # in the window layers' shape.
        refuse(c, "num_nextn_predict_layers", mtp, "0 where no layer slides (vLLM's MTP layers do)")
    experts: dict[str, Any] = {}
    if any(moe):
        shared = c.raw.get("n_shared_experts")
        if shared not in (None, 0):
            # MiMoV2FlashMoE deletes DeepseekV3MoE's shared experts; vLLM's MiMoV2MoE has none.
            refuse(c, "n_shared_experts", shared, "null or 0 (no shared experts)")
        experts = dict(
            num_experts=c.positive("n_routed_experts", 256, MAX_COUNT),
            experts_per_token=c.positive("num_experts_per_tok", 8, MAX_COUNT),
            expert_intermediate_size=c.positive("moe_intermediate_size", 2048, MAX_WIDTH),
            # Sigmoid routing with a per-expert score-correction bias (DeepseekV3TopkRouter's
            # e_score_correction_bias, vLLM's gate.e_score_correction_bias).
            router_bias=True,
            dense_layers=layers - sum(moe),
            # vLLM's MiMoV2FlashMTPBlock: a dense MLP of intermediate_size.
            mtp_dense_mlp=bool(mtp),
        )
    return _llama_like(
        c,
        name,
        max_positions=c.get("max_position_embeddings", 131072),
        # q/k/v take attention_bias; o_proj never has one (MiMoV2FlashAttention, vLLM).
        qkv_bias=c.get("attention_bias", False),
        out_bias=False,
        mlp_bias=False,
        mtp_layers=mtp,
        # vLLM's MTP layers (model.mtp.layers.*) hold no embedding or head of their own.
        mtp_own_embeddings=False,
        mtp_own_head=False,
        **attention,
        **experts,
    )
